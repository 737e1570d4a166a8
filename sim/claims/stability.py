r"""How stable is each verdict? Replicate cohorts, or a bootstrap over subjects.

A verdict that a reseeded run does not reproduce is not a result. Two ways to measure it:

* **replicates** (``claims.replicates`` = R >= 2): the run simulates R x ``cohort.n_subjects`` subjects and
  splits them into R contiguous groups. Every subject's traits, drug clearance and scan noise come from streams
  keyed by the subject's own index (:mod:`sim.cohort`), so the groups are R independent cohorts of the same
  size, exactly what R runs with different seeds would give. The pooled verdict uses every subject; the
  stability is the share of replicate cohorts whose own verdict equals the pooled one; a claim is **fragile**
  if any replicate disagrees.
* **bootstrap** (R = 1): B resamples of the subjects with replacement (Efron & Tibshirani 1993, ch. 6), each
  judged by the same rule. Under the common-noise design a new seed redraws exactly the subjects (their traits,
  clearance and scan noise), so resampling subjects approximates reseeding. Stability = share of resamples
  whose verdict equals the pooled one; **fragile** if it is below :data:`BOOTSTRAP_AGREEMENT` (0.9).

In both cases the expected direction of ``toward_healthy`` claims is the pooled one (resolved once).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.stats

from sim.claims.evaluate import NotEvaluable, Result, classify, min_effect_for, per_subject_effect, readout_values
from sim.claims.registry import Claim, Registry
from sim.claims.verdicts import NOT_EVALUATED, NOT_TESTABLE

BOOTSTRAP_SAMPLES = 200
BOOTSTRAP_AGREEMENT = 0.9


@dataclass(frozen=True)
class Stability:
    """Agreement of a claim's verdict across replicate cohorts or bootstrap resamples."""

    method: str            # "replicates" | "bootstrap" | "" (not evaluated)
    n: int                 # number of replicates or resamples
    agree: float           # share agreeing with the pooled verdict
    fragile: bool
    verdicts: tuple[str, ...] = ()  # each replicate's verdict (replicates only)

    def text(self) -> str:
        if not self.method:
            return ""
        if self.method == "replicates":
            k = round(self.agree * self.n)
            return f"{k}/{self.n} replicate cohorts agree"
        return f"{self.agree:.0%} of {self.n} bootstrap cohorts agree"


NONE = Stability("", 0, float("nan"), False)


def _vector_classify(x: np.ndarray, expected: str, min_effect: float, level: float) -> np.ndarray:
    """:func:`classify` for many resamples at once: x (B, n) per-subject effects -> (B,) verdicts."""
    n = np.isfinite(x).sum(1)
    m = np.nanmean(x, 1)
    sd = np.nanstd(x, 1, ddof=1)
    half = scipy.stats.t.ppf(0.5 + level / 2, np.maximum(n - 1, 1)) * sd / np.sqrt(np.maximum(n, 1))
    return np.array([classify(a, a - h, a + h, expected, min_effect)[0] for a, h in zip(m, half, strict=True)])


def bootstrap(x: np.ndarray, result: Result, registry: Registry, rng: np.random.Generator,
              samples: int = BOOTSTRAP_SAMPLES) -> Stability:
    """Stability of ``result`` (pooled over the per-subject effects ``x``) under a subject bootstrap."""
    x = np.asarray(x, float)
    x = x[np.isfinite(x)]
    if result.verdict in (NOT_EVALUATED, NOT_TESTABLE) or x.size < 2:
        return NONE
    idx = rng.integers(0, x.size, size=(samples, x.size))
    verdicts = _vector_classify(x[idx], result.expected, min_effect_for(registry, result.unit), registry.ci_level)
    agree = float(np.mean(verdicts == result.verdict))
    return Stability("bootstrap", samples, agree, agree < BOOTSTRAP_AGREEMENT)


def replicates(ds, claim: Claim, result: Result, registry: Registry, n_replicates: int) -> Stability:
    """Stability of ``result`` over ``n_replicates`` contiguous subject groups of ``ds`` (see module docstring)."""
    if result.verdict in (NOT_EVALUATED, NOT_TESTABLE):
        return NONE
    ns = ds.sizes["subject"]
    size = ns // n_replicates
    v = readout_values(ds, claim.readout)
    out = []
    for g in range(n_replicates):
        sub = v.isel(subject=slice(g * size, (g + 1) * size))
        try:
            x, _ = per_subject_effect(ds.isel(subject=slice(g * size, (g + 1) * size)), claim, registry,
                                      result.window, sub)
        except NotEvaluable:
            out.append(NOT_EVALUATED)
            continue
        out.append(_vector_classify(x[None], result.expected, min_effect_for(registry, result.unit),
                                    registry.ci_level)[0])
    agree = float(np.mean([o == result.verdict for o in out]))
    return Stability("replicates", n_replicates, agree, agree < 1.0, tuple(out))


def stability_of(ds, registry: Registry, primary: dict[str, Result], n_replicates: int, seed: int,
                 samples: int = BOOTSTRAP_SAMPLES) -> dict[str, Stability]:
    """Stability of every claim's primary verdict: replicate cohorts if ``n_replicates`` >= 2, else a bootstrap
    seeded from ``seed`` (so reruns give the same figures)."""
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(int(seed), spawn_key=(7,))))
    out = {}
    for c in registry.claims:
        r = primary[c.id]
        if not c.testable or r.verdict in (NOT_EVALUATED, NOT_TESTABLE):
            out[c.id] = NONE
            continue
        if n_replicates >= 2:
            out[c.id] = replicates(ds, c, r, registry, n_replicates)
            continue
        try:
            x, _ = per_subject_effect(ds, c, registry, r.window)
        except NotEvaluable:
            out[c.id] = NONE
            continue
        out[c.id] = bootstrap(x, r, registry, rng, samples)
    return out
