"""The per-item network spec: everything node models need from structure, subject and drug.

An *item* is one (condition, subject, scan) combination of a batch. Upstream layers (connectome,
phenotype, cohort variation, pharmacology) produce a :class:`NetworkSpec`; node models turn it into
their own parameter arrays. Nothing here integrates anything.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, fields

import numpy as np


@dataclass(frozen=True)
class NetworkSpec:
    """Per-item arrays, leading axis = item (B).

    exc, inh: (B, N, N) long-range E->E and E->I weights, [target, source], dimensionless.
    ei_gain: (B, N) multiplier of the NMDA-dependent drive onto each region's interneurons
        (1 = intact; an NMDA blocker lowers it). Scales local E->I and incoming ``inh``.
    excitability: (B, N) additive change of local excitability (model units; 0 = baseline).
    freq_u: (B, N) per-subject quantile in [0, 1] of each region's natural frequency.
    delay_s: (N, N) conduction delays (shared by all items).
    """

    exc: np.ndarray
    inh: np.ndarray
    ei_gain: np.ndarray
    excitability: np.ndarray
    freq_u: np.ndarray
    delay_s: np.ndarray = field(metadata={"shared": True})

    @property
    def n_items(self) -> int:
        return self.exc.shape[0]

    def signed_coupling(self, global_coupling: float) -> np.ndarray:
        r"""Signed effective coupling of one-population models (hopf, kuramoto), (B, N, N) [target, source]:
        :math:`W = G\,(C^{exc} - g^{EI}_j C^{inh})`, the E->I part scaled by each target's NMDA-dependent gain."""
        return global_coupling * (self.exc - self.ei_gain[:, :, None] * self.inh)


def take_items(obj, sl):
    """Slice every per-item array field of a frozen dataclass along axis 0.

    Fields declared with ``metadata={"shared": True}`` (and non-arrays) are passed through.
    """
    kw = {}
    for f in fields(obj):
        v = getattr(obj, f.name)
        shared = f.metadata.get("shared", False) or not isinstance(v, np.ndarray)
        kw[f.name] = v if shared else v[sl]
    return type(obj)(**kw)


def _per_item_arrays(obj) -> list[np.ndarray]:
    """The per-item array fields of a frozen dataclass (not ``shared``, not scalars), in field order."""
    return [v for f in fields(obj) if not f.metadata.get("shared", False)
            and isinstance(v := getattr(obj, f.name), np.ndarray)]


def count_items(obj) -> int:
    """Number of items of a frozen dataclass of per-item arrays (their common leading length)."""
    return len(_per_item_arrays(obj)[0])


def distinct_items(obj, keys: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(first, inverse) over the items of a frozen dataclass of per-item arrays (as :func:`take_items` sees them):
    indices of the distinct items (first occurrence, in order) and, for every item, its position in ``first``.
    Two items are the same when every per-item array (and, if given, their rows of ``keys``) are equal byte for
    byte (a BLAKE2b digest)."""
    arrays = [np.ascontiguousarray(a) for a in _per_item_arrays(obj)]
    n = len(arrays[0])
    keys = np.zeros((n, 0), np.uint64) if keys is None else np.ascontiguousarray(keys)
    seen: dict[bytes, int] = {}
    first, inverse = [], np.empty(n, np.int64)
    for i in range(n):
        h = hashlib.blake2b(keys[i].tobytes(), digest_size=20)
        for a in arrays:
            h.update(a[i].tobytes())
        d = h.digest()
        if d not in seen:
            seen[d] = len(first)
            first.append(i)
        inverse[i] = seen[d]
    return np.asarray(first, np.int64), inverse
