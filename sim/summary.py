"""The plain-language summary printed at the end of a run (and saved as summary.txt).

Contrasts are paired: every condition holds the same virtual subjects (same traits, own scan noise),
so an effect is the per-subject difference of changes from each subject's own baseline scan
(difference-in-differences), with a t-based 95 % CI across subjects.
"""

from __future__ import annotations

import numpy as np

from sim.stats import t_interval

KEY = {"fc_within_dmn": "within-DMN FC", "fc_dmn_tpn": "DMN-TPN FC", "fc_sgacc_dmn": "sgACC-DMN FC",
       "fc_pcc_mpfc": "PCC-mPFC FC"}
#: (treated condition, control condition, time_h); reported only where that scan time exists
CONTRASTS = [
    ("depressed_ketamine", "depressed_placebo", 0.33),
    ("depressed_ketamine", "depressed_placebo", 24.0),
    ("depressed_ketamine", "depressed_placebo", 72.0),
    ("depressed_ketamine", "depressed_placebo", 168.0),
    ("depressed_ketamine", "depressed_placebo", 336.0),
    ("depressed_ketamine_repeated", "depressed_ketamine", 336.0),
    ("depressed_tms", "depressed", 672.0),
    ("healthy_ketamine", "healthy", 0.33),
    ("healthy_ketamine", "healthy_placebo", 0.33),
]


def time_label(t: float) -> str:
    if t < 1:
        return f"at {t * 60:.0f} min (during infusion)"
    if t < 48:
        return f"at {t:g} h"
    return f"at day {t / 24:g}"


def mean_ci(x: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """Mean and t-based CI across subjects (see :func:`sim.stats.t_interval`)."""
    m, lo, hi, _ = t_interval(x, level)
    return m, lo, hi


def change_from_baseline(ds, metric: str, condition: str, time_h: float) -> np.ndarray:
    """Per-subject change of ``metric`` at the scan nearest ``time_h`` from the first (baseline) scan."""
    v = ds[metric].sel(condition=condition)
    return (v.sel(time_h=time_h, method="nearest") - v.isel(time_h=0)).values


def contrast(ds, metric, treated, control, time_h) -> tuple[float, float, float]:
    d = change_from_baseline(ds, metric, treated, time_h) - change_from_baseline(ds, metric, control, time_h)
    return mean_ci(d)


def summary_text(ds, metric_names) -> str:
    lines = []
    n = ds.sizes["subject"]
    if ds.sizes.get("time_h", 1) == 1:
        cond = str(ds["condition"].values[0])
        lines.append(f"{ds.attrs.get('model')} model, {cond}, {n} subjects (cohort mean, 95% CI across subjects):")
        for m in metric_names:
            mm, lo, hi = mean_ci(ds[m].values.reshape(-1))
            lines.append(f"  {m:<22} {mm:+.3f}  ({lo:+.3f} .. {hi:+.3f})")
        return "\n".join(lines)
    conds = set(ds["condition"].values.tolist())
    lines.append(f"{ds.attrs.get('model')} model, {n} subjects per condition, depressed preset "
                 f"{ds.attrs.get('depressed_phenotype')}. Effects are paired changes from each subject's "
                 f"baseline scan, treated minus control, mean (95% CI):")
    scans = ds["time_h"].values
    for tr, co, t in CONTRASTS:
        if tr not in conds or co not in conds or not np.any(np.isclose(scans, t)):
            continue
        label = time_label(t)
        parts = []
        for m, name in KEY.items():
            if m in ds:
                mm, lo, hi = contrast(ds, m, tr, co, t)
                parts.append(f"{name} {mm:+.3f} ({lo:+.3f}..{hi:+.3f})")
        lines.append(f"- {label}, {tr.replace('_', ' ')} vs {co.replace('_', ' ')}: " + "; ".join(parts))
    return "\n".join(lines)
