"""Confidence intervals across subjects: the one t-based interval used by summaries, claims and figures."""

from __future__ import annotations

import warnings
from typing import NamedTuple

import numpy as np
import scipy.stats

CI_LEVEL = 0.95


class MeanCI(NamedTuple):
    """Cohort mean with a two-sided t confidence interval (NaN where fewer than 2 subjects have data)."""

    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray
    n: np.ndarray


def mean_ci(values, axis: int = 0, level: float = CI_LEVEL) -> MeanCI:
    """Mean and t-based confidence interval along ``axis``, ignoring NaN.

    ``mean ± t_{(1+level)/2, n-1} · SD / sqrt(n)`` with the sample SD (ddof=1) and ``n`` the number of finite
    values; the same as ``scipy.stats.t.interval(level, n-1, loc=mean, scale=sem)``.
    """
    x = np.asarray(values, dtype=float)
    n = np.isfinite(x).sum(axis=axis)
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(x, axis=axis)
        sd = np.nanstd(x, axis=axis, ddof=1)
        tq = scipy.stats.t.ppf(0.5 + level / 2.0, np.maximum(n - 1, 1))
        half = np.where(n >= 2, tq * sd / np.sqrt(np.maximum(n, 1)), np.nan)
    return MeanCI(mean, mean - half, mean + half, n)


def t_interval(x, level: float = CI_LEVEL) -> tuple[float, float, float, int]:
    """Scalar form of :func:`mean_ci` over all finite values of ``x``: (mean, low, high, n)."""
    r = mean_ci(np.asarray(x, dtype=float).reshape(-1), level=level)
    return float(r.mean), float(r.low), float(r.high), int(r.n)


def mean_one_lognormal(rng: np.random.Generator, cv: float, size) -> np.ndarray:
    r"""Lognormal draws with mean 1 and coefficient of variation ``cv``:
    :math:`\exp(N(-s^2/2, s^2))`, :math:`s^2 = \ln(1 + cv^2)`."""
    s2 = np.log1p(cv * cv)
    return rng.lognormal(mean=-0.5 * s2, sigma=np.sqrt(s2), size=size)


def cov_to_corr(cov: np.ndarray) -> np.ndarray:
    """Pearson correlation from covariance, for one matrix (N, N) or a batch (..., N, N):
    r_ij = C_ij / sqrt(C_ii C_jj), clipped to [-1, 1] (variances floored at 1e-30)."""
    c = np.asarray(cov)
    d = np.sqrt(np.clip(np.diagonal(c, axis1=-2, axis2=-1), 1e-30, None))
    return np.clip(c / (d[..., :, None] * d[..., None, :]), -1.0, 1.0)
