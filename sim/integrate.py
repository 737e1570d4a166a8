r"""Fixed-step stochastic integration of any node model over a batch of items, in chunks.

Schemes for additive noise, with :math:`\Delta W \sim N(0, dt)` per component:

* Euler-Maruyama: :math:`z_{n+1} = z_n + f(z_n)\,dt + S\,\Delta W_n`;
* stochastic Heun (predictor-corrector; weak and, for additive noise, strong order 1):
  :math:`\tilde z = z_n + f(z_n)dt + S\Delta W_n`,
  :math:`z_{n+1} = z_n + \tfrac{dt}{2}(f(z_n) + f(\tilde z)) + S\Delta W_n`
  (Kloeden & Platen 1992, §15; Mannella 2002).

Design (memory flat in simulated duration, reproducible, vectorised):

* every item owns one :class:`numpy.random.SeedSequence` (given by the caller); its Philox key
  (:func:`sim.rng.item_keys`) fixes its initial state and the normals of every step (counter = step), so an
  item's result does not depend on which other items share its batch, on block or chunk sizes or on the
  thread count;
* two paths, the same scheme and the same noise: ``kernel="compiled"`` (default) runs the model's
  :class:`~sim.models.base.Kernel` (``KERNEL.run``, built from :mod:`sim.kernel`; noise drawn inside the
  loop, the item axis vectorised, the GIL released); ``kernel="numpy"`` is the plain reference loop (numpy
  arrays, the model's
  ``drift``), kept for the equality tests and for models without a kernel;
* items are split into contiguous chunks of ``chunk_items`` (small enough that a chunk's arrays stay in the
  CPU cache) and a thread pool works through the chunks;
* no trajectory is kept: the compiled path reduces the observable to what the sink asks for
  (:class:`ReducingSink`: a mean over ``window`` steps, every ``stride``-th window) and hands those samples on;
* after each block the state is checked: a non-finite value raises :class:`IntegrationError`
  naming the model, the simulated time and the offending items.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from sim.errors import ConfigError, check_range
from sim.kernel import state_to_kernel
from sim.models.base import DELAYS, KERNEL, POST_STEP, NodeModel, supports
from sim.network import take_items
from sim.rng import init_generator, item_keys, noise_key, normals

METHODS = ("heun", "euler")
KERNELS = ("compiled", "numpy")


class Sink(Protocol):
    """Receives blocks of per-step observables (T, n_items, N) starting at integration step ``step0``."""

    def push(self, obs: np.ndarray, step0: int) -> None: ...

    def result(self): ...


@runtime_checkable
class ReducingSink(Sink, Protocol):
    """A sink that only needs the observable averaged over ``window`` steps, every ``stride``-th window:
    ``reduction = (window, stride)``; ``push_samples(samples, step0)`` gets (T, n_items, N) of those means,
    sample r ending at step ``step0 + (r + 1) * window * stride - 1``."""

    reduction: tuple[int, int]

    def push_samples(self, samples: np.ndarray, step0: int) -> None: ...


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
    chunk_items: int = 256  # items integrated together: long unit-stride loops (256 ran 1.15-1.25x faster per item
    # than 64 in one-thread hopf kernel runs), while a chunk's weights (nnz x 256 float32, ~200 kB) stay in L2
    kernel: str = "compiled"  # or "numpy": the plain reference loop

    def __post_init__(self):
        check_range("model.dt_s", self.dt_s, 0.0, None, lo_open=True)
        check_range("scan.duration_s", self.duration_s, 0.0, None, lo_open=True)
        check_range("scan.transient_s", self.transient_s, 0.0, None)
        if self.method not in METHODS:
            raise ConfigError(f"model.integrator: unknown value {self.method!r}; allowed: {', '.join(METHODS)}")
        if self.kernel not in KERNELS:
            raise ConfigError(f"model.kernel: unknown value {self.kernel!r}; allowed: {', '.join(KERNELS)}")

    @property
    def n_transient(self) -> int:
        return int(round(self.transient_s / self.dt_s))

    @property
    def n_steps(self) -> int:
        return int(round(self.duration_s / self.dt_s))

    def threads(self) -> int:
        return self.n_threads if self.n_threads > 0 else (os.cpu_count() or 1)


def simulate(model: NodeModel, params, seeds: Sequence[np.random.SeedSequence], settings: Settings,
             make_sink: Callable[[int], object], progress: Callable[[int], None] | None = None) -> list:
    """Integrate ``model`` for every item of ``params`` and feed observables to sinks.

    Parameters
    ----------
    model: a node model (:class:`sim.models.base.NodeModel`, e.g. a module of :mod:`sim.models`).
    params: the model's per-item parameter dataclass (leading axis = item).
    seeds: one SeedSequence per item.
    make_sink: ``make_sink(n_items)`` returns a :class:`Sink` (``push(obs, step0)`` receiving blocks of
        observables (T, n_items, N) starting at integration step ``step0``, transient included, and
        ``result()``), or a :class:`ReducingSink`, which gets only the reduced samples it asks for.
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


def _initial_state(model: NodeModel, p, keys: np.ndarray) -> np.ndarray:
    """(B, N, S) float32 initial states, each from its item's key (counter range INIT_TAG)."""
    return np.asarray(model.init_state(p, [init_generator(k) for k in keys]), np.float32)


def _check_finite(model: NodeModel, z: np.ndarray, item_axis: int, step_end: int, settings: Settings) -> None:
    bad = ~np.isfinite(z).all(axis=tuple(a for a in range(z.ndim) if a != item_axis))
    if bad.any():
        t_s = (step_end - settings.n_transient) * settings.dt_s
        raise IntegrationError(
            f"{model.NAME}: NaN or overflow at simulated t = {t_s:.1f} s in {int(bad.sum())} of {len(bad)} "
            f"items; lower model.dt_s or the coupling / noise "
            f"(model.params.global_coupling, model.params.sigma)")


def _run_chunk(model: NodeModel, p, seeds, settings: Settings, sink, progress) -> None:
    keys = item_keys(seeds)
    z = _initial_state(model, p, keys)
    if settings.kernel == "compiled" and supports(model, KERNEL):
        _run_compiled(model, p, keys, z, settings, sink, progress)
    else:
        _run_reference(model, p, keys, z, settings, sink, progress)


def _run_compiled(model, p, keys, z, settings: Settings, sink, progress) -> None:
    """The fused kernel: noise, scheme, hooks and observation reduction in one compiled loop per block."""
    kern = model.KERNEL
    pk = kern.params(p, settings.dt_s)
    zk = state_to_kernel(z)
    aux, hist = kern.aux(p, zk, settings.dt_s)
    scale = state_to_kernel((model.noise_scale(p) * math.sqrt(settings.dt_s)).astype(np.float32))
    k0, k1 = noise_key(keys)
    reducing = isinstance(sink, ReducingSink)
    window, stride = sink.reduction if reducing else (1, 1)
    per = window * stride
    total = settings.n_transient + settings.n_steps
    block = max(1, math.ceil(max(1, settings.block_steps) / per)) * per
    dt = np.float32(settings.dt_s)
    heun = settings.method == "heun"
    for start in range(0, total, block):
        nb = min(block, total - start)
        out = np.empty((nb // per, zk.shape[1], zk.shape[2]), np.float32)
        kern.run(pk, aux, hist, zk, k0, k1, scale, start, nb, dt, heun, window, stride, out)
        _check_finite(model, zk, 2, start + nb, settings)
        samples = out.transpose(0, 2, 1)
        if reducing:
            sink.push_samples(samples, start)
        else:
            sink.push(samples, start)
        if progress is not None:
            progress(nb * zk.shape[2])


def _run_reference(model, p, keys, z, settings: Settings, sink, progress) -> None:
    """The plain numpy loop (reference): the same scheme and the same normals (:func:`sim.rng.normals`)."""
    b, n, s = z.shape
    dt = np.float32(settings.dt_s)
    scale = (model.noise_scale(p) * math.sqrt(settings.dt_s)).astype(np.float32)
    total = settings.n_transient + settings.n_steps
    block = max(1, settings.block_steps)
    heun = settings.method == "heun"
    # Models with conduction delays keep their own history (a ring buffer) in a context object.
    ctx = model.make_context(p, z, settings.dt_s) if supports(model, DELAYS) else None
    drift = model.drift if ctx is None else (lambda state, params: model.drift(state, params, ctx))
    post_step = model.post_step if supports(model, POST_STEP) else None
    with np.errstate(over="ignore", invalid="ignore"):
        for start in range(0, total, block):
            nb = min(block, total - start)
            raw = normals(keys, start, nb, s * n).reshape(nb, s, n, b).transpose(0, 3, 2, 1)  # (nb, B, N, S)
            obs = np.empty((nb, b, n), dtype=np.float32)
            for k in range(nb):
                dw = raw[k] * scale
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
            _check_finite(model, z, 0, start + nb, settings)
            sink.push(obs, start)
            if progress is not None:
                progress(nb * b)
