"""Kuramoto phase oscillators: free running, Adler phase locking, anti-phase locking, dt check."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from sim.integrate import Settings, simulate
from sim.models import MODELS, get_model
from sim.models import kuramoto as km
from sim.network import NetworkSpec
from sim.params import read_params
from sim.rng import init_generator, item_keys
from tests.helpers import Recorder

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
DEFAULTS = read_params(km.PARAMS, {}, "model.params")




def pair(omega, k=0.0, sigma=0.0):
    """Params for two oscillators with natural angular frequencies ``omega`` and symmetric weight ``k``."""
    vals = {**DEFAULTS, "global_coupling": 1.0, "sigma": sigma}
    lo, hi = 2 * np.pi * vals["f_min_hz"], 2 * np.pi * vals["f_max_hz"]
    u = (np.asarray(omega, float) - lo) / (hi - lo)
    c = np.array([[0.0, abs(k)], [abs(k), 0.0]])
    z = np.zeros((1, 2, 2))
    net = NetworkSpec(exc=c[None] if k > 0 else z, inh=c[None] if k < 0 else z, ei_gain=np.ones((1, 2)),
                      excitability=np.zeros((1, 2)), freq_u=u[None], delay_s=np.zeros((2, 2)))
    return km.build(vals, net)


def heun(th, p, dt, n):
    z = np.asarray(th, float).reshape(1, -1, 1)
    for _ in range(n):
        f0 = km.drift(z, p)
        z = z + 0.5 * dt * (f0 + km.drift(z + dt * f0, p))
    return z[0, :, 0]


def test_registered_and_config():
    assert get_model("kuramoto") is km and MODELS["kuramoto"] is km
    with open(CONFIGS / "model/kuramoto.yaml") as fh:
        cfg = yaml.safe_load(fh)
    assert cfg["name"] == km.NAME
    assert read_params(km.PARAMS, cfg["params"], "model.params") == DEFAULTS
    p = pair([0.3, 0.4])
    assert km.check_dt(cfg["dt_s"], p) is None
    assert km.noise_scale(p).shape == (1, 2, 1)
    assert km.init_state(p, [np.random.default_rng(0)]).shape == (1, 2, km.N_STATE)


def test_uncoupled_oscillators_advance_at_omega():
    omega = np.array([0.27, 0.41])
    p = pair(omega)
    th0 = np.array([0.3, 2.0])
    t = 100.0
    np.testing.assert_allclose(heun(th0, p, 0.1, 1000), th0 + p.omega[0].astype(float) * t, rtol=0, atol=1e-9)
    np.testing.assert_allclose(p.omega[0], omega, rtol=1e-6)
    # the same through the integrator (float32 state; observable cos theta)
    st = Settings(dt_s=0.1, duration_s=t, transient_s=0.0, method="heun", block_steps=300, n_threads=1)
    seed = np.random.SeedSequence(3)
    obs = simulate(km, p, [seed], st, Recorder)[0][:, 0]  # (T, N)
    th_init = km.init_state(p, [init_generator(item_keys([seed])[0])])[0, :, 0]
    times = 0.1 * np.arange(1, len(obs) + 1)
    # float32 phase: rounding of theta + dt*omega (ulp(40 rad) = 4e-6 per step) accumulates to ~1e-3 rad
    np.testing.assert_allclose(obs, np.cos(th_init + np.outer(times, p.omega[0])), atol=1e-3)


@pytest.mark.parametrize("k", [0.05, 0.2])
def test_adler_phase_locking(k):
    omega = np.array([0.30, 0.36])
    dw = omega[1] - omega[0]
    assert abs(dw) < 2 * k
    th = heun([0.0, 2.5], pair(omega, k), 0.05, 6000)
    phi = th[1] - th[0]
    assert np.sin(phi) == pytest.approx(dw / (2 * k), abs=1e-6)
    assert np.cos(phi) > 0  # the stable branch
    # locked: both advance at the mean frequency
    th2 = heun(th, pair(omega, k), 0.05, 2000)
    np.testing.assert_allclose((th2 - th) / 100.0, omega.mean(), rtol=1e-6)


def test_negative_coupling_locks_near_antiphase():
    omega = np.array([0.30, 0.32])
    k = -0.1
    th = heun([0.0, 0.3], pair(omega, k), 0.05, 6000)
    phi = np.mod(th[1] - th[0], 2 * np.pi)
    assert np.sin(phi) == pytest.approx((omega[1] - omega[0]) / (2 * k), abs=1e-6)
    assert np.cos(phi) < 0
    assert abs(phi - np.pi) < 0.11  # arcsin(0.1) = 0.1


def test_no_lock_beyond_adler_bound():
    omega = np.array([0.30, 0.40])
    k = 0.02  # |dw| = 0.1 > 2K = 0.04: the phase difference slips by 2 pi every T = 2 pi / sqrt(dw^2 - 4K^2)
    period = 2 * np.pi / np.sqrt(0.1**2 - 4 * k**2)
    dt = 0.01
    th = heun([0.0, 0.0], pair(omega, k), dt, int(round(3 * period / dt)))
    assert th[1] - th[0] == pytest.approx(6 * np.pi, abs=2e-3)


def test_check_dt():
    p = pair([0.3, 0.4], 0.1)
    assert km.check_dt(0.1, p) is None
    assert km.check_dt(5.0, p) is not None


def test_phases_stay_wrapped_and_dynamics_unchanged():
    """post_step keeps theta in [0, 2 pi) without changing sin/cos of the trajectory."""
    p = pair(np.array([0.3, 0.35]), k=0.02, sigma=0.0)
    z = np.array([[[0.1], [6.2]]], np.float32)
    zu = z.copy()
    for _ in range(5000):
        z = z + np.float32(0.1) * km.drift(z, p)
        km.post_step(z)
        zu = zu + np.float32(0.1) * km.drift(zu, p)
    assert (z >= 0).all() and (z < 2 * np.pi).all()
    assert np.abs(zu).max() > 100  # the unwrapped phases did grow
    np.testing.assert_allclose(np.cos(z), np.cos(zu), atol=2e-3)  # float32 unwrapped loses ~1e-4 rad / 100 rad
