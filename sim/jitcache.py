"""Where numba caches the compiled kernels: one directory per version of the compiled sources.

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
