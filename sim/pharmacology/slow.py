"""The slow layer: for each subject, the drug and plasticity states as functions of calendar time, and
how they map onto the fast network's parameters at each scan (a schedule of values, never an edit in place).

Quasi-static separation of time scales: a 10-min scan sees the parameters of its start time. The PK
(t1/2 alpha 18 min) changes by < 30 % within a scan during infusion and far less afterwards; block,
plasticity and TMS states change over hours to days (README, "Two time scales").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from sim.atlas import Atlas
from sim.cohort import stream
from sim.connectome import edge_mask
from sim.errors import ConfigError, check_bool, check_range, unknown
from sim.network import NetworkSpec
from sim.params import read_params
from sim.pharmacology import params as P
from sim.pharmacology.pk import TwoCompartment, plasma_concentration_ng_per_ml, subject_clearance_scale
from sim.pharmacology.plasticity import PlasticityParams, synaptic_state
from sim.pharmacology.protocol import Protocol
from sim.pharmacology.receptor import ReceptorParams, block_time_course, regional_weight
from sim.pharmacology.tms import TmsParams, tms_state

MECHANISMS = P.MECHANISMS
STATES = ("plasticity", "tms")
PK_STREAM = 2
GRID_STEP_H = 1.0 / 60.0  # 1-min grid resolves a 40-min infusion


@dataclass(frozen=True)
class Target:
    state: str
    mask: np.ndarray  # (N, N) [target, source]
    kind: str
    gain: float


@dataclass(frozen=True)
class DrugModel:
    mechanisms: dict
    pk: TwoCompartment
    clearance_cv: float
    receptor: ReceptorParams
    weights: np.ndarray  # (N,) regional weight of the block
    excitability_per_block: float
    plasticity: PlasticityParams
    tms: TmsParams
    targets: tuple[Target, ...]


def _params(cls, table, cfg: Mapping, key: str):
    """Check ``cfg`` against its parameter-spec table (names, finite ranges) and build ``cls``."""
    values = read_params(table, cfg, key)
    try:
        return cls(**{k: v for k, v in values.items() if k in cls.__dataclass_fields__})
    except ValueError as e:
        raise ConfigError(f"{key}: {e}") from None


def drug_from_config(cfg: Mapping, atlas: Atlas) -> DrugModel:
    mech = dict(cfg.get("mechanisms") or {})
    for k in mech:
        if k not in MECHANISMS:
            raise unknown("drug.mechanisms", k, MECHANISMS)
    mech = {m: check_bool(f"drug.mechanisms.{m}", mech.get(m, True)) for m in MECHANISMS}
    pk_values = read_params(P.PK, dict(cfg.get("pk") or {}), "drug.pk")
    pk = TwoCompartment(**{k: v for k, v in pk_values.items() if k in TwoCompartment.__dataclass_fields__})
    cv = pk_values["clearance_cv"]
    receptor = _params(ReceptorParams, P.RECEPTOR, dict(cfg.get("receptor") or {}), "drug.receptor")
    wmap = dict(cfg.get("regional_weights") or {})
    try:
        # a weight for a region dropped from the atlas is ignored; any other unknown name is an error
        regional_weight(atlas.regions + atlas.dropped + tuple(atlas.aliases) + tuple(atlas.not_available), wmap)
        weights = regional_weight(atlas.regions, atlas.expand_region_map(
            {k: v for k, v in wmap.items() if k not in atlas.dropped}))
    except ValueError as e:
        raise ConfigError(f"drug.regional_weights: {e}") from None
    exc = read_params(P.ACUTE, dict(cfg.get("acute") or {}), "drug.acute")["excitability_per_block"]
    plast = _params(PlasticityParams, P.PLASTICITY, dict(cfg.get("plasticity") or {}), "drug.plasticity")
    tms = _params(TmsParams, P.TMS, dict(cfg.get("tms") or {}), "drug.tms")
    targets = []
    for i, t in enumerate(cfg.get("targets") or []):
        key = f"drug.targets[{i}]"
        if t.get("state") not in STATES:
            raise unknown(f"{key}.state", t.get("state"), STATES)
        if t.get("kind") not in ("exc", "inh"):
            raise unknown(f"{key}.kind", t.get("kind"), ("exc", "inh"))
        gain = check_range(f"{key}.gain", t.get("gain"), -1.0, 10.0)
        mask = edge_mask(atlas, t.get("between"), bool(t.get("directed", False)), f"{key}.between")
        targets.append(Target(t["state"], mask, t["kind"], gain))
    return DrugModel(mech, pk, cv, receptor, weights, exc, plast, tms, tuple(targets))


def clearance_scales(seed: int, subjects: Sequence[int], cv: float) -> np.ndarray:
    """Per-subject clearance multipliers, one keyed stream per subject (same in every condition)."""
    return np.array([subject_clearance_scale(np.random.Generator(np.random.PCG64(stream(seed, PK_STREAM, s))),
                                             1, cv)[0] for s in subjects])


def slow_states(drug: DrugModel, protocol: Protocol, clearance: np.ndarray, grid_h: np.ndarray) -> dict:
    """States on the uniform grid ``grid_h`` for every subject: name -> (S, T).

    plasma_ng_per_ml, occupancy, trapped_block, nmda_block (total), plasticity, tms_state.
    """
    s, t = len(clearance), len(grid_h)
    zeros = np.zeros((s, t))
    out = {k: zeros for k in ("plasma_ng_per_ml", "occupancy", "trapped_block", "nmda_block", "plasticity",
                              "tms_state")}
    dt_h = float(grid_h[1] - grid_h[0])
    if protocol.infusions and any(i.dose_mg_per_kg > 0 for i in protocol.infusions):
        conc = plasma_concentration_ng_per_ml(grid_h, protocol.infusions, drug.pk, clearance)
        receptor = drug.receptor
        if not drug.mechanisms["trapping"]:
            receptor = replace(receptor, tau_trap_h=1e9)  # trapping rate ~ 0
        bt = block_time_course(grid_h, conc, receptor)
        out.update(plasma_ng_per_ml=conc, occupancy=bt.occupancy, trapped_block=bt.trapped, nmda_block=bt.total)
        if drug.mechanisms["plasticity"]:
            out["plasticity"] = synaptic_state(bt.total, dt_h, drug.plasticity)
    if protocol.tms_sessions_h and drug.mechanisms["tms"]:
        out["tms_state"] = np.broadcast_to(tms_state(grid_h, protocol.tms_sessions_h, drug.tms), (s, t)).copy()
    return out


def at_times(states: dict, grid_h: np.ndarray, times_h: Sequence[float]) -> dict:
    """Linear interpolation of every state to the scan times: name -> (S, K)."""
    return {k: np.stack([np.interp(times_h, grid_h, row) for row in v]) for k, v in states.items()}


def modulate(drug: DrugModel, subj: NetworkSpec, states_k: dict) -> NetworkSpec:
    """Per-item network spec for subjects x scans (items ordered subject-major).

    subj: the per-subject spec (S items); states_k: name -> (S, K) states at the scan times.
    Acute: ei_gain = 1 - clip(block * w, 0, 1); excitability += excitability_per_block * block * w.
    Slow: each target edge scaled by max(0, 1 + gain * state).
    """
    block = states_k["nmda_block"]
    s, k = block.shape
    n = subj.exc.shape[-1]

    def rep(a):
        return np.repeat(a, k, axis=0)

    exc, inh = rep(subj.exc), rep(subj.inh)
    ei_gain, excitability = rep(subj.ei_gain), rep(subj.excitability)
    b = block.reshape(-1)[:, None] * drug.weights[None, :]
    if drug.mechanisms["disinhibition"]:
        ei_gain = ei_gain * (1.0 - np.clip(b, 0.0, 1.0))
        excitability = excitability + drug.excitability_per_block * b
    for t in drug.targets:
        state = states_k["plasticity" if t.state == "plasticity" else "tms_state"].reshape(-1)
        if not state.any():
            continue
        scale = np.maximum(0.0, 1.0 + t.gain * state)[:, None, None]
        m = t.mask[None]
        if t.kind == "exc":
            exc = np.where(m, exc * scale, exc)
        else:
            inh = np.where(m, inh * scale, inh)
    assert exc.shape == (s * k, n, n)
    return NetworkSpec(exc=exc, inh=inh, ei_gain=ei_gain, excitability=excitability, freq_u=rep(subj.freq_u),
                       delay_s=subj.delay_s)
