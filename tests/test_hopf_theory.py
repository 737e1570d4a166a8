"""The Hopf model against theory: Lyapunov covariance, limit cycle amplitude and frequency."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg

from sim.integrate import Settings, simulate
from sim.metrics import MetricSettings, OnlineStats
from sim.models import hopf
from sim.observe import Pipeline
from tests.helpers import StepCovariance


def _params(b, w, a, omega, sigma):
    n = len(omega)
    w = np.broadcast_to(w, (b, n, n)).astype(np.float32)
    a_eff = (a - np.abs(w).sum(-1)).astype(np.float32)
    return hopf.HopfParams(a_eff, np.broadcast_to(omega, (b, n)).astype(np.float32), w,
                           np.full((b, n), sigma, np.float32))


def _run(p, dt, duration, method, seed=1):
    b, n = p.omega.shape
    st = Settings(dt_s=dt, duration_s=duration, transient_s=100.0, method=method, n_threads=2)
    seeds = np.random.SeedSequence(seed).spawn(b)
    parts = simulate(hopf, p, seeds, st, lambda k: StepCovariance(k, n, st.n_transient))
    return np.concatenate(parts)


# A 4-node signed network: two modules (0,1) and (2,3), excitation within, inhibition between.
W4 = np.array([[0, .15, -.08, -.05], [.15, 0, -.05, -.08], [-.08, -.05, 0, .12], [-.05, -.08, .12, 0]])
OM4 = 2 * np.pi * np.array([0.05, 0.055, 0.045, 0.06])


@pytest.mark.parametrize("method", ["heun", "euler"])
def test_linear_regime_covariance_matches_lyapunov(method):
    """Small noise, a < 0: covariance of x equals the Lyapunov solution within sampling error.

    Heun is compared with the continuous-time Lyapunov equation; Euler-Maruyama with the discrete
    one (Sigma = A Sigma A^T + sigma^2 dt I, A = I + dt J), which is exact for EM on a linear SDE.
    The tolerance is 5 standard errors estimated from the spread over independent items.
    """
    dt, sigma, b = 0.1, 0.004, 64
    p = _params(b, W4, -0.05, OM4, sigma)
    cov = _run(p, dt, 2000.0, method)
    j = hopf.linear_jacobian(p.a_eff[0].astype(float), p.omega[0].astype(float), p.w[0].astype(float))
    q = sigma**2 * np.eye(8)
    if method == "heun":
        theory = scipy.linalg.solve_continuous_lyapunov(j, -q)[:4, :4]
    else:
        a = np.eye(8) + dt * j
        theory = scipy.linalg.solve_discrete_lyapunov(a, q * dt)[:4, :4]
    est = cov.mean(0)
    se = cov.std(0, ddof=1) / np.sqrt(b)
    z = np.abs(est - theory) / se
    assert z.max() < 5, f"max |z| = {z.max():.2f}\nest\n{est}\ntheory\n{theory}"
    # FC is independent of sigma and negative between the modules: anticorrelation without nonlinearity
    fc = hopf.linear_fc(p.a_eff[0], p.omega[0], p.w[0])
    assert fc[0, 2] < 0 and fc[0, 1] > 0


def test_euler_bias_is_visible_against_continuous_theory():
    """The discrete/continuous distinction above is not vacuous: at dt 0.1 s EM's variance differs."""
    p = _params(1, W4, -0.05, OM4, 0.004)
    j = hopf.linear_jacobian(p.a_eff[0].astype(float), p.omega[0].astype(float), p.w[0].astype(float))
    q = 0.004**2 * np.eye(8)
    cont = scipy.linalg.solve_continuous_lyapunov(j, -q)
    disc = scipy.linalg.solve_discrete_lyapunov(np.eye(8) + 0.1 * j, q * 0.1)
    assert np.abs(np.diag(disc) / np.diag(cont) - 1).max() > 0.02


def test_uncoupled_node_limit_cycle():
    """a > 0, no noise, no coupling: |z| -> sqrt(a) and the phase advances at omega."""
    a, f = 0.3, 0.05
    omega = 2 * np.pi * f
    p = hopf.HopfParams(np.full((1, 1), a, np.float32), np.full((1, 1), omega, np.float32),
                        np.zeros((1, 1, 1), np.float32), np.zeros((1, 1), np.float32))
    z = np.array([[[0.05, 0.0]]], np.float32)
    dt = 0.01
    phases, amps = [], []
    for _ in range(int(200 / dt)):  # 200 s >> relaxation time 1/(2a)
        f0 = hopf.drift(z, p)
        zp = z + dt * f0
        z = z + 0.5 * dt * (f0 + hopf.drift(zp, p))
        phases.append(np.arctan2(z[0, 0, 1], z[0, 0, 0]))
        amps.append(np.hypot(z[0, 0, 0], z[0, 0, 1]))
    amps = np.array(amps[-2000:])
    assert np.allclose(amps, np.sqrt(a), rtol=1e-3)
    ph = np.unwrap(np.array(phases[-2000:]))
    rate = np.polyfit(np.arange(len(ph)) * dt, ph, 1)[0]
    assert rate == pytest.approx(omega, rel=1e-3)


def test_pipeline_fc_equals_direct_fc_of_recorded_series():
    """Online (chunked) FC in the metrics pipeline equals np.corrcoef of the same TR samples."""
    rng = np.random.default_rng(0)
    n, b, t = 5, 3, 400
    y = rng.standard_normal((t, b, n)).cumsum(0).astype(np.float32)
    ms = MetricSettings(tr_s=2.0)
    stats = OnlineStats(b, n, ms, np.array([0, 1]), np.array([2, 3]))
    pipe = Pipeline(stats, 2.0, 2.0, 10, "direct", b, n)
    for k in range(0, t, 37):  # odd block size: chunk boundaries must not matter
        pipe.push(y[k:k + 37], k)
    res = pipe.result()
    from sim.metrics import fc_from_cov

    fc = fc_from_cov(res["cov"])
    for i in range(b):
        np.testing.assert_allclose(fc[i], np.corrcoef(y[10:, i].T.astype(float)), atol=1e-9)
