"""Shared helpers: compose the real config and shrink it."""

from __future__ import annotations

import pytest

from sim.config import load_config


@pytest.fixture
def small_cfg():
    """The real default config with a small, short cohort (overrides can be added)."""

    def make(*overrides: str):
        base = ["experiment=cohort", "cohort.n_subjects=4", "scan.duration_s=120", "scan.transient_s=20",
                "progress=false"]
        return load_config(base + list(overrides))

    return make
