"""Which mechanism carries which claim: rerun the experiment with each drug mechanism switched off in turn,
and with the other depressed phenotype preset, and compare the verdicts (claims × mechanisms matrix).

Only the conditions a change can affect are simulated again: switching off ``disinhibition``, ``trapping``
or ``plasticity`` only changes conditions that receive ketamine (an infusion with dose > 0), ``tms`` only
conditions with TMS sessions, and the phenotype only conditions that use the run's depressed preset. The
other conditions are taken from the default run unchanged. This is exact, not an approximation: every
(condition, subject, scan) item has its own noise stream keyed by names, so an item's result does not depend
on which other items are simulated (README, "A virtual cohort as one batch"; set
``claims.ablation.rerun_all_conditions=true`` to simulate everything again anyway).
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from sim.claims.evaluate import (
    NotEvaluable,
    Result,
    evaluate,
    min_effect_for,
    per_subject_effect,
    t_interval,
    unit_of,
)
from sim.claims.registry import MECHANISMS, Registry, load_registry
from sim.claims.task import task_block_from, with_task_response
from sim.errors import ConfigError

DEFAULT_PHENOTYPES = ("depressed_hyper", "depressed_hypo")


@dataclass
class Variant:
    """One rerun of the experiment with one change against the default."""

    name: str                 # "default", "no_disinhibition", ..., "phenotype_depressed_hypo"
    label: str                # for tables: "disinhibition off", "depressed_hypo preset"
    dependency: str | None    # the mechanism switched off, "phenotype", or None for the default
    conditions: tuple[str, ...] = ()   # the conditions simulated again
    ds: object = None         # results (metric variables + fc + gbc), all conditions
    results: dict[str, Result] = field(default_factory=dict)
    shifts: dict[str, Shift] = field(default_factory=dict)  # effect change against the default, per claim


@dataclass(frozen=True)
class Shift:
    """Paired change of a claim's per-subject effect when one thing is changed (variant minus default).

    The same virtual subjects with the same scan noise are simulated in both runs, so the change is due to the
    switched mechanism alone; ``significant`` = its 95% t-CI excludes 0 and |change| >= the minimal effect size.
    """

    mean: float
    low: float
    high: float
    significant: bool


@dataclass
class ClaimsRun:
    """What ``dmnsim experiment=claims`` produced: the default run and its ablation variants."""

    ds: object
    cfg: object
    registry: Registry
    variants: list[Variant]


def _light(ds):
    keep = [k for k in ds.data_vars if ds[k].dims[:3] == ("condition", "subject", "time_h")]
    return ds[keep]


def _settings(cfg) -> dict:
    c = (cfg.get("claims") or {}).get("ablation") or {}
    mechs = list(c.get("mechanisms", MECHANISMS))
    for m in mechs:
        if m not in MECHANISMS:
            raise ConfigError(f"claims.ablation.mechanisms: unknown value {m!r}; allowed: {', '.join(MECHANISMS)}")
    phens = list(c.get("phenotypes", DEFAULT_PHENOTYPES))
    for p in phens:
        if p not in cfg["phenotypes"]:
            raise ConfigError(f"claims.ablation.phenotypes: unknown value {p!r}; "
                              f"allowed: {', '.join(sorted(cfg['phenotypes']))}")
    return {"mechanisms": mechs, "phenotypes": phens, "rerun_all": bool(c.get("rerun_all_conditions", False))}


def affected_conditions(ds, dependency: str, preset: str) -> list[str]:
    """Conditions of ``ds`` whose results can change when ``dependency`` is switched off / swapped."""
    conds = [str(c) for c in ds["condition"].values]
    if dependency == "phenotype":
        return [c for c, p in zip(conds, ds["phenotype"].values, strict=True) if str(p) == preset]
    if dependency == "tms":
        sessions = np.asarray(ds["tms_session_h"].values, dtype=float)
        return [c for c, row in zip(conds, sessions, strict=True) if np.isfinite(row).any()]
    doses = np.nan_to_num(np.asarray(ds["infusion_dose_mg_per_kg"].values, dtype=float))
    return [c for c, row in zip(conds, doses, strict=True) if (row > 0).any()]


def plan_variants(cfg, ds) -> list[Variant]:
    """The ablation variants for this config (mechanisms already off in the config are skipped)."""
    s = _settings(cfg)
    on = {m for m in MECHANISMS if bool((cfg["drug"].get("mechanisms") or {}).get(m, True))}
    preset = str(cfg["phenotype"]["name"])
    all_conds = tuple(str(c) for c in ds["condition"].values)
    out = []
    for m in s["mechanisms"]:
        if m not in on:
            continue
        conds = all_conds if s["rerun_all"] else tuple(affected_conditions(ds, m, preset))
        out.append(Variant(f"no_{m}", f"{m} off", m, conds))
    for p in s["phenotypes"]:
        if p == preset:
            continue
        conds = all_conds if s["rerun_all"] else tuple(affected_conditions(ds, "phenotype", preset))
        out.append(Variant(f"phenotype_{p}", f"{p} preset", "phenotype", conds))
    return out


def variant_config(cfg, variant: Variant):
    """A copy of ``cfg`` with the variant's change, restricted to its conditions, without dose-response."""
    from omegaconf import OmegaConf

    c = copy.deepcopy(cfg)
    if variant.dependency == "phenotype":
        other = variant.name.removeprefix("phenotype_")
        c.phenotype = copy.deepcopy(cfg.phenotypes[other])
    elif variant.dependency in MECHANISMS:
        OmegaConf.update(c, f"drug.mechanisms.{variant.dependency}", False, force_add=True)
    OmegaConf.update(c, "experiment.select", list(variant.conditions), force_add=True)
    OmegaConf.update(c, "experiment.dose_response", None, force_add=True)
    return c


def run_variant(cfg, base_ds, variant: Variant, progress=None, total_callback=None, world=None):
    """Simulate the variant's conditions and merge them with the unaffected conditions of ``base_ds``."""
    import xarray as xr

    from sim.experiment import run_timeline

    base = _light(base_ds)
    order = [str(c) for c in base["condition"].values]
    if not variant.conditions:
        return base
    new = _light(run_timeline(variant_config(cfg, variant), progress=progress, total_callback=total_callback,
                              world=world))
    keep = [c for c in order if c not in variant.conditions]
    parts = ([base.sel(condition=keep)] if keep else []) + [new]
    merged = xr.concat(parts, dim="condition", coords="minimal", compat="override", join="override")
    return merged.sel(condition=order)


def run_claims_experiment(cfg, progress: Callable[[int], None] | None = None,
                          total_callback: Callable[[int], None] | None = None, world=None) -> ClaimsRun:
    """The default experiment plus its ablation variants. Returns a :class:`ClaimsRun`; the run directory is
    written from ``.ds`` (results.nc, figures) and :func:`sim.report.write_claims_outputs` with ``ablation=``."""
    from sim.claims.registry import known_names, validate
    from sim.experiment import run_timeline
    from sim.simulate import build_world

    registry = load_registry((cfg.get("claims") or {}).get("registry"))
    _settings(cfg)  # fail on bad settings before any simulation
    totals = [0]

    def add_total(n):
        totals[0] += int(n)
        if total_callback is not None:
            total_callback(totals[0])

    world = build_world(cfg) if world is None else world  # built once, shared by every variant
    ds = run_timeline(cfg, progress=progress, total_callback=add_total, world=world)
    validate(registry, known_names(ds, cfg))
    block = task_block_from(registry.task_block) if registry.uses_task() else None

    def task(d, c):  # the task block's linear response of the untreated conditions (sim/claims/task.py)
        return with_task_response(d, c, block) if block is not None else d

    default = Variant("default", "default (all on)", None, tuple(str(c) for c in ds["condition"].values),
                      task(_light(ds), cfg))
    default.results = {r.claim_id: r for r in evaluate(default.ds, registry)}
    variants = [default]
    verbose = bool(cfg.get("progress", True))
    for v in plan_variants(cfg, ds):
        if verbose and progress is None:  # a caller with a progress bar shows the variant in it (sim/run.py)
            print(f"claims ablation: {v.label} ({len(v.conditions)} conditions)", file=sys.stderr)
        v.ds = task(run_variant(cfg, ds, v, progress=progress, total_callback=add_total, world=world),
                    variant_config(cfg, v))
        v.results = {r.claim_id: r for r in evaluate(v.ds, registry)}
        v.shifts = effect_shifts(default.ds, v.ds, registry)
        variants.append(v)
    return ClaimsRun(ds, cfg, registry, variants)


def effect_shifts(default_ds, variant_ds, registry: Registry) -> dict[str, Shift]:
    """Per testable claim (at its own window): the paired change of the effect, variant minus default."""
    out = {}
    for c in registry.testable:
        try:
            a, _ = per_subject_effect(default_ds, c, registry)
            b, _ = per_subject_effect(variant_ds, c, registry)
        except NotEvaluable:
            continue
        m, lo, hi, _ = t_interval(b - a, registry.ci_level)
        sig = bool(np.isfinite(lo) and np.isfinite(hi) and (lo > 0 or hi < 0)
                   and abs(m) >= min_effect_for(registry, unit_of(c.readout)))
        out[c.id] = Shift(m, lo, hi, sig)
    return out


# ------------------------------------------------------------------------------------------ matrix
def observed_dependence(claim_id: str, variants: Sequence[Variant]) -> list[str]:
    """Variants (by dependency name) whose verdict for the claim differs from the default's."""
    base = variants[0].results[claim_id].verdict
    return [v.dependency for v in variants[1:] if v.results[claim_id].verdict != base]


def shifted_by(claim_id: str, variants: Sequence[Variant]) -> list[str]:
    """Variants (by dependency name) that shift the claim's effect significantly (paired, see :class:`Shift`)."""
    return [v.dependency for v in variants[1:] if claim_id in v.shifts and v.shifts[claim_id].significant]


def matrix_rows(registry: Registry, variants: Sequence[Variant]) -> list[dict]:
    """One row per (testable claim, variant): effect, CI, verdict, whether the verdict changed from the default,
    and the paired change of the effect against the default with its CI."""
    rows = []
    nan = float("nan")
    for c in registry.testable:
        base = variants[0].results[c.id]
        for v in variants:
            r = v.results[c.id]
            sh = v.shifts.get(c.id)
            rows.append({"id": c.id, "variant": v.name, "variant_label": v.label, "switched": v.dependency or "",
                         "effect": r.effect, "ci_low": r.low, "ci_high": r.high, "verdict": r.verdict,
                         "changed_from_default": bool(v is not variants[0] and r.verdict != base.verdict),
                         "effect_shift": sh.mean if sh else nan, "shift_ci_low": sh.low if sh else nan,
                         "shift_ci_high": sh.high if sh else nan,
                         "shift_significant": bool(sh.significant) if sh else "",
                         "expected_dependence": ";".join(c.depends_on)})
    return rows
