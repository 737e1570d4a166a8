"""Shared helpers for the figures: colours, labels, time axes, confidence intervals, dosing marks.

Nothing here draws a whole figure; :mod:`sim.plots.figures` does.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from sim import analysis
from sim.schema import vocabulary

#: Ketamine infusions last 40 min in the standard antidepressant protocol (Zarate et al. 2006). Only used to
#: label a scan as "during infusion"; a dataset attribute ``infusion_duration_h`` overrides it.
INFUSION_DURATION_H = 40.0 / 60.0

from sim.stats import CI_LEVEL, MeanCI, mean_ci  # noqa: E402,F401  (re-exported)

CI_NOTE = ("Lines: cohort mean; bands / error bars: 95% confidence interval of the cohort mean, "
           "t-based across subjects (mean ± t(0.975, n−1)·SD/√n, n = subjects with data).")


# ----------------------------------------------------------------------------------------------- statistics
# ----------------------------------------------------------------------------------------------- colours
def condition_colors(ds) -> dict[str, str]:
    """A stable colour for each condition of ``ds``, from its role (:meth:`sim.schema.Vocabulary.colors`)."""
    return vocabulary(ds).colors()


def condition_labels(ds) -> dict[str, str]:
    """Legend text of each condition, as the experiment declares it."""
    return vocabulary(ds).labels


def network_style(ds) -> dict[str, dict]:
    """Networks in display order with label and colour (the atlas config, carried by the results); networks
    found in the data but not described come after, in grey."""
    style = dict(vocabulary(ds).networks)
    nets = [str(n) for n in ds["network"].values] if "network" in ds.coords else []
    for n in dict.fromkeys(nets):
        style.setdefault(n, {"label": n, "color": "#999999"})
    return {n: v for n, v in style.items() if not nets or n in nets}


def region_order(ds):
    """Region indices grouped by network in display order, the network of each, and the network order."""
    nets = [str(n) for n in ds["network"].values] if "network" in ds.coords else ["?"] * ds.sizes["region"]
    order_nets = list(network_style(ds)) if "network" in ds.coords else ["?"]
    idx = [i for n in order_nets for i, x in enumerate(nets) if x == n]
    return np.array(idx), [nets[i] for i in idx], order_nets


def pretty_condition(c: str) -> str:
    """``depressed_ketamine_repeated`` -> ``depressed + ketamine (repeated)``: readable legend text."""
    words = str(c).split("_")
    if len(words) == 1:
        return words[0]
    tail = {"repeated": "(repeated)"}
    base = [w for w in words if w not in tail]
    return " + ".join(base) + "".join(f" {tail[w]}" for w in words if w in tail)


# ----------------------------------------------------------------------------------------------- metric names
_TOKENS = {"pcc": "PCC", "mpfc": "mPFC", "dmpfc": "dmPFC", "sgacc": "sgACC", "pgacc": "pgACC", "dacc": "dACC",
           "dlpfc": "DLPFC", "pfc": "PFC", "vs": "ventral striatum", "dmn": "DMN", "sn": "SN", "tpn": "TPN",
           "limbic": "limbic", "insula": "insula", "amygdala": "amygdala", "hippocampus": "hippocampus",
           "lhb": "LHb", "ai": "AI", "ag": "AG", "ips": "IPS", "hip": "HIP", "amy": "AMY"}
_NETS = {"dmn", "sn", "tpn", "limbic"}
_SPECIAL = {
    "gbc_mean": ("Global brain connectivity (each region's mean FC with all others, averaged)", "Pearson r"),
    "synchrony": ("Phase synchrony (time-mean Kuramoto order parameter R, 0.04–0.07 Hz)", "R (0–1)"),
    "metastability": ("Metastability (SD over time of the Kuramoto order parameter R)", "SD of R"),
    "dmn_dwell_fraction": ("DMN dominance (share of time the DMN activity envelope exceeds the TPN's)",
                           "fraction of scan (0–1)"),
}


def metric_label(name: str) -> tuple[str, str]:
    """(title, unit) of a scalar metric name, e.g. ``fc_dmn_tpn`` -> ("FC between DMN and TPN", "mean Pearson r")."""
    if name in _SPECIAL:
        return _SPECIAL[name]
    if name.startswith("fc_within_"):
        net = name.removeprefix("fc_within_")
        return f"FC within {_TOKENS.get(net, net.upper())} (mean over its region pairs)", "mean Pearson r"
    if name.startswith("fc_"):
        parts = name.removeprefix("fc_").split("_")
        if len(parts) == 2 and set(parts) <= _NETS:
            a, b = (_TOKENS[p] for p in parts)
            return f"FC between {a} and {b} (mean over region pairs)", "mean Pearson r"
        groups: list[str] = []
        for p in parts:
            if p in ("l", "r") and groups:
                groups[-1] += f" {p.upper()}"
            else:
                groups.append(_TOKENS.get(p, p))
        text = "–".join(groups) if len(groups) == 2 else " ".join(groups)
        return f"FC {text} (seed pair)", "Pearson r"
    return name.replace("_", " "), "a.u."


def short_metric(name: str) -> str:
    """Title without the parenthesised explanation."""
    return metric_label(name)[0].split(" (")[0]


# ----------------------------------------------------------------------------------------------- time
def fmt_time(t_h: float, infusion_h: float | None = INFUSION_DURATION_H, baseline: bool = False) -> str:
    """Human time label of a scan time in hours since the first infusion."""
    t = float(t_h)
    if baseline or t < 0:
        return f"baseline ({t:+g} h)".replace("-", "−")
    if t < 1:
        s = f"{t * 60:.0f} min"
    elif t < 48:
        s = f"{t:g} h"
    else:
        d = t / 24.0
        s = f"{d:.0f} d" if abs(d - round(d)) < 1e-6 else f"{t:g} h ({d:.1f} d)"
    if infusion_h and 0 <= t < infusion_h:
        s += " (during infusion)"
    return s


def when_label(t_h: float, infusion_h: float | None = INFUSION_DURATION_H) -> str:
    """``"20 min after the infusion start (during infusion)"``, ``"3 d after the infusion start"``."""
    s = fmt_time(t_h, None) + " after the infusion start"
    if infusion_h and 0 <= float(t_h) < infusion_h:
        s += " (during infusion)"
    return s


def baseline_text(ds) -> str:
    """How the baseline is made, for captions: "the scan at -24 h" or "the mean of 3 scans, -24 to -22 h"."""
    pre = analysis.baseline_times(ds["time_h"].values)
    if pre.size == 1:
        return f"the scan at {pre[0]:g} h"
    return f"the mean of {pre.size} scans, {pre[0]:g} to {pre[-1]:g} h"


def nearest_time(times: Sequence[float], target: float, valid: np.ndarray | None = None) -> float:
    """The available time closest to ``target`` (among ``valid`` ones if given)."""
    t = np.asarray(times, dtype=float)
    if valid is not None and np.any(valid):
        t = t[np.asarray(valid, bool)]
    return float(t[np.argmin(np.abs(t - target))])


# ----------------------------------------------------------------------------------------------- dosing marks
RUG_ROW = 0.045  # height of one dosing-marker row, in axes fraction


def dosing_events(ds, condition: str) -> dict[str, np.ndarray]:
    """Infusion times (with doses) and TMS session times of one condition, NaN padding removed."""
    out = {"infusion_h": np.array([]), "dose": np.array([]), "tms_h": np.array([])}
    if "infusion_h" in ds and condition in ds["infusion_h"].coords["condition"].values:
        t = np.asarray(ds["infusion_h"].sel(condition=condition).values, dtype=float)
        ok = np.isfinite(t)
        out["infusion_h"] = t[ok]
        if "infusion_dose_mg_per_kg" in ds:
            d = np.asarray(ds["infusion_dose_mg_per_kg"].sel(condition=condition).values, dtype=float)
            out["dose"] = d[ok]
        else:
            out["dose"] = np.full(ok.sum(), np.nan)
    if "tms_session_h" in ds and condition in ds["tms_session_h"].coords["condition"].values:
        t = np.asarray(ds["tms_session_h"].sel(condition=condition).values, dtype=float)
        out["tms_h"] = t[np.isfinite(t)]
    return out


def dosed_conditions(ds, conditions: Iterable[str]) -> list[str]:
    """The conditions (of those given) that have at least one infusion or TMS session."""
    out = []
    for c in conditions:
        ev = dosing_events(ds, c)
        if ev["infusion_h"].size or ev["tms_h"].size:
            out.append(c)
    return out


def make_rug_room(ax, n_rows: int) -> None:
    """Extend the y axis downwards so ``n_rows`` marker rows fit below the data."""
    if n_rows <= 0:
        return
    lo, hi = ax.get_ylim()
    frac = min(0.4, RUG_ROW * n_rows + 0.01)
    ax.set_ylim(lo - (hi - lo) * frac / (1 - frac), hi)


def make_rug_room_top(ax, n_rows: int) -> None:
    """Extend the y axis upwards so ``n_rows`` marker rows fit above the data (for quantities that are >= 0)."""
    if n_rows <= 0:
        return
    lo, hi = ax.get_ylim()
    frac = min(0.4, RUG_ROW * n_rows + 0.01)
    ax.set_ylim(lo, hi + (hi - lo) * frac / (1 - frac))


def draw_rug(ax, ds, conditions: Sequence[str], colors: dict[str, str], scale: float = 1.0,
             top: bool = False) -> None:
    """Dosing markers along the bottom of ``ax``: one row per dosed condition.

    Filled triangle = ketamine infusion, open triangle = placebo (0 mg/kg) infusion, vertical bar = TMS
    session. ``scale`` converts hours to the axis unit (1/24 for days). ``top``: rows along the top instead.
    """
    from matplotlib.transforms import blended_transform_factory

    tr = blended_transform_factory(ax.transData, ax.transAxes)
    x0, x1 = sorted(ax.get_xlim())
    for k, c in enumerate(conditions):
        ev = dosing_events(ds, c)
        y = RUG_ROW * (k + 0.5) + 0.005
        y = 1.0 - y if top else y
        col = colors[c]
        t = ev["infusion_h"] * scale
        sel = (t >= x0) & (t <= x1)
        if sel.any():
            dose = ev["dose"][sel]
            active = ~(dose == 0)
            if active.any():
                ax.plot(t[sel][active], np.full(active.sum(), y), "^", ms=5, color=col, mec="k", mew=0.4,
                        transform=tr, clip_on=False, zorder=5)
            if (~active).any():
                ax.plot(t[sel][~active], np.full((~active).sum(), y), "^", ms=5, mfc="white", mec=col, mew=1.0,
                        transform=tr, clip_on=False, zorder=5)
        t = ev["tms_h"] * scale
        sel = (t >= x0) & (t <= x1)
        if sel.any():
            ax.plot(t[sel], np.full(sel.sum(), y), "|", ms=6, color=col, mew=1.2, transform=tr, clip_on=False,
                    zorder=5)


def rug_legend_handles(ds=None, conditions: Iterable[str] | None = None):
    """Legend entries explaining the dosing markers (only the kinds present, if ``ds`` is given)."""
    from matplotlib.lines import Line2D

    kinds = {"ketamine", "placebo", "tms"}
    if ds is not None:
        kinds = set()
        for c in conditions if conditions is not None else ds["condition"].values:
            ev = dosing_events(ds, str(c))
            if ev["infusion_h"].size:
                kinds |= {"placebo" if d == 0 else "ketamine" for d in ev["dose"]}
            if ev["tms_h"].size:
                kinds.add("tms")
    out = []
    if "ketamine" in kinds:
        out.append(Line2D([], [], ls="none", marker="^", ms=6, color="0.3", mec="k", mew=0.4,
                          label="ketamine infusion (start)"))
    if "placebo" in kinds:
        out.append(Line2D([], [], ls="none", marker="^", ms=6, mfc="white", mec="0.3", mew=1.0,
                          label="placebo infusion (0 mg/kg)"))
    if "tms" in kinds:
        out.append(Line2D([], [], ls="none", marker="|", ms=8, color="0.3", mew=1.2, label="TMS session"))
    return out
