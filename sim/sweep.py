"""Gather the run directories of a Hydra multirun sweep into one table and one dose-response figure.

Usage: ``dmnsim-sweep-summary multirun/<date>/<time>`` (the directory Hydra prints). Each job directory
holds ``metrics.csv`` and ``.hydra/overrides.yaml``; the swept overrides become columns. Writes
``sweep_summary.csv`` (one row per job, condition, subject, time_h, metric) and ``sweep_effects.csv`` and
``sweep_dose_response.png`` (treated minus control change from baseline, per swept value) into the
sweep directory; existing files are never overwritten.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from sim import analysis
from sim.schema import vocabulary


def _read_overrides(job: Path) -> dict[str, str]:
    import yaml

    f = job / ".hydra" / "overrides.yaml"
    out = {}
    for item in (yaml.safe_load(f.read_text()) if f.is_file() else None) or []:
        k, _, v = str(item).partition("=")
        out[k.lstrip("+~")] = v
    return out


def gather(sweep_dir: Path):
    """All jobs' metrics.csv with the swept overrides as extra columns (a pandas DataFrame)."""
    import pandas as pd

    frames = []
    for csv in sorted(sweep_dir.glob("*/metrics.csv")):
        job = csv.parent
        df = pd.read_csv(csv)
        df.insert(0, "job", job.name)
        for k, v in _read_overrides(job).items():
            if not k.startswith("hydra"):
                df[k] = v
        frames.append(df)
    if not frames:
        raise SystemExit(f"dmnsim-sweep-summary: no */metrics.csv under {sweep_dir}")
    return pd.concat(frames, ignore_index=True)


def _job_dataset(job: Path):
    import xarray as xr

    nc = job / "results.nc"
    if not nc.is_file():
        return None
    with xr.open_dataset(nc, engine="h5netcdf") as ds:
        keep = [k for k in ds.data_vars if ds[k].dims == ("condition", "subject", "time_h")]
        return ds[keep].load()


def effects(sweep_dir: Path, df, treated: str | None = None, control: str | None = None):
    """Per job, key metric and scan time after 0: the paired contrast treated minus control (change from each
    subject's baseline, :mod:`sim.analysis`), mean and t-CI. Without ``treated``/``control`` each job's first
    declared contrast is used (its vocabulary, :mod:`sim.schema`)."""
    import pandas as pd

    swept = [c for c in df.columns if c not in ("job", "condition", "subject", "time_h", "metric", "value")]
    rows = []
    for job, g in df.groupby("job"):
        ds = _job_dataset(sweep_dir / str(job))
        if ds is None:
            continue
        voc = vocabulary(ds)
        tr, co = treated, control
        if tr is None or co is None:
            if not voc.contrasts:
                continue
            tr, co = voc.contrasts[0].treated, voc.contrasts[0].control
        if tr not in voc.conditions or co not in voc.conditions:
            continue
        metrics = list(voc.key_metrics) or [m for m in ds.data_vars][:6]
        times = [float(t) for t in ds["time_h"].values if t > 0]
        for m in metrics:
            for t in times:
                r = analysis.contrast_ci(ds[m], tr, co, t)
                rows.append({"job": job, **{k: g[k].iloc[0] for k in swept}, "treated": tr, "control": co,
                             "metric": m, "time_h": t, "effect": float(r.mean), "ci_low": float(r.low),
                             "ci_high": float(r.high), "n_subjects": int(r.n)})
    return pd.DataFrame(rows)


def plot_effects(eff, swept: str, path: Path) -> None:
    from matplotlib.figure import Figure

    metrics = list(dict.fromkeys(eff["metric"]))[:6]
    fig = Figure(figsize=(4.2 * len(metrics), 3.6), layout="constrained")
    axes = fig.subplots(1, len(metrics), squeeze=False)[0]
    for ax, m in zip(axes, metrics, strict=True):
        e = eff[eff["metric"] == m]
        for t, g in e.groupby("time_h"):
            g = g.assign(x=g[swept].astype(float)).sort_values("x")
            ax.errorbar(g["x"], g["effect"], yerr=[g["effect"] - g["ci_low"], g["ci_high"] - g["effect"]],
                        marker="o", capsize=3, label=f"{t:g} h")
        ax.axhline(0, color="k", lw=0.8)
        ax.set_xscale("log")
        ax.set_title(m)
        ax.set_xlabel(swept)
        ax.set_ylabel(f"{e['treated'].iloc[0]} − {e['control'].iloc[0]}\nchange from baseline (r)", fontsize=8)
    axes[0].legend(title="scan time", fontsize=8)
    fig.suptitle("Sweep: effect vs swept value (mean, 95% t-CI across subjects)")
    fig.savefig(path, dpi=130)


def summarize(sweep_dir: Path, treated: str | None = None, control: str | None = None) -> list[Path]:
    out = [sweep_dir / "sweep_summary.csv", sweep_dir / "sweep_effects.csv", sweep_dir / "sweep_dose_response.png"]
    for p in out:
        if p.exists():
            raise SystemExit(f"dmnsim-sweep-summary: {p} exists; refusing to overwrite")
    df = gather(sweep_dir)
    df.to_csv(out[0], index=False)
    eff = effects(sweep_dir, df, treated, control)
    eff.to_csv(out[1], index=False)
    swept = [c for c in eff.columns if c not in ("job", "treated", "control", "metric", "time_h", "effect",
                                                  "ci_low", "ci_high", "n_subjects")]
    varying = [c for c in swept if eff[c].nunique() > 1]  # the swept overrides, not the fixed ones
    numeric = [c for c in varying if np.all([_is_float(v) for v in eff[c]])]
    if numeric and len(eff):
        plot_effects(eff, numeric[0], out[2])
    else:
        out = out[:2]
    return out


def _is_float(v) -> bool:
    try:
        float(v)
        return True
    except (TypeError, ValueError):
        return False


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sweep_dir", type=Path)
    ap.add_argument("--treated", default=None, help="condition (default: each job's first declared contrast)")
    ap.add_argument("--control", default=None)
    a = ap.parse_args(argv)
    for p in summarize(a.sweep_dir, a.treated, a.control):
        print(p)
    sys.exit(0)
