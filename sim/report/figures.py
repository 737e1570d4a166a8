"""Figures of the claims report: effects (forest plot), claims x windows, claims x ablation variants."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from sim.claims import verdicts as V
from sim.claims.ablation import Variant
from sim.claims.evaluate import Result
from sim.claims.registry import Claim, Registry
from sim.claims.verdicts import NOT_EVALUATED, NOT_REPRODUCED, OPPOSITE, REPRODUCED
from sim.report.text import trim


def new_fig(w, h):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(w, h), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def fig_effects(reg: Registry, primary: Mapping[str, Result]):
    """Forest plot: every testable claim's effect and 95% CI at its own window, coloured by verdict."""
    from matplotlib.patches import Patch

    claims = list(reg.testable)
    n = len(claims)
    fig = new_fig(11.5, 1.4 + 0.32 * n)
    ax = fig.add_subplot()
    m_r = reg.min_abs_effect.get("r", 0.0)
    if m_r:
        ax.axvspan(-m_r, m_r, color="0.92", zorder=0)
    ax.axvline(0, color="0.3", lw=0.8)
    for i, c in enumerate(claims):
        r = primary[c.id]
        col = V.COLORS.get(r.verdict, "white")
        if np.isfinite(r.effect) and np.isfinite(r.low):
            ax.errorbar(r.effect, i, xerr=[[r.effect - r.low], [r.high - r.effect]], fmt="o", color=col,
                        mec="0.2", ecolor="0.3", capsize=2.5, ms=6, zorder=3)
        else:
            ax.text(0, i, "  not evaluated", va="center", fontsize=7.5, color="0.4")
        arrow = {"increase": "↑", "decrease": "↓", "either": "≠0", "below_zero": "<0", "above_zero": ">0",
                 "toward healthy": "toward healthy", "no_difference": "=0"}.get(r.expected, r.expected)
        unit = "" if r.unit in ("r", "") else " (unitless)"
        ax.text(1.01, i, f"expects {arrow}{unit}", transform=ax.get_yaxis_transform(), va="center", fontsize=7.5)
    ax.set_yticks(range(n), [trim(f"{c.id}: {c.claim}") for c in claims], fontsize=7.5)
    ax.set_ylim(n - 0.5, -0.5)
    ax.set_xlabel("simulated effect (mean across subjects, 95% t-CI); r for FC read-outs")
    ax.grid(axis="x", color="0.9")
    handles = [Patch(facecolor=V.COLORS[k], edgecolor="0.3", label=k)
               for k in (REPRODUCED, NOT_REPRODUCED, OPPOSITE)]
    if m_r:
        handles.append(Patch(facecolor="0.92", label=f"|effect| < {m_r:g} (minimal effect size)"))
    fig.legend(handles=handles, loc="outside lower center", ncol=4, fontsize=8, frameon=False)
    fig.suptitle("Each claim at its own time window: simulated effect and verdict", fontsize=10)
    return fig


def fig_windows(reg: Registry, by_window: Mapping[tuple[str, str], Result]):
    """Claims × time windows: verdict colour and effect value in every window."""
    from matplotlib.patches import Rectangle

    merged = window_rows(reg, by_window)
    claims = [c for c, _ in merged]
    wins = list(reg.timeline_windows)
    nr, nc = len(claims), len(wins)
    fig = new_fig(4.8 + 1.05 * nc, 1.4 + 0.3 * nr)
    ax = fig.add_subplot()
    for i, c in enumerate(claims):
        for j, w in enumerate(wins):
            r = by_window.get((c.id, w))
            if r is None:
                continue
            ax.add_patch(Rectangle((j, i), 1, 1, facecolor=V.COLORS.get(r.verdict, "white"), edgecolor="0.75",
                                   lw=0.5))
            txt = f"{r.effect:+.3f}" if np.isfinite(r.effect) else "n/e"
            ax.text(j + 0.5, i + 0.5, txt, ha="center", va="center", fontsize=7,
                    color="white" if r.verdict in (REPRODUCED, OPPOSITE) else "black")
            if w == c.window:
                ax.add_patch(Rectangle((j + 0.03, i + 0.06), 0.94, 0.88, fill=False, edgecolor="black", lw=1.6))
    ax.set_xlim(0, nc)
    ax.set_ylim(nr, 0)
    ax.set_xticks(np.arange(nc) + 0.5, [reg.windows[w].label for w in wins], fontsize=8)
    ax.xaxis.tick_top()
    ax.set_yticks(np.arange(nr) + 0.5, [trim(f"{c.id}" + (f" (= {', '.join(same)})" if same else "")
                                              + f": {c.claim}", 64) for c, same in merged], fontsize=7.5)
    ax.tick_params(length=0)
    for s in ax.spines.values():
        s.set_visible(False)
    fig.suptitle("When does each claim hold? Green = reproduced, red = opposite, grey = not reproduced "
                 "(number = effect; framed = the claim's own window)", fontsize=9)
    return fig


def window_rows(reg: Registry, by_window: Mapping[tuple[str, str], Result]) -> list[tuple[Claim, list[str]]]:
    """Testable claims without a reference window, merging claims whose by-window results are the same
    contrast with the same expected direction: [(first claim, [ids of the others])]."""
    out: list[tuple[Claim, list[str]]] = []
    keys: dict = {}
    for c in reg.testable:
        if c.reference_window or not reg.windows_of(c):   # compares two windows, or names no time
            continue
        res = tuple((by_window[(c.id, w)].effect, by_window[(c.id, w)].expected) for w in reg.timeline_windows
                    if (c.id, w) in by_window)
        key = (c.readout, c.contrast, repr(res))
        if key in keys:
            out[keys[key]][1].append(c.id)
        else:
            keys[key] = len(out)
            out.append((c, []))
    return out


def save_fig(fig, path: Path, dpi: int = 110) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fig.savefig(path, dpi=dpi)
    finally:
        fig.clear()
    return path


def fig_matrix(registry: Registry, variants: Sequence[Variant], labels: Mapping[str, str] | None = None):
    """Claims × variants: verdict colours; a thick black frame where the verdict differs from the default;
    a dot where the registry expects the claim to depend on that column's mechanism."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch, Rectangle

    claims = list(registry.testable)
    nr, nc = len(claims), len(variants)
    fig = Figure(figsize=(2.2 + 1.3 * nc + 3.2, 1.6 + 0.3 * nr), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for i, c in enumerate(claims):
        base = variants[0].results[c.id].verdict
        for j, v in enumerate(variants):
            verdict = v.results[c.id].verdict
            ax.add_patch(Rectangle((j, i), 1, 1, facecolor=V.COLORS.get(verdict, "#ffffff"),
                                   edgecolor="0.7", lw=0.5))
            r = v.results[c.id]
            sh = v.shifts.get(c.id)
            star = "*" if sh is not None and sh.significant else ""
            label = V.SYMBOLS.get(verdict, "?") + star
            if np.isfinite(r.effect):
                label += f" {r.effect:+.3f}"
            ax.text(j + 0.5, i + 0.5, label, ha="center", va="center", fontsize=7.5,
                    color="white" if verdict in (REPRODUCED, OPPOSITE) else "black")
            if j > 0 and verdict != base:
                ax.add_patch(Rectangle((j + 0.04, i + 0.06), 0.92, 0.88, fill=False, edgecolor="black", lw=2.2))
            if v.dependency and v.dependency in c.depends_on:
                ax.plot(j + 0.85, i + 0.25, "o", color="black", ms=3)
    ax.set_xlim(0, nc)
    ax.set_ylim(nr, 0)
    ax.set_xticks(np.arange(nc) + 0.5, [v.label.replace(" (", "\n(").replace(" preset", "\npreset")
                                        for v in variants], fontsize=8)
    ax.xaxis.tick_top()
    names = [f"{c.id}: {(labels or {}).get(c.id, c.claim)}" for c in claims]
    ax.set_yticks(np.arange(nr) + 0.5, [n if len(n) <= 70 else n[:67] + "…" for n in names], fontsize=8)
    ax.tick_params(length=0)
    for s in ax.spines.values():
        s.set_visible(False)
    handles = [Patch(facecolor=V.COLORS[k], edgecolor="0.5", label=f"{V.SYMBOLS[k]} {k}")
               for k in (REPRODUCED, NOT_REPRODUCED, OPPOSITE, NOT_EVALUATED)]
    handles.append(Patch(facecolor="white", edgecolor="black", lw=2, label="verdict differs from the default"))
    handles.append(Patch(facecolor="white", edgecolor="white", label="• registry expects this dependence"))
    handles.append(Patch(facecolor="white", edgecolor="white", label="* effect shifts vs default (paired 95% CI)"))
    fig.legend(handles=handles, loc="outside lower center", ncol=4, fontsize=8, frameon=False)
    fig.suptitle("Which mechanism carries which claim: verdict at each claim's own time window, default run "
                 "vs one change at a time", fontsize=10)
    return fig
