"""Observation pipeline: chunk boundaries never matter; the balloon path averages 10-ms windows."""

from __future__ import annotations

import numpy as np

from sim import bold
from sim.metrics import MetricSettings, OnlineStats
from sim.observe import Pipeline


def _run(y, blocks, observation, dt_s, n_transient=2000):
    b, n = y.shape[1:]
    stats = OnlineStats(b, n, MetricSettings(tr_s=2.0), np.array([0]), np.array([1]))
    pipe = Pipeline(stats, dt_s, 2.0, n_transient, observation, b, n)
    start = 0
    for size in blocks:
        pipe.push(y[start:start + size], start)
        start += size
    return pipe.result()


def test_balloon_pipeline_is_chunk_invariant_and_matches_manual_windows():
    rng = np.random.default_rng(0)
    dt = 0.001
    y = (0.1 * rng.standard_normal((60_000, 2, 3))).astype(np.float32)  # 60 s at 1 ms
    one = _run(y, [len(y)], "balloon", dt)
    odd = _run(y, [7, 993, 12_345, 46_655], "balloon", dt)
    for k in one:  # equal up to the summation order of the running sums
        np.testing.assert_allclose(one[k], odd[k], rtol=1e-12, atol=1e-18, err_msg=k)
    # manual: 10-ms means -> Balloon at 10 ms -> every 200th sample after the 2-s transient
    u = y.reshape(-1, 10, 2, 3).mean(1)
    _, b = bold.integrate(bold.init_state((2, 3), np.float64), u, 0.01, bold.CONSTANT_SETS["spm12"])
    samples = b[199::200][1:]  # the sample ending at step 1999 is in the 2000-step transient
    cov = np.stack([np.cov(samples[:, i].T, bias=True) for i in range(2)])
    np.testing.assert_allclose(one["cov"], cov, rtol=1e-6, atol=1e-14)


def test_direct_pipeline_samples_every_tr():
    """TR 2 s at dt 0.1 s: the sample ending each 20-step TR is taken (steps 19, 39, 59, 79, 99); a 40-step
    transient drops the first two, so exactly y[59], y[79], y[99] enter the stats, whatever the block cuts."""
    y = np.arange(100, dtype=np.float32)[:, None, None] * np.ones((1, 1, 2), np.float32)
    y[:, :, 1] **= 2
    kept = y[[59, 79, 99], 0].astype(np.float64)
    for blocks in ([100], [33, 67], [19, 1, 20, 1, 59], [1] * 100):
        r = _run(y, blocks, "direct", 0.1, n_transient=40)
        assert r["n_samples"][0] == 3, blocks
        np.testing.assert_allclose(r["mean"][0], kept.mean(0), rtol=1e-12, err_msg=str(blocks))
        np.testing.assert_allclose(r["cov"][0], np.cov(kept.T, bias=True), rtol=1e-9, err_msg=str(blocks))
    assert _run(y, [33, 67], "direct", 0.1)["n_samples"][0] == 0  # the 2000-step transient exceeds the run
