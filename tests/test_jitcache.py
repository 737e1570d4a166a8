"""The numba cache directory follows the compiled sources (numba alone would keep a kernel that inlined old code)."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys

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


def test_target_features_drop_only_the_256_bit_preference():
    host = "+avx512f,+fma,-amx-tile,+prefer-256-bit,+avx2"
    out = jitcache.target_features(host).split(",")
    assert out[-1] == f"-{jitcache.NARROW_FEATURE}"
    assert f"+{jitcache.NARROW_FEATURE}" not in out
    assert out[:-1] == ["+avx512f", "+fma", "-amx-tile", "+avx2"]


def test_avx512_is_read_from_the_cpu_flags(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu sse avx2 avx512f avx512bw\n")
    assert jitcache._has_avx512(info)
    info.write_text("processor\t: 0\nflags\t\t: fpu sse avx2 avx512_vnni_like\n")
    assert not jitcache._has_avx512(info)
    assert not jitcache._has_avx512(tmp_path / "missing")


def _keep_tile_width(monkeypatch):
    """configure_target() sets the tile width module-wide; restore it after the test."""
    monkeypatch.setattr(jitcache, "VECTOR_BYTES", jitcache.VECTOR_BYTES)
    monkeypatch.setattr(jitcache, "TILE_VECTORS", jitcache.TILE_VECTORS)


def test_target_is_left_alone_when_the_user_chose_it_or_numba_came_first(monkeypatch):
    _keep_tile_width(monkeypatch)
    monkeypatch.setattr(jitcache, "_has_avx512", lambda: True)
    importlib.import_module("numba")  # imported for the last part; hidden from configure_target for the first
    numba = sys.modules.pop("numba")  # as if numba were not imported yet (restored below)
    try:
        for var in ("NUMBA_CPU_FEATURES", "NUMBA_CPU_NAME"):
            monkeypatch.delenv("NUMBA_CPU_FEATURES", raising=False)
            monkeypatch.delenv("NUMBA_CPU_NAME", raising=False)
            monkeypatch.delenv(jitcache.OWN_VAR, raising=False)
            monkeypatch.setenv(var, "+mine")
            jitcache.configure_target()
            assert os.environ[var] == "+mine" and os.environ.get("NUMBA_CPU_FEATURES") in ("+mine", None)
            assert jitcache.OWN_VAR not in os.environ
    finally:
        sys.modules["numba"] = numba
    monkeypatch.delenv("NUMBA_CPU_FEATURES", raising=False)
    monkeypatch.delenv("NUMBA_CPU_NAME", raising=False)
    jitcache.configure_target()  # numba is imported in this session: its configuration is already read
    assert "NUMBA_CPU_FEATURES" not in os.environ


def test_a_child_redoes_the_target_the_parent_set_for_its_own_cpu(monkeypatch):
    """The value sim set (marked by OWN_VAR) is not the user's choice: a child on a CPU without AVX-512 (a sweep job
    on another node) drops it, and other projects' processes get an environment without it."""
    _keep_tile_width(monkeypatch)
    importlib.import_module("numba")
    numba = sys.modules.pop("numba")
    try:
        monkeypatch.setenv("NUMBA_CPU_FEATURES", "+avx512f,-prefer-256-bit")
        monkeypatch.setenv(jitcache.OWN_VAR, "+avx512f,-prefer-256-bit")
        monkeypatch.delenv("NUMBA_CPU_NAME", raising=False)
        foreign = jitcache.foreign_env()
        assert "NUMBA_CPU_FEATURES" not in foreign and jitcache.OWN_VAR not in foreign
        monkeypatch.setattr(jitcache, "_has_avx512", lambda: False)
        jitcache.configure_target()
        assert "NUMBA_CPU_FEATURES" not in os.environ and jitcache.OWN_VAR not in os.environ
        assert (jitcache.VECTOR_BYTES, jitcache.TILE_VECTORS) == (32, 4)  # the tiles follow the target
    finally:
        sys.modules["numba"] = numba
    monkeypatch.setenv("NUMBA_CPU_FEATURES", "+user")  # the user's own value survives foreign_env
    assert jitcache.foreign_env()["NUMBA_CPU_FEATURES"] == "+user"


def test_a_fresh_process_on_an_avx512_cpu_compiles_for_the_full_width():
    """In a fresh interpreter ``import sim`` sets the features before numba is imported (or, without AVX-512,
    leaves LLVM's default), and the provenance record says which."""
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CPU_FEATURES", "NUMBA_CPU_NAME")}
    env.pop(jitcache.OWN_VAR, None)
    code = ("import os, json, sim; from sim.jitcache import target_info; "
            "print(json.dumps([os.environ.get('NUMBA_CPU_FEATURES', ''), target_info()]))")
    feats, info = json.loads(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                                            check=True).stdout)
    if jitcache._has_avx512():
        assert feats.endswith(f"-{jitcache.NARROW_FEATURE}") and "+avx512f" in feats
        assert info["vector_width"] == "512-bit" and info["coupling_tile"].endswith("512-bit vectors")
    else:
        assert feats == "" and info["vector_width"] == "LLVM default for the CPU"
