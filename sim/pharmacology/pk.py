r"""Two-compartment pharmacokinetics of intravenous racemic ketamine.

Model (amounts per kg body weight, time in minutes internally, hours at the API)::

    dA1/dt = R(t) - (k10 + k12) A1 + k21 A2        central compartment, volume V1
    dA2/dt =        k12 A1      - k21 A2           peripheral compartment
    C(t)   = A1(t) / V1

with ``R(t)`` the sum of constant-rate infusions.  The system is linear and time invariant, so the
response to a protocol is the superposition of the responses to each infusion.  Its hybrid rate constants
(eigenvalues of the system matrix) are

.. math::

    \alpha, \beta = \tfrac12\left[s \pm \sqrt{s^2 - 4 k_{10} k_{21}}\right],\qquad s = k_{10}+k_{12}+k_{21},

and the central amount after a unit bolus is :math:`h(t) = c_\alpha e^{-\alpha t} + c_\beta e^{-\beta t}` with
:math:`c_\alpha = (\alpha - k_{21})/(\alpha-\beta)`, :math:`c_\beta = (k_{21}-\beta)/(\alpha-\beta)`.
An infusion of rate ``R`` from ``t0`` for ``T`` minutes therefore gives

.. math::

    A_1(t) = R \sum_{\lambda\in\{\alpha,\beta\}} \frac{c_\lambda}{\lambda}
             \left(1 - e^{-\lambda\,\tau_{in}}\right) e^{-\lambda\,\tau_{after}},\qquad
    \tau_{in} = \mathrm{clip}(t - t_0, 0, T),\ \tau_{after} = \max(t - t_0 - T, 0),

a single expression valid before, during and after the infusion (``1 - e^{-x}`` is evaluated with
``expm1`` for accuracy).

Body weight: doses are in mg/kg and V1 in L/kg, so ``A1`` is in mg/kg and ``C = A1 / V1`` in mg/L
whatever the weight; weight cancels exactly for a model whose volumes and clearances scale linearly with
weight (as Clements & Nimmo's per-kg constants do).  mg/L = µg/mL = 1000 ng/mL.

Reference figures (science.md §2.1 and §7, computed from the Clements constants) [V code / computed]:
0.5 mg/kg over 40 min -> Cmax 177.3 ng/mL at 40 min, 115.4 at 1 h, 58.8 at 2 h, 34.6 at 4 h,
0.37 at 24 h; t½α 17.6 min, t½β 182.9 min.  Observed Cmax for that dose: 185 ng/mL (Zarate 2006 via
Zanos 2018 Table 1) [V].
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from sim.pharmacology import params as P
from sim.pharmacology.params import defaults
from sim.stats import mean_one_lognormal

__all__ = [
    "CLEMENTS_1981",
    "Infusion",
    "TwoCompartment",
    "antidepressant_protocol",
    "as_protocol",
    "is_finite_real",
    "plasma_concentration_ng_per_ml",
    "simulate_plasma_ode",
    "subject_clearance_scale",
]

MIN_PER_H = 60.0
NG_PER_ML_PER_MG_PER_L = 1000.0


def is_finite_real(value: object) -> bool:
    """True for a finite real scalar (Python or numpy int/float, not bool)."""
    return (
        isinstance(value, (int, float, np.integer, np.floating))
        and not isinstance(value, bool)
        and math.isfinite(value)
    )


def _require_positive_finite(name: str, value: float) -> None:
    if not (is_finite_real(value) and value > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")

_D = defaults(P.PK)  # the one place: sim/pharmacology/params.py


@dataclass(frozen=True)
class TwoCompartment:
    """Linear two-compartment PK constants (per-kg volume, rate constants in 1/min).

    Defaults: Clements & Nimmo 1981, *Br J Anaesth* 53:27 ("Clements 250"), as coded in opentiva
    ``ketamine.py`` [V code, science.md §2.1]: V1 = 1.7522 L/kg, k10 = 0.0109, k12 = 0.0186,
    k21 = 0.0137 /min.  Derived: t½α 17.6 min, t½β 182.9 min, CL = V1·k10 = 19.1 mL/kg/min
    (≈ 80 L/h per 70 kg, matching Kamp 2020's meta-analytic 79 L/h/70 kg, CI 69–90 [V]).
    """

    v1_l_per_kg: float = _D["v1_l_per_kg"]
    k10_per_min: float = _D["k10_per_min"]
    k12_per_min: float = _D["k12_per_min"]
    k21_per_min: float = _D["k21_per_min"]

    def __post_init__(self) -> None:
        for name in ("v1_l_per_kg", "k10_per_min", "k12_per_min", "k21_per_min"):
            _require_positive_finite(name, getattr(self, name))

    def hybrid_rates_per_min(self, clearance_scale: ArrayLike = 1.0) -> tuple[np.ndarray, np.ndarray]:
        """Return (alpha, beta) in 1/min with k10 multiplied by ``clearance_scale`` (broadcast)."""
        k10 = self.k10_per_min * np.asarray(clearance_scale, dtype=float)
        s = k10 + self.k12_per_min + self.k21_per_min
        root = np.sqrt(s * s - 4.0 * k10 * self.k21_per_min)
        alpha = 0.5 * (s + root)
        # beta = k10 k21 / alpha avoids cancellation in (s - root) for small k10.
        beta = k10 * self.k21_per_min / alpha
        return alpha, beta

    @property
    def alpha_per_min(self) -> float:
        return float(self.hybrid_rates_per_min()[0])

    @property
    def beta_per_min(self) -> float:
        return float(self.hybrid_rates_per_min()[1])

    @property
    def alpha_half_life_min(self) -> float:
        """Distribution half-life ln2/alpha (17.6 min for the defaults)."""
        return math.log(2.0) / self.alpha_per_min

    @property
    def beta_half_life_min(self) -> float:
        """Terminal (elimination) half-life ln2/beta (182.9 min for the defaults)."""
        return math.log(2.0) / self.beta_per_min

    @property
    def clearance_ml_per_min_per_kg(self) -> float:
        """CL = V1 · k10, in mL/min/kg (19.1 for the defaults)."""
        return self.v1_l_per_kg * self.k10_per_min * 1000.0

    @property
    def clearance_l_per_h_per_70kg(self) -> float:
        """CL scaled to a 70-kg adult in L/h (80.2 for the defaults)."""
        return self.v1_l_per_kg * self.k10_per_min * MIN_PER_H * 70.0

    @property
    def vss_l_per_kg(self) -> float:
        """Steady-state volume V1 (1 + k12/k21), in L/kg."""
        return self.v1_l_per_kg * (1.0 + self.k12_per_min / self.k21_per_min)


CLEMENTS_1981 = TwoCompartment()


@dataclass(frozen=True)
class Infusion:
    """A constant-rate IV infusion: ``dose_mg_per_kg`` delivered over ``duration_min`` from ``start_h``.

    A bolus is a short infusion (e.g. 1 min).  Validation: start_h finite, dose_mg_per_kg finite and
    >= 0 (0 = placebo), duration_min finite and > 0.
    """

    start_h: float
    dose_mg_per_kg: float
    duration_min: float

    def __post_init__(self) -> None:
        if not is_finite_real(self.start_h):
            raise ValueError(f"start_h must be a finite number (any real, hours), got {self.start_h!r}")
        dose = self.dose_mg_per_kg
        if not (is_finite_real(dose) and dose >= 0):
            raise ValueError(f"dose_mg_per_kg must be a finite number >= 0, got {dose!r}")
        _require_positive_finite("duration_min", self.duration_min)

    @property
    def rate_mg_per_kg_per_min(self) -> float:
        return self.dose_mg_per_kg / self.duration_min

    @property
    def end_h(self) -> float:
        return self.start_h + self.duration_min / MIN_PER_H


def antidepressant_protocol(
    start_h: float = 0.0, dose_mg_per_kg: float = 0.5, duration_min: float = 40.0
) -> tuple[Infusion, ...]:
    """The standard antidepressant protocol: 0.5 mg/kg racemic ketamine IV over 40 min
    (Berman 2000; Zarate 2006) [V, science.md §2.1]."""
    return (Infusion(start_h=start_h, dose_mg_per_kg=dose_mg_per_kg, duration_min=duration_min),)


def as_protocol(infusions: Sequence[Infusion] | Infusion) -> tuple[Infusion, ...]:
    """Validate a protocol (a sequence of Infusion, or one Infusion) and return it as a tuple."""
    if isinstance(infusions, Infusion):
        return (infusions,)
    out = tuple(infusions)
    for i, inf in enumerate(out):
        if not isinstance(inf, Infusion):
            raise TypeError(f"infusions[{i}] must be an Infusion, got {type(inf).__name__}")
    return out


def _check_clearance_scale(clearance_scale: ArrayLike) -> np.ndarray:
    scale = np.asarray(clearance_scale, dtype=float)
    if not np.all(np.isfinite(scale) & (scale > 0)):
        raise ValueError("clearance_scale must be finite and > 0 everywhere")
    return scale


def plasma_concentration_ng_per_ml(
    time_h: ArrayLike,
    infusions: Sequence[Infusion],
    pk: TwoCompartment = CLEMENTS_1981,
    clearance_scale: ArrayLike = 1.0,
) -> np.ndarray:
    """Closed-form plasma (central) ketamine concentration in ng/mL at ``time_h`` (hours).

    Superposition over ``infusions`` of the exact constant-rate-infusion solution given in the module
    docstring.  ``clearance_scale`` multiplies k10 (per-subject clearance variability; V1, k12, k21
    are kept), which changes alpha and beta as well.

    Shapes (outer product, not elementwise broadcasting): the result has shape
    ``np.shape(clearance_scale) + np.shape(time_h)``.  A scalar scale gives ``time_h``'s shape; a 1-D
    array of ``n_subjects`` scales with a 1-D grid of ``n_times`` gives ``(n_subjects, n_times)``.
    Concentration is exactly 0 before the first infusion and for dose 0.
    """
    t_min = np.asarray(time_h, dtype=float) * MIN_PER_H
    if not np.all(np.isfinite(t_min)):
        raise ValueError("time_h must be finite")
    protocol = as_protocol(infusions)
    scale = _check_clearance_scale(clearance_scale)
    alpha, beta = pk.hybrid_rates_per_min(scale)
    expand = (...,) + (None,) * t_min.ndim
    alpha, beta = alpha[expand], beta[expand]
    k21 = pk.k21_per_min
    c_alpha = (alpha - k21) / (alpha - beta)
    c_beta = (k21 - beta) / (alpha - beta)

    amount = np.zeros(scale.shape + t_min.shape)
    for inf in protocol:
        if inf.dose_mg_per_kg == 0.0:
            continue
        t_rel = t_min - inf.start_h * MIN_PER_H
        tau_in = np.clip(t_rel, 0.0, inf.duration_min)
        tau_after = np.maximum(t_rel - inf.duration_min, 0.0)
        for c, lam in ((c_alpha, alpha), (c_beta, beta)):
            amount += (
                inf.rate_mg_per_kg_per_min * (c / lam) * (-np.expm1(-lam * tau_in)) * np.exp(-lam * tau_after)
            )
    return amount / pk.v1_l_per_kg * NG_PER_ML_PER_MG_PER_L


def simulate_plasma_ode(
    time_h: ArrayLike,
    infusions: Sequence[Infusion],
    pk: TwoCompartment = CLEMENTS_1981,
    clearance_scale: float = 1.0,
    rtol: float = 1e-11,
    atol: float = 1e-15,
    method: str = "DOP853",
) -> np.ndarray:
    """The same model integrated numerically with :func:`scipy.integrate.solve_ivp` (for cross-checks).

    Integrates the two ODEs piecewise between infusion start/end times (the input is piecewise constant,
    so each segment is smooth), from zero state at ``min(time_h, first start)``.  ``time_h`` is 1-D (any
    order); ``clearance_scale`` is a scalar.  Returns ng/mL with the shape of ``time_h``.  ``atol`` is in
    mg/kg (central amounts are ~1e-3 mg/kg at the antidepressant dose).
    """
    from scipy.integrate import solve_ivp  # cross-checks only: scipy.integrate costs ~0.4 s to import

    t_min = np.asarray(time_h, dtype=float) * MIN_PER_H
    if t_min.ndim != 1 or not np.all(np.isfinite(t_min)):
        raise ValueError("time_h must be a finite 1-D array")
    protocol = as_protocol(infusions)
    scale = float(_check_clearance_scale(clearance_scale))
    out = np.zeros_like(t_min)
    if t_min.size == 0 or not protocol:
        return out
    k10 = pk.k10_per_min * scale
    k12, k21 = pk.k12_per_min, pk.k21_per_min
    starts = np.array([inf.start_h * MIN_PER_H for inf in protocol])
    ends = starts + np.array([inf.duration_min for inf in protocol])
    rates = np.array([inf.rate_mg_per_kg_per_min for inf in protocol])

    t0, t_end = min(t_min.min(), starts.min()), t_min.max()
    edges = np.unique(np.concatenate([[t0, t_end], starts, ends]))
    edges = edges[(edges >= t0) & (edges <= t_end)]
    state = np.zeros(2)
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        mid = 0.5 * (a + b)
        rate = float(rates[(starts <= mid) & (ends >= mid)].sum())

        def rhs(_t: float, y: np.ndarray, rate: float = rate) -> np.ndarray:
            return np.array([rate - (k10 + k12) * y[0] + k21 * y[1], k12 * y[0] - k21 * y[1]])

        in_seg = (t_min >= a) & (t_min <= b)
        t_eval = np.unique(np.concatenate([t_min[in_seg], [b]]))
        sol = solve_ivp(rhs, (a, b), state, method=method, rtol=rtol, atol=atol, t_eval=t_eval)
        if not sol.success:  # pragma: no cover - solver failure is not expected for this linear system
            raise RuntimeError(f"solve_ivp failed: {sol.message}")
        out[in_seg] = sol.y[0][np.searchsorted(t_eval, t_min[in_seg])]
        state = sol.y[:, -1]
    return out / pk.v1_l_per_kg * NG_PER_ML_PER_MG_PER_L


def subject_clearance_scale(rng: np.random.Generator, n: int, cv: float = 0.3) -> np.ndarray:
    r"""Per-subject multipliers of k10 (clearance), lognormal with mean 1 and coefficient of variation cv.

    ``sigma² = ln(1 + cv²)``, ``mu = -sigma²/2`` so that E[scale] = 1 and SD/mean = cv.

    Default cv = 0.3 is *assumed*: it is close to the textbook between-subject spread
    CL 15 ± 5 mL/min/kg (CV ≈ 0.33; Goodman & Gilman via forum) [S].  Kamp 2020's 95 % CI for clearance
    (69–90 L/h/70 kg) [V] is the uncertainty of the pooled *mean*, not between-subject variability, so it is
    not used for cv.  Returns shape (n,).
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"n must be an integer >= 0, got {n!r}")
    if not (is_finite_real(cv) and cv >= 0):
        raise ValueError(f"cv must be a finite number >= 0, got {cv!r}")
    return mean_one_lognormal(rng, cv, int(n))
