"""The linear expected-FC engine and the stationary start (precise-trials issue, §2)."""

from __future__ import annotations

import numpy as np
import pytest

from sim.cohort import draw_traits, noise_seeds
from sim.config import load_config
from sim.integrate import Settings, simulate
from sim.models import hopf
from sim.simulate import build_world, expected_items, simulate_items, subject_network


def _world(*overrides):
    return build_world(load_config(["progress=false", *overrides]))


def _params(world, n_subjects):
    traits = draw_traits(world.seed, np.arange(n_subjects), world.atlas.n_regions, world.cohort.coupling_jitter_cv)
    net = subject_network(world, traits)
    return net, world.model.build(world.model_values, net)


def test_batched_complex_lyapunov_equals_the_real_2n_solution():
    """stationary_cov_complex (N x N complex, all items at once) = the real 2N x 2N Lyapunov solution."""
    world = _world()
    _, p = _params(world, 5)
    cov = hopf.expected_cov(p)
    for b in range(5):
        ref = hopf.linear_stationary_covariance(p.a_eff[b], p.omega[b], p.w[b], p.sigma[b, 0])
        n = p.a_eff.shape[1]
        np.testing.assert_allclose(cov[b], ref[:n, :n], rtol=1e-8, atol=1e-12 * np.abs(ref).max())
        np.testing.assert_allclose(ref[n:, n:], ref[:n, :n], rtol=1e-8, atol=1e-14)  # cov(y) = cov(x)


@pytest.mark.parametrize("route", ["smith", "eig"])
def test_defective_operator_still_solves_lyapunov(route, monkeypatch):
    """A Jordan block (equal diagonal, one-way coupling) has no eigenvector basis. Smith's doubling does not need
    one; on the eigen route (forced by allowing no doubling) the residual is large, the item is solved again
    (Bartels-Stewart). Either way M satisfies L M + M L^H + Q = 0."""
    if route == "eig":
        monkeypatch.setattr(hopf, "SMITH_DOUBLINGS", 0)
    a = np.array([[-0.3, -0.3, -0.3], [-0.5, -0.2, -0.4]])
    omega = np.array([[0.4, 0.4, 0.4], [0.3, 0.5, 0.2]])
    w = np.zeros((2, 3, 3))
    w[0, 0, 1] = w[0, 1, 2] = 1.0  # item 0: a 3 x 3 Jordan block (defective)
    w[1, 0, 1] = 0.1  # item 1: diagonalisable
    sigma = np.array([[0.02, 0.03, 0.01], [0.02, 0.02, 0.02]])
    m = hopf.stationary_cov_complex(a, omega, w, sigma)
    if route == "smith":  # the doubling itself settles both (no eigenvector basis needed)
        assert hopf._lyapunov_smith(hopf._linear_operator(a, omega, w), 2 * sigma**2)[1].all()
    for b in range(2):
        lop = w[b] + np.diag(a[b] + 1j * omega[b])
        resid = lop @ m[b] + m[b] @ lop.conj().T + np.diag(2 * sigma[b] ** 2)
        assert np.abs(resid).max() < 1e-10 * (2 * sigma[b] ** 2).max()
        np.testing.assert_allclose(m[b], m[b].conj().T, atol=1e-15)


def test_smith_doubling_equals_the_eigen_route_and_leaves_unstable_items_to_it():
    """Random non-normal networks: Smith's doubling gives the eigen route's M to 1e-10 (relative); items with an
    eigenvalue in the right half-plane do not converge and are reported unstable (the eigen route decides)."""
    rng = np.random.default_rng(5)
    b, n = 12, 9
    a = -rng.uniform(0.1, 0.6, (b, n))
    a[:3, 0] = 0.3  # three unstable items (a node past the bifurcation)
    omega = 2 * np.pi * rng.uniform(0.03, 0.08, (b, n))
    w = rng.uniform(-0.03, 0.08, (b, n, n)) * (rng.random((b, n, n)) < 0.5)  # signed, asymmetric
    sigma = rng.uniform(0.01, 0.04, (b, n))
    lop = hopf._linear_operator(a, omega, w)
    qd = 2 * sigma**2
    m_s, done = hopf._lyapunov_smith(lop, qd)
    m_e, stable_e = hopf._lyapunov_eig(lop, qd)
    truth = (np.linalg.eigvals(lop).real < 0).all(axis=-1)
    assert not truth[:3].any() and truth[3:].all()
    np.testing.assert_array_equal(done, truth)
    scale = np.abs(m_e[3:]).max(axis=(1, 2))[:, None, None]
    np.testing.assert_allclose(m_s[3:] / scale, m_e[3:] / scale, atol=1e-10)
    m, stable = hopf._stationary_cov_and_stability(a, omega, w, sigma)
    np.testing.assert_array_equal(stable, truth)
    np.testing.assert_allclose(m[3:] / scale, m_e[3:] / scale, atol=1e-10)
    # without noise M = 0 solves every item's equation: stability must still come from the dynamics
    np.testing.assert_array_equal(hopf._stationary_cov_and_stability(a, omega, w, 0 * sigma)[1], truth)


def test_unstable_items_never_count_as_converged():
    """Sweep one node's a through the bifurcation: Smith's doubling reports convergence only for stable items."""
    rng = np.random.default_rng(2)
    n = 9
    w = rng.uniform(-0.03, 0.08, (n, n)) * (rng.random((n, n)) < 0.5)
    a = np.repeat(-rng.uniform(0.1, 0.6, n)[None], 300, axis=0)
    a[:, 0] = np.linspace(-0.5, 0.5, 300)
    omega = np.broadcast_to(2 * np.pi * rng.uniform(0.03, 0.08, n), a.shape)
    lop = hopf._linear_operator(a, omega, np.broadcast_to(w, (300, n, n)))
    truth = (np.linalg.eigvals(lop).real < 0).all(axis=-1)
    assert 0 < truth.sum() < 300
    done = hopf._lyapunov_smith(lop, np.full(a.shape, 1e-3))[1]
    assert not (done & ~truth).any()


def test_each_items_solution_does_not_depend_on_its_batch():
    """Fast and slow items solved together equal each solved alone, bit for bit (so the linear engine's output
    does not depend on thread counts or chunk sizes)."""
    _, p = _params(_world(), 30)  # the default network: items converge after 8-10 doublings
    b = p.a_eff.shape[0]
    a, omega, w = (np.asarray(x, float) for x in (p.a_eff, p.omega, p.w))
    sigma = np.broadcast_to(np.asarray(p.sigma, float), a.shape)
    m, stable = hopf._stationary_cov_and_stability(a, omega, w, sigma)
    for i in range(b):
        mi, si = hopf._stationary_cov_and_stability(a[i:i + 1], omega[i:i + 1], w[i:i + 1], sigma[i:i + 1])
        np.testing.assert_array_equal(m[i], mi[0])
        assert stable[i] == si[0]


class _Ends:
    """Sink keeping x at the first and the last integration step of each item."""

    def __init__(self, b):
        self.first, self.last = None, None

    def push(self, obs, step0):
        if step0 == 0:
            self.first = obs[0].astype(float)
        self.last = obs[-1].astype(float)

    def result(self):
        return np.stack([self.first, self.last])


def test_the_scan_starts_stationary():
    """x at the very first step (no transient) already has the stationary variance of the linearised
    network, as it has at the end: the start is a draw from the Lyapunov covariance, not a fixed state
    (the old 0.1-amplitude start had ~10x the stationary variance and relaxed with tau ~ 40 s)."""
    world = _world("model.params.sigma=0.002")
    n_items = 400
    _, p = _params(world, 1)
    p = hopf.HopfParams(*(np.repeat(getattr(p, f), n_items, axis=0) for f in ("a_eff", "omega", "w", "sigma")))
    st = Settings(dt_s=0.1, duration_s=30.0, transient_s=0.0, n_threads=2)
    ends = np.concatenate(simulate(hopf, p, np.random.SeedSequence(7).spawn(n_items), st, _Ends), axis=1)
    var_theory = np.diag(hopf.expected_cov(p)[0])
    for k in (0, 1):
        x2 = ends[k] ** 2  # (items, N); E[x] = 0
        z = (x2.mean(0) - var_theory) / (x2.std(0, ddof=1) / np.sqrt(n_items))
        assert np.abs(z).max() < 4.5, (k, z)


def test_simulated_fc_agrees_with_linear_theory_at_small_noise():
    """At sigma = 0.002 the cubic term is negligible: the cohort-mean simulated network FC equals the linear
    expectation within the finite-scan bias of a sample correlation plus 4 standard errors.

    Bias bound: for a sample correlation of series with N_eff independent samples |E r - rho| <=
    |rho|(1 - rho^2)/(2 N_eff) + 1/N_eff (Fisher 1915; the 1/N_eff term bounds the mean-removal effect);
    N_eff = duration / (2 tau_slowest), with tau_slowest from the slowest eigenvalue of the linear operator.
    """
    world = _world("model.params.sigma=0.002", "scan.duration_s=3000", "scan.transient_s=20")
    n_sub = 24
    net, p = _params(world, n_sub)
    seeds = noise_seeds(world.seed, "test", np.arange(n_sub), [0.0])
    sim = simulate_items(world, net, seeds)
    lin = expected_items(world, p)
    lam = np.linalg.eigvals(hopf._linear_operator(p.a_eff.astype(float), p.omega.astype(float),
                                                  p.w.astype(float)))
    tau = 1.0 / np.abs(lam.real).min()
    n_eff = world.settings.duration_s / (2 * tau)
    for m in ("fc_within_dmn", "fc_dmn_tpn", "fc_sgacc_dmn", "fc_pcc_mpfc", "gbc_mean"):
        d = sim["metrics"][m] - lin["metrics"][m]
        rho = float(np.mean(lin["metrics"][m]))
        bias = abs(rho) * (1 - rho**2) / (2 * n_eff) + 1 / n_eff
        se = d.std(ddof=1) / np.sqrt(n_sub)
        assert abs(d.mean()) <= bias + 4 * se, (m, d.mean(), bias, se)


def test_linear_engine_through_the_config():
    """metrics.engine=linear: the timeline runs in seconds with no sampling noise (bit-identical for any seed
    of the noise, NaN for time-series metrics); wilson_cowan has no linear theory and is refused."""
    from sim.errors import ConfigError
    from sim.experiment import run_timeline

    over = ["metrics.engine=linear", "cohort.n_subjects=3", "experiment.dose_response=null",
            "experiment.scans_h=[-24,0.33,24,168]"]
    a = run_timeline(load_config(["progress=false", *over]))
    assert a.attrs["engine"] == "linear"
    assert np.isnan(a["synchrony"]).all() and np.isfinite(a["fc_dmn_tpn"]).all()
    # untreated scans of one subject are identical at every time (no noise, no drug)
    u = a["fc_dmn_tpn"].sel(condition="depressed").values
    assert np.all(u == u[:, :1])
    with pytest.raises(ConfigError, match="metrics.engine"):
        build_world(load_config(["metrics.engine=linear", "model=wilson_cowan"]))
