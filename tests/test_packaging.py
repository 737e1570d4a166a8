"""Packaging (issue 9 §4): cheap imports, every sub-package shipped, configs found through the package,
license and citation metadata in step with pyproject.toml. The wheel itself is built, installed into a fresh
venv and run from a temporary directory by ``make test-wheel`` (.ci/test-wheel, run in CI)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())

#: modules the CLI's config and error path must not load (numba compiles, scipy.signal alone is ~1 s)
HEAVY = ("numba", "scipy", "scipy.signal", "xarray", "matplotlib", "sim.integrate", "sim.simulate", "sim.models")


def _loaded_heavy(code: str) -> list[str]:
    """Run ``code`` in a fresh interpreter; at exit, report which of HEAVY are in sys.modules."""
    probe = ("import atexit, json, sys\n"
             f"atexit.register(lambda: print('LOADED=' + json.dumps([m for m in {HEAVY!r} if m in sys.modules])))\n"
             + code)
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, cwd=ROOT)
    line = [ln for ln in out.stdout.splitlines() if ln.startswith("LOADED=")]
    assert line, out.stdout + out.stderr
    return json.loads(line[-1][len("LOADED="):])


def test_import_sim_and_the_cli_module_load_no_simulator():
    assert _loaded_heavy("import sim\nimport sim.cli\nimport sim.config\n") == []


def test_bad_override_is_answered_without_loading_the_simulator():
    code = ("sys.argv = ['dmnsim', 'model=nope', 'hydra.run.dir=/nonexistent/never']\n"
            "import sim.cli\n"
            "try:\n    sim.cli.main()\nexcept SystemExit as e:\n    print('EXIT', e.code)\n")
    assert _loaded_heavy(code) == []


def test_lazy_names_still_resolve():
    import sim

    assert callable(sim.load_config) and callable(sim.simulate_cohort)
    assert set(sim.__all__) <= set(dir(sim))
    with pytest.raises(AttributeError):
        sim.nope  # noqa: B018


def test_every_sub_package_is_listed_in_pyproject():
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "sim").rglob("__init__.py")
             if "__pycache__" not in p.parts}
    listed = set(PYPROJECT["tool"]["setuptools"]["packages"])
    assert found == listed - {"sim.conf"}, "pyproject.toml [tool.setuptools] packages must list every sim/ package"


def test_configs_ship_as_sim_conf_and_are_found_through_the_package():
    from sim.claims.registry import REGISTRY_PATH
    from sim.config import CONFIG_DIR

    st = PYPROJECT["tool"]["setuptools"]
    assert st["package-dir"]["sim.conf"] == "configs" and (ROOT / "configs" / "__init__.py").is_file()
    assert "**/*.yaml" in st["package-data"]["sim.conf"]
    assert not (ROOT / "sim" / "conf").exists(), "configs/ is the single copy; sim/conf exists only in a wheel"
    import sim.conf

    assert CONFIG_DIR == Path(sim.conf.__file__).parent and REGISTRY_PATH.is_relative_to(CONFIG_DIR)
    assert (CONFIG_DIR / "config.yaml").is_file()


def test_license_and_citation_match_pyproject():
    import yaml

    project = PYPROJECT["project"]
    assert project["license"] == "MIT" and (ROOT / "LICENSE").read_text().startswith("MIT License")
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert cff["license"] == project["license"] and cff["version"] == project["version"]
    assert cff["cff-version"] == "1.2.0" and cff["authors"] and cff["title"].startswith(project["name"])


def test_provenance_records_the_installed_version_and_commit():
    from importlib.metadata import version

    import sim
    from sim.runio import provenance

    prov = provenance(0, 0.0)
    assert prov["version"] == sim.__version__ == version("dmn-sim") == PYPROJECT["project"]["version"]
    if (ROOT / ".git").exists():  # an editable install of a checkout: its commit
        assert prov["git_commit"] and len(prov["git_commit"].removesuffix("-dirty")) == 40
