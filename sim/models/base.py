"""The node-model interface: a typed Protocol with declared optional capabilities.

Every module in :mod:`sim.models` satisfies :class:`NodeModel`. Optional behaviour is *declared*, not
probed: a model lists what it supports in ``CAPABILITIES`` and provides the matching attributes
(checked by tests/test_kernels.py for every registered model):

* ``"kernel"``: ``KERNEL``, a :class:`Kernel` of compiled functions for the fused loop of :mod:`sim.kernel`;
* ``"delays"``: conduction delays; ``make_context(p, z0, dt_s)`` and ``update_context(ctx, z)`` for the
  numpy reference path (the kernel keeps its own ring buffer), and ``drift(z, p, ctx)``;
* ``"post_step"``: ``post_step(z)``, applied in place after every step (e.g. wrapping phases).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

KERNEL = "kernel"
DELAYS = "delays"
POST_STEP = "post_step"
ALL_CAPABILITIES = frozenset({KERNEL, DELAYS, POST_STEP})


@dataclass(frozen=True)
class Kernel:
    """Compiled pieces of a model for the fused loop of :mod:`sim.kernel` (all arrays in the kernel layout).

    run(p, aux, hist, z, k0, k1, scale, step0, n_steps, dt, heun, window, stride, out): the model's cached
        compiled loop over one block, built from the pieces of :mod:`sim.kernel` and its own functions
        (called by name, so numba can cache it; functions passed as arguments would recompile per process).
    rhs(z, p, aux, out): the right-hand side, z and out (S, N, B); the model's only copy of its equations.
    params(p, dt_s): the per-item params dataclass of a chunk -> the tuple ``p`` the compiled functions take.
    aux(p, zk, dt_s): -> (aux, hist) work arrays of a chunk at its initial state zk (S, N, B).
    """

    run: Any
    rhs: Any
    params: Callable[[Any, float], tuple]
    aux: Callable[[Any, np.ndarray, float], tuple]


@runtime_checkable
class NodeModel(Protocol):
    """What the integrator, observation and config layers need from a node model."""

    NAME: str
    N_STATE: int
    STATE_NAMES: tuple[str, ...]
    OBSERVATION: str  # "direct" or "balloon"
    DEFAULT_DT_S: float
    PARAMS: tuple
    CAPABILITIES: frozenset[str]

    def build(self, values: dict, net) -> Any: ...

    def init_state(self, p, rngs: Sequence[np.random.Generator]) -> np.ndarray: ...

    def drift(self, z: np.ndarray, p, *ctx) -> np.ndarray: ...

    def noise_scale(self, p) -> np.ndarray: ...

    def observable(self, z: np.ndarray) -> np.ndarray: ...

    def check_dt(self, dt_s: float, p) -> str | None: ...


class KernelModel(NodeModel, Protocol):
    KERNEL: Kernel


class DelayModel(NodeModel, Protocol):
    def make_context(self, p, z0: np.ndarray, dt_s: float) -> Any: ...

    def update_context(self, ctx, z: np.ndarray) -> None: ...


class PostStepModel(NodeModel, Protocol):
    def post_step(self, z: np.ndarray) -> None: ...


def supports(model: NodeModel, capability: str) -> bool:
    """True if ``model`` declares ``capability`` (one of :data:`ALL_CAPABILITIES`)."""
    if capability not in ALL_CAPABILITIES:
        raise ValueError(f"unknown capability {capability!r}; known: {', '.join(sorted(ALL_CAPABILITIES))}")
    return capability in model.CAPABILITIES


def dt_rate_message(dt_s: float, rate: float, limit: float, what: str = "fastest rate") -> str | None:
    """The one explicit-scheme stability check: a message if ``dt_s * rate >= limit``, else None."""
    if dt_s * rate >= limit:
        return (f"dt_s={dt_s:g} is unstable for this network ({what} {rate:.3g}/s); "
                f"need dt_s < {limit / rate:.3g}")
    return None
