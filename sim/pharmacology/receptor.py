r"""NMDA-receptor block by ketamine: fast equilibrium occupancy plus a slow use-dependent trapped state.

Fast component (single-site, equilibrium with plasma; a model assumption, not data, science.md §2.2)::

    occ(t) = C(t) / (C(t) + Ki),      C in µM = C[ng/mL] / 237.7 g/mol        [V: molar mass, science.md]

Trapped component (Ma et al. 2023, *Nature* 622:802, DOI 10.1038/s41586-023-06624-1 [V abstract]: one
systemic dose keeps suppressing lateral-habenula NMDAR currents for up to 24 h although the mouse
plasma t½ is 13 min, because ketamine is trapped in closed channels and only activity-dependent
untrapping releases it).  ``b`` is the fraction of receptors holding a trapped blocker::

    db/dt = k_on · occ(t) · (1 - b) - k_off · b,     k_on = 1/tau_trap_h,  k_off = 1/tau_untrap_h

(open-channel-blocked receptors become trapped at rate k_on; trapped ones untrap at rate k_off).

Total effective block (receptors are either trapped, or free and then blocked in fast equilibrium)::

    total = b + (1 - b) · occ = 1 - (1 - occ)(1 - b)

For constant occupancy ``o`` the trapping ODE has the first-order solution
``b(t) = b_ss + (b(0) - b_ss) exp(-(k_on o + k_off) t)``, ``b_ss = k_on o / (k_on o + k_off)``.
:func:`trapped_block` uses exactly this update on each step of a fine grid, with ``o`` the mean of the
step's end-point occupancies (exact for piecewise-constant input, second order otherwise; a 1-min grid
is well inside the 40-min infusion and 17.6-min distribution half-life).

Figures with the defaults after 0.5 mg/kg over 40 min (Clements PK, see tests/test_receptor.py): peak
occupancy 0.43 at 40 min; trapped block peaks at ≈ 0.28 around 5.3 h, is ≈ 0.22 of its peak at 24 h and
≈ 1 % at 48 h, while plasma is below 5 % of Cmax from ≈ 10 h.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from sim.pharmacology import params as P
from sim.pharmacology.params import defaults
from sim.pharmacology.pk import (
    CLEMENTS_1981,
    MIN_PER_H,
    Infusion,
    TwoCompartment,
    as_protocol,
    is_finite_real,
    plasma_concentration_ng_per_ml,
)

__all__ = [
    "DEFAULT_KI_UM",
    "DEFAULT_RECEPTOR_PARAMS",
    "KETAMINE_MOLAR_MASS_G_PER_MOL",
    "REGIONAL_WEIGHT_RANGE",
    "BlockTimeCourse",
    "ReceptorParams",
    "block_time_course",
    "ng_per_ml_to_um",
    "nmda_block",
    "occupancy",
    "regional_weight",
    "trapped_block",
]

KETAMINE_MOLAR_MASS_G_PER_MOL = 237.7
"""Ketamine free base, g/mol; 1 µM ≈ 238 ng/mL [V: science.md header, Zanos 2018 Table 1]."""

DEFAULT_KI_UM = 1.0
"""Default Ki of racemic ketamine at the NMDAR, µM (assumed; see :func:`occupancy`)."""

REGIONAL_WEIGHT_RANGE = (0.0, 1.5)
"""Allowed range of regional block weights (inclusive)."""


def ng_per_ml_to_um(conc_ng_per_ml: ArrayLike, molar_mass_g_per_mol: float = KETAMINE_MOLAR_MASS_G_PER_MOL):
    """Convert ng/mL (= µg/L) to µM: divide by the molar mass in g/mol."""
    return np.asarray(conc_ng_per_ml, dtype=float) / molar_mass_g_per_mol


def occupancy(
    conc_ng_per_ml: ArrayLike,
    ki_um: float = DEFAULT_KI_UM,
    molar_mass_g_per_mol: float = KETAMINE_MOLAR_MASS_G_PER_MOL,
) -> np.ndarray:
    r"""Single-site equilibrium NMDAR occupancy ``C / (C + Ki)`` with C converted to µM.

    Default Ki = 1.0 µM, *assumed*.  Why this value (science.md §2.2):

    * [³H]MK-801 displacement in rat brain gives racemic 0.119 µM, (S) 0.30 µM, (R) 1.4 µM (vendor page
      citing Ebert 1997 and Sałat 2015) [S]; another compilation gives Ki 1–2.5 µM and IC50 10–15 µM for
      neuronal NMDAR currents [S].  Membrane binding assays lack physiological Mg²⁺ and the use
      dependence of channel block, so they overstate in-vivo affinity; 1 µM sits at the low end of the
      functional range and brackets the binding values from above.
    * We apply Ki to *total* plasma concentration (no free-fraction or brain/plasma correction); the
      choice of Ki absorbs both, so it is an effective in-vivo constant.
    * With Ki = 1 µM the model gives 44 % occupancy at the antidepressant Cmax (185 ng/mL = 0.78 µM) and
      83–91 % at anaesthetic 5–10 µM (table in science.md §2.2, derived, model assumption): partial block
      at the subanaesthetic dose and near-complete block under anaesthesia, which is the qualitative
      picture.  No quantitative human in-vivo occupancy exists (Stone 2008 SPET showed displacement only)
      [V abstract], so Ki stays a sensitivity parameter (0.5 µM -> 61 %, 2.5 µM -> 24 % at Cmax).
    """
    if not (is_finite_real(ki_um) and ki_um > 0):
        raise ValueError(f"ki_um must be a finite number > 0, got {ki_um!r}")
    c_um = ng_per_ml_to_um(conc_ng_per_ml, molar_mass_g_per_mol)
    if np.any(c_um < 0) or not np.all(np.isfinite(c_um)):
        raise ValueError("conc_ng_per_ml must be finite and >= 0")
    return c_um / (c_um + ki_um)

_D = defaults(P.RECEPTOR)  # the one place: sim/pharmacology/params.py


@dataclass(frozen=True)
class ReceptorParams:
    """Parameters of the occupancy + trapping model (all times in hours).

    * ``ki_um`` = 1.0 µM — assumed, see :func:`occupancy` (range in the literature 0.119–2.5 µM) [S].
    * ``tau_untrap_h`` = 8.0 h — assumed, chosen to match Ma 2023's block lasting "up to 24 h" [V abstract]
      after a single dose: the trapped fraction is still ≈ 20 % of its peak at 24 h, ≈ 5 % at 36 h and
      ≈ 1 % at 48 h.  (Human plasma t½β is 3 h, mouse 13 min; untrapping is activity dependent, so the
      in-vivo human value is unknown.)
    * ``tau_trap_h`` = 2.0 h — assumed: the trapping time constant at full occupancy (effective rate
      ``occ/tau_trap_h``).  Chosen so that trapping prolongs the block rather than inflating its peak: at
      the antidepressant dose the peak total block (≈ 0.48) stays close to the peak fast occupancy (0.43),
      well below the 83–91 % anaesthetic occupancy.  Steady state under constant occupancy o is
      ``b_ss = o / (o + tau_trap_h / tau_untrap_h)``.
    * ``molar_mass_g_per_mol`` = 237.7 [V].
    """

    ki_um: float = _D["ki_um"]
    tau_trap_h: float = _D["tau_trap_h"]
    tau_untrap_h: float = _D["tau_untrap_h"]
    molar_mass_g_per_mol: float = KETAMINE_MOLAR_MASS_G_PER_MOL

    def __post_init__(self) -> None:
        for name in ("ki_um", "tau_trap_h", "tau_untrap_h", "molar_mass_g_per_mol"):
            value = getattr(self, name)
            if not (is_finite_real(value) and value > 0):
                raise ValueError(f"{name} must be a finite number > 0, got {value!r}")

    @property
    def k_on_per_h(self) -> float:
        return 1.0 / self.tau_trap_h

    @property
    def k_off_per_h(self) -> float:
        return 1.0 / self.tau_untrap_h

    def trapped_steady_state(self, occ: ArrayLike) -> np.ndarray:
        """Trapped fraction at steady state for constant occupancy: k_on o / (k_on o + k_off)."""
        o = np.asarray(occ, dtype=float)
        return self.k_on_per_h * o / (self.k_on_per_h * o + self.k_off_per_h)


DEFAULT_RECEPTOR_PARAMS = ReceptorParams()


class BlockTimeCourse(NamedTuple):
    """Time courses of the block; arrays have shape ``(..., n_times)`` (e.g. (n_subjects, n_times))."""

    time_h: np.ndarray
    concentration_ng_per_ml: np.ndarray
    occupancy: np.ndarray
    trapped: np.ndarray
    total: np.ndarray


def _check_grid(time_h: ArrayLike) -> np.ndarray:
    t = np.asarray(time_h, dtype=float)
    if t.ndim != 1 or t.size == 0 or not np.all(np.isfinite(t)):
        raise ValueError("time_h must be a non-empty finite 1-D array")
    if np.any(np.diff(t) <= 0):
        raise ValueError("time_h must be strictly increasing")
    return t


def trapped_block(
    time_h: ArrayLike,
    occ: ArrayLike,
    params: ReceptorParams = DEFAULT_RECEPTOR_PARAMS,
    trapped0: ArrayLike = 0.0,
) -> np.ndarray:
    """Integrate ``db/dt = k_on occ (1 - b) - k_off b`` on the grid ``time_h`` (hours, strictly increasing).

    ``occ`` has shape ``(..., n_times)``; ``trapped0`` (the value at ``time_h[0]``) broadcasts against
    ``occ[..., 0]``.  Exact exponential update per step with the step-mean occupancy (see module
    docstring); zero occupancy and zero initial state give exactly zero.
    """
    t = _check_grid(time_h)
    o = np.asarray(occ, dtype=float)
    if o.shape[-1:] != t.shape:
        raise ValueError(f"occ's last axis must match time_h ({t.size}), got shape {o.shape}")
    if np.any(o < 0) or np.any(o > 1):
        raise ValueError("occ must lie in [0, 1]")
    dt = np.diff(t)
    o_step = 0.5 * (o[..., 1:] + o[..., :-1])
    rate = params.k_on_per_h * o_step + params.k_off_per_h  # total relaxation rate, 1/h
    b_ss = params.k_on_per_h * o_step / rate
    decay = np.exp(-rate * dt)
    from sim.pharmacology._recurrence import relax_steps  # compiled loop over the steps (numba)

    b = np.empty(o.shape)
    b[..., 0] = np.broadcast_to(np.asarray(trapped0, dtype=float), o.shape[:-1])
    flat = (-1, t.size)
    relax_steps(b.reshape(flat), np.ascontiguousarray(b_ss).reshape(-1, t.size - 1),
                np.ascontiguousarray(decay).reshape(-1, t.size - 1))
    return b


def block_time_course(
    time_h: ArrayLike,
    conc_ng_per_ml: ArrayLike,
    params: ReceptorParams = DEFAULT_RECEPTOR_PARAMS,
    trapped0: ArrayLike = 0.0,
) -> BlockTimeCourse:
    """Occupancy, trapped block and total block from a concentration sampled on a fine grid.

    ``time_h``: strictly increasing 1-D grid (use ~1-min steps, i.e. 1/60 h, and start at or before the
    first dose so that ``trapped0 = 0`` is right).  ``conc_ng_per_ml``: shape ``(..., n_times)``, e.g.
    the output of :func:`sim.pharmacology.pk.plasma_concentration_ng_per_ml` with per-subject
    clearance scales.  Interpolate the result to scan times (or use :func:`nmda_block`).
    """
    t = _check_grid(time_h)
    conc = np.asarray(conc_ng_per_ml, dtype=float)
    occ = occupancy(conc, params.ki_um, params.molar_mass_g_per_mol)
    trapped = trapped_block(t, occ, params, trapped0)
    total = 1.0 - (1.0 - occ) * (1.0 - trapped)
    return BlockTimeCourse(
        time_h=t, concentration_ng_per_ml=conc, occupancy=occ, trapped=trapped, total=total
    )


def nmda_block(
    time_h: ArrayLike,
    infusions: Sequence[Infusion],
    pk: TwoCompartment = CLEMENTS_1981,
    params: ReceptorParams = DEFAULT_RECEPTOR_PARAMS,
    clearance_scale: ArrayLike = 1.0,
    grid_step_min: float = 1.0,
) -> BlockTimeCourse:
    """Block time course at arbitrary (e.g. scan) times for a dosing protocol, in one call.

    Builds a fine grid (``grid_step_min``) from ``min(time_h, first infusion start)`` to ``max(time_h)``,
    merged with the requested times and every infusion start/end, computes the closed-form plasma
    concentration (:func:`~sim.pharmacology.pk.plasma_concentration_ng_per_ml`, same ``clearance_scale``
    shape convention), integrates the block from zero state, and returns it at ``time_h`` (1-D, any
    order).  Output arrays: ``np.shape(clearance_scale) + (len(time_h),)``.
    """
    t_req = np.asarray(time_h, dtype=float)
    if t_req.ndim != 1 or t_req.size == 0 or not np.all(np.isfinite(t_req)):
        raise ValueError("time_h must be a non-empty finite 1-D array")
    if not (is_finite_real(grid_step_min) and grid_step_min > 0):
        raise ValueError(f"grid_step_min must be a finite number > 0, got {grid_step_min!r}")
    protocol = as_protocol(infusions)
    marks = [t_req]
    marks += [np.array([inf.start_h, inf.end_h]) for inf in protocol]
    t_lo = min(float(m.min()) for m in marks)
    t_hi = float(t_req.max())
    step_h = grid_step_min / MIN_PER_H
    n_steps = int(math.ceil((t_hi - t_lo) / step_h))
    grid = np.concatenate([t_lo + step_h * np.arange(n_steps + 1)] + marks)
    grid = np.unique(grid[(grid >= t_lo) & (grid <= t_hi)])
    conc = plasma_concentration_ng_per_ml(grid, protocol, pk, clearance_scale)
    fine = block_time_course(grid, conc, params)
    idx = np.searchsorted(grid, t_req)
    return BlockTimeCourse(*(t_req,) + tuple(arr[..., idx] for arr in fine[1:]))


def regional_weight(
    region_names: Sequence[str], weights_map: Mapping[str, float] | None, default: float = 1.0
) -> np.ndarray:
    """Per-region multiplier of the NMDAR block (interneuron / NMDAR density), shape ``(n_regions,)``.

    ``weights_map`` maps region name -> weight in [0, 1.5]; regions absent from the map get ``default``
    (also in [0, 1.5]).  A key that is not one of ``region_names`` raises ValueError listing the known
    names (guards against typos in configs).  Callers that multiply a block in [0, 1] by a weight > 1
    should clip the product to [0, 1].
    """
    names = list(region_names)
    if len(set(names)) != len(names):
        dupes = sorted({n for n in names if names.count(n) > 1})
        raise ValueError(f"region_names contains duplicates: {dupes}")
    lo, hi = REGIONAL_WEIGHT_RANGE

    def _check(label: str, w: float) -> float:
        if not (is_finite_real(w) and lo <= w <= hi):
            raise ValueError(f"{label} must be a finite number in [{lo}, {hi}], got {w!r}")
        return float(w)

    default = _check("default", default)
    weights_map = dict(weights_map or {})
    unknown = sorted(set(weights_map) - set(names))
    if unknown:
        raise ValueError(f"unknown region name(s) in weights_map: {unknown}; known names: {names}")
    checked = {k: _check(f"weight for region {k!r}", v) for k, v in weights_map.items()}
    return np.array([checked.get(n, default) for n in names], dtype=float)
