r"""Fixed-step stochastic integration of any node model over a batch of items, in chunks.

Schemes for additive noise, with :math:`\Delta W \sim N(0, dt)` per component:

* Euler-Maruyama: :math:`z_{n+1} = z_n + f(z_n)\,dt + S\,\Delta W_n`;
* stochastic Heun (predictor-corrector; weak and, for additive noise, strong order 1):
  :math:`\tilde z = z_n + f(z_n)dt + S\Delta W_n`,
  :math:`z_{n+1} = z_n + \tfrac{dt}{2}(f(z_n) + f(\tilde z)) + S\Delta W_n`
  (Kloeden & Platen 1992, §15; Mannella 2002).

Design (memory flat in simulated duration, reproducible, vectorised):

* every item owns one random stream (:class:`numpy.random.SeedSequence` given by the caller);
  noise is drawn per item in blocks of ``block_steps`` steps, so an item's result does not depend on
  which other items share its batch, on the block size of the *sink* or on the thread count;
* items are split into contiguous chunks of ``chunk_items`` (small enough that a chunk's arrays stay
  in the CPU cache), and a thread pool works through the chunks (numpy releases the GIL in the
  random-number fills, matmuls and ufuncs that dominate the cost);
* no trajectory is kept: each block of observables (T, B_chunk, N) goes to a *sink* (observation +
  metrics) that keeps only running statistics;
* after each block the state is checked: a non-finite value raises :class:`IntegrationError`
  naming the model, the simulated time and the offending items.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from sim.errors import ConfigError, check_range
from sim.network import take_items

METHODS = ("heun", "euler")


class IntegrationError(FloatingPointError):
    """NaN or overflow during integration."""


@dataclass(frozen=True)
class Settings:
    """Integration settings; all times in seconds."""

    dt_s: float
    duration_s: float
    transient_s: float = 60.0
    method: str = "heun"
    block_steps: int = 500
    n_threads: int = 0  # 0 = all cores
    chunk_items: int = 96  # items integrated together; small enough that the state stays in cache

    def __post_init__(self):
        check_range("model.dt_s", self.dt_s, 0.0, None, lo_open=True)
        check_range("scan.duration_s", self.duration_s, 0.0, None, lo_open=True)
        check_range("scan.transient_s", self.transient_s, 0.0, None)
        if self.method not in METHODS:
            raise ConfigError(f"model.integrator: unknown value {self.method!r}; allowed: {', '.join(METHODS)}")

    @property
    def n_transient(self) -> int:
        return int(round(self.transient_s / self.dt_s))

    @property
    def n_steps(self) -> int:
        return int(round(self.duration_s / self.dt_s))

    def threads(self) -> int:
        return self.n_threads if self.n_threads > 0 else (os.cpu_count() or 1)


def item_generators(seeds: Sequence[np.random.SeedSequence]) -> list[np.random.Generator]:
    return [np.random.Generator(np.random.PCG64(s)) for s in seeds]


def simulate(model, params, seeds: Sequence[np.random.SeedSequence], settings: Settings,
             make_sink: Callable[[int], object], progress: Callable[[int], None] | None = None) -> list:
    """Integrate ``model`` for every item of ``params`` and feed observables to sinks.

    Parameters
    ----------
    model: a node-model module (``sim.models.*``) with ``init_state``, ``drift``, ``noise_scale``,
        ``observable``, ``N_STATE``.
    params: the model's per-item parameter dataclass (leading axis = item).
    seeds: one SeedSequence per item.
    make_sink: ``make_sink(n_items)`` returns an object with ``push(obs, step0)`` receiving blocks of
        observables (T, n_items, N) starting at integration step ``step0`` (transient included) and
        ``result()``.
    progress: called with the number of item-steps done after each block (from worker threads).

    Returns the list of ``sink.result()`` for each chunk, in item order.
    """
    n_items = len(seeds)
    msg = model.check_dt(settings.dt_s, params)
    if msg:
        raise ConfigError(f"model.dt_s: {msg}")
    # chunks of at most chunk_items, but at least one chunk per thread when there are enough items
    size = max(1, min(settings.chunk_items, math.ceil(n_items / settings.threads())))
    jobs = [(slice(a, min(a + size, n_items)), seeds[a:a + size]) for a in range(0, n_items, size)]

    def work(job):
        sl, s = job
        sink = make_sink(sl.stop - sl.start)
        _run_chunk(model, take_items(params, sl), s, settings, sink, progress)
        return sink.result()

    n_threads = min(settings.threads(), len(jobs))
    if n_threads == 1:
        return [work(j) for j in jobs]
    with ThreadPoolExecutor(n_threads) as ex:
        return list(ex.map(work, jobs))


def _run_chunk(model, p, seeds, settings: Settings, sink, progress) -> None:
    rngs = item_generators(seeds)
    z = np.stack([model.init_state(take_items(p, slice(i, i + 1)), rng) for i, rng in enumerate(rngs)])
    z = z.astype(np.float32)
    b, n, s = z.shape
    dt = np.float32(settings.dt_s)
    scale = (model.noise_scale(p) * math.sqrt(settings.dt_s)).astype(np.float32)
    total = settings.n_transient + settings.n_steps
    block = max(1, settings.block_steps)
    raw = np.empty((b, block, n, s), dtype=np.float32)
    heun = settings.method == "heun"
    # Models with conduction delays keep their own history (a ring buffer) in a context object.
    ctx = model.make_context(p, z, settings.dt_s) if hasattr(model, "make_context") else None
    drift = model.drift if ctx is None else (lambda state, params: model.drift(state, params, ctx))
    fused = heun and ctx is None and hasattr(model, "heun_block")
    post_step = getattr(model, "post_step", None)  # e.g. wrapping phases into [0, 2 pi)
    with np.errstate(over="ignore", invalid="ignore"):
        for start in range(0, total, block):
            nb = min(block, total - start)
            for i, rng in enumerate(rngs):
                rng.standard_normal(out=raw[i, :nb], dtype=np.float32)
            obs = np.empty((nb, b, n), dtype=np.float32)
            if fused:  # compiled Heun loop of the model (same right-hand side, no numpy temporaries)
                model.heun_block(z, p, raw[:, :nb] * scale[:, None], dt, obs)
            else:
                for k in range(nb):
                    dw = raw[:, k] * scale
                    f0 = drift(z, p)
                    if heun:
                        zp = z + dt * f0 + dw
                        f1 = drift(zp, p)
                        z = z + (dt * np.float32(0.5)) * (f0 + f1) + dw
                    else:
                        z = z + dt * f0 + dw
                    if post_step is not None:
                        post_step(z)
                    if ctx is not None:
                        model.update_context(ctx, z)
                    obs[k] = model.observable(z)
            bad = ~np.isfinite(z).all(axis=(1, 2))
            if bad.any():
                t_s = (start + nb - settings.n_transient) * settings.dt_s
                raise IntegrationError(
                    f"{model.NAME}: NaN or overflow at simulated t = {t_s:.1f} s in {int(bad.sum())} of {b} "
                    f"items; lower model.dt_s or the coupling / noise "
                    f"(model.params.global_coupling, model.params.sigma)")
            sink.push(obs, start)
            if progress is not None:
                progress(nb * b)
