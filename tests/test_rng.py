"""The kernels' noise: Philox4x64-10 bit-identical to numpy's, and normals tested statistically."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats

from sim import rng


def _keys(n, seed=11):
    return rng.item_keys(np.random.SeedSequence(seed).spawn(n))


def test_philox_equals_numpy_philox():
    keys = _keys(3)
    counters = np.array([[1, 0, 0, 0], [2, 0, 0, 0], [7, 5, rng.NOISE_TAG, 0], [2**64 - 1, 3, 9, 2**63]], np.uint64)
    ours = rng.philox_block(keys, counters)
    for b, key in enumerate(keys):
        raw = np.random.Philox(key=key).random_raw(8)  # numpy increments the counter before each block
        np.testing.assert_array_equal(ours[0, :, b], raw[:4])
        np.testing.assert_array_equal(ours[1, :, b], raw[4:])
        for k in (2, 3):
            start = counters[k].copy()
            start[0] -= np.uint64(1)  # wraps for 2**64 - 1 - 1 fine; numpy adds one first
            np.testing.assert_array_equal(ours[k, :, b], np.random.Philox(key=key, counter=start).random_raw(4))


def test_vectorised_philox_equals_scalar():
    keys = _keys(37)
    w = np.empty((4, 37), np.uint64)
    rng.philox_lanes(keys[:, 0].copy(), keys[:, 1].copy(), np.uint64(12), np.uint64(3), np.uint64(0), np.uint64(0),
                     w[0], w[1], w[2], w[3])
    np.testing.assert_array_equal(w, rng.philox_block(keys, np.array([[12, 3, 0, 0]], np.uint64))[0])


def test_keys_depend_only_on_the_item():
    seeds = np.random.SeedSequence(4).spawn(10)
    np.testing.assert_array_equal(rng.item_keys(seeds[:3]), rng.item_keys(seeds)[:3])
    x_all = rng.normals(rng.item_keys(seeds), 5, 4, 42)
    x_one = rng.normals(rng.item_keys(seeds[7:8]), 5, 4, 42)
    np.testing.assert_array_equal(x_all[..., 7], x_one[..., 0])
    # a block split anywhere gives the same numbers (counter = step)
    np.testing.assert_array_equal(rng.normals(rng.item_keys(seeds), 7, 2, 42), x_all[2:])


def test_normal_moments_and_distribution():
    x = rng.normals(_keys(64), 0, 500, 48).astype(float)  # 1.5 M normals
    v = x.ravel()
    n = v.size
    z = 5.0  # |deviation| < 5 standard errors (two-sided p ~ 6e-7 per check)
    assert abs(v.mean()) < z / np.sqrt(n)
    assert abs(v.var() - 1) < z * np.sqrt(2 / n)
    assert abs(scipy.stats.skew(v)) < z * np.sqrt(6 / n)
    assert abs(scipy.stats.kurtosis(v)) < z * np.sqrt(24 / n)
    assert np.abs(v).max() <= rng.MAX_ABS_NORMAL
    assert scipy.stats.kstest(v[:200_000], "norm").pvalue > 1e-4
    # tail mass beyond 3 sigma: binomial CI around 2 * (1 - Phi(3))
    p3 = 2 * scipy.stats.norm.sf(3)
    assert abs((np.abs(v) > 3).mean() - p3) < z * np.sqrt(p3 * (1 - p3) / n)


def test_independence_between_streams_components_and_lags():
    x = rng.normals(_keys(16), 0, 4000, 16).astype(float)  # (steps, 16 normals, 16 items)
    n = x.shape[0]
    lim = 5 / np.sqrt(n)  # Fisher: r of independent samples has SE ~ 1/sqrt(n)
    # between items, same normal index
    c = np.corrcoef(x[:, 0, :].T)
    assert np.abs(c[np.triu_indices(16, 1)]).max() < lim * 1.3  # 120 pairs: a little wider than 5 SE
    # between the components of one stream (the two of a Box-Muller pair, and different words)
    c = np.corrcoef(x[:, :, 3].T)
    assert np.abs(c[np.triu_indices(16, 1)]).max() < lim * 1.3
    # lags 1..5 within a stream, and squares (dependence in variance)
    for lag in range(1, 6):
        for f in (lambda a: a, np.square):
            r = np.corrcoef(f(x[:-lag, 2, 5]), f(x[lag:, 2, 5]))[0, 1]
            assert abs(r) < lim


@pytest.mark.parametrize("m", [1, 7, 8, 42])
def test_any_number_of_normals_per_step(m):
    x = rng.normals(_keys(3), 0, 3, m)
    assert x.shape == (3, m, 3) and np.isfinite(x).all()
    np.testing.assert_array_equal(x, rng.normals(_keys(3), 0, 3, 48)[:, :m])
