"""Observation: from a model's observable at the integration step to BOLD samples at the TR.

* ``direct``: the observable is already BOLD-like (Hopf and Kuramoto at the BOLD time scale); it is
  sampled every TR.
* ``balloon``: the observable is neural activity; it drives the Balloon-Windkessel model
  (:mod:`sim.bold`) whose output is sampled every TR.

A :class:`Pipeline` is the sink the integrator feeds: observation, then :class:`OnlineStats`. It
keeps no trajectory.
"""

from __future__ import annotations

import numpy as np

from sim.errors import ConfigError
from sim.metrics import OnlineStats


class Pipeline:
    """Sink for :func:`sim.integrate.simulate`: observable blocks -> BOLD at TR -> running stats."""

    def __init__(self, stats: OnlineStats, dt_s: float, tr_s: float, n_transient: int, observation: str,
                 n_items: int, n_regions: int, bold_constants=None):
        ratio = tr_s / dt_s
        self.every = int(round(ratio))
        if self.every < 1 or abs(ratio - self.every) > 1e-6 * ratio:
            raise ConfigError(f"scan.tr_s: {tr_s:g} s must be a whole multiple of the model's dt_s ({dt_s:g} s)")
        self.stats = stats
        self.n_transient = n_transient
        self.observation = observation
        self.dt_s = dt_s
        if observation == "balloon":
            from sim import bold

            self.bold = bold
            self.constants = bold_constants or bold.CONSTANT_SETS["spm12"]
            self.state = bold.init_state((n_items, n_regions), np.float64)
        elif observation != "direct":
            raise ConfigError(f"observation: unknown value {observation!r}; allowed: balloon, direct")

    def push(self, obs: np.ndarray, step0: int) -> None:
        if self.observation == "balloon":
            self.state, obs = self.bold.integrate(self.state, obs, self.dt_s, self.constants)
        steps = step0 + np.arange(len(obs))
        take = (steps + 1) % self.every == 0
        if take.any():
            self.stats.push(obs[take], steps[take] >= self.n_transient)

    def result(self) -> dict:
        return self.stats.result()
