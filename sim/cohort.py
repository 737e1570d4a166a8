"""A virtual cohort: per-subject variation and one random stream per (stream kind, subject, ...).

Every random draw of a run descends from one :class:`numpy.random.SeedSequence` built from the run
seed. Streams are keyed, not counted, so adding subjects, conditions or scans never changes what an
existing (subject, condition, scan) draws:

* ``traits``: spawn key (0, subject) -- who the subject *is* (coupling jitter, natural
  frequencies); the same in every condition and scan, as in a within-subject design;
* ``noise``, trial design ``independent`` (a parallel-group trial): spawn key
  (1, subject, crc32(condition), scan_key) -- every condition (arm) has its own scan noise;
* ``noise``, trial design ``common`` (the default: a crossover with identical scan noise): spawn key
  (3, subject, scan_key) -- a subject's scan at a given time has the same noise in every condition, so two
  conditions of one subject differ only by what their protocols change.
"""

from __future__ import annotations

import functools
import zlib
from dataclasses import dataclass

import numpy as np

from sim.errors import check_range
from sim.schema import NOISE_DESIGNS
from sim.stats import mean_one_lognormal

TRAITS, NOISE, NOISE_COMMON = 0, 1, 3  # 2 is the PK stream of sim.pharmacology.slow


def stream(seed: int, *key: int) -> np.random.SeedSequence:
    return np.random.SeedSequence(int(seed), spawn_key=tuple(int(k) for k in key))


def name_key(name: str) -> int:
    """Stable integer key of a name (crc32), so streams do not depend on list order."""
    return zlib.crc32(name.encode())


def scan_key(time_h: float) -> int:
    """Stable integer key of a scan time (in ms, offset to stay non-negative)."""
    return int(round(time_h * 3_600_000)) + 2**40


def noise_seeds(seed: int, condition: str, subjects, scan_times_h, design: str = "common"
                ) -> list[np.random.SeedSequence]:
    """Noise streams for items ordered (subject, scan); ``design`` is one of :data:`NOISE_DESIGNS`.

    Under the common design the streams do not depend on the condition, so the conditions of a run share one list
    of SeedSequence objects (made once: ~13 us each, 44,000 per 100-subject default run); nothing spawns from them,
    the kernels only read their state (:func:`sim.rng.item_keys`)."""
    if design == "common":
        return list(_common_noise_seeds(int(seed), tuple(int(s) for s in subjects),
                                        tuple(float(t) for t in scan_times_h)))
    if design != "independent":
        raise ValueError(f"noise design {design!r}; allowed: {', '.join(NOISE_DESIGNS)}")
    c = name_key(condition)
    return [stream(seed, NOISE, s, c, scan_key(t)) for s in subjects for t in scan_times_h]


@functools.lru_cache(maxsize=2)  # a run asks for one list per condition (~17 MB at 100 subjects), its expected run too
def _common_noise_seeds(seed: int, subjects: tuple, scan_times_h: tuple) -> tuple:
    return tuple(stream(seed, NOISE_COMMON, s, scan_key(t)) for s in subjects for t in scan_times_h)


@dataclass(frozen=True)
class CohortSettings:
    n_subjects: int = 20
    coupling_jitter_cv: float = 0.1

    def __post_init__(self):
        if int(self.n_subjects) != self.n_subjects or self.n_subjects < 1:
            raise ValueError("cohort.n_subjects must be a positive integer")
        check_range("cohort.coupling_jitter_cv", self.coupling_jitter_cv, 0.0, 2.0)


@dataclass(frozen=True)
class Traits:
    """Per-subject variation.

    jitter: (S, N, N) multiplicative lognormal factor on every long-range weight, mean 1,
        coefficient of variation ``coupling_jitter_cv`` (assumed; inter-individual FC variability).
    freq_u: (S, N) uniform quantile of each region's natural frequency.
    """

    jitter: np.ndarray
    freq_u: np.ndarray


def draw_traits(seed: int, subjects, n_regions: int, cv: float) -> Traits:
    """Traits of the given subject indices; subject k's draw does not depend on the others."""
    jit, fu = [], []
    for s in subjects:
        rng = np.random.Generator(np.random.PCG64(stream(seed, TRAITS, s)))
        fu.append(rng.random(n_regions))
        jit.append(mean_one_lognormal(rng, cv, (n_regions, n_regions)))
    return Traits(np.asarray(jit), np.asarray(fu))
