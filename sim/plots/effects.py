"""Effect figures: the paired contrasts the experiment declares, drawn as effects (treated − control).

* :func:`fig_effects` (``effects.png``, the headline figure): for each declared contrast (rows) and each key
  metric (columns) the paired effect over scan time, change(treated) − change(control) per subject
  (:func:`sim.analysis.paired_contrast`), cohort mean with its 95% t-CI (:func:`sim.analysis.ci`), a zero line
  and the dosing of both arms marked along the bottom.
* :func:`fig_fc_differences` (``fc_differences.png``): the same paired effect on every region pair, as FC
  difference matrices at each contrast's times, on a colour scale fitted to the differences.

Both read the contrasts and key metrics from the results (:func:`sim.schema.vocabulary`), never from names.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from sim import analysis
from sim.plots._common import (
    INFUSION_DURATION_H,
    baseline_text,
    condition_colors,
    draw_rug,
    fmt_time,
    make_rug_room,
    metric_label,
    region_order,
    rug_legend_handles,
)
from sim.schema import ContrastSpec, vocabulary
from sim.stats import MeanCI

#: at most this many key metrics (columns) in :func:`fig_effects`: a slide holds no more
MAX_EFFECT_METRICS = 5
#: at most this many times (columns) per contrast in :func:`fig_fc_differences`
MAX_DIFF_TIMES = 5
#: the colour scale of :func:`fig_fc_differences` ends at this percentile of |effect| over all panels
DIFF_SCALE_PERCENTILE = 99.0
#: symmetric-log time axis: linear below 1 h (so that 0 = the first infusion fits), logarithmic above
_LINTHRESH_H = 1.0
_TICKS_H = (0.0, 1.0, 4.0, 12.0, 24.0, 72.0, 168.0, 336.0, 672.0, 1344.0)


def _figure(width, height):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def effect_metrics(ds, metrics: Sequence[str] | None = None) -> list[str]:
    """The metrics of :func:`fig_effects`: the experiment's key metrics (first :data:`MAX_EFFECT_METRICS`)."""
    if metrics is None:
        metrics = list(vocabulary(ds).key_metrics)[:MAX_EFFECT_METRICS]
    return [m for m in metrics if m in ds.data_vars and ds[m].dims == ("condition", "subject", "time_h")]


def effect_series(ds, metric: str, contrast: ContrastSpec) -> tuple[np.ndarray, MeanCI]:
    """(scan times after 0, cohort mean and CI of the paired effect at each): what :func:`fig_effects` draws."""
    d = analysis.paired_contrast(ds[metric], contrast.treated, contrast.control)
    t = np.asarray(d["time_h"].values, dtype=float)
    post = np.flatnonzero(t >= 0)
    return t[post], analysis.ci(d.isel(time_h=post))


def _time_axis(ax, t_max_h: float) -> None:
    ax.set_xscale("symlog", linthresh=_LINTHRESH_H, linscale=0.6)
    ticks = [t for t in _TICKS_H if t <= t_max_h * 1.01]
    ax.set_xticks(ticks, [_tick(t) for t in ticks])
    ax.minorticks_off()
    ax.set_xlim(-0.35, t_max_h * 1.15)
    ax.grid(alpha=0.25, lw=0.5)


def _wrap(text: str, width: int) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width))


def _tick(t: float) -> str:
    if t == 0:
        return "0"
    if t < 1:
        return f"{t * 60:.0f}m"
    if t < 24:
        return f"{t:g}h"
    return f"{t / 24:g}d"


def fig_effects(ds, metrics: Sequence[str] | None = None,
                contrasts: Sequence[ContrastSpec] | None = None):
    """The headline figure: each declared contrast's paired effect over time, per key metric.

    Panel (contrast c, metric m): mean over subjects of [m(treated, t) − baseline] − [m(control, t) − baseline]
    at every scan t ≥ 0 with its 95% t-CI band, a zero line (no effect), larger markers at the contrast's
    declared times (those the summary and the claims read), and both arms' dosing along the bottom. The y axis
    is shared within a metric's column so effects of different contrasts compare. Returns ``None`` without a
    declared contrast or a key metric.
    """
    voc = vocabulary(ds)
    contrasts = list(voc.contrasts if contrasts is None else contrasts)
    names = effect_metrics(ds, metrics)
    if not contrasts or not names:
        return None
    colors = condition_colors(ds)
    labels = voc.labels
    t_max = float(np.max(ds["time_h"].values))
    nr, nc = len(contrasts), len(names)
    fig = _figure(1.0 + 3.5 * nc, 1.5 + 2.55 * nr)
    axs = fig.subplots(nr, nc, squeeze=False, sharex=True, sharey="col")
    line_col = "#b2182b"
    for i, con in enumerate(contrasts):
        for j, m in enumerate(names):
            ax = axs[i, j]
            t, ci = effect_series(ds, m, con)
            ax.axhline(0.0, color="0.2", lw=0.9, zorder=2)
            ax.fill_between(t, ci.low, ci.high, color=line_col, alpha=0.2, lw=0, zorder=3)
            ax.plot(t, ci.mean, color=line_col, lw=1.6, marker="o", ms=2.8, zorder=4)
            at = np.isin(np.round(t, 6), np.round(np.asarray(con.times_h, dtype=float), 6))
            ax.plot(t[at], ci.mean[at], ls="none", marker="o", ms=6, mfc=line_col, mec="k", mew=0.6, zorder=5)
            _time_axis(ax, t_max)
            if i == 0:
                name = voc.key_metrics.get(m) or metric_label(m)[0].split(" (")[0]
                ax.set_title(f"{name}\n(Δ {metric_label(m)[1]})", fontsize=11.5, fontweight="bold")
            if j == 0:
                ax.set_ylabel(_wrap(con.title(labels), 26), fontsize=10.5, fontweight="bold")
            if i == nr - 1:
                ax.set_xlabel("time since first dose\n(linear to 1 h, then log)", fontsize=9)
            ax.tick_params(labelsize=8.5)
    # dosing rugs once the shared y limits are final
    for j in range(nc):
        col = axs[:, j]
        col[0].relim()
        col[0].autoscale(axis="y")
        lo, hi = col[0].get_ylim()
        span = max(abs(lo), abs(hi))
        col[0].set_ylim(min(lo, -0.05 * span), max(hi, 0.05 * span))
        make_rug_room(col[0], 2)
    for i, con in enumerate(contrasts):
        arms = [con.treated, con.control]
        for j in range(nc):
            draw_rug(axs[i, j], ds, arms, {con.treated: colors[con.treated], con.control: "0.55"})
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    n_sub = int(ds.sizes["subject"])
    handles = [Line2D([], [], color=line_col, lw=1.6, marker="o", ms=3, label="effect, cohort mean"),
               Patch(color=line_col, alpha=0.25, label="95% CI of the mean (t, across subjects)"),
               Line2D([], [], ls="none", marker="o", ms=6, mfc=line_col, mec="k", label="the contrast's test times"),
               Line2D([], [], color="0.2", lw=0.9, label="0 = no effect")]
    handles += rug_legend_handles(ds, sorted({c for con in contrasts for c in (con.treated, con.control)}))
    title = ("Effect of each treatment over time: change from baseline, treated minus its control "
             f"(same {n_sub} virtual subjects)")
    # the title is the legend's title: a suptitle and an "outside upper" legend would overlap
    fig.legend(handles=handles, loc="outside upper center", ncol=min(7, len(handles)), fontsize=9.5, frameon=False,
               title=title, title_fontproperties={"size": 13.5, "weight": "bold"})
    fig.supxlabel(f"Effect per subject = [treated(t) − baseline] − [control(t) − baseline]; baseline = "
                  f"{baseline_text(ds)}. Band: 95% CI of the cohort mean, mean ± t(0.975, n−1)·SD/√n.\n"
                  "Dosing markers along the bottom: lower row = treated arm (its colour), upper row = control arm "
                  "(grey). Rows: the contrasts the experiment declares; columns: its key metrics.",
                  fontsize=9, color="0.25")
    return fig


# ----------------------------------------------------------------------------------------------- FC differences
def diff_times(ds, contrast: ContrastSpec) -> list[float]:
    """The times of a contrast's FC difference matrices: its network-change times, else its test times."""
    times = list(contrast.network_change_h) or list(contrast.times_h)
    return analysis.present_times(ds["fc"], times)[:MAX_DIFF_TIMES]


def fc_difference(ds, contrast: ContrastSpec, time_h: float) -> MeanCI:
    """Cohort mean and CI of the paired FC change (treated − control, from baseline) at one scan time."""
    have = {str(c) for c in ds["condition"].values}
    arms = [c for c in (contrast.treated, contrast.control) if c is not None and c in have]  # missing: MissingData
    fc = ds["fc"].sel(condition=arms).astype(float)  # the two arms only: not a float64 copy of every condition
    d = analysis.paired_contrast(fc, contrast.treated, contrast.control, time_h)
    return analysis.ci(d.transpose("subject", "region", "region_to"))


def fig_fc_differences(ds, contrasts: Sequence[ContrastSpec] | None = None, ncols: int = 3):
    """FC difference matrices: one panel per (contrast, time), the cohort-mean paired change of every region
    pair, treated − control from baseline, all on one colour scale fitted to the differences (the
    :data:`DIFF_SCALE_PERCENTILE` percentile of |effect| over all panels, rounded up). Returns ``None`` without
    ``fc`` or a contrast with a scan time."""
    if "fc" not in ds:
        return None
    voc = vocabulary(ds)
    contrasts = list(voc.contrasts if contrasts is None else contrasts)
    panels = [(c, t) for c in contrasts for t in diff_times(ds, c)]
    if not panels:
        return None
    order, nets, order_nets = region_order(ds)
    names = [str(r) for r in ds["region"].values[order]]
    n = len(order)
    mats = []
    for c, t in panels:
        m = np.array(fc_difference(ds, c, t).mean, dtype=float)[np.ix_(order, order)]
        np.fill_diagonal(m, np.nan)
        mats.append(m)
    vals = np.concatenate([np.abs(m[np.isfinite(m)]) for m in mats])
    vmax = float(np.percentile(vals, DIFF_SCALE_PERCENTILE)) if vals.size else 1.0
    vmax = _nice(vmax if vmax > 0 else 1.0)
    nc = max(1, min(ncols, len(panels)))
    nr = int(np.ceil(len(panels) / nc))
    fig = _figure(1.9 + 3.4 * nc, 1.4 + 3.75 * nr)
    axs = fig.subplots(nr, nc, squeeze=False).ravel()
    for ax in axs[len(panels):]:
        ax.set_axis_off()
    import matplotlib as mpl

    cmap = mpl.colormaps["RdBu_r"].with_extremes(bad="0.85")
    style = voc.networks
    bounds = np.cumsum([nets.count(k) for k in order_nets])[:-1] - 0.5
    inf_h = float(ds.attrs.get("infusion_duration_h", INFUSION_DURATION_H))
    im = None
    for k, ((c, t), m) in enumerate(zip(panels, mats, strict=True)):
        ax = axs[k]
        im = ax.imshow(m, cmap=cmap, vmin=-vmax, vmax=vmax, interpolation="nearest")
        for b in bounds:
            ax.axhline(b, color="k", lw=0.6)
            ax.axvline(b, color="k", lw=0.6)
        ax.set_xticks(range(n), names, rotation=90)
        ax.set_yticks(range(n), names)
        ax.tick_params(length=0, labelsize=6)
        for lab_list in (ax.get_xticklabels(), ax.get_yticklabels()):
            for lab, net in zip(lab_list, nets, strict=False):
                lab.set_color((style.get(net) or {}).get("color", "#999999"))
        ax.set_title(f"{_wrap(c.title(voc.labels), 34)}\nat {fmt_time(t, inf_h)}", fontsize=10)
    cb = fig.colorbar(im, ax=axs.tolist(), shrink=0.6, aspect=30, pad=0.01, extend="both")
    cb.set_label("ΔFC effect = treated change − control change from baseline\n(Pearson r, cohort mean)")
    fig.suptitle("FC difference matrices: paired effect of each contrast on every region pair\n"
                 f"colour scale ±{vmax:g} (the {DIFF_SCALE_PERCENTILE:g}th percentile of |effect|, rounded up)",
                 fontsize=12, fontweight="bold")
    fig.supxlabel("Regions grouped by network (black lines; labels coloured by network); diagonal blank.\n"
                  f"Baseline = {baseline_text(ds)}; times: each contrast's network-change times, else its test times.",
                  fontsize=9, color="0.25")
    return fig


def _nice(x: float) -> float:
    """``x`` rounded up to 1, 2 or 5 times a power of ten (a readable colour-bar end)."""
    e = 10.0 ** np.floor(np.log10(x))
    for k in (1.0, 2.0, 2.5, 5.0, 10.0):
        if x <= k * e * (1 + 1e-9):
            return float(k * e)
    return float(10 * e)
