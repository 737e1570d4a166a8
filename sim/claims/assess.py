"""Everything the claims engine says about a run, computed once: verdicts, windows, contradictions, stability,
origin (emergent or built in), the expected (noise-free) effects and the ablation variants.

Presenters (the report, claims.csv, the sandbox) read an :class:`Assessment`; they compute nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from sim.claims.evaluate import Onset, PairView, Result, contradictions, evaluate, evaluate_by_window, onsets
from sim.claims.origin import Origin, origins
from sim.claims.registry import Registry, known_names, load_registry, validate
from sim.claims.stability import Stability, stability_of
from sim.claims.task import task_block_from, with_task_response
from sim.claims.verdicts import NOT_EVALUATED, NOT_TESTABLE, REPRODUCED


@dataclass
class Assessment:
    registry: Registry
    primary: dict[str, Result]
    by_window: dict[tuple[str, str], Result]
    pairs: list[PairView]
    stability: dict[str, Stability]
    origin: dict[str, Origin]
    expected: dict[str, Result] | None = None   # the same claims on the linear (noise-free) engine's results
    variants: list | None = None                # sim.claims.ablation.Variant list (default first)
    design: dict = field(default_factory=dict)  # trial design, engine, replicates of the run
    onsets: dict[str, Onset] = field(default_factory=dict)  # timing pairs: each side's onset, scan by scan
    task: dict[str, dict[str, tuple]] = field(default_factory=dict)  # untreated condition -> task metric -> mean, CI

    def shown_verdict(self, cid: str) -> str:
        """The verdict as displayed: a fragile 'reproduced' (or 'opposite') is shown as fragile."""
        r, s = self.primary[cid], self.stability.get(cid)
        if s is not None and s.fragile and r.verdict not in (NOT_EVALUATED, NOT_TESTABLE):
            return f"fragile (pooled: {r.verdict})"
        return r.verdict

    def is_result(self, cid: str) -> bool:
        """A verdict that counts as a result of the model: testable, evaluated, stable and emergent."""
        r = self.primary[cid]
        s, o = self.stability.get(cid), self.origin.get(cid)
        return (r.verdict not in (NOT_EVALUATED, NOT_TESTABLE) and not (s is not None and s.fragile)
                and not (o is not None and o.built_in))

    def groups(self) -> dict[str, list[str]]:
        """Testable claims sorted into: results (emergent and stable), built in, fragile, not evaluated."""
        out: dict[str, list[str]] = {"results": [], "built in": [], "fragile": [], "not evaluated": []}
        for c in self.registry.testable:
            r = self.primary[c.id]
            if r.verdict == NOT_EVALUATED:
                out["not evaluated"].append(c.id)
            elif self.stability.get(c.id) is not None and self.stability[c.id].fragile:
                out["fragile"].append(c.id)
            elif self.origin.get(c.id) is not None and self.origin[c.id].built_in:
                out["built in"].append(c.id)
            else:
                out["results"].append(c.id)
        return out

    def n_reproduced_results(self) -> int:
        return sum(1 for cid in self.groups()["results"] if self.primary[cid].verdict == REPRODUCED)


def assess(ds, cfg: Mapping | None, registry: Registry | None = None, variants=None, expected_ds=None) -> Assessment:
    """Evaluate the registry on a timeline run (``ds``) and, if given, on the linear engine's run of the same
    design (``expected_ds``); ``variants`` from :func:`sim.claims.ablation.run_claims_experiment`."""
    settings = (cfg.get("claims") or {}) if cfg is not None else {}
    registry = registry or load_registry(settings.get("registry"))
    validate(registry, known_names(ds, cfg))
    if registry.uses_task() and cfg is not None:   # the task block's linear response (sim/claims/task.py)
        block = task_block_from(registry.task_block)
        memo: dict = {}  # the expected run's subjects and phenotypes are the run's: one response each
        ds = with_task_response(ds, cfg, block, memo)
        expected_ds = with_task_response(expected_ds, cfg, block, memo) if expected_ds is not None else None
    readouts: dict = {}  # each read-out of ds computed once for the claims and windows (sim.claims.evaluate)
    primary = variants[0].results if variants else {r.claim_id: r for r in evaluate(ds, registry, readouts)}
    by_window = evaluate_by_window(ds, registry, readouts)
    var_results = {v.name: v.results for v in variants} if variants else None
    pairs = contradictions(registry, primary, by_window, var_results)
    n_rep = int(ds.attrs.get("replicates", 1))
    stab = stability_of(ds, registry, primary, n_rep, int(ds.attrs.get("seed", 0)))
    orig = origins(ds, cfg, registry, primary, variants) if cfg is not None else {}
    expected = {r.claim_id: r for r in evaluate(expected_ds, registry)} if expected_ds is not None else None
    design = {k: ds.attrs.get(k) for k in ("trial_noise", "engine", "replicates", "baseline_scans", "seed")}
    return Assessment(registry, primary, by_window, pairs, stab, orig, expected, variants, design,
                      onsets(ds, registry), task_summary(ds, registry.ci_level))


def task_summary(ds, level: float) -> dict[str, dict[str, tuple]]:
    """Per condition with task values: (mean, low, high, n) of each task metric over subjects (first scan)."""
    from sim.claims.task import TASK_METRICS
    from sim.stats import t_interval

    out: dict[str, dict[str, tuple]] = {}
    if not all(k in ds for k in TASK_METRICS):
        return out
    for cond in (str(c) for c in ds["condition"].values):
        vals = {k: ds[k].sel(condition=cond).isel(time_h=0).values for k in TASK_METRICS}
        if np.isfinite(vals[TASK_METRICS[0]]).any():
            out[cond] = {k: t_interval(v, level) for k, v in vals.items()}
    return out
