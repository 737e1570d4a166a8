"""Timeline experiments: conditions x subjects x scan times as one batch -> one labelled Dataset.

For every condition the slow layer (:mod:`sim.pharmacology.slow`) gives each subject's drug and
plasticity states over calendar time; at each scan the fast network runs with the parameters of that
moment. All (condition, subject, scan) items of the run, plus the dose-response items, are simulated
in one call of :func:`sim.simulate.simulate_items`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from sim.cohort import draw_traits, noise_seeds
from sim.connectome import apply_edits
from sim.errors import ConfigError, check_range, unknown
from sim.network import NetworkSpec
from sim.pharmacology.protocol import Protocol, protocol_from_config
from sim.pharmacology.slow import GRID_STEP_H, at_times, clearance_scales, drug_from_config, modulate, slow_states
from sim.simulate import World, build_world, simulate_items, subject_network

STORE_STEP_H = 1.0 / 6.0  # slow states are stored every 10 min


@dataclass(frozen=True)
class Condition:
    name: str
    phenotype: str
    protocol: Protocol


def _concat_specs(specs: list[NetworkSpec]) -> NetworkSpec:
    return NetworkSpec(*(np.concatenate([getattr(s, f) for s in specs]) for f in
                         ("exc", "inh", "ei_gain", "excitability", "freq_u")), delay_s=specs[0].delay_s)


def _timeline(exp: Mapping) -> tuple[tuple[float, float], np.ndarray]:
    t0 = check_range("experiment.timeline_h[0]", exp["timeline_h"][0], -24 * 365, 0.0)
    t1 = check_range("experiment.timeline_h[1]", exp["timeline_h"][1], 0.0, 24 * 365, lo_open=True)
    scans = np.array([check_range(f"experiment.scans_h[{i}]", s, t0, t1) for i, s in enumerate(exp["scans_h"])],
                     dtype=float)
    if len(scans) == 0 or np.any(np.diff(scans) <= 0):
        raise ConfigError("experiment.scans_h: need at least one scan time, strictly increasing")
    return (t0, t1), scans


def conditions_from_config(cfg: Mapping, timeline: tuple[float, float]) -> list[Condition]:
    exp, library, phen = cfg["experiment"], cfg["protocols"], cfg["phenotypes"]
    out = []
    for name, spec in (exp.get("conditions") or {}).items():
        key = f"experiment.conditions.{name}"
        ph = spec.get("phenotype")
        if ph not in phen:
            raise unknown(f"{key}.phenotype", ph, phen.keys())
        pr = spec.get("protocol", "none")
        if pr not in library:
            raise unknown(f"{key}.protocol", pr, library.keys())
        dose = spec.get("dose_mg_per_kg")
        out.append(Condition(str(name), str(ph), protocol_from_config(pr, library[pr], timeline, dose)))
    if not out:
        raise ConfigError("experiment.conditions: at least one condition is needed")
    select = exp.get("select")
    if select:
        names = [c.name for c in out]
        for s in select:
            if s not in names:
                raise unknown("experiment.select", s, names)
        out = [c for c in out if c.name in set(select)]
    return out


def run_timeline(cfg: Mapping, progress=None, total_callback=None):
    """Run a timeline experiment; returns an :class:`xarray.Dataset` (see README, "Outputs")."""
    import xarray as xr

    world: World = build_world(cfg)
    exp = cfg["experiment"]
    timeline, scans = _timeline(exp)
    conds = conditions_from_config(cfg, timeline)
    drug = drug_from_config(cfg["drug"], world.atlas)
    subjects = np.arange(world.cohort.n_subjects)
    traits = draw_traits(world.seed, subjects, world.atlas.n_regions, world.cohort.coupling_jitter_cv)
    clearance = clearance_scales(world.seed, subjects, drug.clearance_cv)
    grid = np.arange(timeline[0], timeline[1] + GRID_STEP_H / 2, GRID_STEP_H)
    store = np.arange(timeline[0], timeline[1] + STORE_STEP_H / 2, STORE_STEP_H)
    subject_nets = {}  # phenotype name -> per-subject network spec without drug (shared by its conditions)

    def subject_net(name):
        if name not in subject_nets:
            conn = apply_edits(world.base, world.atlas, cfg["phenotypes"][name].get("edits") or [],
                               f"phenotypes.{name}.edits")
            subject_nets[name] = subject_network(world, traits, conn)
        return subject_nets[name]

    specs, seeds, slow_store = [], [], {}
    for c in conds:
        states = slow_states(drug, c.protocol, clearance, grid)
        slow_store[c.name] = at_times(states, grid, store)
        specs.append(modulate(drug, subject_net(c.phenotype), at_times(states, grid, scans)))
        seeds += noise_seeds(world.seed, c.name, subjects, scans)

    dr = exp.get("dose_response")
    dr_items = 0
    if dr:
        doses = [check_range(f"experiment.dose_response.doses_mg_per_kg[{i}]", d, 0.0, 10.0)
                 for i, d in enumerate(dr["doses_mg_per_kg"])]
        dr_times = [check_range(f"experiment.dose_response.times_h[{i}]", t, timeline[0], timeline[1])
                    for i, t in enumerate(dr["times_h"])]
        ph = dr.get("phenotype")
        if ph not in cfg["phenotypes"]:
            raise unknown("experiment.dose_response.phenotype", ph, cfg["phenotypes"].keys())
        base_t = float(scans[0])
        dr_scan = [base_t] + dr_times
        proto_cfg = cfg["protocols"][dr.get("protocol", "ketamine_single")]
        for d in doses:
            pr = protocol_from_config(f"dose_{d:g}", proto_cfg, timeline, d)
            states = slow_states(drug, pr, clearance, grid)
            specs.append(modulate(drug, subject_net(ph), at_times(states, grid, dr_scan)))
            seeds += noise_seeds(world.seed, f"dose_response_{d:g}", subjects, dr_scan)
            dr_items += len(subjects) * len(dr_scan)

    net = _concat_specs(specs)
    if total_callback is not None:
        total_callback(len(seeds) * (world.settings.n_steps + world.settings.n_transient))
    out = simulate_items(world, net, seeds, progress)

    nc, ns, nk, n = len(conds), len(subjects), len(scans), world.atlas.n_regions
    n_main = nc * ns * nk
    shape = (nc, ns, nk)
    metric_names = list(out["metrics"])
    regions = list(world.atlas.regions)
    data = {m: (("condition", "subject", "time_h"), v[:n_main].reshape(shape)) for m, v in out["metrics"].items()}
    data["fc"] = (("condition", "subject", "time_h", "region", "region_to"),
                  out["fc"][:n_main].reshape(shape + (n, n)).astype(np.float32))
    data["gbc"] = (("condition", "subject", "time_h", "region"), out["gbc"][:n_main].reshape(shape + (n,)))
    for k in next(iter(slow_store.values())):
        data[k] = (("condition", "subject", "time_fine_h"), np.stack([slow_store[c.name][k] for c in conds]))
    n_ev = max([1] + [len(c.protocol.infusions) for c in conds] + [len(c.protocol.tms_sessions_h) for c in conds])

    def pad(vals):
        return np.array(list(vals) + [np.nan] * (n_ev - len(vals)), dtype=float)

    data["infusion_h"] = (("condition", "event"), np.stack([pad([i.start_h for i in c.protocol.infusions])
                                                              for c in conds]))
    data["infusion_dose_mg_per_kg"] = (("condition", "event"), np.stack(
        [pad([i.dose_mg_per_kg for i in c.protocol.infusions]) for c in conds]))
    data["tms_session_h"] = (("condition", "event"), np.stack([pad(c.protocol.tms_sessions_h) for c in conds]))
    coords = {"condition": [c.name for c in conds], "subject": subjects, "time_h": scans, "region": regions,
              "region_to": regions, "time_fine_h": store, "event": np.arange(n_ev),
              "network": ("region", list(world.atlas.network_of)),
              "mni_x": ("region", world.atlas.mni_mm[:, 0]), "mni_y": ("region", world.atlas.mni_mm[:, 1]),
              "mni_z": ("region", world.atlas.mni_mm[:, 2]),
              "phenotype": ("condition", [c.phenotype for c in conds]),
              "protocol": ("condition", [c.protocol.name for c in conds])}
    if dr_items:
        nd, nt = len(doses), len(dr_scan)
        vals = np.stack([out["metrics"][m][n_main:].reshape(nd, ns, nt) for m in metric_names])
        data["dr_value"] = (("dr_metric", "dose_mg_per_kg", "subject", "dr_time_h"),
                            vals[..., 1:] - vals[..., :1])
        coords.update(dr_metric=metric_names, dose_mg_per_kg=doses, dr_time_h=dr_times)
    ds = xr.Dataset(data, coords=coords)
    ds.attrs.update(experiment=str(exp.get("name", "")), model=world.model.NAME, seed=world.seed,
                    dt_s=world.settings.dt_s, tr_s=world.metric_settings.tr_s,
                    scan_duration_s=world.settings.duration_s, gsr=int(world.metric_settings.gsr),
                    metrics=",".join(metric_names),
                    mechanisms=",".join(k for k, v in drug.mechanisms.items() if v),
                    depressed_phenotype=str(cfg["phenotype"]["name"]))
    if world.atlas.aliases or world.atlas.not_available:  # a real atlas (AAL2): seed names -> parcels, and why not
        import json

        ds.attrs["atlas_aliases"] = json.dumps({k: [world.atlas.regions[i] for i in v]
                                                for k, v in world.atlas.aliases.items()})
        ds.attrs["atlas_not_available"] = json.dumps(dict(world.atlas.not_available))
    if dr_items:
        ds.attrs["dose_response_phenotype"] = str(dr.get("phenotype"))
        ds.attrs["dose_response_baseline_h"] = base_t
    return ds
