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
    monkeypatch.delenv(jitcache.USER_VAR, raising=False)
    assert jitcache.cache_dir() == tmp_path / "cache" / "dmn-sim" / f"numba-{h1}"
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "mine"))
    assert jitcache.cache_dir() == tmp_path / "mine" / f"dmn-sim-{h1}"


def _keep_numba_config(monkeypatch):
    import numba

    monkeypatch.setattr(numba.config, "CACHE_DIR", numba.config.CACHE_DIR)  # configure() sets it; restored after


def test_a_child_process_recomputes_the_directory(tmp_path, monkeypatch):
    """A child inherits the parent's NUMBA_CACHE_DIR (the hashed directory) but keeps the user's base and hashes
    the sources again, so a child started after an edit does not reuse the old directory."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    monkeypatch.delenv(jitcache.USER_VAR, raising=False)
    _keep_numba_config(monkeypatch)
    jitcache.configure()  # the parent
    first = os.environ["NUMBA_CACHE_DIR"]
    assert os.environ[jitcache.USER_VAR] == ""
    monkeypatch.setattr(jitcache, "source_hash", lambda: "edited")
    jitcache.configure()  # a child after an edit: same environment, new sources
    assert os.environ["NUMBA_CACHE_DIR"] == str(tmp_path / "cache" / "dmn-sim" / "numba-edited") != first


def test_no_usable_home_falls_back_to_a_private_temporary_directory(tmp_path, monkeypatch):
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    monkeypatch.setenv(jitcache.USER_VAR, "")
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setattr(jitcache.Path, "home", classmethod(lambda cls: (_ for _ in ()).throw(RuntimeError("no home"))))
    monkeypatch.setattr(jitcache.tempfile, "gettempdir", lambda: str(tmp_path))
    _keep_numba_config(monkeypatch)
    jitcache.configure()
    path = jitcache.Path(os.environ["NUMBA_CACHE_DIR"])
    assert path.parent.parent == tmp_path and path.is_dir()
    assert path.parent.stat().st_mode & 0o077 == 0


def test_the_running_process_uses_the_hashed_directory():
    import numba

    numba.core.config.reload_config()  # numba re-reads its environment before compiling; do it now
    assert os.environ["NUMBA_CACHE_DIR"] == numba.config.CACHE_DIR
    assert numba.config.CACHE_DIR.endswith(jitcache.source_hash())
