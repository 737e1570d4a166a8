"""Small shared test utilities."""

from __future__ import annotations

import numpy as np


class Recorder:
    """Integrator sink keeping every observable block (tests only): result() is (T, items, regions)."""

    def __init__(self, n_items):
        self.blocks = []

    def push(self, obs, step0):
        self.blocks.append(obs.copy())

    def result(self):
        return np.concatenate(self.blocks)
