"""Is a verdict a result of the model, or does it restate an input?

Detected from the config, before looking at any effect:

* **built in: set by an input** -- the claim's contrast differs in an input that writes the read-out's own
  edges: two phenotypes (the depressed preset's edits, ``phenotypes.<name>.edits``), or a drug or TMS arm
  against an arm without it (the slow targets, ``drug.targets``, of the mechanism the arm receives). The
  read-out's region pairs are compared with the edited pairs; at least :data:`OVERLAP_BUILT_IN` of them
  edited = built in. The ablations confirm it where they were run: switching the input off (the other preset,
  or the target's mechanism) must shift the effect or change the verdict.
* **built in: property of the network** -- a claim about a level (``level`` contrast, e.g. "DMN-SN FC is
  negative") whose read-out has the claimed value in every condition of the run alike, treated or not.
* **emergent** -- otherwise: the verdict comes out of the dynamics.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from sim.claims.evaluate import NotEvaluable, Result, classify, min_effect_for, readout_values, window_scans
from sim.claims.registry import Claim, Registry
from sim.claims.verdicts import BUILT_IN_INPUT, BUILT_IN_NETWORK, EMERGENT, NOT_EVALUATED, NOT_REPRODUCED
from sim.stats import t_interval

OVERLAP_BUILT_IN = 0.5


@dataclass(frozen=True)
class Origin:
    kind: str                      # EMERGENT | BUILT_IN_INPUT | BUILT_IN_NETWORK
    detail: str = ""
    inputs: tuple[str, ...] = ()   # what sets it: "phenotype", "plasticity", "tms"
    overlap: float = 0.0           # share of the read-out's region pairs the input edits
    confirmed: bool | None = None  # by the ablations (None: not run)
    acting: tuple[str, ...] = ()   # what differs between the contrast's two sides at its scans: the phenotype and
                                   # the drug / TMS mechanisms acting on the treated side only (candidates, not
                                   # proof: the ablations say which of them carries the verdict)

    @property
    def built_in(self) -> bool:
        return self.kind != EMERGENT


def _names(ds):
    regions = [str(r) for r in ds["region"].values]
    networks = [str(n) for n in ds["network"].values] if "network" in ds.coords else []
    return regions, networks


def _index(ds, names) -> np.ndarray:
    regions, networks = _names(ds)
    out = []
    for x in names:
        if x in regions:
            out.append(regions.index(x))
        else:
            out.extend(i for i, n in enumerate(networks) if n == x)
    return np.array(sorted(set(out)), dtype=int)


def _pair_mask(ds, a, b) -> np.ndarray:
    n = ds.sizes["region"]
    m = np.zeros((n, n), dtype=bool)
    ia, ib = _index(ds, a), _index(ds, b)
    if ia.size and ib.size:
        m[np.ix_(ia, ib)] = True
        m[np.ix_(ib, ia)] = True
    np.fill_diagonal(m, False)
    return m


def readout_mask(ds, claim: Claim, seed_pairs: Mapping) -> np.ndarray | None:
    """The region pairs (N, N, symmetric) a read-out averages over, or None for whole-brain read-outs."""
    r = claim.readout
    if r.kind == "pair":
        return _pair_mask(ds, r.a, r.b)
    if r.kind != "metric" or not str(r.metric).startswith("fc_"):
        return None
    name = str(r.metric).removeprefix("fc_")
    _, networks = _names(ds)
    nets = {n.lower(): n for n in networks}
    if name.startswith("within_") and name.removeprefix("within_") in nets:
        x = nets[name.removeprefix("within_")]
        return _pair_mask(ds, [x], [x])
    parts = name.split("_")
    if len(parts) == 2 and all(p in nets for p in parts):
        return _pair_mask(ds, [nets[parts[0]]], [nets[parts[1]]])
    if name in seed_pairs:
        return _pair_mask(ds, list(seed_pairs[name]["a"]), list(seed_pairs[name]["b"]))
    return None


def _cond_attr(ds, cond: str, coord: str) -> str:
    return str(ds[coord].sel(condition=cond).values) if coord in ds.coords else ""


STATE_VARS = {"plasticity": "plasticity", "tms": "tms_state"}
ACUTE_VARS = {"disinhibition": "nmda_block", "trapping": "trapped_block"}
ACTIVE_STATE = 0.05  # a slow state counts as acting at a scan if it is above this share of its peak in the run


def _peak(ds, var: str, peaks: dict | None) -> float:
    """max |state| of ``var`` over the whole run (conditions, subjects, times); ``peaks`` memoises it across the
    claims of one run (each call otherwise reads the whole (condition, subject, time_fine_h) array)."""
    if peaks is not None and var in peaks:
        return peaks[var]
    peak = float(np.nanmax(np.abs(ds[var].values), initial=0.0))
    if peaks is not None:
        peaks[var] = peak
    return peak


def _receives(ds, cond: str, scans_h, peaks: dict | None = None) -> set[str]:
    """The slow-target mechanisms acting on a condition at the given scans: the state (plasticity after a
    ketamine infusion, the TMS state during a course) is above :data:`ACTIVE_STATE` of its peak in the run.
    The acute block (disinhibition) acts on every region's E->I drive, not on target edges, and is not one.
    ``peaks``: a memo of the peaks for one ``ds`` (:func:`_peak`)."""
    out = set()
    if "time_fine_h" not in ds.dims:
        return out
    t = np.asarray(ds["time_fine_h"].values, float)
    idx = np.searchsorted(t, np.asarray(scans_h, float)).clip(0, t.size - 1)
    for mech, var in STATE_VARS.items():
        if var not in ds:
            continue
        peak = _peak(ds, var, peaks)
        x = np.abs(ds[var].sel(condition=cond).values[:, idx])
        if peak > 0 and float(np.nanmean(x)) > ACTIVE_STATE * peak:
            out.add(mech)
    return out


def _acting_acute(ds, cond: str, scans_h, peaks: dict | None = None) -> set[str]:
    """The acute mechanisms acting on a condition at the given scans: NMDA block (disinhibition) or its trapped part
    (trapping) above :data:`ACTIVE_STATE` of its peak in the run."""
    out = set()
    if "time_fine_h" not in ds.dims or not len(scans_h):
        return out
    t = np.asarray(ds["time_fine_h"].values, float)
    for mech, var in ACUTE_VARS.items():
        if var not in ds:
            continue
        peak = _peak(ds, var, peaks)
        x = np.asarray(ds[var].sel(condition=cond).values, float)          # (subject, time_fine)
        at = np.stack([np.interp(np.asarray(scans_h, float), t, row) for row in x])
        if peak > 0 and float(np.nanmean(np.abs(at))) > ACTIVE_STATE * peak:
            out.add(mech)
    return out


def acting(ds, claim: Claim, scans_h, peaks: dict | None = None) -> tuple[str, ...]:
    """What differs between a claim's two sides at its scans: 'phenotype' if their presets differ, and each drug /
    TMS mechanism acting on the treated side and not on the control side (in MECHANISMS order). ``peaks``: a
    memo for one ``ds`` (:func:`_peak`)."""
    from sim.pharmacology.slow import MECHANISMS

    c = claim.contrast
    conds = [str(x) for x in ds["condition"].values]
    control = c.control if c.type in ("vs_control", "between") else None
    if c.treated not in conds or (control is not None and control not in conds):
        return ()
    out = []
    if control is not None and _cond_attr(ds, c.treated, "phenotype") != _cond_attr(ds, control, "phenotype"):
        out.append("phenotype")
    if c.type == "level":
        return tuple(out)

    def on(cond):
        if cond is None:
            return set()
        return _receives(ds, cond, scans_h, peaks) | _acting_acute(ds, cond, scans_h, peaks)

    extra = on(c.treated) - on(control)
    return tuple(out + [m for m in MECHANISMS if m in extra])


def input_masks(ds, claim: Claim, cfg: Mapping, atlas, scans_h, peaks: dict | None = None) -> dict[str, np.ndarray]:
    """Inputs on which the claim's two sides differ at the given scans, each as the (N, N) mask of the edges
    it writes. ``peaks``: a memo for one ``ds`` (:func:`_peak`)."""
    from sim.connectome import edge_mask
    from sim.pharmacology.slow import drug_from_config

    c = claim.contrast
    treated = c.treated
    control = c.control if c.type in ("vs_control", "between") else None
    conds = [str(x) for x in ds["condition"].values]
    if treated not in conds or (control is not None and control not in conds):
        return {}
    out: dict[str, np.ndarray] = {}
    n = ds.sizes["region"]
    if control is not None and _cond_attr(ds, treated, "phenotype") != _cond_attr(ds, control, "phenotype"):
        m = np.zeros((n, n), dtype=bool)
        for side in (treated, control):
            for e in (cfg["phenotypes"][_cond_attr(ds, side, "phenotype")].get("edits") or []):
                m |= edge_mask(atlas, e["between"], bool(e.get("directed", False)))
        out["phenotype"] = m | m.T
    if c.type == "level":
        return out
    extra = _receives(ds, treated, scans_h, peaks) - (_receives(ds, control, scans_h, peaks) if control is not None
                                                      else set())
    if extra:
        drug = drug_from_config(cfg["drug"], atlas)
        for mech in sorted(extra):
            m = np.zeros((n, n), dtype=bool)
            for t in drug.targets:
                if t.state == mech:
                    m |= t.mask
            if m.any():
                out[mech] = m | m.T
    return out


def _level_everywhere(ds, claim: Claim, registry: Registry, result: Result) -> bool:
    """Whether a level claim's read-out has the claimed sign in every condition of the run."""
    try:
        v = readout_values(ds, claim.readout)
    except NotEvaluable:
        return False
    w = registry.windows[result.window]
    scans = window_scans(ds, w, registry.time_tolerance_h)
    if scans.size == 0:
        return False
    verdicts = set()
    for cond in v["condition"].values:
        x = v.sel(condition=cond).sel(time_h=scans).mean("time_h").values
        if not np.isfinite(x).any():   # not defined in this condition (task metrics: untreated conditions only)
            continue
        m, lo, hi, _ = t_interval(x, registry.ci_level)
        verdicts.add(classify(m, lo, hi, result.expected, min_effect_for(registry, result.unit))[0])
    return len(verdicts) == 1 and verdicts.pop() not in (NOT_REPRODUCED, NOT_EVALUATED)


def _confirmed(claim_id: str, inputs, variants) -> bool | None:
    if not variants:
        return None
    deps = set(inputs)
    hits = [v for v in variants[1:] if v.dependency in deps]
    if not hits:
        return None
    base = variants[0].results[claim_id].verdict
    return any(v.results[claim_id].verdict != base or (claim_id in v.shifts and v.shifts[claim_id].significant)
               for v in hits)


def origins(ds, cfg: Mapping, registry: Registry, primary: Mapping[str, Result], variants=None) -> dict[str, Origin]:
    """The :class:`Origin` of every testable claim's primary verdict."""
    from sim.atlas import atlas_from_config

    atlas = atlas_from_config(cfg["atlas"])
    seed_pairs = (cfg.get("metrics") or {}).get("seed_pairs") or {}
    out = {}
    peaks: dict[str, float] = {}  # each slow state's peak over the run, read once
    for c in registry.testable:
        r = primary[c.id]
        rm = readout_mask(ds, c, seed_pairs)
        best = None
        scans = list(r.scans_h)
        if c.reference_window:  # an effect between two windows: the input may act in either
            scans += list(window_scans(ds, registry.windows[c.reference_window], registry.time_tolerance_h))
        if rm is not None and rm.any() and scans:
            for name, im in input_masks(ds, c, cfg, atlas, scans, peaks).items():
                f = float((rm & im).sum() / rm.sum())
                if best is None or f > best[1]:
                    best = (name, f)
        act = acting(ds, c, scans, peaks) if scans else ()
        if best is not None and best[1] >= OVERLAP_BUILT_IN:
            what = "the depressed preset's edits" if best[0] == "phenotype" else f"the drug's {best[0]} targets"
            conf = _confirmed(c.id, [best[0]], variants)
            out[c.id] = Origin(BUILT_IN_INPUT, f"{best[1]:.0%} of the read-out's region pairs are set directly by "
                                               f"{what}", (best[0],), best[1], conf, act)
        elif c.contrast.type == "level" and _level_everywhere(ds, c, registry, r):
            out[c.id] = Origin(BUILT_IN_NETWORK, "the read-out comes out the same way in every condition where it is "
                                                 "defined (treated or not): a property of the network, not of the "
                                                 "drug",
                               acting=act)
        else:
            detail = "" if best is None or best[1] == 0 else (
                f"partly set by an input: {best[1]:.0%} of its region pairs are edited by {best[0]}")
            out[c.id] = Origin(EMERGENT, detail, (best[0],) if best and best[1] > 0 else (),
                               best[1] if best else 0.0, acting=act)
    return out
