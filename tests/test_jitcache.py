"""The numba cache directory follows the compiled sources (numba alone would keep a kernel that inlined old code)."""

from __future__ import annotations

import os

from sim import jitcache


def test_hash_changes_with_any_numba_module_and_only_those(tmp_path, monkeypatch):
    (tmp_path / "models").mkdir()
    (tmp_path / "rng.py").write_text("import numba\n")
    (tmp_path / "models" / "hopf.py").write_text("import numba\nfrom sim.rng import x\n")
    (tmp_path / "cli.py").write_text("print('no kernels here')\n")
    monkeypatch.setattr(jitcache, "PACKAGE_DIR", tmp_path)
    h0 = jitcache.source_hash()
    (tmp_path / "cli.py").write_text("print('still no kernels')\n")
    assert jitcache.source_hash() == h0
    (tmp_path / "rng.py").write_text("import numba\n# a callee changed\n")
    h1 = jitcache.source_hash()
    assert h1 != h0
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    monkeypatch.delenv("DMNSIM_USER_NUMBA_CACHE_DIR", raising=False)
    assert jitcache.cache_dir() == tmp_path / "cache" / "dmn-sim" / f"numba-{h1}"
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "mine"))
    assert jitcache.cache_dir() == tmp_path / "mine" / f"dmn-sim-{h1}"


def test_the_running_process_uses_the_hashed_directory():
    import numba

    assert os.environ["NUMBA_CACHE_DIR"] == numba.config.CACHE_DIR
    assert numba.config.CACHE_DIR.endswith(jitcache.source_hash())
