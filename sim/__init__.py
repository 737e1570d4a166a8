"""dmn-sim: DMN / salience / task-positive network dynamics under ketamine-like NMDA antagonism.

Python entry points::

    from sim import load_config, simulate_cohort
    cfg = load_config(["phenotype=depressed_hyper", "cohort.n_subjects=50"])
    ds = simulate_cohort(cfg)          # xarray.Dataset: subject x metric, FC region x region

``import sim`` is cheap: the names below are imported on first use (PEP 562 module ``__getattr__``), so the
CLI can compose a config and reject a bad override without loading numba, scipy.signal or the simulator
(tests/test_packaging.py checks which modules ``import sim`` and ``import sim.cli`` load).
"""

from __future__ import annotations

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version

from sim import jitcache

jitcache.configure()  # before any kernel module is imported: one numba cache per version of the compiled sources
jitcache.configure_target()  # and the full AVX-512 vector width where the CPU has it

try:
    __version__ = version("dmn-sim")  # the installed distribution's version (pyproject.toml)
except PackageNotFoundError:  # a source checkout on sys.path that was never pip-installed
    __version__ = "0+unknown"

#: public name -> module that defines it
_LAZY = {"load_config": "sim.config", "simulate_cohort": "sim.simulate"}

__all__ = ["load_config", "simulate_cohort", "__version__"]


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'sim' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
