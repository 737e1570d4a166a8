r"""Slow states after NMDA block: glutamate surge -> BDNF/mTOR -> synaptogenesis (days).

Mechanism chain (each stage switchable in ``configs/drug``), all as functions of calendar time:

1. **Glutamate surge** (plasticity drive): disinhibition raises prefrontal glutamate release
   (Moghaddam et al. 1997 J Neurosci 17:2921: up at sub-anaesthetic doses, flat or down at
   anaesthetic ones; Abdallah 2018: +13 % cycling in humans). We use an inverted U of the total NMDA
   block b(t):

   .. math:: g(b) = b\,\max\!\big(0,\ 1 - (b / b_{max})^2\big)

   (peak at :math:`b = b_{max}/\sqrt 3`; shape assumed, direction from Moghaddam 1997).
2. **BDNF / mTOR signalling** (Autry 2011 Nature 475:91; Li 2010 Science 329:959): a first-order stage
   :math:`\tau_{rise}\,\dot P = g - P`.
3. **Synaptogenesis** (Li 2010; Moda-Sava 2019 Science 364:eaat8078: spines from ~12-24 h, needed to
   *maintain* the effect): :math:`\tau_{decay}\,\dot S = P - S`.

The two linear stages make the impulse response of S the bi-exponential of Nunes & Singh
(rapid-antidepressant-timecourse-sim): :math:`(e^{-t/\tau_{decay}} - e^{-t/\tau_{rise}})/(\tau_{decay}-\tau_{rise})`,
peaking at :math:`t^* = \frac{\tau_r\tau_d}{\tau_d-\tau_r}\ln(\tau_d/\tau_r)` (1.7 d for 18 h and 5 d).
The synaptic gain saturates: :math:`\text{plasticity} = S/(S + S_{half})` in [0, 1).

Both linear stages are integrated exactly on a uniform grid (zero-order hold) with
``scipy.signal.lfilter``; the same cascade drives the TMS state (:mod:`sim.pharmacology.tms`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.signal

from sim.errors import check_range
from sim.pharmacology import params as P
from sim.pharmacology.params import defaults

_D = defaults(P.PLASTICITY)  # the one place: sim/pharmacology/params.py


@dataclass(frozen=True)
class PlasticityParams:
    """Parameters of the glutamate -> BDNF/mTOR -> synapse cascade (times in hours).

    tau_rise_h: 18 h -- assumed from spine formation at ~12-24 h (Li 2010; Moda-Sava 2019) [R timing].
    tau_decay_h: 120 h -- assumed from the clinical loss of effect within ~1 week, superiority lost by
        days 10-12 (Kishimoto 2016 [V]); Nunes & Singh fit a = 5 d [V code].
    b_max: 0.9 -- block above which the glutamate surge vanishes (inverted U; Moghaddam 1997 [V]; value
        assumed so that anaesthetic occupancy 0.83-0.91 gives almost no surge).
    s_half_block_h: 4.0 block-hours -- assumed half-saturation of the synaptic gain, so that one
        0.5 mg/kg infusion reaches roughly half of the maximal gain and repeated infusions add
        (Phillips 2019 cumulative response [V]).
    """

    tau_rise_h: float = _D["tau_rise_h"]
    tau_decay_h: float = _D["tau_decay_h"]
    b_max: float = _D["b_max"]
    s_half_block_h: float = _D["s_half_block_h"]

    def __post_init__(self):
        check_range("drug.plasticity.tau_rise_h", self.tau_rise_h, 0.0, 1e4, lo_open=True)
        check_range("drug.plasticity.tau_decay_h", self.tau_decay_h, 0.0, 1e5, lo_open=True)
        check_range("drug.plasticity.b_max", self.b_max, 0.0, 1.0, lo_open=True)
        check_range("drug.plasticity.s_half_block_h", self.s_half_block_h, 0.0, 1e4, lo_open=True)


def glutamate_drive(block: np.ndarray, b_max: float) -> np.ndarray:
    """Inverted-U glutamate surge g(b) = b * max(0, 1 - (b/b_max)^2)."""
    b = np.asarray(block, dtype=float)
    return b * np.clip(1.0 - (b / b_max) ** 2, 0.0, None)


def first_order(x: np.ndarray, dt_h: float, tau_h: float) -> np.ndarray:
    """Exact zero-order-hold solution of tau y' = x - y on a uniform grid (last axis = time), y(0) = 0."""
    alpha = np.exp(-dt_h / tau_h)
    return scipy.signal.lfilter([0.0, 1.0 - alpha], [1.0, -alpha], x, axis=-1)


def cascade(drive: np.ndarray, dt_h: float, tau_rise_h: float, tau_decay_h: float) -> np.ndarray:
    """Two first-order stages, drive -> P (tau_rise) -> S (tau_decay), with S scaled by tau_decay.

    With that scaling a drive pulse of area A (drive x hours) gives S(t) = A * :func:`impulse_response`,
    so S is in drive-hours: the surge integral still "remembered" by the synapses.
    """
    return first_order(first_order(drive, dt_h, tau_rise_h), dt_h, tau_decay_h) * tau_decay_h


def impulse_response(t_h: np.ndarray, tau_rise_h: float, tau_decay_h: float) -> np.ndarray:
    """Continuous-time response of :func:`cascade` to a unit-area pulse (block-hours) at t = 0:
    S(t) = tau_d (e^{-t/tau_d} - e^{-t/tau_r}) / (tau_d - tau_r), dimensionless."""
    t = np.asarray(t_h, dtype=float)
    r = tau_decay_h * (np.exp(-t / tau_decay_h) - np.exp(-t / tau_rise_h)) / (tau_decay_h - tau_rise_h)
    return np.where(t >= 0, r, 0.0)


def peak_time_h(tau_rise_h: float, tau_decay_h: float) -> float:
    """Time of the peak of the impulse response (Nunes & Singh t_peak)."""
    a, b = tau_decay_h, tau_rise_h
    return a * b / (a - b) * np.log(a / b)


def synaptic_state(block: np.ndarray, dt_h: float, p: PlasticityParams) -> np.ndarray:
    """Saturating synaptic gain in [0, 1) from the block time course (last axis = uniform time grid).

    S = cascade(g(block)) is in block-hours (the surge integral weighted by the cascade's memory);
    plasticity = S / (S + s_half_block_h).
    """
    s = np.clip(cascade(glutamate_drive(block, p.b_max), dt_h, p.tau_rise_h, p.tau_decay_h), 0.0, None)
    return s / (s + p.s_half_block_h)
