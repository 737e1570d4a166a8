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

from dataclasses import dataclass

import numpy as np

from sim.params import FREQUENCY_PARAMS, ParamSpec, natural_frequency_rad_s

NAME = "kuramoto"
N_STATE = 1
STATE_NAMES = ("theta",)
OBSERVATION = "direct"  # cos(theta) is used as the BOLD-like signal
DEFAULT_DT_S = 0.1

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


def init_state(p: KuramotoParams, rng: np.random.Generator) -> np.ndarray:
    """Uniformly random phases for one item, (N, 1)."""
    return (2 * np.pi * rng.random((p.omega.shape[-1], 1))).astype(np.float32)


def drift(z: np.ndarray, p: KuramotoParams) -> np.ndarray:
    """d theta/dt for a batch: z (B, N, 1) -> (B, N, 1).

    Uses sum_k W_jk sin(th_k - th_j) = cos th_j (W sin th)_j - sin th_j (W cos th)_j (two matmuls).
    """
    th = z[..., 0]
    s, c = np.sin(th), np.cos(th)
    ws = np.matmul(p.w, s[..., None])[..., 0]
    wc = np.matmul(p.w, c[..., None])[..., 0]
    return (p.omega + c * ws - s * wc)[..., None]


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
    if dt_s * rate >= 0.5:
        return f"dt_s={dt_s:g} is unstable for this network (fastest rate {rate:.3g}/s); need dt_s < {0.5 / rate:.3g}"
    return None
