"""Metric definitions against direct computations on synthetic signals."""

from __future__ import annotations

import numpy as np
import pytest

from sim.atlas import atlas_from_config
from sim.config import load_config
from sim.metrics import MetricSettings, OnlineStats, fc_from_cov, metrics_from_stats, seed_pairs_from_config

REQUIRED = ["fc_within_dmn", "fc_within_sn", "fc_within_tpn", "fc_dmn_tpn", "fc_dmn_sn", "fc_sn_tpn",
            "fc_pcc_mpfc", "fc_pcc_dmpfc", "fc_sgacc_dmn", "gbc_mean", "synchrony", "metastability",
            "dmn_dwell_fraction"]


def test_gsr_closed_form_equals_explicit_regression():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2000, 6)) + rng.standard_normal((2000, 1))  # shared global component
    g = x.mean(1, keepdims=True)
    beta = ((x - x.mean(0)) * (g - g.mean())).sum(0) / ((g - g.mean()) ** 2).sum()
    resid = x - beta * g
    cov = np.cov(x.T, bias=True)[None]
    np.testing.assert_allclose(fc_from_cov(cov, gsr=True)[0], np.corrcoef(resid.T), atol=1e-10)
    # GSR makes the average off-diagonal FC negative (Murphy 2009)
    fcg = fc_from_cov(cov, gsr=True)[0]
    assert fcg[~np.eye(6, dtype=bool)].mean() < 0 < fc_from_cov(cov)[0][~np.eye(6, dtype=bool)].mean()


def _run_stats(y, dom_a, dom_b):
    t, b, n = y.shape
    st = OnlineStats(b, n, MetricSettings(tr_s=2.0), dom_a, dom_b)
    st.push(y[:60], np.zeros(60, bool))  # filter warm-up
    st.push(y[60:], np.ones(t - 60, bool))
    return st.result()


def _reference_stats(y, record, settings, dom_a, dom_b):
    """The sums of OnlineStats in plain numpy + scipy.signal.sosfilt (complex demodulation, one block)."""
    import scipy.signal

    fs = 1.0 / settings.tr_s
    lo, hi = settings.band_hz
    w0 = 2 * np.pi * (lo + hi) / 2 / fs
    sos = scipy.signal.butter(2, (hi - lo) / 2, btype="low", fs=fs, output="sos")
    y = np.asarray(y, np.float64)
    lp = scipy.signal.sosfilt(sos, y * np.exp(-1j * w0 * np.arange(len(y)))[:, None, None], axis=0)
    y, lp = y[record], lp[record]
    n = len(y)
    mean = y.mean(0)
    yt = y.transpose(1, 0, 2)
    cov = np.matmul(yt.transpose(0, 2, 1), yt) / n - mean[:, :, None] * mean[:, None, :]
    r = np.abs((lp / np.abs(lp)).mean(-1))
    dwell = (np.abs(lp[..., dom_a].mean(-1)) > np.abs(lp[..., dom_b].mean(-1))).mean(0)
    return {"cov": cov, "mean": mean, "sync": r.mean(0), "meta": r.std(0), "dwell": dwell}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_compiled_push_equals_numpy_scipy_reference(dtype):
    """The one-pass compiled push (demodulation, sosfilt's recursion, all sums) equals the numpy + scipy
    formulation to float64 rounding, for blocks of any length, a transient and float32 or float64 input."""
    rng = np.random.default_rng(3)
    t, b, n = 230, 37, 9
    y = (rng.standard_normal((t, b, n)) + np.sin(0.35 * np.arange(t))[:, None, None]).astype(dtype)
    record = np.arange(t) >= 40
    dom_a, dom_b = np.array([0, 2, 5]), np.array([1, 3])
    ms = MetricSettings(tr_s=2.0)
    st = OnlineStats(b, n, ms, dom_a, dom_b)
    for a, e in [(0, 17), (17, 40), (40, 41), (41, 150), (150, t)]:  # block edges inside and at the transient
        st.push(y[a:e], record[a:e])
    got, ref = st.result(), _reference_stats(y, record, ms, dom_a, dom_b)
    for k in ("cov", "mean", "sync", "meta"):
        np.testing.assert_allclose(got[k], ref[k], rtol=1e-9, atol=1e-11, err_msg=k)
    np.testing.assert_array_equal(got["dwell"], ref["dwell"])  # a count: exact unless a tie within rounding
    assert got["n_samples"][0] == record.sum()


def test_synchrony_of_identical_band_signals_is_one_and_random_is_low():
    t = np.arange(1000) * 2.0
    s = np.sin(2 * np.pi * 0.055 * t)
    same = np.repeat(s[:, None, None], 8, axis=2)
    r = _run_stats(same, np.array([0]), np.array([1]))
    assert r["sync"][0] == pytest.approx(1.0, abs=1e-6)
    assert r["meta"][0] < 1e-6
    rng = np.random.default_rng(0)
    noise = rng.standard_normal((1000, 1, 8))
    r = _run_stats(noise, np.array([0]), np.array([1]))
    # 8 random phases: E[R] ~ sqrt(pi/(4*8)) ~ 0.31 (Rayleigh)
    assert r["sync"][0] == pytest.approx(np.sqrt(np.pi / 32), abs=0.05)


def test_dwell_fraction_compares_network_envelopes():
    """A coherent DMN (regions in phase) dominates an incoherent TPN (regions in anti-phase) all the time,
    and the other way round; equal coherent amplitudes dominate each other about half of the time."""
    t = np.arange(2000) * 2.0
    s = np.sin(2 * np.pi * 0.055 * t)
    coherent_dmn = np.stack([s, s, s, -s], 1)[:, None, :]
    r = _run_stats(coherent_dmn, np.array([0, 1]), np.array([2, 3]))
    assert r["dwell"][0] > 0.99
    r = _run_stats(coherent_dmn, np.array([2, 3]), np.array([0, 1]))
    assert r["dwell"][0] < 0.01
    rng = np.random.default_rng(0)
    noise = rng.standard_normal((4000, 1, 4))
    r = _run_stats(noise, np.array([0, 1]), np.array([2, 3]))
    assert r["dwell"][0] == pytest.approx(0.5, abs=0.1)  # exchangeable networks


def test_required_metric_names_exist():
    cfg = load_config([])
    atlas = atlas_from_config(cfg.atlas)
    pairs = seed_pairs_from_config(atlas, cfg.metrics.seed_pairs)
    n = atlas.n_regions
    stats = {"cov": np.eye(n)[None], "sync": np.zeros(1), "meta": np.zeros(1), "dwell": np.zeros(1)}
    names, _ = metrics_from_stats(stats, atlas, pairs)
    assert set(REQUIRED) <= set(names)
