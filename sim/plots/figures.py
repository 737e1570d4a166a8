"""Figures of one experiment run: pure functions ``Dataset -> matplotlib Figure`` and :func:`write_figures`.

The input is the experiment :class:`xarray.Dataset` (schema: see ``tests/synthetic.py``). Figures are built on
the non-interactive Agg canvas directly (no pyplot), so they never pop up windows and hold no global state.
A figure whose data are absent from the dataset (e.g. no ``dr_value``) is not drawn: its function returns
``None`` and :func:`write_figures` skips it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from sim import analysis
from sim.plots._common import (
    CI_NOTE,
    INFUSION_DURATION_H,
    baseline_text,
    condition_colors,
    condition_labels,
    dosed_conditions,
    draw_rug,
    fmt_time,
    make_rug_room,
    make_rug_room_top,
    mean_ci,
    metric_label,
    nearest_time,
    network_style,
    rug_legend_handles,
    short_metric,
    when_label,
)
from sim.plots._common import (
    region_order as _region_order,
)
from sim.schema import vocabulary

log = logging.getLogger(__name__)

#: Metrics shown by :func:`fig_metric_timecourses` by default (those missing from a dataset are left out).
#: Scan times of :func:`fig_fc_matrices`: baseline, during the infusion, 24 h, 3 d, 7 d, 14 d.
FC_TIMES = ("baseline", 0.33, 24.0, 72.0, 168.0, 336.0)
#: (condition, time_h) pairs drawn by :func:`write_figures` with :func:`fig_network_change`.
#: Slow states: variable -> (title, y label).
SLOW_STATES = {
    "plasma_ng_per_ml": ("Plasma ketamine concentration", "ketamine (ng/mL)"),
    "nmda_block": ("NMDA-receptor block, total (fraction of receptors blocked)", "fraction blocked (0–1)"),
    "trapped_block": ("NMDA-receptor block, trapped (drug held in closed channels; outlasts the plasma level)",
                      "fraction blocked (0–1)"),
    "plasticity": ("Synaptic plasticity state", "synaptic state (0–1, a.u.)"),
    "tms_state": ("TMS after-effect state", "TMS state (0–1, a.u.)"),
}
_FROM_ZERO = {"plasma_ng_per_ml", "nmda_block", "trapped_block", "plasticity", "tms_state"}  # y axis starts at 0
EARLY_H = 12.0
EARLY_SHARE = 0.2  # a slow state gets an hours panel only if it changes by this share of its range in EARLY_H
_BL_X = -1.6  # where the baseline scan sits in the hours panel (it is really at -24 h: axis break)
_DPI = 150
_NOTE_SIZE = 8  # footnotes (what the CI is, what the markers mean)


# =============================================================================================== helpers
def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _conditions(ds, conditions=None) -> list[str]:
    have = [str(c) for c in ds["condition"].values]
    if conditions is None:
        return have
    bad = [c for c in conditions if c not in have]
    if bad:
        raise ValueError(f"unknown condition(s) {bad}; the dataset has {have}")
    return list(conditions)


def metric_names(ds) -> list[str]:
    """Scalar metric names: ``attrs['metrics']`` if present, else every (condition, subject, time_h) variable."""
    listed = [m.strip() for m in str(ds.attrs.get("metrics", "")).split(",") if m.strip()]
    if listed:
        return [m for m in listed if m in ds.data_vars]
    return [k for k, v in ds.data_vars.items() if v.dims == ("condition", "subject", "time_h")]


def _n_subjects(ds, var: str, condition: str) -> int:
    x = np.asarray(ds[var].sel(condition=condition).values, dtype=float)
    x = x.reshape(x.shape[0], -1)
    return int(np.isfinite(x).any(axis=1).sum())


def _note(sub, text: str) -> None:
    sub.text(0.01, 0.5, text, ha="left", va="center", fontsize=_NOTE_SIZE, color="0.25", wrap=True)


def _layout(fig, n_body: int, header: float, body: Sequence[float], footer: float):
    """Split ``fig`` into a legend header, ``n_body`` rows and a footer note (as subfigures)."""
    ratios = [header, *body, footer]
    subs = fig.subfigures(len(ratios), 1, height_ratios=ratios)
    return subs[0], list(subs[1:-1]), subs[-1]


def _format_early(ax, early_h: float, baseline_slot: bool) -> None:
    ticks = list(np.arange(0, early_h + 1e-9, 2 if early_h <= 16 else 4))
    if baseline_slot:
        ax.set_xlim(_BL_X - 0.9, early_h + 0.4)
        ax.set_xticks([_BL_X, *ticks], ["BL", *[f"{t:g}" for t in ticks]])
        ax.axvline(_BL_X / 2, color="0.6", lw=0.8, ls=(0, (2, 2)))
        ax.text(_BL_X / 2, 1.0, "//", transform=ax.get_xaxis_transform(), ha="center", va="center", fontsize=8,
                color="0.4", clip_on=False)
    else:
        ax.set_xlim(-0.5, early_h + 0.3)
        ax.set_xticks(ticks)
    ax.set_xlabel("hours since first infusion")
    ax.grid(alpha=0.25, lw=0.5)


def _format_late(ax, t_min_h: float, t_max_h: float, early_h: float) -> None:
    from matplotlib.ticker import MultipleLocator

    lo, hi = t_min_h / 24.0, t_max_h / 24.0
    pad = 0.02 * (hi - lo)
    ax.set_xlim(lo - pad, hi + pad)
    span = hi - lo
    ax.xaxis.set_major_locator(MultipleLocator(7 if span > 21 else (2 if span > 6 else 1)))
    ax.xaxis.set_minor_locator(MultipleLocator(1 if span > 6 else 0.25))
    ax.axvspan(0, early_h / 24.0, color="0.88", lw=0, zorder=0)
    ax.set_xlabel("days since first infusion (grey: the hours panel)")
    ax.grid(alpha=0.25, lw=0.5)


def _time_pair(sub):
    """Hours panel and days panel of one quantity, sharing the y axis."""
    axs = sub.subplots(1, 2, sharey=True, gridspec_kw={"width_ratios": [1.0, 2.3]})
    axs[1].tick_params(labelleft=True)
    return axs[0], axs[1]


def _finish_y(ax_e, ax_l, ds, dosed, colors, floor_zero: bool = False) -> None:
    """Autoscale the shared y axis, make room below the data for the dosing markers and draw them.

    ``floor_zero`` (a quantity that is never negative): the axis starts at 0 and the markers go along the top."""
    ax_e.relim()
    ax_e.autoscale(axis="y")
    lo, hi = ax_e.get_ylim()
    if floor_zero:
        ax_e.set_ylim(0.0, hi)
        ticks = [v for v in ax_e.get_yticks() if -1e-12 <= v <= hi + 1e-12]
        make_rug_room_top(ax_e, len(dosed))
        ax_e.set_yticks(ticks)
        for ax, scale in ((ax_e, 1.0), (ax_l, 1 / 24.0)):
            if ax is not None:
                draw_rug(ax, ds, dosed, colors, scale, top=True)
        return
    ticks = [v for v in ax_e.get_yticks() if lo - 1e-12 <= v <= hi + 1e-12]
    make_rug_room(ax_e, len(dosed))
    if dosed:
        ax_e.set_yticks(ticks)  # no tick labels in the marker zone
        for ax in (ax_e, ax_l):
            if ax is not None:
                ax.axhline(lo, color="0.75", lw=0.6, zorder=1)
    for ax, scale in ((ax_e, 1.0), (ax_l, 1 / 24.0)):
        if ax is not None:
            draw_rug(ax, ds, dosed, colors, scale)


def _condition_handles(conds, colors, ns, labels, marker=None, styles=None):
    from matplotlib.lines import Line2D

    st = styles or {}
    return [Line2D([], [], color=colors[c], lw=st.get(c, (2, "-"))[0], ls=st.get(c, (2, "-"))[1], marker=marker,
                   ms=4, label=f"{labels[c]} (n={ns[c]})") for c in conds]


_DASHES = ("-", (0, (6, 2)), (0, (2, 1.5)), (0, (1, 1.2)), (0, (4, 1, 1, 1)), (0, (8, 3)), (0, (3, 3)))


def _overlap_style(k: int) -> tuple[float, object]:
    """(line width, dash) of the k-th condition: each drawn thinner and with its own dash pattern, so that curves
    lying exactly on top of each other (same subjects, same infusion) all stay visible."""
    return max(1.0, 4.2 - 0.8 * k), _DASHES[k % len(_DASHES)]


def _header_legend(sub, handles, title: str, ncol: int) -> None:
    sub.suptitle(title, fontsize=13, fontweight="bold")
    sub.legend(handles=handles, loc="center", ncol=ncol, fontsize=8.5, frameon=False, handlelength=2.2,
               columnspacing=1.6)


# =============================================================================================== (a) slow states
def fig_slow_states(ds, conditions: Sequence[str] | None = None, early_h: float = EARLY_H) -> Figure | None:
    """Slow pharmacological / plasticity states vs time: cohort mean with 95% CI band per condition.

    One row per state present in ``ds`` (plasma, NMDA block total and trapped, plasticity, TMS state), each with
    an hours panel (first ``early_h`` h) and a days panel (whole experiment). Only conditions in which the
    state is non-zero are drawn. Returns ``None`` if no state is present.
    """
    if "time_fine_h" not in ds.dims:
        return None
    conds = _conditions(ds, conditions)
    colors = condition_colors(ds)
    t = np.asarray(ds["time_fine_h"].values, dtype=float)
    rows = []
    for var in SLOW_STATES:
        if var not in ds:
            continue
        shown = [c for c in conds if np.nanmax(np.abs(ds[var].sel(condition=c).values), initial=0.0) > 1e-9]
        if shown:
            rows.append((var, shown))
    if not rows:
        return None
    fig = _figure(15, 1.2 + 2.75 * len(rows) + 0.4)
    head, body, foot = _layout(fig, len(rows), 1.0, [2.75] * len(rows), 0.35)
    used: list[str] = []
    early = (t >= -1.0) & (t <= early_h + 0.5)
    drawn = [c for c in conds if any(c in shown for _, shown in rows)]
    styles = {c: _overlap_style(k) for k, c in enumerate(drawn)}
    for sub, (var, shown) in zip(body, rows, strict=True):
        title, ylabel = SLOW_STATES[var]
        sub.suptitle(title, fontsize=11, x=0.01, ha="left")
        cis = {c: mean_ci(ds[var].sel(condition=c).transpose("subject", "time_fine_h").values, axis=0)
               for c in shown}
        # an hours panel only if the state does something in the first hours (else it would be near-empty)
        rng_all = max(np.nanmax(ci.mean) - np.nanmin(ci.mean) for ci in cis.values())
        rng_early = max(np.nanmax(ci.mean[early]) - np.nanmin(ci.mean[early]) for ci in cis.values())
        if rng_early >= EARLY_SHARE * rng_all:
            ax_e, ax_l = _time_pair(sub)
        else:
            ax_e, ax_l = None, sub.subplots(1, 1)
        for c in shown:
            if c not in used:
                used.append(c)
            ci = cis[c]
            lw, ls = styles[c]
            for ax, sel, scale in ((ax_e, early, 1.0), (ax_l, slice(None), 1 / 24.0)):
                if ax is None:
                    continue
                x = t[sel] * scale
                ax.plot(x, ci.mean[sel], color=colors[c], lw=lw, ls=ls, alpha=0.9, solid_capstyle="butt")
                ax.fill_between(x, ci.low[sel], ci.high[sel], color=colors[c], alpha=0.12, lw=0)
        _format_late(ax_l, t.min(), t.max(), early_h if ax_e is not None else 0.0)
        ax_l.set_title("whole experiment", fontsize=9, loc="left")
        if ax_e is not None:
            _format_early(ax_e, early_h, baseline_slot=False)
            ax_e.set_ylabel(ylabel)
            ax_e.set_title(f"first {early_h:g} h", fontsize=9, loc="left")
            _finish_y(ax_e, ax_l, ds, dosed_conditions(ds, shown), colors, floor_zero=var in _FROM_ZERO)
        else:
            ax_l.set_ylabel(ylabel)
            ax_l.set_title(f"whole experiment (no hours panel: the state changes by less than {EARLY_SHARE:.0%} "
                           f"of its range in the first {early_h:g} h)", fontsize=9, loc="left")
            _finish_y(ax_l, None, ds, dosed_conditions(ds, shown), colors, floor_zero=var in _FROM_ZERO)
            for line in ax_l.get_lines():  # _finish_y drew the markers on the hours scale: redo them in days
                if line.get_marker() in ("^", "|"):
                    line.remove()
            draw_rug(ax_l, ds, dosed_conditions(ds, shown), colors, 1 / 24.0, top=var in _FROM_ZERO)
    ns = {c: _n_subjects(ds, rows[0][0], c) for c in used}
    shown_conds = [c for c in conds if c in used]
    handles = _condition_handles(shown_conds, colors, ns, condition_labels(ds), styles=styles)
    handles += rug_legend_handles(ds, shown_conds)
    _header_legend(head, handles, "Slow states: drug level, NMDA block, plasticity and TMS state over time",
                   ncol=min(5, len(handles)))
    _note(foot, CI_NOTE + " Only conditions in which a state is non-zero are drawn. Conditions with the same "
          "infusion (same virtual subjects, so the same pharmacokinetics) lie exactly on top of each other: each is "
          "drawn thinner and with its own dash pattern so all stay visible. Dosing markers (top of each panel, one "
          "row per condition) show infusion starts and TMS sessions.")
    return fig


# =============================================================================================== (b) metric courses
def fig_metric_timecourses(ds, metrics: Sequence[str] | None = None, conditions: Sequence[str] | None = None,
                           early_h: float = EARLY_H, ncols: int = 2) -> Figure | None:
    """Each metric over scan time per condition: cohort mean with t-based 95% CI, baseline dashed, dosing marks.

    Each metric gets an hours panel (baseline ``BL`` + first ``early_h`` h) and a days panel. Metrics missing from
    ``ds`` are left out; returns ``None`` if none is present.
    """
    metrics = list(vocabulary(ds).key_metrics or metric_names(ds)[:8]) if metrics is None else metrics
    present = [m for m in metrics if m in ds.data_vars and ds[m].dims == ("condition", "subject", "time_h")]
    missing = [m for m in metrics if m not in present]
    if missing:
        log.info("fig_metric_timecourses: metrics not in the dataset, left out: %s", missing)
    if not present:
        return None
    conds = _conditions(ds, conditions)
    colors = condition_colors(ds)
    t = np.asarray(ds["time_h"].values, dtype=float)
    post = t >= 0
    early = post & (t <= early_h + 1e-9)
    dosed = dosed_conditions(ds, conds)
    ncols = max(1, min(ncols, len(present)))
    nrows = int(np.ceil(len(present) / ncols))
    fig = _figure(9.0 * ncols, 1.3 + 3.0 * nrows + 0.4)
    head, body, foot = _layout(fig, 1, 1.2, [3.0 * nrows], 0.35)
    # one grid of axes (nested subfigures per metric made the layout the slowest part of the run's figures)
    grid = body[0].subplots(nrows, 2 * ncols, squeeze=False, gridspec_kw={"width_ratios": [1.0, 2.3] * ncols})
    pairs = [(grid[r, 2 * k], grid[r, 2 * k + 1]) for r in range(nrows) for k in range(ncols)]
    for ax_e, ax_l in pairs[len(present):]:
        ax_e.remove()
        ax_l.remove()
    bl_x = _BL_X + np.linspace(-0.45, 0.45, len(conds)) if len(conds) > 1 else np.array([_BL_X])
    for (ax_e, ax_l), m in zip(pairs, present, strict=False):
        title, unit = metric_label(m)
        ax_l.sharey(ax_e)
        ax_e.set_title(title, fontsize=10.5, loc="left")
        for ic, c in enumerate(conds):
            v = ds[m].sel(condition=c)
            vals = v.transpose("subject", "time_h").values
            ci = mean_ci(vals, axis=0)
            if not np.isfinite(ci.mean).any():
                continue
            bl = analysis.ci(analysis.baseline(v))
            col = colors[c]
            for ax in (ax_e, ax_l):
                ax.axhline(float(bl.mean), color=col, lw=0.9, ls="--", alpha=0.75, zorder=1)
            # hours panel: baseline in its own slot, then the early scans
            yerr = np.array([[float(bl.mean - bl.low)], [float(bl.high - bl.mean)]])
            ax_e.errorbar([bl_x[ic]], [float(bl.mean)], yerr=yerr, color=col, marker="o", ms=3.5, capsize=2, lw=1)
            ax_e.plot(t[early], ci.mean[early], color=col, marker="o", ms=3.5, lw=1.4)
            ax_e.fill_between(t[early], ci.low[early], ci.high[early], color=col, alpha=0.15, lw=0)
            td = t / 24.0
            ax_l.plot(td, ci.mean, color=col, marker="o", ms=3, lw=1.4)
            ax_l.fill_between(td, ci.low, ci.high, color=col, alpha=0.15, lw=0)
        _format_early(ax_e, early_h, baseline_slot=True)
        _format_late(ax_l, t.min(), t.max(), early_h)
        ax_e.set_ylabel(unit)
        _finish_y(ax_e, ax_l, ds, dosed, colors)
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    ns = {c: _n_subjects(ds, present[0], c) for c in conds}
    handles = _condition_handles(conds, colors, ns, condition_labels(ds), marker="o")
    bl_text = f"dashed: each condition's baseline ({baseline_text(ds)})"
    handles += [Line2D([], [], color="0.3", ls="--", lw=1, label=bl_text),
                Patch(color="0.3", alpha=0.2, label="95% CI of the mean (t-based)")]
    handles += rug_legend_handles(ds, conds)
    _header_legend(head, handles, "Network metrics over time, per condition (cohort mean, 95% CI)", ncol=5)
    _note(foot, CI_NOTE + f" Hours panels: BL = baseline, {baseline_text(ds)} (axis break), then scans up to "
          f"{early_h:g} h; days panels: all scans. Markers at the bottom: dosing, one row per dosed condition.")
    return fig


# =============================================================================================== (c) FC matrices
def _resolve_time(ds, var: str, condition: str, request) -> tuple[float, bool]:
    """(scan time, exact?) for a request in hours, among scans with data for ``condition``."""
    t = np.asarray(ds["time_h"].values, dtype=float)
    x = np.asarray(ds[var].sel(condition=condition).values, dtype=float)
    axes = tuple(i for i, d in enumerate(ds[var].sel(condition=condition).dims) if d != "time_h")
    valid = np.isfinite(x).any(axis=axes)
    got = nearest_time(t, float(request), valid)
    return got, bool(np.isclose(got, float(request)))


def _is_baseline(request) -> bool:
    if isinstance(request, str):
        if request.lower() not in ("baseline", "bl"):
            raise ValueError(f"time request {request!r}: use 'baseline' or a number of hours")
        return True
    return False


def fig_fc_matrices(ds, times: Sequence = FC_TIMES, conditions: Sequence[str] | None = None) -> Figure | None:
    """Cohort-mean FC matrices, one row per condition and one column per scan time.

    Regions are grouped by network (black lines = network blocks; tick labels coloured by network). Colour map
    RdBu_r shared by all panels and centred at 0. A requested time with no scan uses the nearest scan; the
    panel title says so. Returns ``None`` if ``ds`` has no ``fc``.
    """
    if "fc" not in ds:
        return None
    conds = _conditions(ds, conditions)
    order, nets, order_nets = _region_order(ds)
    names = [str(r) for r in ds["region"].values[order]]
    n = len(order)
    inf_h = float(ds.attrs.get("infusion_duration_h", INFUSION_DURATION_H))
    mats, titles = {}, {}
    for c in conds:
        for j, req in enumerate(times):
            v = ds["fc"].sel(condition=c)
            if _is_baseline(req):  # the baseline as sim.analysis defines it (mean of the scans before 0)
                fc, exact = analysis.baseline(v).transpose("subject", "region", "region_to").values, True
            else:
                tt, exact = _resolve_time(ds, "fc", c, req)
                fc = v.sel(time_h=tt).transpose("subject", "region", "region_to").values
            m = mean_ci(fc, axis=0).mean[np.ix_(order, order)]
            np.fill_diagonal(m, np.nan)
            mats[c, j] = m
            titles[c, j] = None if exact else f"no scan at {req:g} h: nearest {fmt_time(tt, inf_h)}"
    vals = np.concatenate([np.abs(m[np.isfinite(m)]) for m in mats.values()] or [np.array([1.0])])
    vmax = max(0.1, float(np.ceil(np.nanmax(vals) * 10) / 10)) if vals.size else 1.0
    nt, nc, gap = len(times), len(conds), 3
    step = n + gap
    # one mosaic image in one axes (42 separate panels took ~30 s to lay out and draw on a loaded machine)
    mosaic = np.full((nc * step - gap, nt * step - gap), np.nan)
    is_gap = np.ones_like(mosaic, dtype=bool)
    for i, c in enumerate(conds):
        for j in range(nt):
            mosaic[i * step:i * step + n, j * step:j * step + n] = mats[c, j]
            is_gap[i * step:i * step + n, j * step:j * step + n] = False
    fig = _figure(2.4 + 2.45 * nt, 1.9 + 2.45 * nc)
    ax = fig.subplots(1, 1)
    import matplotlib as mpl
    from matplotlib.collections import LineCollection

    cmap = mpl.colormaps["RdBu_r"].with_extremes(bad="0.85")
    style = network_style(ds)
    labels = condition_labels(ds)
    bounds = np.cumsum([nets.count(k) for k in order_nets])[:-1] - 0.5
    # one image: the gaps between panels hold a value above the colour range, drawn in the colour map's "over"
    # colour (white; a non-finite value would be "bad", the blanked diagonal's grey). A second, white image over
    # the gaps doubled the figure's image work (~1 s at 100 subjects per condition).
    cmap = cmap.with_extremes(over="white")
    im = ax.imshow(np.where(is_gap, vmax + 1.0, mosaic), cmap=cmap, vmin=-vmax, vmax=vmax, interpolation="nearest")
    segs = []
    for i in range(nc):
        for j in range(nt):
            y0, x0 = i * step - 0.5, j * step - 0.5
            for b in bounds:
                segs += [[(x0, y0 + b + 0.5), (x0 + n, y0 + b + 0.5)], [(x0 + b + 0.5, y0), (x0 + b + 0.5, y0 + n)]]
            segs += [[(x0, y0), (x0 + n, y0)], [(x0 + n, y0), (x0 + n, y0 + n)], [(x0 + n, y0 + n), (x0, y0 + n)],
                     [(x0, y0 + n), (x0, y0)]]
    ax.add_collection(LineCollection(segs, colors="k", linewidths=0.6))
    ax.set_xticks([j * step + k for j in range(nt) for k in range(n)], names * nt, rotation=90)
    ax.set_yticks([i * step + k for i in range(nc) for k in range(n)], names * nc)
    ax.tick_params(length=0, labelsize=5.5)
    for lab_list in (ax.get_xticklabels(), ax.get_yticklabels()):
        for k, lab in enumerate(lab_list):
            lab.set_color(style.get(nets[k % n], {}).get("color", "#999999"))
    for spine in ax.spines.values():
        spine.set_visible(False)
    for j, req in enumerate(times):
        head = "baseline" if isinstance(req, str) else fmt_time(float(req), inf_h)
        notes = sorted({titles[c, j] for c in conds if titles[c, j]})
        ax.text(j * step + n / 2, -1.5, "\n".join([head, *notes]), ha="center", va="bottom", fontsize=9,
                color="k" if not notes else "#b35900", fontweight="bold" if not notes else "normal")
    for i, c in enumerate(conds):
        import textwrap

        ax.text(-7.5, i * step + n / 2, "\n".join(textwrap.wrap(labels[c], 24)), rotation=90, ha="center",
                va="center", fontsize=9, fontweight="bold", multialignment="center")
    cb = fig.colorbar(im, ax=ax, shrink=0.5, aspect=30, pad=0.01)
    cb.set_label("functional connectivity (Pearson r), cohort mean")
    from matplotlib.patches import Patch

    handles = [Patch(color=style[k]["color"], label=f"{k} ({style[k]['label']})") for k in order_nets if k in style]
    fig.legend(handles=handles, loc="outside lower center", ncol=len(handles), fontsize=9, frameon=False,
               title="region labels coloured by network; black lines separate networks", title_fontsize=9)
    fig.suptitle("Functional connectivity matrices over time (columns) per condition (rows), cohort mean; "
                 "diagonal blanked\n(differences between conditions: fc_differences.png)", fontsize=12,
                 fontweight="bold")
    return fig


# =============================================================================================== (d) network change
_OUTLINE = {"sagittal": ((-17.0, 15.0), 176.0, 140.0), "axial": ((0.0, -17.0), 140.0, 178.0)}


def _delta_fc(ds, condition: str, time_h: float, control: str | None = None):
    """Per-subject change of FC from baseline (minus the control condition's change, if given): the paired
    contrast of :func:`sim.analysis.paired_contrast`, summarised across subjects."""
    t_got, exact = _resolve_time(ds, "fc", condition, time_h)
    have = {str(c) for c in ds["condition"].values}
    arms = [c for c in (condition, control) if c is not None and c in have]  # missing: MissingData
    fc = ds["fc"].sel(condition=arms).astype(float)  # the two arms only: not a float64 copy of every condition
    d = analysis.paired_contrast(fc, condition, control, t_got)
    return analysis.ci(d.transpose("subject", "region", "region_to")), t_got, exact


def _short_name(r: str) -> tuple[str, str]:
    for suf in ("_L", "_R"):
        if r.endswith(suf):
            return r[: -len(suf)], suf[1]
    return r, ""


_MM_PER_PT = 0.45     # MNI mm per typographic point in the network-change views at their figure size
_LABEL_PT = 7.0       # label font size
_NODE_MM = 3.0        # node marker radius in mm (s=55)
_DIRS = ((1, 0), (-1, 0), (1, 1), (-1, 1), (1, -1), (-1, -1), (0, 1), (0, -1))
_RADII_PT = (4.0, 9.0, 15.0, 22.0, 30.0)


def _label_box(pos, d, r_pt, text):
    """(x0, y0, x1, y1) in mm of a label placed ``r_pt`` points from ``pos`` in direction ``d``."""
    w = 0.62 * _LABEL_PT * len(text) * _MM_PER_PT
    h = 1.35 * _LABEL_PT * _MM_PER_PT
    u = np.asarray(d, dtype=float) / np.hypot(*d)
    ax, ay = pos + u * r_pt * _MM_PER_PT
    x0 = ax if d[0] > 0 else (ax - w if d[0] < 0 else ax - w / 2)
    y0 = ay if d[1] > 0 else (ay - h if d[1] < 0 else ay - h / 2)
    return np.array([x0, y0, x0 + w, y0 + h])


def _overlap(b, boxes) -> float:
    if not len(boxes):
        return 0.0
    bx = np.asarray(boxes)
    dx = np.minimum(b[2], bx[:, 2]) - np.maximum(b[0], bx[:, 0])
    dy = np.minimum(b[3], bx[:, 3]) - np.maximum(b[1], bx[:, 1])
    return float(np.sum(np.clip(dx, 0, None) * np.clip(dy, 0, None)))


def label_positions(names, xy) -> list[tuple[str, np.ndarray, tuple[int, int], float, np.ndarray]]:
    """Collision-free label placement: (label, node position, direction, offset in pt, box in mm) per label.

    Left/right homologues drawn on top of each other share one label (``HIP L/R``). Labels are placed greedily,
    most crowded node first: the nearest of 8 directions x 5 offsets whose box overlaps no placed label and no
    node (the least overlap if none is free)."""
    xy = np.asarray(xy, dtype=float)
    done: set[int] = set()
    todo = []
    for i, r in enumerate(names):
        if i in done:
            continue
        stem, side = _short_name(r)
        label, pos = r, xy[i]
        if side:
            for k, q in enumerate(names):
                if k != i and _short_name(q)[0] == stem and np.hypot(*(xy[k] - xy[i])) < 14:
                    label, pos = f"{stem} L/R", (xy[i] + xy[k]) / 2
                    done.add(k)
        done.add(i)
        todo.append((label, np.asarray(pos, dtype=float)))
    nodes = np.array([[x - _NODE_MM, y - _NODE_MM, x + _NODE_MM, y + _NODE_MM] for x, y in xy])
    crowd = [int(np.sum(np.hypot(*(xy - p).T) < 20.0)) for _, p in todo]
    placed: list[np.ndarray] = []
    out = []
    for k in np.argsort(crowd, kind="stable")[::-1]:
        label, pos = todo[k]
        best = None
        for r in _RADII_PT:
            for d in _DIRS:
                b = _label_box(pos, d, r, label)
                cost = _overlap(b, placed) + _overlap(b, nodes)
                if best is None or cost < best[0] - 1e-9:
                    best = (cost, d, r, b)
            if best[0] <= 1e-9:
                break
        _, d, r, b = best
        placed.append(b)
        out.append((label, pos, d, r, b))
    return out


def _label_nodes(ax, names, xy) -> None:
    """Region names next to nodes without collisions (:func:`label_positions`); a far label gets a leader line."""
    for label, pos, d, r, _ in label_positions(names, xy):
        u = np.asarray(d, dtype=float) / np.hypot(*d)
        ha = "left" if d[0] > 0 else ("right" if d[0] < 0 else "center")
        va = "bottom" if d[1] > 0 else ("top" if d[1] < 0 else "center")
        arrow = {"arrowstyle": "-", "color": "0.4", "lw": 0.6, "shrinkA": 0, "shrinkB": 3} if r > 5 else None
        ax.annotate(label, pos, xytext=tuple(u * r), textcoords="offset points", ha=ha, va=va, fontsize=_LABEL_PT,
                    color="0.1", zorder=6, arrowprops=arrow,
                    bbox={"boxstyle": "round,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.7})


#: network-change diagrams draw the region pairs with |ΔFC| at least this fraction of the largest |ΔFC|
EDGE_FRACTION = 0.5


def edge_threshold(dv: np.ndarray, fraction: float = EDGE_FRACTION) -> float:
    """The |ΔFC| threshold of a network-change diagram: ``fraction`` of the largest |ΔFC|, rounded down to two
    significant digits (so the stated number is one a reader can check)."""
    top = float(np.nanmax(np.abs(dv))) if np.isfinite(dv).any() else 0.0
    if top <= 0:
        return 0.0
    x = fraction * top
    e = 10.0 ** (np.floor(np.log10(x)) - 1)
    return float(np.floor(x / e) * e)


def fig_network_change(ds, condition: str, time_h: float = 24.0, top_k: int = 40,
                       control: str | None = None, threshold: float | None = None) -> Figure | None:
    """Change of FC from baseline (cohort mean of each subject's ΔFC) drawn on the brain, two views.

    With ``control`` (e.g. the placebo arm) the drawn quantity is the treated change minus the control's
    change for the same subjects, which removes what both arms share (scan-to-scan noise, drift).

    Regions sit at their MNI positions (sagittal: y vs z; axial: x vs y), coloured by network; only the region pairs
    with |ΔFC| ≥ ``threshold`` (default :func:`edge_threshold`; at most the ``top_k`` largest) are drawn,
    coloured by ΔFC (RdBu_r, centred at 0) with width ∝ |ΔFC|.
    Uses the nearest scan to ``time_h``. Returns ``None`` if ``ds`` has no ``fc`` or no MNI coordinates.
    """
    if "fc" not in ds or not all(k in ds.coords for k in ("mni_x", "mni_y", "mni_z")):
        return None
    _conditions(ds, [condition] + ([control] if control else []))
    ci, t_got, exact = _delta_fc(ds, condition, time_h, control)
    style = network_style(ds)
    labels = condition_labels(ds)
    delta = ci.mean
    names = [str(r) for r in ds["region"].values]
    nets = [str(x) for x in ds["network"].values] if "network" in ds.coords else ["?"] * len(names)
    mni = np.stack([np.asarray(ds[k].values, dtype=float) for k in ("mni_x", "mni_y", "mni_z")], axis=1)
    iu = np.triu_indices(len(names), 1)
    dv = delta[iu]
    ok = np.isfinite(dv)
    thr = edge_threshold(dv) if threshold is None else float(threshold)
    above = ok & (np.abs(np.where(ok, dv, 0.0)) >= thr)
    k = min(top_k, int(above.sum()))
    pick = np.argsort(np.where(above, -np.abs(dv), np.inf))[:k]
    pick = pick[np.argsort(np.abs(dv[pick]))]  # strongest drawn last (on top)
    vmax = float(np.max(np.abs(dv[pick]))) if k else 1.0
    vmax = vmax if vmax > 0 else 1.0

    import matplotlib as mpl
    from matplotlib.colors import Normalize
    from matplotlib.patches import Ellipse

    cmap, norm = mpl.colormaps["RdBu_r"], Normalize(-vmax, vmax)
    fig = _figure(14, 7.4)
    axs = fig.subplots(1, 2, gridspec_kw={"width_ratios": [176, 140]})
    views = (("sagittal", 1, 2, "MNI y (mm): posterior ← → anterior", "MNI z (mm): inferior ← → superior"),
             ("axial", 0, 1, "MNI x (mm): left ← → right", "MNI y (mm): posterior ← → anterior"))
    node_colors = [style.get(x, {}).get("color", "#999999") for x in nets]
    for ax, (view, a, b, xl, yl) in zip(axs, views, strict=True):
        centre, w, h = _OUTLINE[view]
        ax.add_patch(Ellipse(centre, w, h, fill=True, fc="0.96", ec="0.45", lw=1.5, zorder=0))
        xy = mni[:, [a, b]]
        for p in pick:
            i, j = iu[0][p], iu[1][p]
            v = dv[p]
            ax.plot(xy[[i, j], 0], xy[[i, j], 1], color=cmap(norm(v)), lw=0.8 + 3.7 * abs(v) / vmax,
                    alpha=0.9, solid_capstyle="round", zorder=2)
        ax.scatter(xy[:, 0], xy[:, 1], s=55, c=node_colors, edgecolors="k", linewidths=0.6, zorder=4)
        _label_nodes(ax, names, xy)
        ax.set_aspect("equal")
        ax.set_xlim(centre[0] - w / 2 - 8, centre[0] + w / 2 + 8)
        ax.set_ylim(centre[1] - h / 2 - 8, centre[1] + h / 2 + 8)
        ax.set_xlabel(xl)
        ax.set_ylabel(yl)
        ax.set_title({"sagittal": "sagittal view (from the side, left and right overlaid)",
                      "axial": "axial view (from above; left hemisphere on the left)"}[view], fontsize=10)
        ax.tick_params(labelsize=8)
    sm = mpl.cm.ScalarMappable(norm=norm, cmap=cmap)
    cb = fig.colorbar(sm, ax=axs, shrink=0.75, pad=0.01)
    cb.set_label("ΔFC = FC(scan) − FC(baseline), Pearson r (cohort mean)" if control is None else
                 "ΔFC = treated change − control change from baseline, Pearson r (cohort mean)")
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], ls="none", marker="o", ms=8, mfc=v["color"], mec="k",
                      label=f"{x} ({v['label']})") for x, v in style.items() if x in nets]
    handles += [Line2D([], [], color=cmap(0.9), lw=3, label="FC increased"),
                Line2D([], [], color=cmap(0.1), lw=3, label="FC decreased")]
    fig.legend(handles=handles, loc="outside lower center", ncol=len(handles), fontsize=9, frameon=False)
    inf_h = float(ds.attrs.get("infusion_duration_h", INFUSION_DURATION_H))
    when = when_label(t_got, inf_h).replace("the infusion", "the first infusion")
    when += "" if exact else f" (nearest scan to the requested {time_h:g} h)"
    n_sub = int(np.nanmax(ci.n)) if ci.n.size else 0
    vs = "" if control is None else f" minus {labels[control]}"
    what = (f"scan − own baseline ({baseline_text(ds)})" if control is None else
            f"treated change − control change, both from the baseline ({baseline_text(ds)}), same subjects")
    if k < int(above.sum()):  # capped: the stated threshold is the smallest drawn |ΔFC|, rounded down
        thr = edge_threshold(np.abs(dv[pick]).min(keepdims=True), 1.0)
        edges = f"only the {k} region pairs of {dv.size} with the largest |ΔFC| (all ≥ {thr:g}) are drawn"
    else:
        edges = (f"only region pairs with |ΔFC| ≥ {thr:g} ({EDGE_FRACTION:g} × the largest) are drawn "
                 f"({k} of {dv.size})")
    fig.suptitle(f"Change in functional connectivity — {labels[condition]}{vs}, scan at {when}\n"
                 f"cohort mean over {n_sub} subjects of ({what});\n{edges}, "
                 "line width ∝ |ΔFC|", fontsize=11)
    return fig


# =============================================================================================== (e) dose-response
#: at most this many metrics in :func:`fig_dose_response` (the key metrics first): the figure fits a page
MAX_DR_METRICS = 6


def dose_response_placebo(ds) -> str | None:
    """The placebo condition that is the dose arm's 0 mg/kg point: role ``placebo``, the dose arm's phenotype,
    with a scan at every dose-arm time. Under the common-noise design its subjects, traits and scan noise are
    the dose arm's, so its change from baseline is the 0 mg/kg arm's (sim/experiment.py)."""
    if "dr_time_h" not in ds.coords:
        return None
    voc = vocabulary(ds)
    ph = ds.attrs.get("dose_response_phenotype")
    times = [float(t) for t in ds["dr_time_h"].values]
    for c in voc.with_role("placebo"):
        if ph is not None and "phenotype" in ds.coords and str(ds["phenotype"].sel(condition=c).values) != ph:
            continue
        if len(analysis.present_times(ds, times)) == len(times):
            return c
    return None


def dose_response_effect(ds, metric: str) -> tuple[np.ndarray, np.ndarray, str | None]:
    """(doses with 0 = placebo first, per-subject effect ``(dose, subject, dr_time_h)``, placebo condition).

    With a placebo condition (:func:`dose_response_placebo`): change from baseline at each dose minus the same
    subject's placebo change at the same time (so 0 mg/kg is 0 by construction); without one: the change from
    baseline itself."""
    dr = ds["dr_value"].sel(dr_metric=metric).transpose("dose_mg_per_kg", "subject", "dr_time_h")
    doses = np.asarray(dr["dose_mg_per_kg"].values, dtype=float)
    vals = np.asarray(dr.values, dtype=float)
    pl = dose_response_placebo(ds) if metric in ds.data_vars else None
    if pl is None:
        return doses, vals, None
    times = [float(t) for t in dr["dr_time_h"].values]
    per = np.stack([analysis.change(ds[metric].sel(condition=pl), t).transpose("subject").values for t in times],
                   axis=-1)
    if not np.any(doses == 0):
        doses, vals = np.r_[0.0, doses], np.concatenate([per[None], vals])
    return doses, vals - per[None], pl


def fig_dose_response(ds, metrics: Sequence[str] | None = None, ncols: int = 3) -> Figure | None:
    """Placebo-corrected change from baseline vs ketamine dose, mean with 95% t CI, one line per ``dr_time_h``.

    Effect per subject = change(dose) − change(placebo) at the same time (:func:`dose_response_effect`); the
    0 mg/kg point is the placebo condition. Key metrics only (at most :data:`MAX_DR_METRICS`). Dose axis:
    symmetric-log (linear below the lowest non-zero dose so that 0 fits). Returns ``None`` without ``dr_value``.
    """
    if "dr_value" not in ds:
        return None
    names = [str(m) for m in ds["dr_metric"].values]
    if metrics is None:
        key = [m for m in vocabulary(ds).key_metrics if m in names]
        metrics = (key or names)[:MAX_DR_METRICS]
    names = [m for m in metrics if m in names]
    if not names:
        return None
    times = np.asarray(ds["dr_time_h"].values, dtype=float)
    inf_h = float(ds.attrs.get("infusion_duration_h", INFUSION_DURATION_H))
    ncols = max(1, min(ncols, len(names)))
    nrows = int(np.ceil(len(names) / ncols))
    fig = _figure(4.8 * ncols, 1.9 + 3.3 * nrows)
    axs = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax in axs[len(names):]:
        ax.remove()
    import matplotlib as mpl
    from matplotlib.transforms import ScaledTranslation

    tcolors = (["#d62728", "#1f77b4"] if len(times) <= 2 else
               [mpl.colormaps["viridis"](x) for x in np.linspace(0, 0.9, len(times))])
    offsets = (np.arange(len(times)) - (len(times) - 1) / 2) * 4.0  # points, to keep error bars apart
    placebo = None
    for ax, m in zip(axs, names, strict=False):
        doses, eff, pl = dose_response_effect(ds, m)
        placebo = placebo or pl
        pos_doses = doses[doses > 0]
        linthresh = float(pos_doses.min()) if pos_doses.size else 1.0
        title, unit = metric_label(m)
        lo, hi = 0.0, 0.0
        for k, (tt, col) in enumerate(zip(times, tcolors, strict=True)):
            ci = mean_ci(eff[:, :, k].T, axis=0)
            # dodge the lines sideways by a few points; such a transform is ignored by autoscaling (set below)
            tr = ax.transData + ScaledTranslation(offsets[k] / 72.0, 0, fig.dpi_scale_trans)
            ax.errorbar(doses, ci.mean, yerr=[ci.mean - ci.low, ci.high - ci.mean], color=col, marker="o", ms=4,
                        capsize=3, lw=1.5, transform=tr, label=when_label(tt, inf_h))
            if pl is not None:
                ax.plot(doses[:1], ci.mean[:1], ls="none", marker="o", ms=6, mfc="white", mec=col, mew=1.3,
                        transform=tr, zorder=5)
            band = np.concatenate([ci.low, ci.high, ci.mean])
            band = band[np.isfinite(band)]
            if band.size:
                lo, hi = min(lo, band.min()), max(hi, band.max())
        pad = 0.08 * (hi - lo) if hi > lo else 1.0
        ax.set_ylim(lo - pad, hi + pad)
        ax.axhline(0, color="0.3", lw=0.8)
        ax.set_xscale("symlog", linthresh=linthresh, linscale=0.6)
        ax.set_xticks(doses, ["0\nplacebo" if d == 0 and pl else f"{d:g}" for d in doses])
        ax.minorticks_off()
        ax.set_xlim(-0.25 * linthresh, doses.max() * 1.35)
        if np.any(np.isclose(doses, 0.5)):
            ax.axvline(0.5, color="0.5", ls=":", lw=1)
        ax.set_title(vocabulary(ds).key_metrics.get(m) or short_metric(m), fontsize=11, fontweight="bold")
        ax.set_xlabel("ketamine dose (mg/kg)")
        what = "change vs placebo" if pl is not None else "change from own baseline"
        ax.set_ylabel(f"{what} (Δ {unit})", fontsize=9)
        ax.grid(alpha=0.25, lw=0.5)
    axs[0].legend(fontsize=8.5, loc="best")
    n_sub = int(ds.sizes["subject"])
    labels = condition_labels(ds)
    if placebo is not None:
        head = "placebo-corrected (change from baseline at each dose minus the same subject's placebo change)"
        note = (f"0 mg/kg (open circle) = the {labels[placebo]} condition, the same subjects: 0 by construction. "
                f"Baseline = {baseline_text(ds)}. ")
    else:
        head = "change from each subject's own baseline (no placebo condition in this run)"
        note = f"Baseline = {baseline_text(ds)}. "
    fig.suptitle(f"Dose-response, {head}", fontsize=12, fontweight="bold")
    fig.supxlabel(note + f"Error bars: 95% t-CI of the cohort mean, n = {n_sub} subjects per dose.\nDotted line: "
                  "0.5 mg/kg, the usual antidepressant dose. Dose axis logarithmic above the lowest non-zero dose. "
                  "Key metrics only; every metric's values are in results.nc (dr_value).",
                  fontsize=_NOTE_SIZE + 0.5, color="0.25")
    return fig


# =============================================================================================== all figures
def _time_tag(t: float) -> str:
    return f"{t:g}h".replace(".", "p").replace("-", "m")


def network_changes_of(ds) -> list[tuple]:
    """The network-change diagrams the experiment asks for (:attr:`ContrastSpec.network_change_h`): for each,
    the treated condition's own change and its change minus the control's."""
    out = []
    for c in vocabulary(ds).contrasts:
        for t in c.network_change_h:
            out += [(c.treated, t), (c.treated, t, c.control)]
    return list(dict.fromkeys(out))


def write_figures(ds, out_dir, formats: Sequence[str] = ("png",), dpi: int = _DPI,
                  network_changes: Sequence[tuple] | None = None) -> list[Path]:
    """Draw every figure the dataset supports and save it as ``out_dir/<name>.<format>``; returns the paths.

    Names: ``effects`` (the headline figure, :func:`sim.plots.effects.fig_effects`), ``fc_differences``,
    ``slow_states``, ``metric_timecourses``, ``fc_matrices``, ``network_change_<condition>_<time>`` (one per
    ``network_changes`` pair whose condition is in ``ds``), ``dose_response``. Figures whose data are missing are
    skipped (logged). Each figure is released after saving.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return _render_all(figure_jobs(ds, network_changes), out, tuple(formats), dpi)


def figure_jobs(ds, network_changes: Sequence[tuple] | None = None) -> list[tuple[str, object]]:
    """The figures :func:`write_figures` draws, as ``(name, make)`` pairs in order (``make()`` returns the
    Figure, or None when its data are not in ``ds``); a caller can draw them one at a time with
    :func:`render_figure` (the run's progress bar counts one step per figure)."""
    conds = {str(c) for c in ds["condition"].values}
    network_changes = network_changes_of(ds) if network_changes is None else network_changes
    from sim.plots.effects import fig_effects, fig_fc_differences

    jobs = [("effects", lambda: fig_effects(ds)),
            ("fc_differences", lambda: fig_fc_differences(ds)),
            ("slow_states", lambda: fig_slow_states(ds)),
            ("metric_timecourses", lambda: fig_metric_timecourses(ds)),
            ("fc_matrices", lambda: fig_fc_matrices(ds))]
    for cond, t, *rest in network_changes:
        control = rest[0] if rest and rest[0] in conds else None
        if cond in conds:
            suffix = f"_vs_{control}" if control else ""
            jobs.append((f"network_change_{cond}{suffix}_{_time_tag(t)}",
                         lambda cond=cond, t=t, control=control: fig_network_change(ds, cond, t, control=control)))
        else:
            log.info("write_figures: condition %r not in the dataset, no network-change figure", cond)
    jobs.append(("dose_response", lambda: fig_dose_response(ds)))
    return jobs


def render_figure(name: str, make, out_dir, formats: Sequence[str] = ("png",), dpi: int = _DPI) -> list[Path]:
    """Draw one figure of :func:`figure_jobs` into ``out_dir`` (created if missing); returns the paths written."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return _render_one(name, make, out, tuple(formats), dpi)


def _render_one(name: str, make, out: Path, formats: tuple[str, ...], dpi: int) -> list[Path]:
    import time

    t0 = time.perf_counter()
    fig = make()
    if fig is None:
        log.info("write_figures: %s skipped (its data are not in the dataset)", name)
        return []
    paths = []
    try:
        for fmt in formats:
            p = out / f"{name}.{fmt.lstrip('.')}"
            fig.savefig(p, dpi=dpi)
            paths.append(p)
        log.info("write_figures: %s drawn in %.1f s", name, time.perf_counter() - t0)
    finally:
        fig.clear()
    return paths


def _render_all(jobs, out: Path, formats: tuple[str, ...], dpi: int) -> list[Path]:
    """Render the figures in this process, one after another. (Forked workers, forked after the simulation's
    threads had started, could deadlock and outlive a killed run; in-process rendering cannot.)"""
    return [p for name, make in jobs for p in _render_one(name, make, out, formats, dpi)]

