"""Observation: from a model's observable at the integration step to BOLD samples at the TR.

* ``direct``: the observable is already BOLD-like (Hopf and Kuramoto at the BOLD time scale); it is
  sampled every TR.
* ``balloon``: the observable is neural activity; it is averaged over windows of ``bold_dt_s``
  (10 ms: the Balloon-Windkessel time constants are >= 0.3 s, and RK4 at 10 ms is accurate to ~1e-9 of
  the peak, see :mod:`sim.bold`) and drives the Balloon-Windkessel model, whose output is sampled
  every TR.

A :class:`Pipeline` is the sink the integrator feeds: observation, then :class:`OnlineStats`. It
keeps no trajectory. ``push`` takes per-step observables (blocks may end anywhere; partial windows are
carried over); ``push_samples`` takes what the compiled kernel already reduced (``reduction`` =
(window, stride): the TR samples for ``direct``, the 10 ms window means for ``balloon``), so per-step
observables are never materialised on the compiled path.
"""

from __future__ import annotations

import numpy as np

from sim.errors import ConfigError
from sim.metrics import OnlineStats

BOLD_DT_S = 0.01


class Pipeline:
    """Sink for :func:`sim.integrate.simulate`: observable blocks -> BOLD at TR -> running stats."""

    def __init__(self, stats: OnlineStats, dt_s: float, tr_s: float, n_transient: int, observation: str,
                 n_items: int, n_regions: int, bold_constants=None, bold_dt_s: float = BOLD_DT_S):
        ratio = tr_s / dt_s
        self.every = int(round(ratio))
        if self.every < 1 or abs(ratio - self.every) > 1e-6 * ratio:
            raise ConfigError(f"scan.tr_s: {tr_s:g} s must be a whole multiple of the model's dt_s ({dt_s:g} s)")
        self.stats = stats
        self.n_transient = n_transient
        self.observation = observation
        self.window = 1
        self.done = 0  # integration steps consumed into complete windows
        self.carry = None
        if observation == "balloon":
            from sim import bold

            self.bold = bold
            self.constants = bold_constants or bold.CONSTANT_SETS["spm12"]
            self.state = bold.init_state((n_items, n_regions), np.float64)
            self.window = max(1, int(round(bold_dt_s / dt_s)))
            if self.every % self.window:
                raise ConfigError(f"scan.tr_s: {tr_s:g} s must be a whole multiple of the BOLD step "
                                  f"{self.window * dt_s:g} s")
            self.bold_dt_s = self.window * dt_s
        elif observation != "direct":
            raise ConfigError(f"observation: unknown value {observation!r}; allowed: balloon, direct")

    @property
    def reduction(self) -> tuple[int, int]:
        """(window, stride) for :class:`sim.integrate.ReducingSink`."""
        return (self.window, 1) if self.observation == "balloon" else (1, self.every)

    def push_samples(self, samples: np.ndarray, step0: int) -> None:
        """Reduced samples (T, B, N): sample r is the mean over ``window`` steps ending at step
        ``step0 + (r + 1) * window * stride - 1`` (direct: the value at that step, one per TR)."""
        if self.observation == "direct":
            last_steps = step0 + (np.arange(len(samples)) + 1) * self.every - 1
            self.stats.push(samples, last_steps >= self.n_transient)
            return
        if step0 != self.done or self.carry is not None:
            raise ValueError(f"push_samples at step {step0}: expected step {self.done} and no carried steps")
        self._consume(samples)

    def push(self, obs: np.ndarray, step0: int) -> None:
        k = self.window
        if k > 1:
            if self.carry is not None:
                obs = np.concatenate([self.carry, obs])
            n_full = len(obs) // k * k
            self.carry = obs[n_full:] if n_full < len(obs) else None
            obs = obs[:n_full].reshape(-1, k, *obs.shape[1:]).mean(1)
        self._consume(obs)

    def _consume(self, obs: np.ndarray) -> None:
        """Window means (T, B, N) following the last consumed step: BOLD if needed, then the TR samples."""
        k = self.window
        if self.observation == "balloon":
            self.state, obs = self.bold.integrate_compiled(self.state, obs, self.bold_dt_s, self.constants)
        last_steps = self.done + (np.arange(len(obs)) + 1) * k - 1  # integration step ending each sample
        self.done += len(obs) * k
        take = (last_steps + 1) % self.every == 0
        if take.any():
            self.stats.push(obs[take], last_steps[take] >= self.n_transient)

    def result(self) -> dict:
        return self.stats.result()
