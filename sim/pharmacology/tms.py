r"""A course of rTMS to the left DLPFC as a non-drug comparator.

Each session is a unit drive pulse of ``session_h`` hours fed through the same two-stage cascade as
the synaptic state (:func:`sim.pharmacology.plasticity.cascade`), with its own time constants, and
saturated: :math:`\text{tms} = S/(S + S_{half})`. What the state does to coupling is config
(``drug.targets`` with ``state: tms``); the default follows Liston et al. 2014 Biol Psychiatry 76:517
(TMS induced DLPFC-mPFC anticorrelation and normalised sgACC-DMN hyperconnectivity) and targets the
Fox et al. 2012 left DLPFC site (atlas region DLPFC_L).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.errors import check_range
from sim.pharmacology import params as P
from sim.pharmacology.params import defaults
from sim.pharmacology.plasticity import cascade

_D = defaults(P.TMS)  # the one place: sim/pharmacology/params.py


@dataclass(frozen=True)
class TmsParams:
    """session_h: 1 h -- one 37.5-min 10 Hz session rounded up (O'Reardon 2007 protocol) [R];
    tau_rise_h: 24 h -- assumed; tau_decay_h: 336 h -- assumed (effects outlast a course by weeks) [R];
    s_half_h: 5 session-hours -- assumed: about a week of daily sessions reaches half of the maximal effect
    (clinical response to rTMS typically needs 2-4 weeks) [R]."""

    session_h: float = _D["session_h"]
    tau_rise_h: float = _D["tau_rise_h"]
    tau_decay_h: float = _D["tau_decay_h"]
    s_half_h: float = _D["s_half_h"]

    def __post_init__(self):
        for k in ("session_h", "tau_rise_h", "tau_decay_h", "s_half_h"):
            check_range(f"drug.tms.{k}", getattr(self, k), 0.0, 1e5, lo_open=True)


def session_drive(time_h: np.ndarray, sessions_h, session_h: float) -> np.ndarray:
    """Unit drive during each session, 0 elsewhere, on the grid ``time_h``."""
    d = np.zeros_like(np.asarray(time_h, dtype=float))
    for s in sessions_h:
        d[(time_h >= s) & (time_h < s + session_h)] = 1.0
    return d


def tms_state(time_h: np.ndarray, sessions_h, p: TmsParams) -> np.ndarray:
    """Saturating TMS plasticity state in [0, 1) on a uniform grid ``time_h``."""
    dt_h = float(time_h[1] - time_h[0])
    s = np.clip(cascade(session_drive(time_h, sessions_h, p.session_h), dt_h, p.tau_rise_h, p.tau_decay_h),
                0.0, None)
    return s / (s + p.s_half_h)
