r"""Stuart-Landau oscillators: the Hopf normal form at the BOLD time scale.

Deco, Kringelbach, Jirsa & Ritter 2017, Sci Rep 7:3095 (DOI 10.1038/s41598-017-03073-5), with the
diffusive coupling generalised to signed weights (the signed Laplacian of Altafini 2013,
IEEE TAC 58:935) so that cross-network inhibition (negative effective weights) is allowed:

.. math::

    \dot z_j = (a_j + i\omega_j) z_j - |z_j|^2 z_j
               + \sum_k W_{jk} z_k - \Big(\sum_k |W_{jk}|\Big) z_j + \sigma \eta_j(t)

with :math:`z_j = x_j + i y_j`, :math:`W = G\,(C^{exc} - g^{EI}_j C^{inh})` ([target, source]),
:math:`\eta` complex white noise (independent real and imaginary parts). :math:`x_j` is the
BOLD-like signal. The ``-\sum|W|`` term makes every Gershgorin disc of the coupling lie in the left
half-plane, so for :math:`a < 0` the network is stable and noise-driven; the linearised model is an
Ornstein-Uhlenbeck process whose stationary covariance solves a Lyapunov equation
(:func:`linear_stationary_covariance`).

State layout: ``(batch, region, 2)`` with ``[..., 0] = x``, ``[..., 1] = y``.
Conduction delays (ms) are negligible at the BOLD time scale (dt 0.1 s) and are ignored here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numba
import numpy as np
import scipy.linalg

from sim.kernel import (
    corrector,
    coupling_sums,
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
from sim.models.base import Kernel, dt_rate_message
from sim.network import distinct_items
from sim.params import FREQUENCY_PARAMS, ParamSpec, natural_frequency_rad_s
from sim.stats import cov_to_corr

NAME = "hopf"
N_STATE = 2
STATE_NAMES = ("x", "y")
OBSERVATION = "direct"  # x is itself the BOLD-like signal (Deco 2017)
DEFAULT_DT_S = 0.1
CAPABILITIES = frozenset({KERNEL_CAP})
MAX_STABLE_DT_S = 0.5  # explicit schemes need dt * max(|a| + rate) well below 1; see check_dt

PARAMS = (
    ParamSpec("a", -0.02, "1/s", -1.0, 1.0, "Deco 2017 fits a near 0; code uses -0.05; -0.02 assumed",
              "bifurcation parameter: < 0 noisy fixed point, > 0 limit cycle of amplitude sqrt(a)"),
    ParamSpec("global_coupling", 0.3, "1/s", 0.0, 10.0, "assumed; tuned so healthy FC is in the range "
              "of science.md targets §3", "G, scales all long-range weights"),
    ParamSpec("sigma", 0.02, "1/sqrt(s)", 0.0, 10.0, "Deco 2017 use 0.02-0.04",
              "noise amplitude per real component"),
    *FREQUENCY_PARAMS,
)


@dataclass(frozen=True)
class HopfParams:
    """Per-item parameters (item = one condition x subject x scan of the batch).

    a_eff: (B, N) a_j + excitability_j - sum_k |W_jk|, in 1/s (diagonal of the linear part).
    omega: (B, N) angular frequency in rad/s.
    w: (B, N, N) signed coupling [target, source] in 1/s.
    sigma: (B, N) noise amplitude.
    """

    a_eff: np.ndarray
    omega: np.ndarray
    w: np.ndarray
    sigma: np.ndarray


def build(values: dict, net) -> HopfParams:
    """Combine model constants with the per-item network spec (:class:`sim.network.NetworkSpec`)."""
    g = values["global_coupling"]
    w = net.signed_coupling(g)
    a = values["a"] + net.excitability
    a_eff = a - np.abs(w).sum(-1)
    sigma = np.broadcast_to(np.float32(values["sigma"]), a.shape)
    omega = natural_frequency_rad_s(values, net.freq_u)
    return HopfParams(a_eff.astype(np.float32), omega.astype(np.float32),
                      w.astype(np.float32), np.ascontiguousarray(sigma, dtype=np.float32))


def init_state(p: HopfParams, rngs: Sequence[np.random.Generator]) -> np.ndarray:
    """Start of every item, (B, N, 2): a draw from the stationary distribution of the linearised network.

    The slowest network mode relaxes with a time constant of tens of seconds (about 39 s for the default
    network), comparable to the transient, so a fixed small start would bias the first scan window; the
    linear stationary covariance (:func:`stationary_cov_complex`, solved for the whole batch at once) is exact for
    the noise-driven fixed point up to the cubic term, which the transient then settles. z = L c, with
    L L^H = M / 2 per real component pair, c from the item's own generator. An item without a stable fixed point
    (a >= 0 limit cycles) starts from a small random state instead.
    """
    b, n = p.omega.shape
    # one Lyapunov solve per distinct network in the chunk (e.g. a subject's scans before any dose, or all scans of
    # an untreated condition: equal parameters, different noise streams)
    first, inverse = distinct_items(p)
    m, stable = _stationary_cov_and_stability(p.a_eff[first], p.omega[first], p.w[first], p.sigma[first])
    m, stable = m[inverse], stable[inverse]
    ok = stable & np.isfinite(m).all(axis=(1, 2))
    eye = 1e-12 * np.eye(n)
    chol = np.zeros((b, n, n), complex)
    if ok.any():
        chol[ok] = np.linalg.cholesky(0.5 * (m[ok] + m[ok].conj().transpose(0, 2, 1)) + eye)
    z = np.empty((b, n, 2), np.float32)
    for i, rng in enumerate(rngs):
        if ok[i]:
            c = rng.standard_normal((n, 2)) @ np.array([1.0, 1j]) / np.sqrt(2.0)  # E[c c^H] = I
            zi = chol[i] @ c
            z[i] = np.stack([zi.real, zi.imag], axis=-1)
        else:
            z[i] = 0.1 * rng.standard_normal((n, 2))
    return z


@numba.njit(nogil=True, cache=True, error_model="numpy")
def rhs(z, p, aux, out):  # pragma: no cover - compiled
    """f(z) in the kernel layout, the only copy of the equations: z, out (2, N, B); p = (a_eff, omega, wv, indptr,
    indices) with a_eff, omega (N, B) and the coupling in the chunk's sparsity pattern (:func:`sim.kernel.sparse_rows`:
    row i's weights wv[k] (B,) from sources indices[k], k in indptr[i]..indptr[i+1]).
    out_x = (W x) + (a_eff - |z|^2) x - omega y, out_y = (W y) + (a_eff - |z|^2) y + omega x."""
    a_eff, omega, wv, indptr, indices = p
    n, nb = a_eff.shape
    x = z[0]
    y = z[1]
    for i in range(n):
        cx = out[0, i]
        cy = out[1, i]
        coupling_sums(wv, indptr, indices, x, y, cx, cy, i)  # cx = (W x)_i, cy = (W y)_i
        xi = x[i]
        yi = y[i]
        ai = a_eff[i]
        oi = omega[i]
        for b in range(nb):
            lin = ai[b] - (xi[b] * xi[b] + yi[b] * yi[b])
            cx[b] += lin * xi[b] - oi[b] * yi[b]
            cy[b] += lin * yi[b] + oi[b] * xi[b]


@numba.njit(nogil=True, cache=True)
def _observe(z, p, out):  # pragma: no cover - compiled
    out[:] = z[0]


def kernel_params(p: HopfParams, dt_s: float = 1.0) -> tuple:
    """Kernel-layout params of a chunk: (a_eff (N, B), omega (N, B), *sparse_rows(w))."""
    return (to_kernel(p.a_eff), to_kernel(p.omega), *sparse_rows(p.w))


def _kernel_aux(p: HopfParams, zk: np.ndarray, dt_s: float) -> tuple:
    return np.zeros((1, 1, 1), np.float32), np.zeros((1, 1, 1), np.float32)


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
        if wants_observation(k, window, stride):
            _observe(z, p, ws[6])
            sample = record(ws, out, k, window, stride, sample)


KERNEL = Kernel(run=_run, rhs=rhs, params=kernel_params, aux=_kernel_aux)


def drift(z: np.ndarray, p: HopfParams) -> np.ndarray:
    """Right-hand side f(z) for a batch: z (B, N, 2) -> dz/dt (B, N, 2), evaluated by :func:`rhs`."""
    return drift_via_kernel(rhs, z, kernel_params(p))


def noise_scale(p: HopfParams) -> np.ndarray:
    """Multiplier of the Wiener increments, (B, N, 2)."""
    return np.repeat(p.sigma[..., None], 2, axis=-1)


def observable(z: np.ndarray) -> np.ndarray:
    """The BOLD-like signal x = Re z, (B, N)."""
    return z[..., 0]


def check_dt(dt_s: float, p: HopfParams) -> str | None:
    """Return a message if dt is too large for an explicit scheme, else None.

    The fastest linear rate is bounded by max|a_eff| + max|omega| + max row sum |W|; explicit Euler
    and Heun need dt times that rate well below 1 (we require < 0.5).
    """
    rate = float(np.abs(p.a_eff).max() + np.abs(p.omega).max() + np.abs(p.w).sum(-1).max())
    return dt_rate_message(dt_s, rate, 0.5)


def linear_jacobian(a_eff: np.ndarray, omega: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Jacobian at z = 0 of one item, in (x, y) block form: [[A, -Omega], [Omega, A]], A = diag(a_eff) + W."""
    a_block = np.diag(a_eff) + w
    om = np.diag(omega)
    return np.block([[a_block, -om], [om, a_block]])


def linear_stationary_covariance(a_eff, omega, w, sigma) -> np.ndarray:
    """Stationary covariance of the linearised model (continuous time): J S + S J^T + sigma^2 I = 0."""
    j = linear_jacobian(np.asarray(a_eff, float), np.asarray(omega, float), np.asarray(w, float))
    q = np.diag(np.concatenate([np.broadcast_to(sigma, len(a_eff))] * 2).astype(float) ** 2)
    return scipy.linalg.solve_continuous_lyapunov(j, -q)


def linear_fc(a_eff, omega, w) -> np.ndarray:
    """Analytic FC (correlation of x) of the linearised model; independent of sigma."""
    s = linear_stationary_covariance(a_eff, omega, w, 1.0)
    n = len(a_eff)
    c = s[:n, :n]
    return cov_to_corr(c)


def _linear_operator(a_eff: np.ndarray, omega: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Complex linear operator L = diag(a_eff + i omega) + W of dz = L z dt + noise, (B, N, N)."""
    n = a_eff.shape[-1]
    eye = np.eye(n)
    return w.astype(complex) + eye * (a_eff + 1j * omega)[..., None, :]


def stationary_cov_complex(a_eff, omega, w, sigma) -> np.ndarray:
    r"""Stationary covariance M = E[z z^H] of the linearised network, per item, (B, N, N) complex.

    With z = x + iy the linearisation is dz = L z dt + sigma (dW_x + i dW_y), L = diag(a_eff + i omega) + W,
    so M solves the continuous Lyapunov equation L M + M L^H + Q = 0, Q = 2 diag(sigma^2). Solved for all items at
    once (:func:`_stationary_cov_and_stability`). By the rotation symmetry of the real system
    ([[A, -Omega], [Omega, A]] commutes with [[0, -I], [I, 0]]), cov(x) = cov(y) = Re(M) / 2
    (:func:`linear_stationary_covariance` is the real 2N form of the same equation).
    """
    return _stationary_cov_and_stability(a_eff, omega, w, sigma)[0]


#: Smith doublings at most (a mode with spectral radius rho of the Cayley transform converges when rho^(2^k) is
#: negligible: k = 16 covers rho < 0.9997); ||A_k||_F below SMITH_TOL ends an item's sum (tail below
#: ||A_k||^2 ||M|| = 1e-12 relative; the residual check that follows asks for 1e-8)
SMITH_DOUBLINGS = 16
SMITH_TOL = 1e-6


def _residual_ok(lop: np.ndarray, m: np.ndarray, qd: np.ndarray) -> np.ndarray:
    """Whether Hermitian M solves L M + M L^H + diag(qd) = 0 to 1e-8 of max(qd), per item."""
    lm = lop @ m
    resid = lm + lm.conj().transpose(0, 2, 1)  # L M + M L^H for Hermitian M
    idx = np.arange(lop.shape[-1])
    resid[:, idx, idx] += qd
    return np.abs(resid).max(axis=(1, 2)) <= 1e-8 * (qd.max(axis=-1) + 1e-300)


def _lyapunov_smith(lop: np.ndarray, qd: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r"""Smith's doubling (Smith 1968, SIAM J Appl Math 16:198) for L M + M L^H + diag(qd) = 0, all items at once
    with batched matrix products (no per-item eigendecomposition: ~2x faster than :func:`_lyapunov_eig` at 23 regions).

    Cayley transform with shift p > 0 (the geometric mean of the smallest and largest |L_ii|): with
    C = (L - pI)^{-1}, A = C (L + pI) and R = 2p C Q C^H the equation is M = A M A^H + R (expand
    (L - pI) M (L - pI)^H - (L + pI) M (L + pI)^H = -2p (L M + M L^H)). A's eigenvalues (lambda + p)/(lambda - p)
    lie inside the unit circle iff Re lambda < 0, and M = sum_k A^k R A^kH is summed by doubling:
    P <- P + A P A^H, A <- A^2. Returns (M, converged): an item converged when ||A_k||_F < SMITH_TOL, which
    needs spectral radius < 1, so a converged item's fixed point is stable. Non-converged items (unstable, or
    too slow) are left to the caller."""
    n = lop.shape[-1]
    eye = np.eye(n)
    diag = np.abs(np.diagonal(lop, axis1=1, axis2=2))
    p = np.sqrt(diag.min(axis=1) * diag.max(axis=1))[:, None, None] + 1e-300
    with np.errstate(over="ignore", invalid="ignore"):
        c = np.linalg.inv(lop - p * eye)
        a = c @ (lop + p * eye)
        m = 2.0 * p * (c * qd[:, None, :]) @ c.conj().transpose(0, 2, 1)
        done = np.zeros(len(lop), bool)
        diverged = ~np.isfinite(a).all(axis=(1, 2))
        # only the items still summing are updated, so each item's M depends on its own iterations alone (not on
        # which other items share the batch)
        act = np.flatnonzero(~diverged)
        for _ in range(SMITH_DOUBLINGS):
            if not len(act):
                break
            whole = len(act) == len(a)  # every item still summing: no gather / scatter copies
            aa, mm = (a, m) if whole else (a[act], m[act])
            mm = mm + (aa @ mm) @ aa.conj().transpose(0, 2, 1)
            aa = aa @ aa
            norm = np.sqrt((aa.real**2 + aa.imag**2).sum(axis=(1, 2)))
            if whole:
                a, m = aa, mm
            else:
                m[act], a[act] = mm, aa
            done[act] = norm < SMITH_TOL
            diverged[act] = ~np.isfinite(norm) | (norm > 1e150)  # unstable: stop before overflow
            act = act[~done[act] & ~diverged[act]]
        m = 0.5 * (m + m.conj().transpose(0, 2, 1))
    return m, done & ~diverged & np.isfinite(m).all(axis=(1, 2))


def _lyapunov_eig(lop: np.ndarray, qd: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigendecomposition route, L = V diag(lambda) V^-1: M = V [-Q'_jk / (lambda_j + conj lambda_k)] V^H with
    Q' = V^-1 Q V^-H; items whose residual is not small (near-defective L) are solved again with
    :func:`scipy.linalg.solve_continuous_lyapunov` (Bartels-Stewart). Returns (M, stable): every eigenvalue of L
    in the left half-plane."""
    lam, v = np.linalg.eig(lop)
    vinv = np.linalg.inv(v)
    qp = (vinv * qd[:, None, :]) @ vinv.conj().transpose(0, 2, 1)  # V^-1 Q V^-H with Q diagonal
    mp = -qp / (lam[:, :, None] + lam.conj()[:, None, :])
    m = v @ mp @ v.conj().transpose(0, 2, 1)
    m = 0.5 * (m + m.conj().transpose(0, 2, 1))
    for b in np.flatnonzero(~_residual_ok(lop, m, qd)):
        m[b] = scipy.linalg.solve_continuous_lyapunov(lop[b], -np.diag(qd[b]))
        m[b] = 0.5 * (m[b] + m[b].conj().T)
    return m, (lam.real < 0).all(axis=-1)


def _stationary_cov_and_stability(a_eff, omega, w, sigma) -> tuple[np.ndarray, np.ndarray]:
    """(M (B, N, N) of :func:`stationary_cov_complex`, whether z = 0 is stable for each item (B,)).

    Smith's doubling for every item (:func:`_lyapunov_smith`); an item it does not settle (unstable, or a residual
    above 1e-8) goes to the eigendecomposition route (:func:`_lyapunov_eig`), which also decides its stability."""
    a_eff, omega, w = np.asarray(a_eff, float), np.asarray(omega, float), np.asarray(w, float)
    sig = np.broadcast_to(np.asarray(sigma, float), a_eff.shape)
    lop = _linear_operator(a_eff, omega, w)
    qd = 2.0 * sig**2  # Q = diag(qd)
    m, ok = _lyapunov_smith(lop, qd)
    ok &= _residual_ok(lop, m, qd)
    stable = ok.copy()
    if not ok.all():
        bad = np.flatnonzero(~ok)
        m[bad], stable[bad] = _lyapunov_eig(lop[bad], qd[bad])
    return m, stable


def expected_cov(p: HopfParams) -> np.ndarray:
    """Expected covariance of the BOLD-like signal x for every item, (B, N, N): Re(M) / 2 of
    :func:`stationary_cov_complex` (no sampling noise; exact for the linearised network)."""
    return 0.5 * stationary_cov_complex(p.a_eff, p.omega, p.w, p.sigma).real
