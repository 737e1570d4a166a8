"""numba set-up at ``import sim``: where it caches the compiled kernels, and the vector width it compiles for.

**Cache: one directory per version of the compiled sources.**

numba's on-disk cache (``@njit(cache=True)``) checks only the source file of the cached function, not the files of
the functions it inlines or calls: after an edit of :mod:`sim.rng`, the cached ``sim.models.hopf._run`` would still
run the old generator (seen in development; the compiled-vs-reference test caught it). So the cache directory is
named by a hash of every module of this package that uses numba, and any edit of one of them starts a fresh cache.

The directory is ``$NUMBA_CACHE_DIR/dmn-sim-<hash>`` if the user set ``NUMBA_CACHE_DIR``, else
``$XDG_CACHE_HOME/dmn-sim/numba-<hash>`` (default ``~/.cache``), else (no usable home) a private per-user directory
under the system's temporary directory (mode 0700, owner checked); if none can be used, numba's own default is
left alone. :func:`configure` runs at ``import sim``, before any kernel module; it sets ``NUMBA_CACHE_DIR`` for the
whole process (other numba users in it included) and its children, which recompute the hash themselves (a child
started after an edit gets the new directory). Old ``numba-<hash>`` directories are not pruned.

**Vector width.** On a CPU with AVX-512, LLVM's tuning for Intel server and client cores (Skylake-X and later) prefers
256-bit vectors (the ``prefer-256-bit`` feature: early AVX-512 cores lowered their clock under 512-bit work), so the
item loops ran with half the registers' lanes. :func:`configure_target` compiles with the host's own features minus
that preference (``NUMBA_CPU_FEATURES``): hopf's kernel ran 1.2x faster on an AVX-512 Xeon (measured in one
process pair, 1,024 subjects, 2 threads). Each item's arithmetic is lane-wise, so the numbers do not change: the
three models' outputs were bit-identical under both widths. Left alone when the user set ``NUMBA_CPU_NAME`` or
``NUMBA_CPU_FEATURES`` (set ``NUMBA_CPU_FEATURES`` to the host's features to get LLVM's default back), when numba
was imported before ``sim``, on CPUs without AVX-512, and where ``/proc/cpuinfo`` cannot tell (then ``import sim``
does not load LLVM). Provenance records the choice (:func:`target_info`).
"""

from __future__ import annotations

import hashlib
import os
import stat
import sys
import tempfile
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
#: the user's own NUMBA_CACHE_DIR as first seen ("" = none), remembered for child processes
USER_VAR = "DMNSIM_USER_NUMBA_CACHE_DIR"


def source_hash() -> str:
    """sha256 (first 16 hex digits) over the path and text of every module of the package that mentions numba."""
    h = hashlib.sha256()
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        text = path.read_bytes()
        if b"numba" in text:
            h.update(str(path.relative_to(PACKAGE_DIR)).encode() + b"\0" + text + b"\0")
    return h.hexdigest()[:16]


def _user_dir() -> str:
    if USER_VAR in os.environ:
        return os.environ[USER_VAR]
    return os.environ.get("NUMBA_CACHE_DIR", "")


def cache_dir() -> Path:
    """The preferred directory (see the module docstring); may raise OSError/RuntimeError without a usable home."""
    user = _user_dir()
    if user:
        return Path(user) / f"dmn-sim-{source_hash()}"
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "dmn-sim" / f"numba-{source_hash()}"


def _private_tmp_dir() -> Path | None:
    """<tmp>/dmn-sim-numba-<uid>/numba-<hash>, created 0700 and used only if this user owns it and nobody else
    can write to it (numba unpickles its cache files)."""
    uid = os.getuid() if hasattr(os, "getuid") else None
    root = Path(tempfile.gettempdir()) / f"dmn-sim-numba-{uid if uid is not None else 'user'}"
    try:
        root.mkdir(mode=0o700, exist_ok=True)
        st = root.stat()
        if (uid is not None and st.st_uid != uid) or st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            return None
        path = root / f"numba-{source_hash()}"
        path.mkdir(mode=0o700, exist_ok=True)
        return path
    except OSError:
        return None


#: the LLVM feature that narrows AVX-512 code to 256-bit vectors, removed by :func:`configure_target`
NARROW_FEATURE = "prefer-256-bit"


def _has_avx512(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether the CPU flags list avx512f (Linux); False where the file is missing or unreadable."""
    try:
        text = cpuinfo.read_text(errors="replace")
    except OSError:
        return False
    return any(line.startswith("flags") and " avx512f" in line for line in text.splitlines())


def target_features(host: str) -> str:
    """LLVM feature string for the kernels: the host's (``+avx512f,+fma,...``) without the 256-bit preference."""
    kept = [f for f in host.split(",") if f and f.lstrip("+-") != NARROW_FEATURE]
    return ",".join([*kept, f"-{NARROW_FEATURE}"])


#: the NUMBA_CPU_FEATURES value :func:`configure_target` set, so a child process (a sweep job, perhaps on another
#: machine) can tell sim's own choice from the user's and redo it for its own CPU
OWN_VAR = "DMNSIM_NUMBA_CPU_FEATURES"


#: bytes of the vector registers the coupling tiles (:func:`sim.kernel.coupling_sums`) are written for, and vectors
#: per tile (2 sums x TILE_VECTORS accumulators in 32 zmm / 16 ymm registers); set by :func:`configure_target`
VECTOR_BYTES = 32
TILE_VECTORS = 4


def configure_target() -> None:
    """:func:`_choose_target`, then the coupling tiles' width from the NUMBA_CPU_FEATURES numba will read: 64 bytes
    (zmm) with AVX-512 (this module's choice or the user's), else 32 (ymm; other CPUs split the vectors, which costs
    speed, not correctness)."""
    global VECTOR_BYTES, TILE_VECTORS
    _choose_target()
    VECTOR_BYTES = 64 if "+avx512f" in os.environ.get("NUMBA_CPU_FEATURES", "").split(",") else 32
    TILE_VECTORS = 8 if VECTOR_BYTES == 64 else 4


def _choose_target() -> None:
    """Compile for the full AVX-512 vector width (module docstring) by setting ``NUMBA_CPU_FEATURES`` for this
    process and its children. Nothing is changed when numba was imported first (its configuration is read then) or
    when the user chose the target. A value this function set in a parent (marked by :data:`OWN_VAR`) is decided
    again for this process's CPU, and dropped without AVX-512."""
    inherited = os.environ.get("NUMBA_CPU_FEATURES")
    ours = inherited is not None and inherited == os.environ.get(OWN_VAR)
    if "numba" in sys.modules or os.environ.get("NUMBA_CPU_NAME") or (inherited and not ours):
        return
    if ours:
        del os.environ["NUMBA_CPU_FEATURES"], os.environ[OWN_VAR]
    if not _has_avx512():
        return
    import llvmlite.binding  # loads LLVM (~30 ms); numba loads it anyway

    host = llvmlite.binding.get_host_cpu_features().flatten()
    if "+avx512f" not in host.split(","):  # /proc/cpuinfo lists it but LLVM does not see it usable
        return
    os.environ["NUMBA_CPU_FEATURES"] = os.environ[OWN_VAR] = target_features(host)


def foreign_env(env: dict | None = None) -> dict:
    """A copy of the environment without the target :func:`configure_target` set: for other projects' processes
    (benchmark peers, an old revision), which should compile with their own defaults."""
    env = dict(os.environ if env is None else env)
    if env.get("NUMBA_CPU_FEATURES") is not None and env.get("NUMBA_CPU_FEATURES") == env.get(OWN_VAR):
        del env["NUMBA_CPU_FEATURES"]
    env.pop(OWN_VAR, None)
    return env


def target_info() -> dict:
    """What the kernels were compiled for, for provenance: numba version, LLVM CPU name, vector width of the loops
    LLVM vectorises and of the coupling tiles (:data:`VECTOR_BYTES`, :data:`TILE_VECTORS`)."""
    import llvmlite.binding
    import numba

    feats = (numba.config.CPU_FEATURES or llvmlite.binding.get_host_cpu_features().flatten()).split(",")
    wide = "+avx512f" in feats and f"-{NARROW_FEATURE}" in feats
    return {"numba": numba.__version__, "cpu": numba.config.CPU_NAME or llvmlite.binding.get_host_cpu_name(),
            "vector_width": "512-bit" if wide else "LLVM default for the CPU",
            "coupling_tile": f"{TILE_VECTORS} x {VECTOR_BYTES * 8}-bit vectors"}


def configure() -> None:
    """Point numba's cache at :func:`cache_dir` (environment for a later ``import numba``, config if imported)."""
    os.environ.setdefault(USER_VAR, os.environ.get("NUMBA_CACHE_DIR", ""))
    try:
        path: Path | None = cache_dir()
        path.mkdir(parents=True, exist_ok=True)
    except (OSError, RuntimeError):  # no writable or known home (containers with an arbitrary uid, read-only HOME)
        path = _private_tmp_dir()
    if path is None:
        return
    os.environ["NUMBA_CACHE_DIR"] = str(path)
    if "numba" in sys.modules:
        sys.modules["numba"].config.CACHE_DIR = str(path)
