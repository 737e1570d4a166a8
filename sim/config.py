"""Compose the Hydra config from Python (the same files the ``dmnsim`` CLI uses).

The config tree is the top-level ``configs/`` directory of the source, shipped as the package ``sim.conf``
(pyproject.toml maps ``sim.conf`` to ``configs/``): a wheel holds it at ``sim/conf/``, an editable install
maps it to the checkout's ``configs/``. :data:`CONFIG_DIR` is found through the package, so the CLI, the
claims registry and every default work from any directory; a checkout used without installing (only
``sim/`` on ``sys.path``) falls back to the ``configs/`` beside ``sim/``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


def _config_dir() -> Path:
    from importlib.resources import files

    try:
        return Path(str(files("sim.conf")))
    except ModuleNotFoundError:  # a source checkout on sys.path that was never pip-installed
        return Path(__file__).resolve().parent.parent / "configs"


CONFIG_DIR = _config_dir()


def load_config(overrides: Sequence[str] = (), config_name: str = "config"):
    """Return the composed config (an OmegaConf DictConfig) for Hydra-style ``overrides``."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    if GlobalHydra.instance().is_initialized():
        GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return compose(config_name=config_name, overrides=list(overrides))
