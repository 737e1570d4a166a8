"""Timeline experiments: conditions x subjects x scan times as one batch -> one labelled Dataset.

For every condition the slow layer (:mod:`sim.pharmacology.slow`) gives each subject's drug and
plasticity states over calendar time; at each scan the fast network runs with the parameters of that
moment. All (condition, subject, scan) items of the run, plus the dose-response items, are simulated
in one call of :func:`sim.simulate.simulate_items`. The trial design (``trial.noise``) decides whether a
subject's scans share their noise across conditions (``common``) or not (``independent``); see
:mod:`sim.cohort`. The Dataset follows :mod:`sim.schema`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from sim import analysis
from sim.cohort import NOISE_DESIGNS, draw_traits, noise_seeds
from sim.connectome import apply_edits
from sim.errors import ConfigError, check_range, unknown
from sim.network import NetworkSpec
from sim.pharmacology.protocol import Protocol, protocol_from_config
from sim.pharmacology.slow import GRID_STEP_H, at_times, clearance_scales, drug_from_config, modulate, slow_states
from sim.schema import ROLES, ContrastSpec, default_contrasts, encode, infer_role
from sim.simulate import World, build_world, simulate_items, subject_network

STORE_STEP_H = 1.0 / 6.0  # slow states are stored every 10 min


@dataclass(frozen=True)
class Condition:
    name: str
    phenotype: str
    protocol: Protocol
    role: str = "treated"
    label: str = ""


@dataclass(frozen=True)
class TrialDesign:
    """How scan noise is shared between conditions and how many baseline scans each subject has."""

    noise: str = "common"
    baseline_scans: int = 1
    baseline_spacing_h: float = 1.0


def trial_from_config(cfg: Mapping) -> TrialDesign:
    t = cfg.get("trial") or {}
    noise = t.get("noise", "common")
    if noise not in NOISE_DESIGNS:
        raise unknown("trial.noise", noise, NOISE_DESIGNS)
    n = t.get("baseline_scans")
    if n is None:
        n = 1 if noise == "common" else 3
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 48:
        raise ConfigError(f"trial.baseline_scans: {n!r} is not allowed; allowed: an integer 1..48 or null")
    spacing = check_range("trial.baseline_spacing_h", t.get("baseline_spacing_h", 1.0), 0.0, 24.0 * 30,
                          lo_open=True)
    return TrialDesign(str(noise), int(n), float(spacing))


def _concat_specs(specs: list[NetworkSpec]) -> NetworkSpec:
    return NetworkSpec(*(np.concatenate([getattr(s, f) for s in specs]) for f in
                         ("exc", "inh", "ei_gain", "excitability", "freq_u")), delay_s=specs[0].delay_s)


def _timeline(exp: Mapping, trial: TrialDesign | None = None) -> tuple[tuple[float, float], np.ndarray]:
    """The timeline and the scan times, with the extra baseline scans the trial design asks for."""
    t0 = check_range("experiment.timeline_h[0]", exp["timeline_h"][0], -24 * 365, 0.0)
    t1 = check_range("experiment.timeline_h[1]", exp["timeline_h"][1], 0.0, 24 * 365, lo_open=True)
    scans = np.array([check_range(f"experiment.scans_h[{i}]", s, t0, t1) for i, s in enumerate(exp["scans_h"])],
                     dtype=float)
    if len(scans) == 0 or np.any(np.diff(scans) <= 0):
        raise ConfigError("experiment.scans_h: need at least one scan time, strictly increasing")
    if trial is not None:
        pre = scans[scans < 0]
        if pre.size == 0:
            raise ConfigError("experiment.scans_h: need a baseline scan before time 0 (e.g. -24)")
        extra = [pre[0] + k * trial.baseline_spacing_h for k in range(1, trial.baseline_scans - pre.size + 1)]
        extra = [x for x in extra if not np.any(np.isclose(pre, x))]
        if extra and max(extra) >= 0:
            raise ConfigError(f"trial.baseline_scans: {trial.baseline_scans} scans spaced "
                              f"{trial.baseline_spacing_h:g} h after the first baseline scan at {pre[0]:g} h "
                              f"reach time 0; lower trial.baseline_spacing_h")
        scans = np.unique(np.concatenate([scans, extra]))
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
        protocol = protocol_from_config(pr, library[pr], timeline, dose)
        role = spec.get("role") or infer_role(protocol.drug, str(ph))
        if role not in ROLES:
            raise unknown(f"{key}.role", role, ROLES)
        label = str(spec.get("label") or str(name).replace("_", " "))
        out.append(Condition(str(name), str(ph), protocol, str(role), label))
    if not out:
        raise ConfigError("experiment.conditions: at least one condition is needed")
    select = exp.get("select")
    if select is not None:
        names = [c.name for c in out]
        if len(select) == 0:
            raise ConfigError("experiment.select: an empty list selects nothing; use null for all conditions")
        for s in select:
            if s not in names:
                raise unknown("experiment.select", s, names)
        out = [c for c in out if c.name in set(select)]
    return out


def _default_times(scans: np.ndarray) -> tuple[float, ...]:
    """Times for contrasts an experiment does not declare: the first scan after 0, ~24 h, ~1 week, the last."""
    post = scans[scans > 0]
    if post.size == 0:
        return ()
    picks = [post[0], post[-1]] + [post[np.argmin(np.abs(post - t))] for t in (24.0, 168.0)]
    return tuple(float(t) for t in np.unique(picks))


def contrasts_from_config(exp: Mapping, conds: list[Condition], scans: np.ndarray) -> tuple[ContrastSpec, ...]:
    """The experiment's declared contrasts, or default ones (:func:`sim.schema.default_contrasts`).

    A declared contrast is kept when both its conditions are in the run (an override of
    ``experiment.conditions`` or ``experiment.select`` may leave some out), and only at the times the run scans
    (an override of ``experiment.scans_h`` may remove some)."""
    names = [c.name for c in conds]
    declared = exp.get("contrasts")
    if declared is None:
        return default_contrasts(names, {c.name: c.role for c in conds}, {c.name: c.phenotype for c in conds},
                                 _default_times(scans))
    out = []
    for i, spec in enumerate(declared):
        key = f"experiment.contrasts[{i}]"
        if not isinstance(spec, Mapping) or not {"treated", "control"} <= set(spec):
            raise ConfigError(f"{key}: needs 'treated' and 'control' condition names (and 'times_h')")
        times, nc = ([float(check_range(f"{key}.{k}[{j}]", t, None, None)) for j, t in enumerate(spec.get(k) or [])]
                     for k in ("times_h", "network_change_h"))
        if spec["treated"] in names and spec["control"] in names:
            out.append(ContrastSpec(str(spec["treated"]), str(spec["control"]),
                                    tuple(analysis.present_times_in(scans, times)), str(spec.get("label") or ""),
                                    tuple(analysis.present_times_in(scans, nc))))
    return tuple(out)


def _key_metrics(cfg: Mapping) -> dict[str, str]:
    return {str(k): str(v) for k, v in ((cfg["metrics"].get("key") or {}).items())}


def _network_style(cfg: Mapping, networks) -> dict[str, dict]:
    style = cfg["atlas"].get("network_style") or {}
    return {n: {"label": str((style.get(n) or {}).get("label", n)), "color": str((style.get(n) or {}).get(
        "color", "#999999"))} for n in networks}


def replicates_from_config(cfg: Mapping) -> int:
    r = (cfg.get("claims") or {}).get("replicates", 1)
    if isinstance(r, bool) or not isinstance(r, int) or not 1 <= r <= 20:
        raise ConfigError(f"claims.replicates: {r!r} is not allowed; allowed: an integer 1..20")
    return int(r)


def run_timeline(cfg: Mapping, progress=None, total_callback=None, world: World | None = None,
                 slow_cache: MutableMapping | None = None):
    """Run a timeline experiment; returns an :class:`xarray.Dataset` (:mod:`sim.schema`; README, "Outputs").

    ``world`` (from :func:`sim.simulate.build_world` on the same config, or on one differing only in the drug or
    the phenotype preset, as the ablation variants do) avoids building it again. With ``claims.replicates`` = R
    the cohort is R x ``cohort.n_subjects`` subjects: R independent replicate cohorts (sim/claims/stability.py).
    ``slow_cache`` (condition name -> its slow states at the stored and the scan times) is read and filled for the
    conditions; the caller keys it by what the states depend on (drug, protocol, cohort, seed: the sandbox keeps
    one per setting of those, so a coupling change does not integrate the drug again).
    """
    import xarray as xr

    world = build_world(cfg) if world is None else world
    exp = cfg["experiment"]
    trial = trial_from_config(cfg)
    timeline, scans = _timeline(exp, trial)
    conds = conditions_from_config(cfg, timeline)
    contrasts = contrasts_from_config(exp, conds, scans)
    drug = drug_from_config(cfg["drug"], world.atlas)
    n_rep = replicates_from_config(cfg)
    subjects = np.arange(world.cohort.n_subjects * n_rep)
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

    def states_at(c):
        states = slow_states(drug, c.protocol, clearance, grid)
        return at_times(states, grid, store), at_times(states, grid, scans)

    todo = [c for c in conds if slow_cache is None or c.name not in slow_cache]
    # the conditions' drug states are independent, mostly whole-array numpy work (which releases the GIL; the
    # interpolation to scan times does not): one thread each, results in condition order
    with ThreadPoolExecutor(max(1, min(world.settings.threads(), len(todo)))) as ex:
        computed = dict(zip([c.name for c in todo], ex.map(states_at, todo), strict=True))
    specs, seeds, slow_store = [], [], {}
    for c in conds:
        cached = computed[c.name] if c.name in computed else slow_cache[c.name]
        if slow_cache is not None:
            slow_cache[c.name] = cached
        slow_store[c.name] = cached[0]
        specs.append(modulate(drug, subject_net(c.phenotype), cached[1]))
        seeds += noise_seeds(world.seed, c.name, subjects, scans, trial.noise)

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
        base_times = [float(t) for t in analysis.baseline_times(scans)]
        dr_scan = base_times + dr_times
        proto_cfg = cfg["protocols"][dr.get("protocol", "ketamine_single")]
        protocols = [protocol_from_config(f"dose_{d:g}", proto_cfg, timeline, d) for d in doses]
        with ThreadPoolExecutor(max(1, min(world.settings.threads(), len(doses)))) as ex:
            dose_states = list(ex.map(lambda pr: at_times(slow_states(drug, pr, clearance, grid), grid, dr_scan),
                                      protocols))
        for d, states_k in zip(doses, dose_states, strict=True):
            specs.append(modulate(drug, subject_net(ph), states_k))
            seeds += noise_seeds(world.seed, f"dose_response_{d:g}", subjects, dr_scan, trial.noise)
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
    data["amp"] = (("condition", "subject", "time_h", "region"), out["amp"][:n_main].reshape(shape + (n,)))
    for k in next(iter(slow_store.values())):
        data[k] = (("condition", "subject", "time_fine_h"), np.stack([slow_store[c.name][k] for c in conds]))
    n_ev = max([1] + [len(c.protocol.infusions) for c in conds] + [len(c.protocol.tms_sessions_h) for c in conds])

    def pad(vals):
        return np.array(list(vals) + [np.nan] * (n_ev - len(vals)), dtype=float)

    data["infusion_h"] = (("condition", "event"), np.stack([pad([i.start_h for i in c.protocol.infusions])
                                                              for c in conds]))
    data["infusion_dose_mg_per_kg"] = (("condition", "event"), np.stack(
        [pad([i.dose_mg_per_kg for i in c.protocol.infusions]) for c in conds]))
    data["infusion_duration_h"] = (("condition", "event"), np.stack(
        [pad([i.duration_min / 60.0 for i in c.protocol.infusions]) for c in conds]))
    data["tms_session_h"] = (("condition", "event"), np.stack([pad(c.protocol.tms_sessions_h) for c in conds]))
    coords = {"condition": [c.name for c in conds], "subject": subjects, "time_h": scans, "region": regions,
              "region_to": regions, "time_fine_h": store, "event": np.arange(n_ev),
              "network": ("region", list(world.atlas.network_of)),
              "mni_x": ("region", world.atlas.mni_mm[:, 0]), "mni_y": ("region", world.atlas.mni_mm[:, 1]),
              "mni_z": ("region", world.atlas.mni_mm[:, 2]),
              "phenotype": ("condition", [c.phenotype for c in conds]),
              "protocol": ("condition", [c.protocol.name for c in conds]),
              "role": ("condition", [c.role for c in conds]), "label": ("condition", [c.label for c in conds])}
    if dr_items:
        nd, nt = len(doses), len(dr_scan)
        nb = len(base_times)
        vals = np.stack([out["metrics"][m][n_main:].reshape(nd, ns, nt) for m in metric_names])
        data["dr_value"] = (("dr_metric", "dose_mg_per_kg", "subject", "dr_time_h"),
                            vals[..., nb:] - vals[..., :nb].mean(-1, keepdims=True))  # analysis.baseline
        coords.update(dr_metric=metric_names, dose_mg_per_kg=doses, dr_time_h=dr_times)
    ds = xr.Dataset(data, coords=coords)
    ds.attrs.update(experiment=str(exp.get("name", "")), model=world.model.NAME, seed=world.seed,
                    dt_s=world.settings.dt_s, tr_s=world.metric_settings.tr_s,
                    scan_duration_s=world.settings.duration_s, gsr=int(world.metric_settings.gsr),
                    metrics=",".join(metric_names),
                    mechanisms=",".join(k for k, v in drug.mechanisms.items() if v),
                    depressed_phenotype=str(cfg["phenotype"]["name"]), engine=world.metric_settings.engine,
                    trial_noise=trial.noise, baseline_scans=int(trial.baseline_scans), replicates=n_rep,
                    contrasts=encode(list(contrasts)), key_metrics=json.dumps(_key_metrics(cfg)),
                    networks=json.dumps(_network_style(cfg, world.atlas.networks)))
    durations = [i.duration_min / 60.0 for c in conds for i in c.protocol.infusions]
    if durations:
        ds.attrs["infusion_duration_h"] = float(durations[0])
    if world.atlas.aliases or world.atlas.not_available:  # a real atlas (AAL2): seed names -> parcels, and why not
        ds.attrs["atlas_aliases"] = json.dumps({k: [world.atlas.regions[i] for i in v]
                                                for k, v in world.atlas.aliases.items()})
        ds.attrs["atlas_not_available"] = json.dumps(dict(world.atlas.not_available))
    if dr_items:
        ds.attrs["dose_response_phenotype"] = str(dr.get("phenotype"))
        ds.attrs["dose_response_baseline_h"] = json.dumps(base_times)
    return ds
