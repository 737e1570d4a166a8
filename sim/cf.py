"""Self-describing outputs: CF attributes on ``results.nc`` and the CSVW metadata of ``metrics.csv``.

* :func:`annotate` gives every variable and coordinate of a results Dataset (:mod:`sim.schema`) a ``long_name``
  and, if numeric, ``units`` (UDUNITS spelling; ``"1"`` = dimensionless, e.g. a Pearson r or a fraction), and
  sets the global attributes of the CF conventions (``Conventions``, ``title``, ``history``, ``source``,
  ``references``, ``comment``) plus ``seed`` and ``run_id``. Existing attributes are kept.
* :func:`csv_metadata` is the W3C "CSV on the Web" metadata of ``metrics.csv`` (``metrics.csv-metadata.json``,
  the name CSVW looks for next to a CSV): columns, their units, each metric's meaning, seed and run id. The CSV
  itself keeps exactly its five columns (condition, subject, time_h, metric, value).
* :func:`run_id` is a content id: the same config and seed give the same id (and bit-identical results).

CF conventions 1.10: https://cfconventions.org/; CSVW: https://www.w3.org/TR/tabular-metadata/.
"""

from __future__ import annotations

import hashlib
import json

CONVENTIONS = "CF-1.10"

#: (long_name, units) of the fixed variables and coordinates of the results schema (sim/schema.py)
FIXED = {
    "condition": ("experimental condition (phenotype + protocol)", None),
    "subject": ("virtual subject index (the same subject in every condition)", "1"),
    "time_h": ("scan time since the start of the first infusion or session (baseline scans < 0)", "h"),
    "region": ("brain region (atlas name)", None),
    "region_to": ("second brain region of the pair", None),
    "time_fine_h": ("time of the slow-state samples since the first infusion or session (every 10 min)", "h"),
    "event": ("index of a dosing event of the condition", "1"),
    "network": ("large-scale network of the region", None),
    "mni_x": ("MNI x coordinate of the region centre (left < 0 < right)", "mm"),
    "mni_y": ("MNI y coordinate of the region centre (posterior < 0 < anterior)", "mm"),
    "mni_z": ("MNI z coordinate of the region centre (inferior < 0 < superior)", "mm"),
    "phenotype": ("phenotype of the condition's virtual subjects", None),
    "protocol": ("treatment protocol of the condition", None),
    "role": ("role of the condition: treated, control, placebo or reference", None),
    "label": ("legend text of the condition", None),
    "dr_metric": ("metric of the dose-response arm", None),
    "dose_mg_per_kg": ("ketamine dose of the dose-response arm", "mg kg-1"),
    "dr_time_h": ("scan time of the dose-response arm since the infusion start", "h"),
    "fc": ("functional connectivity: Pearson correlation of the two regions' BOLD signals over one scan", "1"),
    "gbc": ("global brain connectivity of the region: its mean FC with all other regions", "1"),
    "amp": ("activity of the region: natural log of the SD of its BOLD signal over one scan", "1"),
    "plasma_ng_per_ml": ("plasma ketamine concentration", "ng mL-1"),
    "nmda_block": ("fraction of NMDA receptors blocked, total", "1"),
    "trapped_block": ("fraction of NMDA receptors blocked by drug trapped in closed channels", "1"),
    "plasticity": ("synaptic plasticity state (0-1, arbitrary scale)", "1"),
    "tms_state": ("TMS after-effect state (0-1, arbitrary scale)", "1"),
    "infusion_h": ("start of an infusion since the first infusion or session", "h"),
    "infusion_dose_mg_per_kg": ("dose of the infusion (0 = saline placebo)", "mg kg-1"),
    "infusion_duration_h": ("duration of the infusion", "h"),
    "tms_session_h": ("time of a TMS session since the first infusion or session", "h"),
    "dr_value": ("dose-response arm: change of the metric from the arm's baseline (dr_metric)", "1"),
}

#: long names of the scalar metrics the simulator computes; every scalar metric is dimensionless ("1")
METRIC_NAMES = {
    "gbc_mean": "global brain connectivity: each region's mean FC with all others, averaged over regions",
    "synchrony": "phase synchrony: time-mean Kuramoto order parameter R of the 0.04-0.07 Hz band",
    "metastability": "metastability: standard deviation over time of the Kuramoto order parameter R",
    "dmn_dwell_fraction": "share of the scan in which the DMN activity envelope exceeds the TPN's",
}


def metric_long_name(name: str, key_labels: dict[str, str] | None = None) -> str:
    """Long name of a scalar metric (``fc_within_dmn`` -> "mean FC within DMN (Pearson r)")."""
    if name in METRIC_NAMES:
        return METRIC_NAMES[name]
    label = (key_labels or {}).get(name)
    if name.startswith("fc_within_"):
        base = f"mean FC within {name.removeprefix('fc_within_').upper()} over its region pairs (Pearson r)"
    elif name.startswith("fc_"):
        groups: list[str] = []
        for p in name.removeprefix("fc_").split("_"):
            if p in ("l", "r") and groups:
                groups[-1] += f" {p.upper()}"
            else:
                groups.append(p)
        base = "mean FC between " + " and ".join(groups) + " (Pearson r)"
    else:
        base = name.replace("_", " ")
    return f"{label}: {base}" if label else base


def run_id(config_yaml: str, seed: int) -> str:
    """Content id of a run: the first 16 hex digits of SHA-256(config YAML, seed)."""
    return hashlib.sha256(f"{config_yaml}\nseed={seed}".encode()).hexdigest()[:16]


def _is_numeric(v) -> bool:
    return v.dtype.kind in "biufc"


def annotate(ds, prov: dict, rid: str):
    """A copy of ``ds`` with CF variable and global attributes (see the module docstring)."""
    out = ds.copy()
    key = json.loads(ds.attrs.get("key_metrics", "{}") or "{}")
    metric_list = [m for m in str(ds.attrs.get("metrics", "")).split(",") if m]
    for name in list(out.variables):
        v = out[name]
        long_name, units = FIXED.get(name, (None, None))
        if long_name is None and (name in metric_list or v.dims == ("condition", "subject", "time_h")):
            long_name, units = metric_long_name(name, key), "1"
        if long_name is None:
            long_name = name.replace("_", " ")
        v.attrs.setdefault("long_name", long_name)
        if _is_numeric(v):
            v.attrs.setdefault("units", units or "1")
    commit = prov.get("git_commit") or "unknown"
    exp = ds.attrs.get("experiment", "")
    out.attrs.update(
        Conventions=CONVENTIONS,
        title=f"dmn-sim {exp} experiment: simulated brain-network metrics of virtual subjects over time",
        source=f"dmn-sim {prov.get('version', '?')} (git commit {commit}), model {ds.attrs.get('model', '?')}, "
               f"engine {ds.attrs.get('engine', '?')}",
        # no time stamp or command line here (they are in provenance.json): same config + seed, same file
        history=f"created by dmnsim {prov.get('version', '?')} from config.yaml (run_id {rid}); command line, "
                "start time and platform in provenance.json",
        references="schema: docs/results.md; outputs: README section Outputs",
        comment="simulated data, not measurements; effects = paired change from baseline (sim/analysis.py)",
        seed=int(prov.get("seed", ds.attrs.get("seed", 0))), run_id=rid)
    return out


def csv_metadata(ds, rid: str, seed: int, url: str = "metrics.csv") -> dict:
    """CSVW metadata of ``metrics.csv``: the five columns with units, each metric's long name, seed and run id."""
    key = json.loads(ds.attrs.get("key_metrics", "{}") or "{}")
    metrics = [m for m in str(ds.attrs.get("metrics", "")).split(",") if m]
    return {
        "@context": "http://www.w3.org/ns/csvw",
        "url": url,
        "dc:title": f"dmn-sim {ds.attrs.get('experiment', '')} run: one row per scalar metric value",
        "dmnsim:seed": int(seed),
        "dmnsim:run_id": rid,
        "dmnsim:results": "results.nc (same run_id and seed in its global attributes)",
        "tableSchema": {"columns": [
            {"name": "condition", "datatype": "string", "dc:description": FIXED["condition"][0]},
            {"name": "subject", "datatype": "integer", "dc:description": FIXED["subject"][0]},
            {"name": "time_h", "datatype": "number", "dc:description": FIXED["time_h"][0], "dmnsim:units": "h"},
            {"name": "metric", "datatype": "string", "dc:description": "metric name (see dmnsim:metrics)"},
            {"name": "value", "datatype": "number", "dc:description": "the metric's value",
             "dmnsim:units": "1 (dimensionless: Pearson r, Kuramoto R or a fraction)"},
        ]},
        "dmnsim:metrics": {m: metric_long_name(m, key) for m in metrics},
    }
