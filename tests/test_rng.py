"""The kernels' noise: Philox4x32-10 against Random123's known answers, and normals tested statistically."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats

from sim import rng


def _keys(n, seed=11):
    return rng.item_keys(np.random.SeedSequence(seed).spawn(n))


#: Random123's known-answer vectors for Philox4x32-10 (tests/kat_vectors of github.com/DEShawResearch/random123):
#: counter (4 words), key (2 words) -> output (4 words)
KAT_4X32_10 = [
    ((0x00000000, 0x00000000, 0x00000000, 0x00000000), (0x00000000, 0x00000000),
     (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF), (0xFFFFFFFF, 0xFFFFFFFF),
     (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
]


@pytest.mark.parametrize("ctr, key, expected", KAT_4X32_10)
def test_philox_known_answers(ctr, key, expected):
    k0, k1 = np.array([key[0]], np.uint64), np.array([key[1]], np.uint64)
    out = rng.philox_block(k0, k1, np.array([ctr], np.uint64))[0, :, 0]
    np.testing.assert_array_equal(out, np.array(expected, np.uint64))
    w = np.empty((4, 1), np.uint64)
    rng.philox_lanes(k0, k1, *(np.uint64(c) for c in ctr), w[0], w[1], w[2], w[3])
    np.testing.assert_array_equal(w[:, 0], np.array(expected, np.uint64))


def test_vectorised_philox_equals_scalar():
    k0, k1 = rng.noise_key(_keys(37))
    w = np.empty((4, 37), np.uint64)
    rng.philox_lanes(k0, k1, np.uint64(12), np.uint64(0), np.uint64(3), np.uint64(0), w[0], w[1], w[2], w[3])
    np.testing.assert_array_equal(w, rng.philox_block(k0, k1, np.array([[12, 0, 3, 0]], np.uint64))[0])
    assert (w < 2**32).all() and (k0 < 2**32).all() and (k1 < 2**32).all()


def test_normals_use_the_documented_counters():
    """Normal i of step n comes from the call with counter (n mod 2^32, n div 2^32, i // 4, NOISE_TAG): the
    transform of those words, recomputed here from the scalar block function, is what normals() returns."""
    keys = _keys(5)
    k0, k1 = rng.noise_key(keys)
    step = 2**32 + 7  # a counter that needs both step words
    x = rng.normals(keys, step, 1, 8)[0]
    for j in range(2):
        words = rng.philox_block(k0, k1, np.array([[7, 1, j, rng.NOISE_TAG]], np.uint64))[0]
        for pair in range(2):
            a, b = words[2 * pair], words[2 * pair + 1]
            u1 = (2.0 * (a >> np.uint64(8)).astype(float) + 1.0) * 2.0**-25
            theta = (np.pi / 2) * ((b >> np.uint64(8)).astype(float) + 0.5) * 2.0**-24 - np.pi / 4
            sc = 1.0 - 2.0 * (a & np.uint64(1)).astype(float)
            ss = 1.0 - (a & np.uint64(2)).astype(float)
            rad = np.sqrt(-2 * np.log(u1))
            np.testing.assert_allclose(x[4 * j + 2 * pair], sc * rad * np.cos(theta + np.pi / 4), rtol=2e-6,
                                       atol=2e-6)
            np.testing.assert_allclose(x[4 * j + 2 * pair + 1], ss * rad * np.sin(theta + np.pi / 4), rtol=2e-6,
                                       atol=2e-6)


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
