"""Wilson-Cowan node model: fixed point, linear relaxation, delays, disinhibition, dt check."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.optimize
import yaml

from sim.integrate import Settings, simulate
from sim.models import MODELS, get_model
from sim.models import wilson_cowan as wc
from sim.network import NetworkSpec
from sim.params import read_params
from tests.helpers import Recorder

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
DEFAULTS = read_params(wc.PARAMS, {}, "model.params")




def spec(n=1, b=1, exc=None, inh=None, ei_gain=1.0, delay_s=None):
    z = np.zeros((b, n, n))
    return NetworkSpec(exc=z if exc is None else np.broadcast_to(exc, (b, n, n)).copy(),
                       inh=z if inh is None else np.broadcast_to(inh, (b, n, n)).copy(),
                       ei_gain=np.full((b, n), ei_gain), excitability=np.zeros((b, n)),
                       freq_u=np.full((b, n), 0.5), delay_s=np.zeros((n, n)) if delay_s is None else delay_s)


def S(x, a, th):  # WC 1972 sigmoid written independently of the model code
    return 1 / (1 + np.exp(-a * (x - th))) - 1 / (1 + np.exp(a * th))


def analytic_node(v, ei_gain=1.0):
    """Steady state (E, I) and Jacobian eigenvalues of the isolated node, from the equations."""
    w_ei = v["w_ei"] * (v["f_ampa"] + (1 - v["f_ampa"]) * ei_gain)

    def f(x):
        e, i = x
        return [-e + (1 - v["r_e"] * e) * S(v["w_ee"] * e - v["w_ie"] * i + v["p_e"], v["a_e"], v["theta_e"]),
                -i + (1 - v["r_i"] * i) * S(w_ei * e - v["w_ii"] * i + v["p_i"], v["a_i"], v["theta_i"])]

    e, i = scipy.optimize.fsolve(f, [0.1, 0.05], xtol=1e-12)
    # Jacobian by central differences of the (tau-scaled) right-hand side
    h = 1e-7
    jac = np.empty((2, 2))
    for k in range(2):
        d = np.zeros(2)
        d[k] = h
        jac[:, k] = (np.array(f([e, i] + d)) - np.array(f([e, i] - d))) / (2 * h)
    jac /= np.array([[v["tau_e_s"]], [v["tau_i_s"]]])
    return e, i, np.linalg.eigvals(jac)


def heun(z, p, dt, n, ctx=None):
    out = [z]
    for _ in range(n):
        f0 = wc.drift(z, p, ctx)
        z = z + 0.5 * dt * (f0 + wc.drift(z + dt * f0, p, ctx))
        out.append(z)
    return np.array(out)


def test_registered_and_config():
    assert get_model("wilson_cowan") is wc and MODELS["wilson_cowan"] is wc
    with open(CONFIGS / "model/wilson_cowan.yaml") as fh:
        cfg = yaml.safe_load(fh)
    assert cfg["name"] == wc.NAME
    vals = read_params(wc.PARAMS, cfg["params"], "model.params")
    assert vals == DEFAULTS  # the YAML restates the code defaults
    p = wc.build(vals, spec(3, 2))
    assert wc.check_dt(cfg["dt_s"], p) is None
    assert wc.noise_scale(p).shape == (2, 3, 2)
    assert wc.init_state(p, [np.random.default_rng(i) for i in range(2)]).shape == (2, 3, wc.N_STATE)


def test_uncoupled_node_converges_to_steady_state():
    p = wc.build(DEFAULTS, spec(n=2, b=2))
    p = wc.WilsonCowanParams(**{**p.__dict__, "sigma": np.zeros_like(p.sigma)})
    st = Settings(dt_s=1e-3, duration_s=2.0, transient_s=0.0, method="heun", block_steps=400, n_threads=1)
    seeds = [np.random.SeedSequence(k) for k in range(2)]
    e = np.concatenate(simulate(wc, p, seeds, st, Recorder), axis=1)  # (T, B, N)
    e_ss, i_ss, ev = analytic_node(DEFAULTS)
    assert ev.real.max() < 0  # the default node is a stable focus ...
    assert abs(ev.imag).max() > 0  # ... with damped oscillations
    np.testing.assert_allclose(e[-1], e_ss, atol=2e-6)
    # the model's own root finder agrees with the independent one
    z = wc.fixed_point(wc.item(p, 0))
    np.testing.assert_allclose(z, [[e_ss, i_ss]] * 2, atol=1e-10)


def test_relaxation_matches_jacobian_eigenvalues():
    """Linear relaxation from a small kick: the simulated decay rate and frequency equal the eigenvalues."""
    p = wc.item(wc.build(DEFAULTS, spec()), 0)
    z_ss = wc.fixed_point(p)
    e_ss, i_ss, ev = analytic_node(DEFAULTS)
    np.testing.assert_allclose(np.sort_complex(np.linalg.eigvals(wc.jacobian(p, z_ss))), np.sort_complex(ev),
                               rtol=1e-5)
    dt, h = 1e-5, 2e-3  # integration step, sampling step
    traj = heun(z_ss[None] + np.array([1e-5, 0.0]), p, dt, 15000)[::int(round(h / dt)), 0, 0, 0]
    # a 2-D linear system gives x_{n+2} = c1 x_{n+1} + c0 x_n (+ c for the fixed point offset); the roots of
    # mu^2 - c1 mu - c0 are exp(lambda h)
    a = np.stack([traj[1:-1], traj[:-2], np.ones(len(traj) - 2)], 1)
    c1, c0, _ = np.linalg.lstsq(a, traj[2:], rcond=None)[0]
    lam = np.log(np.roots([1.0, -c1, -c0]).astype(complex)) / h
    lam, ev = np.sort_complex(lam), np.sort_complex(ev)
    np.testing.assert_allclose(lam.real, ev.real, rtol=1e-4)
    np.testing.assert_allclose(np.abs(lam.imag), np.abs(ev.imag), rtol=1e-4)


@pytest.mark.parametrize("delay_ms, steps", [(7.4, 7), (7.6, 8), (0.2, 0)])
def test_delayed_pulse_arrives_after_the_right_number_of_steps(delay_ms, steps):
    dt = 1e-3
    d = np.array([[0.0, 0.0], [delay_ms * 1e-3, 0.0]])  # source 0 -> target 1
    c = np.array([[0.0, 0.0], [0.5, 0.0]])
    vals = {**DEFAULTS, "global_coupling": 2.0, "inh_coupling": 3.0}
    p = wc.build(vals, spec(n=2, exc=c, inh=c, delay_s=d, ei_gain=0.6))
    z = np.zeros((1, 2, 2), dtype=np.float32)
    ctx = wc.make_context(p, z, dt)
    g = vals["f_ampa"] + (1 - vals["f_ampa"]) * 0.6
    base = wc.drift(z, p, ctx)
    seen = []
    for n in range(14):
        ce, ci = ctx.delayed_input()
        f = wc.drift(z, p, ctx)
        if ce[0, 1] != 0 or ci[0, 1] != 0:
            seen.append(n)
            assert ce[0, 1] == pytest.approx(2.0 * 0.5)
            assert ci[0, 1] == pytest.approx(3.0 * g * 0.5)
            assert f[0, 1, 0] > base[0, 1, 0] and f[0, 1, 1] > base[0, 1, 1]
        else:
            np.testing.assert_array_equal(f, base)
        assert ce[0, 0] == 0 and ci[0, 0] == 0  # nothing flows from target to source
        znew = np.zeros_like(z)
        if n == 0:
            znew[0, 0, 0] = 1.0  # E_source = 1 at step 1 only
        wc.update_context(ctx, znew)
    assert seen == [1 + steps]


def test_delayed_gather_matches_a_loop():
    rng = np.random.default_rng(1)
    b, n, dt = 3, 5, 1e-3
    d = rng.uniform(0, 0.02, (n, n))
    np.fill_diagonal(d, 0)
    net = spec(n=n, b=b, exc=rng.random((b, n, n)), inh=rng.random((b, n, n)), delay_s=d)
    net = NetworkSpec(**{**net.__dict__, "ei_gain": rng.uniform(0.5, 1, (b, n))})
    p = wc.build(DEFAULTS, net)
    hist = [rng.random((b, n, 2)).astype(np.float32)]
    ctx = wc.make_context(p, hist[0], dt)
    steps = wc.delay_steps(d, dt)
    for _ in range(40):
        hist.append(rng.random((b, n, 2)).astype(np.float32))
        wc.update_context(ctx, hist[-1])
        ce, ci = ctx.delayed_input()
        t = len(hist) - 1
        delayed = np.empty((b, n, n))
        for j in range(n):
            for k in range(n):
                delayed[:, j, k] = hist[max(t - steps[j, k], 0)][:, k, 0]
        np.testing.assert_allclose(ce, (p.exc * delayed).sum(-1), rtol=1e-5)
        np.testing.assert_allclose(ci, (p.inh * delayed).sum(-1), rtol=1e-5)


def test_lower_ei_gain_disinhibits():
    """Less interneuron NMDA drive -> higher steady-state E, as the analytic steady state predicts."""
    gains = [1.0, 0.9, 0.8]
    p = wc.build(DEFAULTS, NetworkSpec(**{**spec(b=3).__dict__, "ei_gain": np.array(gains)[:, None]}))
    e_sim = []
    for k, gain in enumerate(gains):
        e_ss, i_ss, ev = analytic_node(DEFAULTS, gain)
        assert ev.real.max() < 0
        z = heun(np.array([[[0.05, 0.05]]]), wc.item(p, k), 1e-3, 3000)[-1, 0, 0]
        np.testing.assert_allclose(z, [e_ss, i_ss], atol=1e-9)
        e_sim.append(z[0])
    assert np.all(np.diff(e_sim) > 0)


def test_check_dt():
    p = wc.build(DEFAULTS, spec(2))
    assert wc.check_dt(1e-3, p) is None
    msg = wc.check_dt(5e-3, p)  # dt = tau_E / 2
    assert msg is not None and "dt_s" in msg
    strong = wc.build({**DEFAULTS, "global_coupling": 20.0}, spec(2, exc=np.full((2, 2), 10.0)))
    assert wc.check_dt(1e-3, strong) is not None  # stability bound with very strong coupling


def test_default_network_signs():
    """Zero-frequency linear FC on the default connectome: DMN positive inside, DMN-TPN negative."""
    from sim.cohort import draw_traits
    from sim.simulate import build_world, subject_network

    cfg = {}
    for k in ("atlas", "connectome", "cohort", "scan", "metrics"):
        with open(CONFIGS / k / "default.yaml") as fh:
            cfg[k] = yaml.safe_load(fh)
    with open(CONFIGS / "phenotype/healthy.yaml") as fh:
        cfg["phenotype"] = yaml.safe_load(fh)
    with open(CONFIGS / "model/wilson_cowan.yaml") as fh:
        cfg["model"] = yaml.safe_load(fh)
    world = build_world(cfg)
    net = subject_network(world, draw_traits(0, [0], world.atlas.n_regions, 0.0))
    p = wc.item(wc.build(world.model_values, net), 0)
    z = wc.fixed_point(p)
    assert np.linalg.eigvals(wc.jacobian(p, z)).real.max() < 0
    fc = wc.lowfreq_fc(p, z)
    dmn, tpn = world.atlas.members("DMN"), world.atlas.members("TPN")
    within = fc[np.ix_(dmn, dmn)][np.triu_indices(len(dmn), 1)].mean()
    assert within > 0.2
    assert fc[np.ix_(dmn, tpn)].mean() < -0.1
