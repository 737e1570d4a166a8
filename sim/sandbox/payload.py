"""The sandbox's payloads: one live timeline run turned into the page's JSON (:func:`build_payload`: the plots) and
the claims table evaluated on the same run (:func:`claims_payload`: a second request, so the plots never wait for
the claims). Both are served through the bounded cache and worker of :mod:`sim.sandbox.jobs`."""

from __future__ import annotations

import json
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

#: the noise band of the time courses: the 95 % confidence interval of the untreated cohort's mean at each scan
#: (t-based across its subjects, :func:`sim.stats.mean_ci`): where the mean of a cohort of this size lands with no
#: treatment at all, i.e. what noise and the differences between people alone give
NOISE_BAND_LEVEL = 0.95


def _r(x, digits: int = 4):
    """Round for JSON; NaN -> None."""
    a = np.asarray(x, dtype=float)
    out = np.round(a, digits).tolist()
    if np.isnan(a).any():
        if a.ndim == 0:
            return None
        out = json.loads(json.dumps(out).replace("NaN", "null"))
    return out


class Cancelled(RuntimeError):
    """The request this work was for has been superseded or its client went away."""


_REGISTRY = None


def _registry():
    global _REGISTRY
    if _REGISTRY is None:
        from sim.claims import load_registry

        _REGISTRY = load_registry(None)
    return _REGISTRY


def claims_view(ds):
    """The part of a live run the claims read (the scan-time variables and the index coordinates, plus the
    regions' networks): the same verdicts as on the whole run in half the time (xarray merges fewer coordinates
    at every step)."""
    keep = [v for v in ds.data_vars if "time_h" in ds[v].dims]
    return ds[keep].drop_vars([k for k in ds.coords if k not in ds.dims and k != "network"])


def claims_payload(ds, check=None) -> dict:
    """The claims table of a live run: every claim in its own window, and for the claims of the contradiction pairs
    each timeline window the claim speaks about (the registry's ``speaks_about``, else every timeline window).
    ``check()`` is called between claims (it raises :class:`Cancelled` to stop)."""
    from sim.claims import contradictions, evaluate_claim
    from sim.report import contrast_text, readout_text

    t0 = time.perf_counter()
    reg = _registry()
    v = claims_view(ds)
    check = check or (lambda: None)
    primary = {}
    for c in reg.claims:
        check()
        primary[c.id] = evaluate_claim(v, c, reg)
    in_pairs = {cid for p in reg.contradictions for cid in p.ids}
    by_window = {}
    for c in reg.testable:
        if c.id not in in_pairs or c.reference_window:
            continue
        for w in reg.windows_of(c):
            check()
            by_window[(c.id, w)] = evaluate_claim(v, c, reg, w)
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
    labels = {w: reg.windows[w].label for w in reg.windows}
    pairs = [{"ids": list(p.ids), "about": p.about, "verdicts": [x.verdict for x in p.primary],
              "speaks_about": [[labels[w] for w in reg.windows_of(reg.get(cid))] for cid in p.ids],
              "holds_in": [[labels[w] for w in ws] for ws in p.holds_in_windows]}
             for p in contradictions(reg, primary, by_window)]
    return {"rows": rows, "contradictions": pairs, "claims_s": round(time.perf_counter() - t0, 3)}


def build_payload(c: Controls, progress=None, slow_cache=None, total=None):
    """The page's JSON for these controls (the plots: one live timeline run) and the run itself (for the claims).

    ``progress(n)`` is called as items advance (it may raise to cancel the run); ``total(n)`` once with the number
    of steps; ``slow_cache`` is handed to :func:`sim.experiment.run_timeline` (the caller keys it by
    :func:`sim.sandbox.controls.slow_key`). Every line the page draws is a cohort mean over subjects; the noise
    band is the 95 % CI of the untreated group's mean at each scan (:data:`NOISE_BAND_LEVEL`).
    """
    from sim.experiment import run_timeline
    from sim.plots._common import condition_labels, metric_label, network_style
    from sim.schema import vocabulary
    from sim.stats import mean_ci

    t0 = time.perf_counter()
    cfg = build_config(c)
    conds, treated, control = condition_plan(c)
    ds = run_timeline(cfg, progress=progress, total_callback=total, slow_cache=slow_cache)
    t_sim = time.perf_counter() - t0
    names = [str(x) for x in ds["condition"].values]
    networks = [str(x) for x in ds["network"].values]
    style = network_style(ds)  # networks' order, labels and colours from the atlas config
    net_order = list(style)
    order = np.array(sorted(range(len(networks)), key=lambda i: (net_order.index(networks[i]), i)))
    regions = [str(ds["region"].values[i]) for i in order]
    blocks, start = [], 0
    for net in dict.fromkeys(networks[i] for i in order):
        n = sum(1 for i in order if networks[i] == net)
        blocks.append({"name": net, "label": style[net]["label"], "color": style[net]["color"],
                       "start": start, "end": start + n})
        start += n
    fc = ds["fc"].values.mean(axis=1)[:, :, order][:, :, :, order]  # (condition, time, region, region)
    metrics = list(vocabulary(ds).key_metrics)[:6]  # the key metrics of the metrics config
    n_s = ds.sizes["subject"]
    untreated = "healthy" if c.phenotype == "healthy" else "depressed"  # condition_plan's untreated group
    means, sems, band = {}, {}, {}
    for m in metrics:
        x = ds[m].values  # (condition, subject, time)
        means[m] = {k: _r(x[i].mean(0)) for i, k in enumerate(names)}
        sems[m] = {k: _r(x[i].std(0, ddof=1) / np.sqrt(n_s)) for i, k in enumerate(names)}
        ci = mean_ci(x[names.index(untreated)], axis=0, level=NOISE_BAND_LEVEL)
        band[m] = {"low": _r(ci.low), "high": _r(ci.high)}
    fine = ds["time_fine_h"].values
    keep = np.flatnonzero((fine <= 72) | (np.arange(fine.size) % 6 == 0))  # 10-min steps to day 3, then hourly
    slow = {"time_h": _r(fine[keep], 3)}
    for v in SLOW_VARS:
        if v in ds:
            x = ds[v].values
            slow[v] = {k: _r(x[names.index(k)].mean(0)[keep]) for k in (treated, control)}

    def events(var):
        vals = ds[var].values[names.index(treated)]
        return _r(vals[np.isfinite(vals)], 3)

    labels = condition_labels(ds)
    role = {treated: "treated", control: "control"}
    engine = str(ds.attrs.get("engine", "simulated"))
    out = {
        "controls": asdict(c),
        "conditions": [{"name": k, "label": labels[k], "role": role.get(k, "reference"),
                        "phenotype": conds[k]["phenotype"], "protocol": conds[k]["protocol"]} for k in names],
        "treated": treated, "control": control, "untreated": untreated,
        "times_h": _r(ds["time_h"].values, 3),
        "metrics": {"names": metrics, "labels": {m: metric_label(m)[0].split(" (")[0] for m in metrics},
                    "units": {m: metric_label(m)[1] for m in metrics}, "mean": means, "sem": sems,
                    "noise_band": band, "noise_band_level": NOISE_BAND_LEVEL},
        "slow": slow,
        "events": {"infusion_h": events("infusion_h"), "dose_mg_per_kg": events("infusion_dose_mg_per_kg"),
                   "tms_h": events("tms_session_h")},
        "regions": {"names": regions, "network": [networks[i] for i in order],
                    "x": _r(ds["mni_x"].values[order], 1), "y": _r(ds["mni_y"].values[order], 1),
                    "z": _r(ds["mni_z"].values[order], 1)},
        "networks": blocks,
        "fc": {k: _r(fc[i], 3) for i, k in enumerate(names)},
        "cohort": {"n_subjects": int(n_s), "scan_duration_s": LIVE_SCAN_S, "n_scans": len(LIVE_SCANS_H),
                   "n_items": int(len(names) * n_s * len(LIVE_SCANS_H)), "model": MODEL, "engine": engine},
        "timing": {"simulate_s": round(t_sim, 3), "total_s": round(time.perf_counter() - t0, 3)},
    }
    return out, ds
