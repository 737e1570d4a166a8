"""Where numba caches the compiled kernels: one directory per version of the compiled sources.

numba's on-disk cache (``@njit(cache=True)``) checks only the source file of the cached function, not the files of
the functions it inlines or calls: after an edit of :mod:`sim.rng`, the cached ``sim.models.hopf._run`` would still
run the old generator (seen in development; the compiled-vs-reference test caught it). So the cache directory is
named by a hash of every module of this package that uses numba, and any edit of one of them starts a fresh cache.

The directory is ``$NUMBA_CACHE_DIR/dmn-sim-<hash>`` if the user set ``NUMBA_CACHE_DIR``, else
``$XDG_CACHE_HOME/dmn-sim/numba-<hash>`` (default ``~/.cache``; a per-user temporary directory if that cannot be
created). :func:`configure` must run before numba is imported
or before the first kernel module is (``sim/__init__.py`` calls it); numba itself is not imported here.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def source_hash() -> str:
    """sha256 (first 16 hex digits) over the path and text of every module of the package that mentions numba."""
    h = hashlib.sha256()
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        text = path.read_bytes()
        if b"numba" in text:
            h.update(str(path.relative_to(PACKAGE_DIR)).encode() + b"\0" + text + b"\0")
    return h.hexdigest()[:16]


def cache_dir() -> Path:
    user = os.environ.get("DMNSIM_USER_NUMBA_CACHE_DIR") or os.environ.get("NUMBA_CACHE_DIR")
    if user:
        return Path(user) / f"dmn-sim-{source_hash()}"
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "dmn-sim" / f"numba-{source_hash()}"


def configure() -> None:
    """Point numba's cache at :func:`cache_dir` (environment for a later ``import numba``, config if imported)."""
    if os.environ.get("DMNSIM_NUMBA_CACHE_CONFIGURED"):
        return
    user = os.environ.get("NUMBA_CACHE_DIR")
    if user:
        os.environ["DMNSIM_USER_NUMBA_CACHE_DIR"] = user  # remembered for child processes
    path = cache_dir()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:  # no writable home (some CI and container setups): a per-user temporary directory
        import tempfile

        path = Path(tempfile.gettempdir()) / f"dmn-sim-numba-{os.getuid() if hasattr(os, 'getuid') else 0}" / path.name
        path.mkdir(parents=True, exist_ok=True)
    path = str(path)
    os.environ["NUMBA_CACHE_DIR"] = path
    os.environ["DMNSIM_NUMBA_CACHE_CONFIGURED"] = "1"
    if "numba" in sys.modules:
        sys.modules["numba"].config.CACHE_DIR = path
