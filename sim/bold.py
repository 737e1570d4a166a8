"""Balloon-Windkessel hemodynamic forward model: neural activity -> BOLD signal.

Pure functions over numpy arrays, vectorised over any batch shape (e.g. ``(n_subjects, n_regions)``).

State equations (Buxton et al. 1998 MRM 39:855; Friston et al. 2000 NeuroImage 12:466;
Friston, Harrison & Penny 2003 NeuroImage 19:1273, eqs. 3-4)::

    ds/dt     = u - kappa s - gamma (f - 1)            vasodilatory signal s            [1/s]
    df/dt     = s                                      normalised inflow f              [-]
    tau dv/dt = f - v^(1/alpha)                        normalised venous volume v       [-]
    tau dq/dt = f E(f, E0)/E0 - v^(1/alpha) q / v      normalised deoxyhaemoglobin q    [-]
    E(f, E0)  = 1 - (1 - E0)^(1/f)                     oxygen extraction fraction

Output equation (classic: Friston et al. 2000; revised: Obata et al. 2004 NeuroImage 21:144,
Stephan et al. 2007 NeuroImage 38:387, eq. 12; the form is the same, only k1..k3 differ)::

    y = V0 (k1 (1 - q) + k2 (1 - q/v) + k3 (1 - v))

``y`` is the *fractional* BOLD signal change dS/S0 (multiply by 100 for percent; SPM12 reports percent
because its ``spm_gx_fmri.m`` uses ``V0 = 4``). Time is in seconds, ``u`` is dimensionless neural activity
(SPM's DCM scales its input by C/16 first; no such scaling is applied here).

State variables: plain ``f, v, q`` (not SPM's log-transformed ones). Reasons: (1) the code is the
equations above, term by term; (2) rest ``(0, 1, 1, 1)`` is a fixed point *in floating point* (the
extraction term is written so that it is exactly 1 at f = 1), so a resting network stays bit-exactly at
rest; (3) it needs two transcendental calls per evaluation instead of five, i.e. about 2x faster. SPM
log-transforms mainly to keep v, q positive under the large local-linearisation steps of its estimator;
with RK4 steps <= 10 ms positivity is kept by the dynamics themselves as long as f > 0. A driving input
strong and negative enough to push f through zero is unphysical in either parametrisation (in log
form ``log f`` reaches -inf in finite time, because df/dt = s regardless); here it is detected and
reported as ``FloatingPointError`` (see below).

Integration: classical 4th-order Runge-Kutta with the input held constant (zero-order hold) over each
input sample, and ``substeps`` RK4 steps per input sample; by default ``ceil(dt_s / 0.01 s)`` so the
internal step is <= 10 ms. Measured accuracy (BOLD, max abs error relative to the peak, against
``scipy.integrate.solve_ivp`` DOP853 at rtol 1e-11 with the same zero-order-hold input; 0.1 s unit
impulse and 1 s random piecewise-constant input; SPM12 and FRISTON2003 constants):

    ==========================  ==================
    scheme, internal step       max error / peak
    ==========================  ==================
    explicit Euler, 100 ms      ~6e-2 (not used)
    RK4, 100 ms (substeps=1)    <= 5e-6
    RK4, 10 ms (default)        <= 5e-10
    ==========================  ==================

(the table is reproduced by ``tests/test_bold.py``; see the report of the commit that added this file).
Because every input sample is processed by the same arithmetic whatever the chunking, running a long
input in several chunks (passing the returned state on) gives bit-identical BOLD to a single run.

Guard: after every input sample the state is checked; a non-finite value, or a non-positive f, v or q
(outside the model's domain, where the next evaluation would produce NaN), raises ``FloatingPointError``.

Constant sets: :data:`SPM12` (default) and :data:`FRISTON2003`; see their classes for sources.
Reference impulse responses (0.1 s unit impulse, integrated at 1 ms): FRISTON2003 peaks at 3.11 s,
SPM12 at 4.51 s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = [
    "HemodynamicConstants",
    "Spm12Constants",
    "Friston2003Constants",
    "SPM12",
    "FRISTON2003",
    "CONSTANT_SETS",
    "BalloonState",
    "stephan2007_output_coefficients",
    "friston2000_output_coefficients",
    "default_substeps",
    "init_state",
    "derivatives",
    "step",
    "integrate",
    "bold_signal",
    "impulse_response",
    "MAX_STEP_S",
]

#: Largest internal RK4 step used by :func:`integrate` when ``substeps`` is not given [s].
MAX_STEP_S = 0.01


# ---------------------------------------------------------------------------------------------------------
# Constants
# ---------------------------------------------------------------------------------------------------------


def stephan2007_output_coefficients(
    e0: float, nu0_per_s: float = 40.3, r0_per_s: float = 25.0, epsilon: float = 1.0, te_s: float = 0.04
) -> tuple[float, float, float]:
    """Revised BOLD output coefficients (Obata et al. 2004; Stephan et al. 2007 NeuroImage 38:387, eq. 12).

    ``k1 = 4.3 nu0 E0 TE``, ``k2 = epsilon r0 E0 TE``, ``k3 = 1 - epsilon``, with ``nu0`` the frequency
    offset at the outer surface of magnetised vessels [1/s], ``r0`` the slope of the intravascular
    relaxation rate against oxygen saturation [1/s], ``epsilon`` the intra- to extravascular signal ratio
    and ``TE`` the echo time [s]. Defaults are those of SPM12 ``spm_gx_fmri.m`` (labelled there
    "Biophysical constants for 1.5T"). Field-strength-specific values (Heinzle et al. 2016 NeuroImage
    125:556): 3 T ``r0 = 110``, ``nu0 = 28.265 * 3 = 84.8``; 7 T ``r0 = 340``, ``nu0 = 197.9``.
    """
    k1 = 4.3 * nu0_per_s * e0 * te_s
    k2 = epsilon * r0_per_s * e0 * te_s
    k3 = 1.0 - epsilon
    return k1, k2, k3


def friston2000_output_coefficients(e0: float) -> tuple[float, float, float]:
    """Classic BOLD output coefficients ``k1 = 7 E0``, ``k2 = 2``, ``k3 = 2 E0 - 0.2``.

    Buxton et al. 1998 for 1.5 T, TE = 40 ms, as used by Friston et al. 2000 NeuroImage 12:466 (eq. 4)
    and Friston, Harrison & Penny 2003 NeuroImage 19:1273 (eq. 4), where ``E0`` is written ``rho``.
    """
    return 7.0 * e0, 2.0, 2.0 * e0 - 0.2


@dataclass(frozen=True)
class HemodynamicConstants:
    """Constants of the Balloon-Windkessel model (field names carry units; ``[-]`` = dimensionless).

    Attributes:
        kappa_per_s: rate of signal decay kappa [1/s].
        gamma_per_s: rate of flow-dependent elimination (autoregulation) gamma [1/s].
        tau_s: haemodynamic (venous) transit time tau [s].
        alpha: Grubb's exponent (vessel stiffness), outflow = v^(1/alpha) [-].
        e0: resting oxygen extraction fraction E0 (``rho`` in Friston 2003) [-].
        v0: resting venous blood volume fraction V0 [-]; sets the BOLD scale (fraction, not percent).
        k1, k2, k3: output-equation coefficients [-] (see :func:`stephan2007_output_coefficients` and
            :func:`friston2000_output_coefficients`).
    """

    kappa_per_s: float
    gamma_per_s: float
    tau_s: float
    alpha: float
    e0: float
    v0: float
    k1: float
    k2: float
    k3: float


_SPM12_K1, _SPM12_K2, _SPM12_K3 = stephan2007_output_coefficients(0.4)
_F2003_K1, _F2003_K2, _F2003_K3 = friston2000_output_coefficients(0.34)


@dataclass(frozen=True)
class Spm12Constants(HemodynamicConstants):
    """SPM12 DCM defaults (prior means): the default constant set.

    State constants from SPM12 ``spm_fx_fmri.m`` (r6855), ``H = [0.64 0.32 2.00 0.32 0.4]`` with the
    log-scale parameters ``decay``, ``transit`` at their prior mean 0: kappa 0.64 /s, gamma 0.32 /s,
    tau 2 s, alpha 0.32, E0 0.4.

    Output from SPM12 ``spm_gx_fmri.m`` (r6262), i.e. Stephan et al. 2007 NeuroImage 38:387, eq. 12:
    ``k1 = 4.3 nu0 E0 TE = 2.77264``, ``k2 = eps r0 E0 TE = 0.4``, ``k3 = 1 - eps = 0`` with
    nu0 = 40.3 /s, r0 = 25 /s, eps = exp(0) = 1 (prior mean), TE = 0.04 s. Two differences from a
    literal reading of "SPM12 at 3T": (1) SPM12 labels these nu0, r0, TE values "Biophysical constants
    for 1.5T" (genuine 3 T values, after Heinzle et al. 2016, are nu0 = 84.8 /s, r0 = 110 /s; see
    :func:`stephan2007_output_coefficients`); we follow SPM12. (2) SPM12 uses ``V0 = 4`` to report
    percent signal change; here ``v0 = 0.04`` (fraction), so the output is SPM12's divided by 100.
    """

    kappa_per_s: float = 0.64
    gamma_per_s: float = 0.32
    tau_s: float = 2.0
    alpha: float = 0.32
    e0: float = 0.4
    v0: float = 0.04
    k1: float = _SPM12_K1
    k2: float = _SPM12_K2
    k3: float = _SPM12_K3


@dataclass(frozen=True)
class Friston2003Constants(HemodynamicConstants):
    """Friston, Harrison & Penny 2003 NeuroImage 19:1273 (DCM), Table 1 prior means and eq. 4.

    kappa 0.65 /s, gamma 0.41 /s, tau 0.98 s, alpha 0.32, rho (E0) 0.34 (same values as the prior mean
    ``pE = [0.65 0.41 0.98 0.32 0.34]`` in SPM's ``spm_hdm_priors.m``); V0 0.02 and the classic output
    ``k1 = 7 rho = 2.38``, ``k2 = 2``, ``k3 = 2 rho - 0.2 = 0.48`` (Friston et al. 2000, after Buxton et
    al. 1998, 1.5 T, TE 40 ms).
    """

    kappa_per_s: float = 0.65
    gamma_per_s: float = 0.41
    tau_s: float = 0.98
    alpha: float = 0.32
    e0: float = 0.34
    v0: float = 0.02
    k1: float = _F2003_K1
    k2: float = _F2003_K2
    k3: float = _F2003_K3


SPM12 = Spm12Constants()
FRISTON2003 = Friston2003Constants()
CONSTANT_SETS: dict[str, HemodynamicConstants] = {"spm12": SPM12, "friston2003": FRISTON2003}


# ---------------------------------------------------------------------------------------------------------
# State
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class BalloonState:
    """Haemodynamic state, four arrays of one batch shape and dtype.

    Attributes:
        s: vasodilatory signal [1/s] (0 at rest).
        f: blood inflow normalised to rest [-] (1 at rest).
        v: venous blood volume normalised to rest [-] (1 at rest).
        q: deoxyhaemoglobin content normalised to rest [-] (1 at rest).
    """

    s: np.ndarray
    f: np.ndarray
    v: np.ndarray
    q: np.ndarray

    @property
    def batch_shape(self) -> tuple[int, ...]:
        return self.s.shape

    @property
    def dtype(self) -> np.dtype:
        return self.s.dtype


def init_state(batch_shape: tuple[int, ...] | int = (), dtype: npt.DTypeLike = np.float64) -> BalloonState:
    """Resting state ``s = 0, f = v = q = 1`` for every element of ``batch_shape``."""
    zeros = np.zeros(batch_shape, dtype=dtype)
    ones = np.ones(batch_shape, dtype=dtype)
    return BalloonState(s=zeros, f=ones, v=ones.copy(), q=ones.copy())


def default_substeps(dt_s: float, max_step_s: float = MAX_STEP_S) -> int:
    """Smallest number of RK4 substeps per input sample such that ``dt_s / substeps <= max_step_s``."""
    if not dt_s > 0 or not max_step_s > 0:
        raise ValueError(f"dt_s and max_step_s must be > 0, got dt_s={dt_s}, max_step_s={max_step_s}")
    # The relative slack absorbs representation error, e.g. 0.1 / 0.01 = 10.000000000000002 -> 10.
    return max(1, math.ceil(dt_s / max_step_s * (1.0 - 1e-9)))


# ---------------------------------------------------------------------------------------------------------
# Model equations
# ---------------------------------------------------------------------------------------------------------


def _rhs(s, f, v, q, u, c: HemodynamicConstants):
    """Right-hand side (ds, df, dv, dq)/dt of the state equations on plain arrays.

    Written so that the rest state maps to exactly zero in floating point:
    ``v^(1/alpha) = exp(log(v)/alpha)`` is exactly 1 at v = 1, and
    ``E(f)/E0 = (1 - b^(1/f)) / (1 - b)`` with ``b = 1 - E0`` and ``b^(1/f) = b exp(log(b) (1/f - 1))``
    is exactly 1 at f = 1. In-place updates of fresh temporaries save ~30 % time on large batches.
    """
    b = 1.0 - c.e0
    inv_tau = 1.0 / c.tau_s
    # outflow = v^(1/alpha)
    outflow = np.log(v)
    outflow *= 1.0 / c.alpha
    np.exp(outflow, out=outflow)
    # delivery = f E(f)/E0 = f (1 - b exp(log(b) (1/f - 1))) / (1 - b)
    delivery = np.reciprocal(f)
    delivery -= 1.0
    delivery *= math.log(b)
    np.exp(delivery, out=delivery)
    delivery *= -b
    delivery += 1.0
    delivery /= 1.0 - b
    delivery *= f
    # dq = (f E(f)/E0 - v^(1/alpha) q/v) / tau
    dq = np.divide(q, v)
    dq *= outflow
    np.subtract(delivery, dq, out=dq)
    dq *= inv_tau
    # dv = (f - v^(1/alpha)) / tau
    dv = np.subtract(f, outflow, out=outflow)
    dv *= inv_tau
    # ds = u - kappa s - gamma (f - 1)
    ds = np.subtract(f, 1.0)
    ds *= -c.gamma_per_s
    ds -= c.kappa_per_s * s
    ds += u
    # df = s
    return ds, s, dv, dq


def derivatives(state: BalloonState, u, constants: HemodynamicConstants = SPM12) -> BalloonState:
    """Time derivatives of the state (units per second) for neural input ``u`` (broadcast to the batch)."""
    with np.errstate(all="ignore"):
        return _state(_rhs(*_arrays(state), u, constants), state.batch_shape)


def bold_signal(state: BalloonState, constants: HemodynamicConstants = SPM12) -> np.ndarray:
    """BOLD fractional signal change ``y = V0 (k1 (1 - q) + k2 (1 - q/v) + k3 (1 - v))``; 0 at rest."""
    c = constants
    q, v = state.q, state.v
    return c.v0 * (c.k1 * (1.0 - q) + c.k2 * (1.0 - q / v) + c.k3 * (1.0 - v))


def _rk4(s, f, v, q, u, h_s: float, c: HemodynamicConstants):
    """One classical RK4 step of size ``h_s`` with ``u`` held constant; returns new (s, f, v, q)."""
    half = 0.5 * h_s
    a = _rhs(s, f, v, q, u, c)
    b = _rhs(s + half * a[0], f + half * a[1], v + half * a[2], q + half * a[3], u, c)
    d = _rhs(s + half * b[0], f + half * b[1], v + half * b[2], q + half * b[3], u, c)
    e = _rhs(s + h_s * d[0], f + h_s * d[1], v + h_s * d[2], q + h_s * d[3], u, c)
    sixth = h_s / 6.0
    return tuple(x + sixth * (k1 + 2.0 * (k2 + k3) + k4) for x, k1, k2, k3, k4 in zip((s, f, v, q), a, b, d, e))


def _arrays(state: BalloonState) -> tuple[np.ndarray, ...]:
    """State arrays, 0-d ones viewed as shape (1,) so that in-place numpy operations work on them."""
    return tuple(x.reshape(1) if x.ndim == 0 else x for x in (state.s, state.f, state.v, state.q))


def _state(arrays, batch_shape: tuple[int, ...]) -> BalloonState:
    """Inverse of :func:`_arrays`."""
    return BalloonState(*(x.reshape(batch_shape) for x in arrays))


def _check_state(s, f, v, q, where: str) -> None:
    """Raise ``FloatingPointError`` if any state is non-finite or f, v, q is non-positive."""
    finite = np.isfinite(s) & np.isfinite(f) & np.isfinite(v) & np.isfinite(q)
    ok = finite & (f > 0) & (v > 0) & (q > 0)
    if ok.all():
        return
    bad = np.argwhere(~ok)
    first = tuple(int(i) for i in bad[0]) if bad.size else ()
    kind = "non-finite" if not finite.all() else "non-positive flow/volume/deoxyhaemoglobin"
    values = f"s={s[first]!r}, f={f[first]!r}, v={v[first]!r}, q={q[first]!r}"
    raise FloatingPointError(
        f"Balloon-Windkessel state became {kind} {where}: {len(bad)} batch element(s), first at index "
        f"{first} with {values}. Check the neural input for NaN/inf or for values too large (or too "
        f"negative) for the haemodynamic model."
    )


def step(state: BalloonState, u, dt_s: float, constants: HemodynamicConstants = SPM12) -> BalloonState:
    """Advance ``state`` by one RK4 step of ``dt_s`` seconds with input ``u`` held constant.

    ``u`` is broadcast against the batch shape. No substepping: for ``dt_s`` > 10 ms prefer
    :func:`integrate`. Raises ``FloatingPointError`` if the new state is invalid.
    """
    with np.errstate(all="ignore"):
        new = _rk4(*_arrays(state), np.asarray(u, dtype=state.dtype), dt_s, constants)
    _check_state(*new, where=f"after a step of {dt_s} s")
    return _state(new, state.batch_shape)


def integrate(
    state: BalloonState,
    u,
    dt_s: float,
    constants: HemodynamicConstants = SPM12,
    substeps: int | None = None,
) -> tuple[BalloonState, np.ndarray]:
    """Integrate over an input sequence; return ``(final_state, bold)``.

    Args:
        state: state at the start of ``u[0]`` (e.g. :func:`init_state` or the state a previous call
            returned).
        u: neural input, shape ``(T, *batch_shape)`` (trailing dimensions may broadcast to the batch
            shape); ``u[t]`` is held constant for ``dt_s`` seconds.
        dt_s: input sample spacing [s].
        constants: a :class:`HemodynamicConstants` set.
        substeps: RK4 steps per input sample; default :func:`default_substeps` (internal step <= 10 ms).

    Returns:
        The state after all T samples and ``bold`` of shape ``(T, *batch_shape)``, where ``bold[t]`` is the
        BOLD signal at the *end* of input sample t, i.e. ``(t + 1) * dt_s`` after the given state.
        Memory is O(T x batch) for ``bold`` plus O(batch) work space. Chunking ``u`` (carrying the state)
        gives bit-identical results.

    Raises:
        FloatingPointError: if the state becomes non-finite (or f, v, q non-positive); the message names
            the input sample.
    """
    u = np.asarray(u, dtype=state.dtype)
    if u.ndim < 1:
        raise ValueError("u must have shape (T, *batch_shape)")
    batch_shape = state.batch_shape
    if np.broadcast_shapes(u.shape[1:], batch_shape) != batch_shape:
        raise ValueError(f"u.shape[1:] = {u.shape[1:]} does not broadcast to the batch shape {batch_shape}")
    n_sub = default_substeps(dt_s) if substeps is None else int(substeps)
    if n_sub < 1:
        raise ValueError(f"substeps must be >= 1, got {substeps}")
    h_s = dt_s / n_sub
    bold = np.empty((u.shape[0], *batch_shape), dtype=state.dtype)
    s, f, v, q = _arrays(state)
    with np.errstate(all="ignore"):
        for t in range(u.shape[0]):
            u_t = u[t]
            for _ in range(n_sub):
                s, f, v, q = _rk4(s, f, v, q, u_t, h_s, constants)
            _check_state(s, f, v, q, where=f"at input sample {t} (t = {(t + 1) * dt_s:g} s into this call)")
            bold[t] = bold_signal(_state((s, f, v, q), batch_shape), constants)
    return _state((s, f, v, q), batch_shape), bold


def impulse_response(
    constants: HemodynamicConstants = SPM12,
    duration_s: float = 30.0,
    dt_s: float = 0.001,
    impulse_s: float = 0.1,
    amplitude: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """BOLD response to a neural boxcar ``u = amplitude`` for ``impulse_s`` seconds from rest at t = 0.

    Returns ``(time_s, bold)``, both of length ``round(duration_s / dt_s) + 1``, with ``time_s[0] = 0``
    and ``bold[0] = 0`` (rest). The impulse length is rounded to a whole number (>= 1) of samples.
    """
    n = int(round(duration_s / dt_s))
    n_on = max(1, int(round(impulse_s / dt_s)))
    u = np.zeros(n)
    u[:n_on] = amplitude
    _, bold = integrate(init_state(()), u, dt_s, constants)
    return np.arange(n + 1) * dt_s, np.concatenate([[0.0], bold])
