"""The sandbox's payload: one live timeline run turned into the page's JSON (:func:`build_payload`), the claims
table, and :func:`simulate` (validated controls -> JSON dict, through the bounded cache of :mod:`sim.sandbox.jobs`)."""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict

import numpy as np

from sim.sandbox.controls import (
    LIVE_SCAN_S,
    LIVE_SCANS_H,
    MODEL,
    SLOW_VARS,
    Controls,
    build_config,
    condition_plan,
)


def _r(x, digits: int = 4):
    """Round for JSON; NaN -> None."""
    a = np.asarray(x, dtype=float)
    out = np.round(a, digits).tolist()
    if np.isnan(a).any():
        if a.ndim == 0:
            return None
        out = json.loads(json.dumps(out).replace("NaN", "null"))
    return out


def _claims_payload(ds) -> dict:
    from sim.claims import contradictions, evaluate, evaluate_claim
    from sim.report import contrast_text, readout_text

    reg = _registry()
    primary = {r.claim_id: r for r in evaluate(ds, reg)}
    # windows only for the claims of the contradiction pairs (all claims x all windows doubles the time)
    in_pairs = {cid for p in reg.contradictions for cid in p.ids}
    by_window = {(c.id, w): evaluate_claim(ds, c, reg, w) for c in reg.testable if c.id in in_pairs
                 and not c.reference_window for w in reg.timeline_windows}
    rows = []
    for c in reg.claims:
        r = primary[c.id]
        rows.append({"id": c.id, "claim": c.claim, "source": c.source, "testable": c.testable,
                     "readout": readout_text(c) if c.testable else "",
                     "contrast": contrast_text(c) if c.testable else "",
                     "window": reg.windows[c.window].label if c.window else "",
                     "expected": r.expected, "effect": _r(r.effect), "low": _r(r.low), "high": _r(r.high),
                     "n": int(r.n), "verdict": r.verdict, "reason": r.reason,
                     "literature": c.literature.verdict})
    labels = {w: reg.windows[w].label for w in reg.timeline_windows}
    pairs = [{"ids": list(p.ids), "about": p.about, "verdicts": [x.verdict for x in p.primary],
              "holds_in": [[labels[w] for w in ws] for ws in p.holds_in_windows]}
             for p in contradictions(reg, primary, by_window)]
    return {"rows": rows, "contradictions": pairs}


_REGISTRY = None


def _registry():
    global _REGISTRY
    if _REGISTRY is None:
        from sim.claims import load_registry

        _REGISTRY = load_registry(None)
    return _REGISTRY


def build_payload(c: Controls, progress=None) -> dict:
    """The page's JSON for these controls (one live timeline run); ``progress(n)`` is called as items advance
    (it may raise to cancel the run)."""
    from sim.experiment import run_timeline
    from sim.plots._common import condition_labels, metric_label, network_style
    from sim.schema import vocabulary

    t0 = time.perf_counter()
    cfg = build_config(c)
    conds, treated, control = condition_plan(c)
    ds = run_timeline(cfg, progress=progress)
    t_sim = time.perf_counter() - t0
    names = [str(x) for x in ds["condition"].values]
    networks = [str(x) for x in ds["network"].values]
    style = network_style(ds)  # networks' order, labels and colours from the atlas config
    net_order = list(style)
    order = sorted(range(len(networks)), key=lambda i: (net_order.index(networks[i]), i))
    regions = [str(ds["region"].values[i]) for i in order]
    blocks, start = [], 0
    for net in dict.fromkeys(networks[i] for i in order):
        n = sum(1 for i in order if networks[i] == net)
        blocks.append({"name": net, "label": style[net]["label"], "color": style[net]["color"],
                       "start": start, "end": start + n})
        start += n
    fc = ds["fc"].isel(region=order, region_to=order).mean("subject")
    metrics = list(vocabulary(ds).key_metrics)[:6]  # the key metrics of the metrics config
    means = {m: {k: _r(ds[m].sel(condition=k).mean("subject").values) for k in names} for m in metrics}
    n_s = ds.sizes["subject"]
    sems = {m: {k: _r(ds[m].sel(condition=k).std("subject", ddof=1).values / math.sqrt(n_s)) for k in names}
            for m in metrics}
    fine = ds["time_fine_h"].values
    keep = np.flatnonzero((fine <= 72) | (np.arange(fine.size) % 6 == 0))  # 10-min steps to day 3, then hourly
    slow = {"time_h": _r(fine[keep], 3)}
    for v in SLOW_VARS:
        if v in ds:
            slow[v] = {k: _r(ds[v].sel(condition=k).mean("subject").values[keep]) for k in (treated, control)}

    def events(var):
        vals = ds[var].sel(condition=treated).values
        return _r(vals[np.isfinite(vals)], 3)

    t1 = time.perf_counter()
    claims = _claims_payload(ds)
    t_claims = time.perf_counter() - t1
    role = {treated: "treated", control: "control"}
    return {
        "controls": asdict(c),
        "conditions": [{"name": k, "label": condition_labels(ds)[k], "role": role.get(k, "reference"),
                        "phenotype": conds[k]["phenotype"], "protocol": conds[k]["protocol"]} for k in names],
        "treated": treated, "control": control,
        "times_h": _r(ds["time_h"].values, 3),
        "metrics": {"names": metrics, "labels": {m: metric_label(m)[0].split(" (")[0] for m in metrics}, "mean": means,
                    "sem": sems},
        "slow": slow,
        "events": {"infusion_h": events("infusion_h"), "dose_mg_per_kg": events("infusion_dose_mg_per_kg"),
                   "tms_h": events("tms_session_h")},
        "regions": {"names": regions, "network": [networks[i] for i in order],
                    "x": _r(ds["mni_x"].values[order], 1), "y": _r(ds["mni_y"].values[order], 1),
                    "z": _r(ds["mni_z"].values[order], 1)},
        "networks": blocks,
        "fc": {k: _r(fc.sel(condition=k).values, 3) for k in names},
        "claims": claims,
        "cohort": {"n_subjects": int(n_s), "scan_duration_s": LIVE_SCAN_S, "n_scans": len(LIVE_SCANS_H),
                   "n_items": int(len(names) * n_s * len(LIVE_SCANS_H)), "model": MODEL,
                   "engine": str(ds.attrs.get("engine", "simulated"))},
        "timing": {"simulate_s": round(t_sim, 3), "claims_s": round(t_claims, 3),
                   "total_s": round(time.perf_counter() - t0, 3)},
    }
