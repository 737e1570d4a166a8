r"""Kuramoto phase oscillators at the BOLD time scale: a teaching model of synchrony.

Kuramoto 1984, *Chemical Oscillations, Waves, and Turbulence* (Springer), with the network form of
Cabral, Hugues, Sporns & Deco 2011 NeuroImage 57:130 (DOI 10.1016/j.neuroimage.2011.04.010) but
without delays (they matter for their 40-60 Hz oscillators, not at 0.04-0.07 Hz) and with signed weights:

.. math::

    \dot\theta_j = \omega_j + \sum_k W_{jk} \sin(\theta_k - \theta_j) + \sigma \eta_j(t),
    \qquad W = G\,(C^{exc} - g^{EI}_j C^{inh})

([target, source]; :math:`g^{EI}` = ``ei_gain``, as in :mod:`sim.models.hopf`). A positive weight pulls
the pair towards in-phase, a negative one towards anti-phase. Two oscillators with symmetric weight K
obey Adler's equation for :math:`\varphi = \theta_2 - \theta_1`:
:math:`\dot\varphi = \Delta\omega - 2K\sin\varphi`, which locks at :math:`\sin\varphi^* = \Delta\omega/(2K)`
when :math:`|\Delta\omega| < 2|K|` (for K < 0 the stable branch lies near anti-phase, cos < 0).

:math:`\omega_j = 2\pi(f_{min} + u_j (f_{max} - f_{min}))` with ``freq_u`` = u of the NetworkSpec, as in
Hopf; ``excitability`` is not used (a phase has no amplitude). Noise: the Itô increment is
``sigma * dW`` (rad). The observable is :math:`\cos\theta_j`, treated directly as BOLD-like.

State layout: ``(batch, region, 1)`` holding the unwrapped phase in rad (sin/cos are insensitive to
wrapping; in float32 the unwrapped phase keeps ~1e-4 rad resolution up to ~1000 rad, i.e. ~1 h at
0.07 Hz).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numba
import numpy as np

from sim.kernel import (
    corrector,
    drift_via_kernel,
    increments,
    predictor,
    record,
    sparse_rows,
    to_kernel,
    wants_observation,
    workspace,
)
from sim.models.base import KERNEL as KERNEL_CAP
from sim.models.base import POST_STEP, Kernel, dt_rate_message
from sim.params import FREQUENCY_PARAMS, ParamSpec, natural_frequency_rad_s

NAME = "kuramoto"
N_STATE = 1
STATE_NAMES = ("theta",)
OBSERVATION = "direct"  # cos(theta) is used as the BOLD-like signal
DEFAULT_DT_S = 0.1
CAPABILITIES = frozenset({KERNEL_CAP, POST_STEP})

PARAMS = (
    ParamSpec("global_coupling", 0.15, "1/s", 0.0, 10.0, "assumed; tuned: healthy within-DMN FC ~ +0.4, "
              "DMN-TPN ~ -0.2 (partial synchrony; G >= 0.3 locks the networks)", "G, scales all long-range weights"),
    ParamSpec("sigma", 0.2, "rad/sqrt(s)", 0.0, 10.0, "assumed",
              "phase noise amplitude"),
    *FREQUENCY_PARAMS,
)


@dataclass(frozen=True)
class KuramotoParams:
    """Per-item parameters (item = one condition x subject x scan of the batch).

    omega: (B, N) natural angular frequency in rad/s.
    w: (B, N, N) signed coupling [target, source] in 1/s.
    sigma: (B, N) noise amplitude in rad/sqrt(s).
    """

    omega: np.ndarray
    w: np.ndarray
    sigma: np.ndarray


def build(values: dict, net) -> KuramotoParams:
    """Combine model constants with the per-item network spec (:class:`sim.network.NetworkSpec`)."""
    w = net.signed_coupling(values["global_coupling"])
    omega = natural_frequency_rad_s(values, net.freq_u)
    sigma = np.broadcast_to(np.float32(values["sigma"]), omega.shape)
    return KuramotoParams(omega.astype(np.float32), w.astype(np.float32),
                          np.ascontiguousarray(sigma, dtype=np.float32))


def init_state(p: KuramotoParams, rngs: Sequence[np.random.Generator]) -> np.ndarray:
    """Uniformly random phases, one generator per item: (B, N, 1)."""
    n = p.omega.shape[-1]
    return np.stack([2 * np.pi * rng.random((n, 1)) for rng in rngs]).astype(np.float32)


@numba.njit(nogil=True, cache=True, error_model="numpy")
def rhs(z, p, aux, out):  # pragma: no cover - compiled
    """d theta/dt in the kernel layout, the only copy of the equation: z, out (1, N, B); p = (omega (N, B),
    wv, indptr, indices) with the coupling in the chunk's sparsity pattern (:func:`sim.kernel.sparse_rows`);
    aux (2, N, B) scratch for sin, cos.
    Uses sum_k W_jk sin(th_k - th_j) = cos th_j (W sin th)_j - sin th_j (W cos th)_j."""
    omega, wv, indptr, indices = p
    n, nb = omega.shape
    th = z[0]
    s = aux[0]
    c = aux[1]
    for j in range(n):
        for b in range(nb):
            s[j, b] = np.sin(th[j, b])
            c[j, b] = np.cos(th[j, b])
    ws = np.empty(nb, z.dtype)
    wc = np.empty(nb, z.dtype)
    for j in range(n):
        ws[:] = 0.0
        wc[:] = 0.0
        for m in range(indptr[j], indptr[j + 1]):
            k = indices[m]
            wjk = wv[m]
            sk = s[k]
            ck = c[k]
            for b in range(nb):
                ws[b] += wjk[b] * sk[b]
                wc[b] += wjk[b] * ck[b]
        o = out[0, j]
        for b in range(nb):
            o[b] = omega[j, b] + c[j, b] * ws[b] - s[j, b] * wc[b]


@numba.njit(nogil=True, cache=True)
def _wrap(z, p, hist, step):  # pragma: no cover - compiled
    two_pi = z.dtype.type(2 * np.pi)
    th = z[0]
    for j in range(th.shape[0]):
        for b in range(th.shape[1]):
            th[j, b] = th[j, b] % two_pi


@numba.njit(nogil=True, cache=True)
def _observe(z, p, out):  # pragma: no cover - compiled
    for j in range(out.shape[0]):
        for b in range(out.shape[1]):
            out[j, b] = np.cos(z[0, j, b])


def kernel_params(p: KuramotoParams, dt_s: float = 1.0) -> tuple:
    """Kernel-layout params of a chunk: (omega (N, B), *sparse_rows(w))."""
    return (to_kernel(p.omega), *sparse_rows(p.w))


def _kernel_aux(p: KuramotoParams, zk: np.ndarray, dt_s: float) -> tuple:
    return np.zeros((2,) + zk.shape[1:], np.float32), np.zeros((1, 1, 1), np.float32)


@numba.njit(nogil=True, cache=True, error_model="numpy")
def _run(p, aux, hist, z, k0, k1, scale, step0, n_steps, dt, heun, window, stride, out):  # pragma: no cover
    """One block of :mod:`sim.kernel`'s loop for this model (noise, Heun / Euler, observation)."""
    ws = workspace(z)
    sample = 0
    for k in range(n_steps):
        step = step0 + k
        increments(ws, k0, k1, step, scale)
        rhs(z, p, aux, ws[2])
        predictor(ws, z, dt)
        if heun:
            rhs(ws[4], p, aux, ws[3])
        corrector(ws, z, dt, heun)
        _wrap(z, p, hist, step)
        if wants_observation(k, window, stride):
            _observe(z, p, ws[6])
            sample = record(ws, out, k, window, stride, sample)


KERNEL = Kernel(run=_run, rhs=rhs, params=kernel_params, aux=_kernel_aux)


def drift(z: np.ndarray, p: KuramotoParams) -> np.ndarray:
    """d theta/dt for a batch: z (B, N, 1) -> (B, N, 1), evaluated by :func:`rhs`."""
    return drift_via_kernel(rhs, z, kernel_params(p), np.zeros((2, z.shape[1], z.shape[0]), z.dtype))


def noise_scale(p: KuramotoParams) -> np.ndarray:
    """Multiplier of the Wiener increments, (B, N, 1)."""
    return p.sigma[..., None]


def post_step(z: np.ndarray) -> None:
    """Wrap phases into [0, 2 pi) in place after each step, so float32 keeps ~1e-7 rad resolution however
    long the scan (unwrapped phases grow by omega * t and lose precision)."""
    np.remainder(z, np.float32(2 * np.pi), out=z)


def observable(z: np.ndarray) -> np.ndarray:
    """The BOLD-like signal cos(theta), (B, N)."""
    return np.cos(z[..., 0])


def check_dt(dt_s: float, p: KuramotoParams) -> str | None:
    """Return a message if dt is too large for an explicit scheme, else None.

    The fastest rate is bounded by max|omega| + 2 max row sum |W| (the coupling term's derivative);
    we require dt times that below 0.5, as for Hopf.
    """
    rate = float(np.abs(p.omega).max(initial=0.0) + 2 * np.abs(p.w).sum(-1).max(initial=0.0))
    return dt_rate_message(dt_s, rate, 0.5)
