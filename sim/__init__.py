"""dmn-sim: DMN / salience / task-positive network dynamics under ketamine-like NMDA antagonism.

Python entry points::

    from sim import load_config, simulate_cohort
    cfg = load_config(["phenotype=depressed_hyper", "cohort.n_subjects=50"])
    ds = simulate_cohort(cfg)          # xarray.Dataset: subject x metric, FC region x region
"""

__version__ = "0.1.0"

from sim.config import load_config  # noqa: E402
from sim.simulate import simulate_cohort  # noqa: E402

__all__ = ["load_config", "simulate_cohort", "__version__"]
