"""Regions (the agents of the model), their network labels and MNI positions.

The atlas is data: ``configs/atlas/default.yaml`` lists each region with its network, MNI
coordinates (mm) and the source of those coordinates. Nothing here knows about dynamics.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

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
    """

    regions: tuple[str, ...]
    network_of: tuple[str, ...]
    networks: tuple[str, ...]
    mni_mm: np.ndarray
    labels: tuple[str, ...]
    dropped: tuple[str, ...] = ()

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
        if name in self.dropped:
            return np.array([], dtype=int)
        raise unknown(key, name, list(self.regions) + list(self.networks))

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
    return Atlas(tuple(names), tuple(nets), present, np.asarray(mni, dtype=float), tuple(labels), tuple(drop))


def resolve_many(atlas: Atlas, names: Iterable[str], key: str) -> np.ndarray:
    """Union of the indices of several region / network names, sorted and unique."""
    idx = [atlas.select(n, key) for n in names]
    return np.unique(np.concatenate(idx)) if idx else np.array([], dtype=int)
