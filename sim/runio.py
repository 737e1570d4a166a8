"""Writing a run directory: labelled results, tidy CSV, resolved config, provenance.

All files are staged in ``.partial/`` and moved into place with ``os.replace`` (atomic on POSIX)
only after the whole simulation and every file have succeeded. A directory that
already holds results is never written into.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

RESULT_FILES = ("results.nc", "metrics.csv", "provenance.json")


class RunExistsError(FileExistsError):
    pass


def check_fresh(run_dir: Path) -> None:
    for name in RESULT_FILES:
        if (run_dir / name).exists():
            raise RunExistsError(f"{run_dir} already holds {name}; refusing to overwrite an earlier run")


def tidy_frame(ds, metric_names) -> str:
    """The tidy CSV text: condition, subject, time_h, metric, value (one row per value; xarray -> pandas)."""
    da = ds[list(metric_names)].to_array("metric").transpose("metric", "condition", "subject", "time_h")
    df = da.to_dataframe(name="value").reset_index()[["condition", "subject", "time_h", "metric", "value"]]
    return df.to_csv(index=False, float_format="%.6g", lineterminator="\n")


def git_commit() -> str | None:
    """The source commit: of the git checkout this package runs from (source or editable install), else the
    one pip recorded for a VCS install (PEP 610 ``direct_url.json``), else None (a wheel built from a
    directory). A wheel in a venv inside some other git repository does not report that repository's commit."""
    root = Path(__file__).resolve().parent.parent
    if not (root / ".git").exists():
        return _installed_vcs_commit()
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=5)
        if out.returncode != 0:
            return None
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return out.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def _installed_vcs_commit() -> str | None:
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        text = distribution("dmn-sim").read_text("direct_url.json")
    except PackageNotFoundError:
        return None
    try:
        return json.loads(text or "{}").get("vcs_info", {}).get("commit_id")
    except (ValueError, AttributeError):
        return None


def provenance(seed: int, wall_s: float, extra: dict | None = None) -> dict:
    from sim import __version__

    started = time.gmtime(time.time() - wall_s)
    return {"package": "dmn-sim", "version": __version__, "git_commit": git_commit(), "seed": seed,
            "wall_time_s": round(wall_s, 3), "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", started),
            "python": sys.version.split()[0], "numpy": np.__version__, "platform": platform.platform(),
            "argv": sys.argv, **(extra or {})}


def write_run(run_dir: Path, ds, metric_names, config_yaml: str, prov: dict, extra=()) -> None:
    """Write results.nc, metrics.csv, config.yaml, provenance.json (and ``extra`` files) into ``run_dir``.

    Everything is first written into ``run_dir/.partial``; only when every file is complete are they
    moved into place, so a failure leaves no half-written output. ``extra`` is a sequence of
    ``write(stage_dir)`` callables that add files (figures, reports).
    """
    import shutil

    from sim import cf

    check_fresh(run_dir)
    rid = prov.setdefault("run_id", cf.run_id(config_yaml, prov.get("seed", 0)))
    ds = cf.annotate(ds, prov, rid)  # CF attributes on results.nc (sim/cf.py)
    stage = run_dir / ".partial"
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir(parents=True)
    try:
        (stage / "config.yaml").write_text(config_yaml)
        ds.to_netcdf(stage / "results.nc", engine="h5netcdf")
        (stage / "metrics.csv").write_text(tidy_frame(ds, metric_names))
        (stage / "metrics.csv-metadata.json").write_text(json.dumps(cf.csv_metadata(ds, rid, prov.get("seed", 0)),
                                                                    indent=2) + "\n")
        for write in extra:
            write(stage)
        (stage / "provenance.json").write_text(json.dumps(prov, indent=2) + "\n")
        for p in sorted(stage.rglob("*")):
            if p.is_file():
                dest = run_dir / p.relative_to(stage)
                dest.parent.mkdir(parents=True, exist_ok=True)
                os.replace(p, dest)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
