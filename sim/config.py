"""Compose the Hydra config from Python (the same files the ``dmnsim`` CLI uses)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"


def load_config(overrides: Sequence[str] = (), config_name: str = "config"):
    """Return the composed config (an OmegaConf DictConfig) for Hydra-style ``overrides``."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    if GlobalHydra.instance().is_initialized():
        GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return compose(config_name=config_name, overrides=list(overrides))
