"""The plain-language summary printed at the end of a run (and saved as summary.txt).

It follows the run's vocabulary (:mod:`sim.schema`): the contrasts the experiment declares, each at its
times, for the key metrics of the metrics config. Effects are paired changes from each subject's baseline,
treated minus control (:mod:`sim.analysis`), with a t-based 95 % CI across subjects; the header says which
trial design and engine produced the numbers.
"""

from __future__ import annotations

import numpy as np

from sim import analysis
from sim.schema import vocabulary
from sim.stats import mean_ci


def time_label(t: float) -> str:
    if t < 1:
        return f"at {t * 60:.0f} min (during infusion)"
    if t < 48:
        return f"at {t:g} h"
    return f"at day {t / 24:g}"


def design_text(ds) -> str:
    """One sentence on how the numbers were produced (trial design, engine, baseline scans)."""
    noise = ds.attrs.get("trial_noise", "")
    engine = ds.attrs.get("engine", "simulated")
    nb = ds.attrs.get("baseline_scans", 1)
    how = ("expected values of the linearised network (no sampling noise)" if engine == "linear" else
           "simulated scans")
    design = {"common": "common scan noise across conditions (a crossover with identical scan noise)",
              "independent": "independent scan noise per condition (a parallel-group trial)"}.get(noise, "")
    out = f"Numbers are {how}"
    if design and engine != "linear":
        out += f"; trial design: {design}"
    return out + f"; baseline = mean of {nb} scan(s) before time 0."


def dosing_text(ds) -> str:
    """One line: each condition's infusions (dose per infusion in mg/kg, how many; 0 = saline) and TMS
    sessions, read from the run's dosing events; "" if no condition is dosed."""
    if "infusion_dose_mg_per_kg" not in ds:
        return ""
    parts = []
    for i, c in enumerate(str(c) for c in ds["condition"].values):
        doses = [float(d) for d in np.asarray(ds["infusion_dose_mg_per_kg"].values[i], dtype=float)
                 if np.isfinite(d)]
        n_tms = int(np.isfinite(np.asarray(ds["tms_session_h"].values[i], dtype=float)).sum()) \
            if "tms_session_h" in ds else 0
        what = []
        if doses:
            uniq = sorted(set(doses))
            dose = "saline (0 mg/kg)" if uniq == [0.0] else " / ".join(f"{d:g} mg/kg" for d in uniq)
            what.append(f"{dose} x{len(doses)}")
        if n_tms:
            what.append(f"TMS x{n_tms}")
        if what:
            parts.append(f"{c} {', '.join(what)}")
    return "Dosing (per infusion, number of infusions): " + "; ".join(parts) + "." if parts else ""


def summary_text(ds, metric_names) -> str:
    lines = []
    n = ds.sizes["subject"]
    if ds.sizes.get("time_h", 1) == 1:
        cond = str(ds["condition"].values[0])
        lines.append(f"{ds.attrs.get('model')} model, {cond}, {n} subjects (cohort mean, 95% CI across subjects):")
        for m in metric_names:
            r = mean_ci(ds[m].values.reshape(-1))
            lines.append(f"  {m:<22} {float(r.mean):+.3f}  ({float(r.low):+.3f} .. {float(r.high):+.3f})")
        return "\n".join(lines)
    voc = vocabulary(ds)
    key = voc.key_metrics or {m: m for m in metric_names[:4]}
    lines.append(f"{ds.attrs.get('model')} model, {n} subjects per condition, depressed preset "
                 f"{ds.attrs.get('depressed_phenotype')}. Effects are paired changes from each subject's "
                 f"baseline, treated minus control, mean (95% CI). {design_text(ds)}")
    if dosing_text(ds):
        lines.append(dosing_text(ds))
    for c in voc.contrasts:
        for t in analysis.present_times(ds, c.times_h):
            parts = []
            for m, name in list(key.items())[:4]:
                r = analysis.contrast_ci(ds[m], c.treated, c.control, t)
                parts.append(f"{name} {float(r.mean):+.3f} ({float(r.low):+.3f}..{float(r.high):+.3f})")
            lines.append(f"- {time_label(t)}, {c.title(voc.labels)}: " + "; ".join(parts))
    if not voc.contrasts:
        lines.append("- (the experiment declares no contrast whose conditions are all in this run)")
    return "\n".join(lines)
