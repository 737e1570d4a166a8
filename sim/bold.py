"""Balloon-Windkessel hemodynamic forward model: neural activity -> BOLD signal.

Pure functions over numpy arrays, vectorised over any batch shape (e.g. ``(n_subjects, n_regions)``).

State equations (Buxton et al. 1998 MRM 39:855; Friston et al. 2000 NeuroImage 12:466;
Friston, Harrison & Penny 2003 NeuroImage 19:1273)::

    ds/dt     = u - kappa s - gamma (f - 1)            vasodilatory signal s            [1/s]
    df/dt     = s                                      normalised inflow f              [-]
    tau dv/dt = f - v^(1/alpha)                        normalised venous volume v       [-]
    tau dq/dt = f E(f, E0)/E0 - v^(1/alpha) q / v      normalised deoxyhaemoglobin q    [-]
    E(f, E0)  = 1 - (1 - E0)^(1/f)                     oxygen extraction fraction

Output equation (classic: Friston et al. 2000; revised: Obata et al. 2004 NeuroImage 21:144,
Stephan et al. 2007 NeuroImage 38:387; the form is the same, only k1..k3 differ)::

    y = V0 (k1 (1 - q) + k2 (1 - q/v) + k3 (1 - v))

``y`` is the *fractional* BOLD signal change dS/S0 (multiply by 100 for percent; SPM12 reports percent
because its ``spm_gx_fmri.m`` uses ``V0 = 4``). Time is in seconds, ``u`` is dimensionless neural activity
(SPM's DCM scales its input by C/16 first; no such scaling is applied here).

State variables: plain ``f, v, q`` (not SPM's log-transformed ones). Reasons: (1) the code is the
equations above, term by term; (2) rest ``(0, 1, 1, 1)`` is a fixed point *in floating point* (the
extraction term is written so that it is exactly 1 at f = 1), so a resting network stays bit-exactly at
rest; (3) it needs three transcendental calls per evaluation (log v, two exp) instead of five. SPM
log-transforms mainly to keep v, q positive under the large local-linearisation steps of its estimator;
with RK4 steps <= 10 ms positivity is kept by the dynamics themselves as long as f > 0. A driving input
strong and negative enough to push f through zero is unphysical in either parametrisation (in log
form ``log f`` reaches -inf in finite time, because df/dt = s regardless); here it is detected and
reported as ``FloatingPointError`` (see below).

Integration: classical 4th-order Runge-Kutta with the input held constant (zero-order hold) over each
input sample, and ``substeps`` RK4 steps per input sample; by default ``ceil(dt_s / 0.01 s)`` so the
internal step is <= 10 ms. Measured accuracy of the BOLD signal (max abs error / peak |BOLD|, at 0.1 s
sampling, against ``scipy.integrate.solve_ivp`` DOP853 at rtol 1e-12 on the same zero-order-hold input;
worst of SPM12 and FRISTON2003; input a 0.1 s unit impulse, or 30 random levels in [0, 1] held 1 s each)::

    scheme, internal step           impulse   random
    explicit Euler, 100 ms          5.4e-2    2.6e-2    (the reason Euler is not used)
    explicit Euler, 10 ms           5.1e-3    2.4e-3
    RK4, 100 ms (substeps=1)        1.4e-5    2.0e-6    10x cheaper than the default
    RK4, 50 ms (substeps=2)         7.3e-7    9.2e-8
    RK4, 20 ms (substeps=5)         1.7e-8    2.0e-9
    RK4, 10 ms (default)            1.0e-9    1.2e-10

The error falls as step^4, as it should. ``tests/test_bold.py`` checks the default and ``substeps=1``
against this reference. Every input sample goes through the same arithmetic whatever the chunking, so
splitting a long input into chunks (passing the returned state on) gives bit-identical BOLD to one run
(bit-identity holds for a fixed batch shape; across batch shapes results agree to rounding, since
numpy may evaluate exp/log differently for scalars and for arrays).

Speed (2-core Xeon VM, numpy 2.4, single thread): u of shape (6000, 1000, 20) at dt 0.1 s (10 min of
Hopf output) takes ~79 s in float64 at the default 10 substeps (~1.2 ms per RK4 step over 20000
elements), ~39 s in float32, ~9 s in float64 with ``substeps=1``. At dt 0.001 s (1 substep) a sample
costs ~1.4 ms (float64) / ~1.0 ms (float32) for the same batch.

Guard: after every input sample the state is checked; a non-finite value, or a non-positive f, v or q
(outside the model's domain, where the next evaluation would produce NaN), raises ``FloatingPointError``.

Constant sets: :data:`SPM12` (default) and :data:`FRISTON2003`; see their classes for sources.
Reference impulse responses (0.1 s unit impulse, integrated at 1 ms): FRISTON2003 peaks at 3.11 s,
SPM12 at 4.51 s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
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
    "integrate_compiled",
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
    """Revised BOLD output coefficients (Obata et al. 2004; Stephan et al. 2007 NeuroImage 38:387).

    ``k1 = 4.3 nu0 E0 TE``, ``k2 = epsilon r0 E0 TE``, ``k3 = 1 - epsilon``, with ``nu0`` the frequency
    offset at the outer surface of magnetised vessels [1/s], ``r0`` the slope of the intravascular
    relaxation rate against oxygen saturation [1/s], ``epsilon`` the intra- to extravascular signal ratio
    and ``TE`` the echo time [s]. Defaults are those of SPM12 ``spm_gx_fmri.m`` (labelled there
    "Biophysical constants for 1.5T"). Field-strength-specific values, as coded in SPM's ``spm_prf_gx.m``
    after Heinzle et al. 2016 NeuroImage 125:556: 3 T ``r0 = 110``, ``nu0 = 28.265 * 3 = 84.8``; 7 T
    ``r0 = 340``, ``nu0 = 28.265 * 7 = 197.9``.
    """
    k1 = 4.3 * nu0_per_s * e0 * te_s
    k2 = epsilon * r0_per_s * e0 * te_s
    k3 = 1.0 - epsilon
    return k1, k2, k3


def friston2000_output_coefficients(e0: float) -> tuple[float, float, float]:
    """Classic BOLD output coefficients ``k1 = 7 E0``, ``k2 = 2``, ``k3 = 2 E0 - 0.2``.

    Buxton et al. 1998 for 1.5 T, TE = 40 ms, as used by Friston et al. 2000 NeuroImage 12:466 and
    Friston, Harrison & Penny 2003 NeuroImage 19:1273, where ``E0`` is written ``rho``.
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

    Output from SPM12 ``spm_gx_fmri.m`` (r6262), i.e. Stephan et al. 2007 NeuroImage 38:387:
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
    """Friston, Harrison & Penny 2003 NeuroImage 19:1273 (DCM): prior means and output equation.

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


def _rhs_terms(s, f, v, q, u, kappa, gamma, inv_tau, w_exponent, log_b, b_ratio):
    """The state equations, written once: plain arithmetic and np.exp / np.log, so the same function runs
    on numpy arrays (:func:`_rhs`) and, compiled, on scalars inside :func:`_integrate_compiled`."""
    w = np.exp(np.log(v) * w_exponent)
    e = np.exp(log_b * ((1.0 - f) / f))
    delivery = f * (1.0 + b_ratio * (1.0 - e))
    ds = u - kappa * s - gamma * (f - 1.0)
    dv = (f - w * v) * inv_tau
    dq = (delivery - w * q) * inv_tau
    return ds, s, dv, dq


def _terms(c: HemodynamicConstants) -> tuple[float, ...]:
    """(kappa, gamma, 1/tau, 1/alpha - 1, ln(1 - E0), (1 - E0)/E0): the constants as :func:`_rhs_terms` takes them."""
    b = 1.0 - c.e0
    return c.kappa_per_s, c.gamma_per_s, 1.0 / c.tau_s, 1.0 / c.alpha - 1.0, math.log(b), b / (1.0 - b)


def _rhs(s, f, v, q, u, c: HemodynamicConstants):
    """Right-hand side (ds, df, dv, dq)/dt of the state equations (arrays or numpy scalars).

    Rearranged so that rest ``(0, 1, 1, 1)`` with u = 0 gives exactly zero in floating point, and with
    one division only::

        w            = v^(1/alpha - 1) = exp((1/alpha - 1) log v)            (1 at rest)
        outflow      = v^(1/alpha)     = w v
        e            = b^(1/f - 1)     = exp(log(b) (1 - f)/f),  b = 1 - E0  (1 at rest)
        f E(f)/E0    = f (1 - b e)/(1 - b) = f (1 + b/(1 - b) (1 - e))
        ds/dt = u - kappa s - gamma (f - 1);  df/dt = s
        dv/dt = (f - outflow)/tau;            dq/dt = (f E(f)/E0 - w q)/tau   (w q = v^(1/alpha) q/v)
    """
    return _rhs_terms(s, f, v, q, u, *_terms(c))


_rhs_scalar = numba.njit(inline="always")(_rhs_terms)


@numba.njit(nogil=True, cache=True, error_model="numpy")
def _integrate_compiled(s, f, v, q, u, h_s, n_sub, k, v0, k1, k2, k3, bold):  # pragma: no cover - compiled
    """:func:`integrate`'s RK4 loop compiled: s, f, v, q (B,) updated in place; u, bold (T, B); k = _terms."""
    kappa, gamma, inv_tau, w_exp, log_b, b_ratio = k
    half = 0.5 * h_s
    sixth = h_s / 6.0
    for i in range(s.shape[0]):
        x0, x1, x2, x3 = s[i], f[i], v[i], q[i]
        for t in range(u.shape[0]):
            ut = u[t, i]
            for _ in range(n_sub):
                a0, a1, a2, a3 = _rhs_scalar(x0, x1, x2, x3, ut, kappa, gamma, inv_tau, w_exp, log_b, b_ratio)
                b0, b1, b2, b3 = _rhs_scalar(x0 + half * a0, x1 + half * a1, x2 + half * a2, x3 + half * a3, ut,
                                             kappa, gamma, inv_tau, w_exp, log_b, b_ratio)
                c0, c1, c2, c3 = _rhs_scalar(x0 + half * b0, x1 + half * b1, x2 + half * b2, x3 + half * b3, ut,
                                             kappa, gamma, inv_tau, w_exp, log_b, b_ratio)
                d0, d1, d2, d3 = _rhs_scalar(x0 + h_s * c0, x1 + h_s * c1, x2 + h_s * c2, x3 + h_s * c3, ut,
                                             kappa, gamma, inv_tau, w_exp, log_b, b_ratio)
                x0 = x0 + sixth * (a0 + 2.0 * (b0 + c0) + d0)
                x1 = x1 + sixth * (a1 + 2.0 * (b1 + c1) + d1)
                x2 = x2 + sixth * (a2 + 2.0 * (b2 + c2) + d2)
                x3 = x3 + sixth * (a3 + 2.0 * (b3 + c3) + d3)
            bold[t, i] = v0 * (k1 * (1.0 - x3) + k2 * (1.0 - x3 / x2) + k3 * (1.0 - x2))
        s[i], f[i], v[i], q[i] = x0, x1, x2, x3


def integrate_compiled(state: BalloonState, u, dt_s: float, constants: HemodynamicConstants = SPM12,
                       substeps: int | None = None) -> tuple[BalloonState, np.ndarray]:
    """:func:`integrate` (same contract, same RK4, same equations via :func:`_rhs_terms`) as one compiled
    loop per batch element, float64: no numpy temporaries (tests/test_kernels.py checks it equals
    :func:`integrate` to rounding). Raises ``FloatingPointError`` if the final state is invalid."""
    shape = state.batch_shape
    u = np.asarray(u, dtype=np.float64)
    if u.ndim < 1 or u.shape[1:] != shape:
        raise ValueError(f"u must have shape (T, *batch_shape) = (T, *{shape}), got {u.shape}")
    n_sub = default_substeps(dt_s) if substeps is None else int(substeps)
    if n_sub < 1 or not dt_s > 0:
        raise ValueError(f"need dt_s > 0 and substeps >= 1, got {dt_s}, {substeps}")
    n_t, n_batch = u.shape[0], math.prod(shape)
    x = [np.array(a, dtype=np.float64).reshape(-1) for a in (state.s, state.f, state.v, state.q)]
    bold = np.empty((n_t, n_batch))
    c = constants
    _integrate_compiled(*x, np.ascontiguousarray(u.reshape(n_t, n_batch)), dt_s / n_sub, n_sub, _terms(c),
                        c.v0, c.k1, c.k2, c.k3, bold)
    _raise_if_bad(*x, where=f"after {n_t} input samples of this call", batch_shape=shape)
    dtype = state.dtype
    return (BalloonState(*(a.astype(dtype).reshape(shape) for a in x)), bold.astype(dtype).reshape((n_t, *shape)))


def _rk4(s, f, v, q, u, h_s: float, c: HemodynamicConstants):
    """One classical RK4 step of size ``h_s`` with ``u`` held constant; returns the new (s, f, v, q)."""
    x = (s, f, v, q)
    k1 = _rhs(*x, u, c)
    k2 = _rhs(*(xi + (0.5 * h_s) * ki for xi, ki in zip(x, k1, strict=True)), u, c)
    k3 = _rhs(*(xi + (0.5 * h_s) * ki for xi, ki in zip(x, k2, strict=True)), u, c)
    k4 = _rhs(*(xi + h_s * ki for xi, ki in zip(x, k3, strict=True)), u, c)
    return tuple(
        xi + (h_s / 6.0) * (a + 2.0 * (b + d) + e) for xi, a, b, d, e in zip(x, k1, k2, k3, k4, strict=True)
    )


def _bold(v, q, c: HemodynamicConstants):
    """Output equation on plain arrays (see :func:`bold_signal`)."""
    return c.v0 * (c.k1 * (1.0 - q) + c.k2 * (1.0 - q / v) + c.k3 * (1.0 - v))


def derivatives(state: BalloonState, u, constants: HemodynamicConstants = SPM12) -> BalloonState:
    """Time derivatives of the state (per second) for neural input ``u`` (broadcast to the batch)."""
    with np.errstate(all="ignore"):
        d = _rhs(state.s, state.f, state.v, state.q, np.asarray(u, dtype=state.dtype), constants)
    return BalloonState(*(np.broadcast_to(np.asarray(x, dtype=state.dtype), state.batch_shape) for x in d))


def bold_signal(state: BalloonState, constants: HemodynamicConstants = SPM12) -> np.ndarray:
    """BOLD fractional signal change ``y = V0 (k1 (1 - q) + k2 (1 - q/v) + k3 (1 - v))``; 0 at rest.

    Sources: Friston et al. 2000 (classic coefficients), Stephan et al. 2007 (revised ones); the
    coefficients come with the constant set.
    """
    return np.asarray(_bold(state.v, state.q, constants), dtype=state.dtype)


# ---------------------------------------------------------------------------------------------------------
# Guard
# ---------------------------------------------------------------------------------------------------------


def _state_ok(s, f, v, q) -> bool:
    """Cheap test (reductions only): all finite and f, v, q > 0. May flag absurdly large finite states."""
    if np.ndim(s) == 0:
        return bool(math.isfinite(s + f + v + q) and f > 0 and v > 0 and q > 0)
    total = np.sum(s) + np.sum(f) + np.sum(v) + np.sum(q)
    return bool(np.isfinite(total)) and bool(min(np.min(f), np.min(v), np.min(q)) > 0)


def _raise_if_bad(s, f, v, q, where: str, batch_shape: tuple[int, ...], offset: int = 0) -> None:
    """Raise ``FloatingPointError`` naming the first bad batch element if the state is invalid.

    ``s, f, v, q`` are flat (or scalar) views of the batch starting at flat index ``offset``.
    """
    if _state_ok(s, f, v, q):
        return
    s, f, v, q = (np.atleast_1d(x) for x in (s, f, v, q))
    finite = np.isfinite(s) & np.isfinite(f) & np.isfinite(v) & np.isfinite(q)
    bad = np.flatnonzero(~(finite & (f > 0) & (v > 0) & (q > 0)))
    if bad.size == 0:  # large but valid values tripped the cheap test
        return
    i = int(bad[0])
    index = np.unravel_index(offset + i, batch_shape) if batch_shape else ()
    kind = "non-finite" if not finite[i] else "non-positive in flow, volume or deoxyhaemoglobin"
    raise FloatingPointError(
        f"Balloon-Windkessel haemodynamic state became {kind} {where}: {bad.size} batch element(s) "
        f"affected, first at batch index {tuple(int(k) for k in index)} with s={s[i]:.6g}, f={f[i]:.6g}, "
        f"v={v[i]:.6g}, q={q[i]:.6g}. The neural input is NaN/inf there or too large (or too negative) "
        f"for the haemodynamic model."
    )


# ---------------------------------------------------------------------------------------------------------
# Integration
# ---------------------------------------------------------------------------------------------------------

#: Batch elements are integrated in blocks of at most this many bytes per state array (6144 float64
#: values), so that the temporaries of an RK4 step stay in L2 cache while numpy's per-call overhead is
#: amortised (measured 53 ns per element and RK4 step at 6144 float64 values, against 90 ns at 20000).
_BLOCK_BYTES = 49152


def step(state: BalloonState, u, dt_s: float, constants: HemodynamicConstants = SPM12) -> BalloonState:
    """Advance ``state`` by one RK4 step of ``dt_s`` seconds with input ``u`` held constant.

    ``u`` is broadcast against the batch shape. No substepping: for ``dt_s`` > 10 ms prefer
    :func:`integrate`. Raises ``FloatingPointError`` if the new state is invalid.
    """
    shape = state.batch_shape
    x = tuple(np.reshape(a, -1) for a in (state.s, state.f, state.v, state.q))
    u = np.broadcast_to(np.asarray(u, dtype=state.dtype), shape).reshape(-1)
    with np.errstate(all="ignore"):
        new = _rk4(*x, u, dt_s, constants)
    _raise_if_bad(*new, where=f"after a step of {dt_s:g} s", batch_shape=shape)
    return BalloonState(*(np.asarray(a, dtype=state.dtype).reshape(shape) for a in new))


def integrate(
    state: BalloonState,
    u,
    dt_s: float,
    constants: HemodynamicConstants = SPM12,
    substeps: int | None = None,
) -> tuple[BalloonState, np.ndarray]:
    """Integrate over an input sequence; return ``(final_state, bold)``.

    Args:
        state: state at the start of ``u[0]`` (:func:`init_state`, or the state a previous call returned).
        u: neural input, shape ``(T, *batch_shape)`` (trailing dimensions may broadcast to the batch
            shape); ``u[t]`` is held constant for ``dt_s`` seconds. Cast to the state's dtype.
        dt_s: input sample spacing [s].
        constants: a :class:`HemodynamicConstants` set.
        substeps: RK4 steps per input sample; default :func:`default_substeps` (internal step <= 10 ms).

    Returns:
        The state after all T samples, and ``bold`` of shape ``(T, *batch_shape)`` in the state's dtype,
        where ``bold[t]`` is the BOLD signal at the *end* of input sample t, i.e. ``(t + 1) * dt_s`` after
        the given state. Memory: ``bold`` plus a flat copy of ``u`` only where ``u`` is broadcast, plus
        O(batch) work space. Splitting ``u`` into chunks (passing the state on) gives bit-identical results.

    Raises:
        FloatingPointError: if the state becomes non-finite (or f, v, q non-positive); the message names the
            input sample and the batch index.
    """
    dtype = state.dtype
    shape = state.batch_shape
    u = np.asarray(u, dtype=dtype)
    if u.ndim < 1 or np.broadcast_shapes(u.shape[1:], shape) != shape:
        raise ValueError(f"u must have shape (T, *batch_shape) = (T, *{shape}), got {u.shape}")
    if not dt_s > 0:
        raise ValueError(f"dt_s must be > 0, got {dt_s}")
    n_sub = default_substeps(dt_s) if substeps is None else int(substeps)
    if n_sub < 1:
        raise ValueError(f"substeps must be >= 1, got {substeps}")
    h_s = dt_s / n_sub
    n_t, n_batch = u.shape[0], math.prod(shape)
    u = u.reshape((n_t,) + (1,) * (len(shape) - u.ndim + 1) + u.shape[1:])  # align trailing dimensions
    u_flat = np.broadcast_to(u, (n_t, *shape)).reshape(n_t, n_batch)
    x_flat = tuple(np.reshape(a, -1) for a in (state.s, state.f, state.v, state.q))
    bold = np.empty((n_t, n_batch), dtype=dtype)
    final = tuple(np.empty(n_batch, dtype=dtype) for _ in range(4))
    n_blocks = max(1, math.ceil(n_batch / max(1, _BLOCK_BYTES // dtype.itemsize)))
    block = max(1, math.ceil(n_batch / n_blocks))  # equal blocks, no small remainder
    with np.errstate(all="ignore"):
        for start in range(0, n_batch, block):
            cols = slice(start, min(start + block, n_batch))
            if n_batch == 1:  # numpy scalars are ~10x faster than 1-element arrays
                x, u_block = tuple(a[0] for a in x_flat), u_flat[:, 0]
            else:
                x, u_block = tuple(a[cols] for a in x_flat), u_flat[:, cols]
            for t in range(n_t):
                u_t = u_block[t]
                for _ in range(n_sub):
                    x = _rk4(*x, u_t, h_s, constants)
                if not _state_ok(*x):
                    where = f"at input sample {t} ({(t + 1) * dt_s:g} s into this call)"
                    _raise_if_bad(*x, where=where, batch_shape=shape, offset=start)
                bold[t, cols] = _bold(x[2], x[3], constants)
            for out, a in zip(final, x, strict=True):
                out[cols] = a
    new_state = BalloonState(*(a.reshape(shape) for a in final))
    return new_state, bold.reshape((n_t, *shape))


def impulse_response(
    constants: HemodynamicConstants = SPM12,
    duration_s: float = 30.0,
    dt_s: float = 0.001,
    impulse_s: float = 0.1,
    amplitude: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """BOLD response to a neural boxcar ``u = amplitude`` for ``impulse_s`` seconds from rest at t = 0.

    Integrated by :func:`integrate` at input spacing ``dt_s`` (default substeps). Returns
    ``(time_s, bold)``, both of length ``round(duration_s / dt_s) + 1``, with ``time_s[0] = 0`` and
    ``bold[0] = 0`` (rest). The impulse length is rounded to a whole number (>= 1) of samples.
    """
    n = int(round(duration_s / dt_s))
    n_on = max(1, int(round(impulse_s / dt_s)))
    u = np.zeros(n)
    u[:n_on] = amplitude
    _, bold = integrate(init_state(()), u, dt_s, constants)
    return np.arange(n + 1) * dt_s, np.concatenate([[0.0], bold])
