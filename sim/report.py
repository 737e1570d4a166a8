"""The claims report of a run: ``report.md`` and a self-contained ``report.html`` (figures embedded as base64 PNG,
no external links, opens without network access).

Content (built once as a list of blocks, rendered to both formats): what the run was, how to read the report,
the side-by-side table (seed claim | literature verdict | simulation verdict | effect (95% CI) | time window |
depends on), the claims the model cannot test, contradiction pairs, the verdict in every time window, the
claims × mechanisms matrix (with ``experiment=claims``), the run's key figures, the details of every claim, the
verdict rule and caveats, and a glossary. Every verdict and effect comes from :mod:`sim.claims.evaluate`.
"""

from __future__ import annotations

import base64
import html
import io
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sim.claims.evaluate import NOT_EVALUATED, NOT_REPRODUCED, NOT_TESTABLE, OPPOSITE, REPRODUCED, Result
from sim.claims.registry import Claim, Registry

VERDICT_COLORS = {REPRODUCED: "#1a9850", OPPOSITE: "#d73027", NOT_REPRODUCED: "#e0e0e0", NOT_EVALUATED: "#ffffff",
                  NOT_TESTABLE: "#ffffff"}
VERDICT_CSS = {REPRODUCED: "v-rep", OPPOSITE: "v-opp", NOT_REPRODUCED: "v-not", NOT_EVALUATED: "v-ne",
               NOT_TESTABLE: "v-nt"}
EXPECTED_TEXT = {"increase": "↑ increase", "decrease": "↓ decrease", "either": "≠ 0 (either direction)",
                 "below_zero": "< 0", "above_zero": "> 0", "toward_healthy": "toward healthy"}
SYMBOLS = {REPRODUCED: "✓", OPPOSITE: "✗", NOT_REPRODUCED: "·", NOT_EVALUATED: "n/e"}
#: the run's figures shown in the report, in this order, with a caption (others in figures/ are listed after)
RUN_FIGURES = (
    ("metric_timecourses", "Metric time courses: cohort mean and 95% CI of the key metrics in every condition."),
    ("slow_states", "Slow states: plasma ketamine, NMDA block (total and trapped), plasticity and TMS states."),
    ("network_change_depressed_ketamine_24h", "Network change 24 h after one infusion (depressed + ketamine)."),
    ("network_change_depressed_ketamine_0p33h", "Network change during the infusion (20 min, depressed + ketamine)."),
    ("network_change_depressed_ketamine_vs_depressed_placebo_24h",
     "Network change 24 h after one infusion, ketamine minus placebo (same subjects): the drug's own effect."),
    ("fc_matrices", "FC matrices at baseline and after the drug."),
    ("dose_response", "Dose response (change from baseline at 20 min and 48 h)."),
)
GLOSSARY = (
    ("virtual subject", "one simulated person: own coupling strengths, drug clearance and scan noise; the same "
                        "person appears in every condition"),
    ("condition", "what a virtual subject receives, e.g. depressed + ketamine (one 0.5 mg/kg infusion), "
                  "depressed + placebo (a saline infusion with the same schedule), depressed + ketamine (repeated) "
                  "(six infusions over 12 days), depressed + tms (4-week course), healthy + ketamine"),
    ("baseline", "the scan(s) before time 0; in the default experiment one scan, a day before (−24 h)"),
    ("window", "a named set of scan times, e.g. '24 h' or 'days 8-14'; time 0 = start of the first infusion"),
    ("DMN", "default mode network (here PCC, mPFC, dmPFC, angular gyri, hippocampi): active at rest"),
    ("SN", "salience network (dACC, anterior insulae)"),
    ("TPN / CEN", "task-positive / central executive network (DLPFC, IPS)"),
    ("FC", "functional connectivity: Pearson correlation of two regions' BOLD-like signals over a 10-min scan; "
           "negative = anticorrelated"),
    ("GBC", "global brain connectivity: a region's mean FC with all other regions"),
    ("PCC, mPFC, dmPFC", "posterior cingulate, medial and dorsomedial prefrontal cortex"),
    ("sgACC, pgACC, dACC", "subgenual, pregenual and dorsal anterior cingulate cortex"),
    ("DLPFC", "dorsolateral prefrontal cortex (the usual TMS target, left side)"),
    ("AI, AMY, VS, HIP, LHb", "anterior insula, amygdala, ventral striatum, hippocampus, lateral habenula"),
    ("metastability", "how much whole-brain synchrony varies over time (a model measure of flexible dynamics)"),
    ("[V] [S] [R]", "evidence tags of science.md: seen in a primary abstract/table [V]; only in a secondary source "
                    "[S]; compiler's background knowledge, not re-verified [R]"),
    ("disinhibition, trapping, plasticity, tms", "the drug mechanisms of the model (README, 'Drug and time'), each "
                                                 "switchable in drug.mechanisms"),
)


# =============================================================================================== blocks
@dataclass
class Cell:
    text: str
    css: str = ""


@dataclass
class Block:
    kind: str                       # h1 h2 h3 p ul table img pre
    text: str = ""
    items: Sequence = ()
    header: Sequence[str] = ()
    rows: Sequence[Sequence] = ()
    path: Path | None = None
    caption: str = ""


@dataclass
class ReportContext:
    registry: Registry
    primary: dict[str, Result]
    by_window: dict[tuple[str, str], Result]
    pairs: list
    run: dict
    figures_dir: Path
    claim_figures: dict[str, Path] = field(default_factory=dict)
    variants: list | None = None          # sim.claims.ablation.Variant list (default first) or None


def _seed_short(reg: Registry, c: Claim) -> str:
    if not c.seeds:
        return "primary literature"
    return ", ".join(dict.fromkeys(reg.seed_titles.get(s.file, s.file).split(" - ")[0] for s in c.seeds))


def readout_text(c: Claim) -> str:
    from sim.plots._common import short_metric

    r = c.readout
    if r.kind == "metric":
        return short_metric(r.metric)
    if r.kind == "gbc":
        return f"GBC of {', '.join(r.a)}"
    return f"FC {'+'.join(r.a)} ↔ {'+'.join(r.b)}"


def contrast_text(c: Claim) -> str:
    from sim.plots._common import pretty_condition as pc

    k = c.contrast
    if k.type == "vs_control":
        s = f"{pc(k.treated)} vs {pc(k.control)}, each as change from its own baseline"
    elif k.type == "vs_baseline":
        s = f"{pc(k.treated)}, change from baseline"
    elif k.type == "between":
        s = f"{pc(k.treated)} minus {pc(k.control)} (same virtual people)"
    else:
        s = f"value in {pc(k.treated)}"
    return s


def expected_text(c: Claim, r: Result | None = None) -> str:
    s = EXPECTED_TEXT.get(c.expected, c.expected)
    if c.expected == "toward_healthy" and r is not None and r.expected in ("increase", "decrease"):
        s += f" (here {EXPECTED_TEXT[r.expected]})"
    if c.reference_window:
        s += " vs the reference window"
    return s


def _window_text(reg: Registry, r: Result, c: Claim) -> str:
    from sim.plots._common import fmt_time

    w = reg.windows[r.window].label if r.window in reg.windows else r.window
    if c.reference_window:
        w += f" minus {reg.windows[c.reference_window].label}"
    if r.scans_h and not reg.windows[r.window].all:
        w += " [scans: " + ", ".join(fmt_time(t, None) for t in r.scans_h) + "]"
    return w


def _effect_text(r: Result) -> str:
    if not np.isfinite(r.effect):
        return "—"
    unit = "" if r.unit in ("", "1") else f" {r.unit.split(' ')[0]}"
    return r.effect_text() + unit


def _observed(ctx: ReportContext, cid: str) -> str | None:
    """Mechanisms whose removal changes the claim's verdict ('none'), or None without ablation runs."""
    if not ctx.variants:
        return None
    from sim.claims.ablation import observed_dependence

    return ", ".join(observed_dependence(cid, ctx.variants)) or "none"


def _shifted(ctx: ReportContext, cid: str) -> str | None:
    """Mechanisms whose removal shifts the claim's effect significantly (paired), or None without ablation."""
    if not ctx.variants:
        return None
    from sim.claims.ablation import shifted_by

    return ", ".join(shifted_by(cid, ctx.variants)) or "none"


def _depends_text(ctx: ReportContext, c: Claim) -> str:
    s = f"expected: {', '.join(c.depends_on) or 'none'}"
    if not ctx.variants:
        return s + "; observed: run experiment=claims"
    return s + f"; verdict changes without: {_observed(ctx, c.id)}; effect shifts without: {_shifted(ctx, c.id)}"


def _verdict_cell(r: Result) -> Cell:
    return Cell(r.verdict, VERDICT_CSS.get(r.verdict, ""))


# =============================================================================================== figures
def _new_fig(w, h):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(w, h), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _trim(s: str, n: int = 72) -> str:
    return s if len(s) <= n else s[: n - 1] + "…"


def fig_effects(reg: Registry, primary: Mapping[str, Result]):
    """Forest plot: every testable claim's effect and 95% CI at its own window, coloured by verdict."""
    from matplotlib.patches import Patch

    claims = list(reg.testable)
    n = len(claims)
    fig = _new_fig(11.5, 1.4 + 0.32 * n)
    ax = fig.add_subplot()
    m_r = reg.min_abs_effect.get("r", 0.0)
    if m_r:
        ax.axvspan(-m_r, m_r, color="0.92", zorder=0)
    ax.axvline(0, color="0.3", lw=0.8)
    for i, c in enumerate(claims):
        r = primary[c.id]
        col = VERDICT_COLORS.get(r.verdict, "white")
        if np.isfinite(r.effect) and np.isfinite(r.low):
            ax.errorbar(r.effect, i, xerr=[[r.effect - r.low], [r.high - r.effect]], fmt="o", color=col,
                        mec="0.2", ecolor="0.3", capsize=2.5, ms=6, zorder=3)
        else:
            ax.text(0, i, "  not evaluated", va="center", fontsize=7.5, color="0.4")
        arrow = {"increase": "↑", "decrease": "↓", "either": "≠0", "below_zero": "<0", "above_zero": ">0",
                 "toward healthy": "toward healthy"}.get(r.expected, r.expected)
        unit = "" if r.unit in ("r", "") else " (unitless)"
        ax.text(1.01, i, f"expects {arrow}{unit}", transform=ax.get_yaxis_transform(), va="center", fontsize=7.5)
    ax.set_yticks(range(n), [_trim(f"{c.id}: {c.claim}") for c in claims], fontsize=7.5)
    ax.set_ylim(n - 0.5, -0.5)
    ax.set_xlabel("simulated effect (mean across subjects, 95% t-CI); r for FC read-outs")
    ax.grid(axis="x", color="0.9")
    handles = [Patch(facecolor=VERDICT_COLORS[k], edgecolor="0.3", label=k)
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
    fig = _new_fig(4.8 + 1.05 * nc, 1.4 + 0.3 * nr)
    ax = fig.add_subplot()
    for i, c in enumerate(claims):
        for j, w in enumerate(wins):
            r = by_window.get((c.id, w))
            if r is None:
                continue
            ax.add_patch(Rectangle((j, i), 1, 1, facecolor=VERDICT_COLORS.get(r.verdict, "white"), edgecolor="0.75",
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
    ax.set_yticks(np.arange(nr) + 0.5, [_trim(f"{c.id}" + (f" (= {', '.join(same)})" if same else "")
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
        if c.reference_window:
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


# =============================================================================================== content
def build_blocks(ctx: ReportContext) -> list[Block]:
    reg, primary = ctx.registry, ctx.primary
    run = ctx.run
    B: list[Block] = []
    counts = {v: sum(1 for c in reg.claims if primary[c.id].verdict == v) for v in primary_verdicts(primary)}
    n_test = len(reg.testable)

    B.append(Block("h1", "Claims explorer: what the seed articles say, what the literature says, what the model does"))
    B.append(Block("p", f"Run: **{run.get('experiment', '')}** experiment, {run.get('model', '')} model, "
                        f"{run.get('n_subjects', '?')} virtual subjects per condition, {run.get('n_conditions', '?')} "
                        f"conditions, {run.get('n_scans', '?')} scans from {run.get('first_scan', '')} to "
                        f"{run.get('last_scan', '')}; depressed preset **{run.get('preset', '')}**; drug mechanisms "
                        f"on: {run.get('mechanisms', '') or 'none'}; seed {run.get('seed', '')}; "
                        f"written {run.get('date', '')}."))
    B.append(Block("h2", "How to read this report"))
    B.append(Block("ul", items=[
        "Five popular articles about ketamine and brain networks (the *seeds*) make claims such as \"ketamine reduces "
        "DMN hyperconnectivity\". Each distinct claim is one row below (registry: configs/claims/registry.yaml).",
        "**Literature verdict**: what primary studies say about the claim (from the project's literature review, "
        "science.md; tags [V]/[S]/[R] = how well each fact was checked).",
        "**Simulation verdict**: what this model does, computed from this run only. The model simulates the same "
        "virtual people in several conditions (e.g. ketamine vs saline), scans them repeatedly, and reads "
        "connectivity (FC) off the simulated signals.",
        "**Effect (95% CI)**: the simulated change, averaged over the virtual subjects, e.g. ketamine's change "
        "from baseline minus saline's change from baseline, with a 95% confidence interval across subjects. "
        "FC effects are in units of correlation r.",
        f"**{REPRODUCED}** = the interval lies entirely on the side the claim predicts (and the effect is at least "
        f"the minimal effect size); **{OPPOSITE}** = it lies entirely on the other side; **{NOT_REPRODUCED}** = "
        "the interval includes 0 (or the effect is negligible). The exact rule is at the end.",
        "**Depends on**: the model mechanisms the claim is *expected* to rely on (registry), and, after "
        "`dmnsim experiment=claims`, the ones it *observably* relies on (its verdict changes when that mechanism "
        "is switched off).",
        "'Depressed' virtual patients are made by a preset of connectivity changes (depressed_hyper or "
        "depressed_hypo: the literature disagrees on which is right). Claims about depression itself (mdd_*) "
        "therefore test the preset, an input, not a prediction.",
        "A simulation verdict says what *this model with its assumptions* does; it is not evidence about real "
        "brains. The drug's slow effects follow a hypothesis written in configs/drug/ketamine.yaml (drug.targets).",
    ]))
    B.append(Block("h2", "Summary"))
    B.append(Block("p", f"{len(reg.claims)} claims: {n_test} testable here, {len(reg.claims) - n_test} not testable "
                        "in this model. Of the testable ones: "
                        + ", ".join(f"{counts.get(v, 0)} {v}" for v in (REPRODUCED, NOT_REPRODUCED, OPPOSITE,
                                                                         NOT_EVALUATED)) + "."))
    items = []
    for v in (REPRODUCED, OPPOSITE, NOT_REPRODUCED, NOT_EVALUATED):
        ids = [c for c in reg.testable if primary[c.id].verdict == v]
        if ids:
            items.append(f"**{v}** ({len(ids)}): " + "; ".join(f"{c.id} ({_trim(c.claim, 60)})" for c in ids))
    B.append(Block("ul", items=items))
    if "effects" in ctx.claim_figures:
        B.append(Block("img", path=ctx.claim_figures["effects"],
                       caption="Each testable claim at its own time window. Dot = mean effect, bar = 95% CI across "
                               "subjects, colour = verdict; the grey band marks effects below the minimal effect "
                               "size. 'expects ↑/↓' is the direction the claim predicts."))

    # ---- main table
    B.append(Block("h2", "Claims side by side"))
    header = ["Seed claim", "Read-out; contrast; expected", "Literature verdict", "Simulation verdict",
              "Effect (95% CI)", "Time window", "Depends on"]
    rows = []
    for c in reg.testable:
        r = primary[c.id]
        dep = _depends_text(ctx, c)
        rows.append([f"**{c.id}** {c.claim} ({_seed_short(reg, c)})",
                     f"{readout_text(c)}; {contrast_text(c)}; expected {expected_text(c, r)}",
                     c.literature.verdict, _verdict_cell(r), _effect_text(r), _window_text(reg, r, c), dep])
    B.append(Block("table", header=header, rows=rows))
    B.append(Block("h3", "Claims this model cannot test"))
    rows = [[f"**{c.id}** {c.claim} ({_seed_short(reg, c)})", c.literature.verdict, Cell(NOT_TESTABLE, "v-nt"),
             c.reason or ""] for c in reg.claims if not c.testable]
    B.append(Block("table", header=["Seed claim", "Literature verdict", "Simulation verdict", "Why not"], rows=rows))

    # ---- contradictions
    B.append(Block("h2", "Claims that contradict each other"))
    B.append(Block("p", "Each pair below makes opposite statements. For each side: its verdict at its own window, "
                        "the time windows in which the simulation reproduces it, and (with experiment=claims) the "
                        "regimes - mechanism switched off or other depressed preset - in which it is reproduced."))
    wl = {w: reg.windows[w].label for w in reg.timeline_windows}
    for p in ctx.pairs:
        B.append(Block("h3", p.about))
        rows = []
        for k, cid in enumerate(p.ids):
            c, r = reg.get(cid), p.primary[k]
            wins = ", ".join(wl[w] for w in p.holds_in_windows[k]) or "none"
            if ctx.variants:
                label = {v.name: v.label for v in ctx.variants}
                regs = ", ".join(label[n] for n in p.holds_in_variants[k]) or "none"
            else:
                regs = "run experiment=claims"
            rows.append([f"**{cid}** {c.claim} ({_seed_short(reg, c)})", _verdict_cell(r),
                         f"{_effect_text(r)} ({reg.windows[r.window].label})", wins, regs])
        B.append(Block("table", header=["Claim", "Verdict", "Effect at its window", "Reproduced in windows",
                                        "Reproduced in regimes"], rows=rows))
        B.append(Block("p", pair_sentence(p.ids, p.holds_in_windows, wl)))

    # ---- by window
    B.append(Block("h2", "When does each claim hold?"))
    B.append(Block("p", "The same contrast evaluated in every time window of the run (claims that compare two "
                        "windows by construction - e_peak_rise, e_peak_fall - are left out). Time 0 = start of "
                        "the (first) infusion or TMS session."))
    if "windows" in ctx.claim_figures:
        B.append(Block("img", path=ctx.claim_figures["windows"],
                       caption="Verdict in each window (colour) and the effect (number). Framed cell = the window "
                               "the claim itself names, when it is one of these columns (acute, days 1-3 and "
                               "day 2 windows overlap them and are not framed)."))
    wins = list(reg.timeline_windows)
    rows = []
    for c, same in window_rows(reg, ctx.by_window):
        row = [f"**{c.id}**" + (f" (= {', '.join(same)})" if same else "")]
        for w in wins:
            r = ctx.by_window.get((c.id, w))
            row.append(Cell(_symbol(r), VERDICT_CSS.get(r.verdict, "")) if r else "")
        rows.append(row)
    B.append(Block("table", header=["Claim"] + [reg.windows[w].label for w in wins], rows=rows))
    B.append(Block("p", "✓ reproduced, ✗ opposite, · not reproduced, n/e not evaluated (no scan in the window or "
                        "no abnormality to normalise); the number is the effect. Claims with the same read-out, "
                        "contrast and expected direction share a row."))

    # ---- mechanisms
    B.append(Block("h2", "Which mechanism carries which claim"))
    if ctx.variants:
        vs = ctx.variants
        B.append(Block("p", "The default run (all mechanisms on) was repeated with one change at a time: a drug "
                            "mechanism switched off, or the other depressed preset. Where a verdict changes, the "
                            "claim observably depends on that mechanism. Only conditions the change can affect were "
                            "simulated again (same subjects, same noise), the others were reused."))
        if "matrix" in ctx.claim_figures:
            B.append(Block("img", path=ctx.claim_figures["matrix"],
                           caption="Claims × changes. Colour/symbol = verdict at the claim's own window; thick frame "
                                   "= verdict differs from the default run; dot = the registry expected this "
                                   "dependence."))
        rows = []
        for c in reg.testable:
            base = vs[0].results[c.id]
            row = [f"**{c.id}**"]
            for v in vs:
                r = v.results[c.id]
                mark = " ◆" if v is not vs[0] and r.verdict != base.verdict else ""
                row.append(Cell(f"{_symbol(r)}{mark}", VERDICT_CSS.get(r.verdict, "")))
            row += [", ".join(c.depends_on) or "none", _observed(ctx, c.id), _shifted(ctx, c.id)]
            rows.append(row)
        B.append(Block("table", header=["Claim"] + [v.label for v in vs] + [
            "Expected dependence", "Verdict changes without", "Effect shifts without"], rows=rows))
        B.append(Block("p", "◆ = verdict differs from the default run. 'Verdict changes without' lists the changes "
                            "that alter the verdict. A verdict near the edge (CI ending close to 0) can flip with a "
                            "small change, and a clear verdict can survive a large one, so 'Effect shifts without' "
                            "also lists the changes that move the effect itself: the paired difference (same "
                            "subjects, same scan noise) has a 95% CI excluding 0 and is at least the minimal effect "
                            "size. Effects, shifts and intervals: claims_ablation.csv."))
    else:
        B.append(Block("p", "Not computed in this run. `dmnsim experiment=claims` reruns the experiment with each "
                            "drug mechanism switched off in turn and with the other depressed preset, and fills this "
                            "section with a claims × mechanisms matrix."))

    # ---- run figures
    figs = run_figures(ctx.figures_dir)
    if figs:
        B.append(Block("h2", "Key figures of this run"))
        for path, cap in figs:
            B.append(Block("img", path=path, caption=cap))

    # ---- details
    B.append(Block("h2", "Claim details"))
    for c in reg.claims:
        B.append(Block("h3", f"{c.id}: {c.claim}"))
        items = []
        for s in c.seeds:
            items.append(f"Seed: {reg.seed_titles.get(s.file, s.file)} (file {s.file}): \"{s.quote}\"")
        if not c.seeds:
            items.append("Source: the primary literature (added as the counterpart of a seed claim).")
        if c.testable:
            r = primary[c.id]
            items.append(f"Operationalisation: {readout_text(c)}; {contrast_text(c)}; population: {c.population}; "
                         f"window: {_window_text(reg, r, c)}; expected: {expected_text(c, r)}.")
            items.append(f"Simulation: {r.verdict}: {_effect_text(r)}, n = {r.n} subjects ({r.reason}).")
        else:
            items.append(f"Not testable in this model: {c.reason}")
        items.append(f"Literature: {c.literature.verdict}. {c.literature.detail}")
        if c.literature.citations:
            items.append("Citations: " + "; ".join(c.literature.citations))
        items.append("Depends on: " + (_depends_text(ctx, c) if c.testable else
                                       f"expected: {', '.join(c.depends_on) or 'none'}"))
        if c.note:
            items.append(f"Note: {c.note}")
        B.append(Block("ul", items=items))

    # ---- method
    B.append(Block("h2", "Verdict rule and caveats"))
    m = reg.min_abs_effect
    B.append(Block("ul", items=[
        "Window: a set of scan times; the scans of the run that fall in it are used, and each subject's read-out is "
        "averaged over them. Baseline = the mean of the subject's scans before time 0.",
        "Effect per subject: vs_control = (treated - its baseline) - (control - its baseline); vs_baseline = "
        "treated - baseline; between = treated - control (no baseline, e.g. depressed vs healthy); level = the "
        "treated value itself. With a reference window: effect in the window minus effect in the reference window. "
        "All conditions hold the same virtual subjects, so every contrast is paired.",
        f"Effect = mean across subjects; {reg.ci_level:.0%} CI = mean ± t(n-1)·SD/√n (t-based, across subjects).",
        f"{REPRODUCED}: CI excludes 0 on the expected side and |effect| ≥ the minimal effect size; {OPPOSITE}: CI "
        f"excludes 0 on the other side (same size condition); {NOT_REPRODUCED}: otherwise. Minimal effect size: "
        f"{m.get('r', 0):g} r for FC (a fifth of the per-subject SD of single-pair FC over a 10-min scan, below what "
        f"an fMRI study of 20-70 people could detect), {m.get('0..1', 0):g} for 0..1 quantities.",
        "'toward healthy' claims take their direction from the run: the sign of healthy minus depressed (untreated "
        "conditions, all scans); if that difference is not itself significant and at least the minimal effect size "
        f"the claim is '{NOT_EVALUATED}'.",
        f"Multiple comparisons: {n_test} claims are each tested at 95% without correction, and more in the window and "
        "mechanism tables. If no claim were true about 1 in 20 verdicts would still come out 'reproduced' or "
        "'opposite' by chance; single borderline verdicts (a CI ending near 0) should not be over-read.",
        "Cohort size matters: more virtual subjects narrow the intervals (README, Limits: single-pair FC needs "
        "≥ 40 subjects for paired contrasts).",
        "Honesty by construction: the registry holds claims, operationalisations and literature verdicts only; "
        "every simulation verdict and effect here is computed from this run's results (sim/claims/evaluate.py).",
        "The model is qualitative: connectome weights, phenotype magnitudes and drug gains are assumed, and the "
        "slow drug effects follow the hypothesis in drug.targets. A reproduced claim shows the hypothesis *can* "
        "produce it, not that brains do.",
    ]))
    B.append(Block("h2", "Glossary"))
    B.append(Block("table", header=["Term", "Meaning"], rows=[[a, b] for a, b in GLOSSARY]))
    return B


def pair_sentence(ids: Sequence[str], holds: Sequence[Sequence[str]], labels: Mapping[str, str]) -> str:
    """One computed sentence on where the two sides of a contradiction hold in this run."""
    a, b = (list(h) for h in holds)

    def names(ws):
        return ", ".join(labels[w] for w in ws)

    if not a and not b:
        return "In this run neither side is reproduced in any time window."
    if a and not b:
        return f"In this run only {ids[0]} is reproduced ({names(a)})."
    if b and not a:
        return f"In this run only {ids[1]} is reproduced ({names(b)})."
    both = [w for w in a if w in b]
    if both:
        return f"In this run both are reproduced in {names(both)} (their read-outs or contrasts differ)."
    return (f"In this run they hold in different time windows - {ids[0]}: {names(a)}; {ids[1]}: {names(b)} - "
            "so they need not contradict each other once the time is stated.")


def primary_verdicts(primary: Mapping[str, Result]) -> list[str]:
    return sorted({r.verdict for r in primary.values()})


def _symbol(r: Result | None) -> str:
    if r is None:
        return ""
    sym = SYMBOLS.get(r.verdict, "")
    if np.isfinite(r.effect):
        return f"{sym} {r.effect:+.3f}"
    return sym


def run_figures(figures_dir: Path) -> list[tuple[Path, str]]:
    """The run's own figures (PNG) in report order, excluding the claims figures."""
    if not figures_dir or not Path(figures_dir).is_dir():
        return []
    d = Path(figures_dir)
    out, seen = [], set()
    for stem, cap in RUN_FIGURES:
        p = d / f"{stem}.png"
        if p.is_file():
            out.append((p, cap))
            seen.add(p.name)
    for p in sorted(d.glob("*.png")):
        if p.name not in seen and not p.name.startswith("claims_"):
            out.append((p, p.stem.replace("_", " ")))
    return out


# =============================================================================================== rendering
def _md_inline(s: str) -> str:
    return str(s).replace("|", "\\|").replace("\n", " ")


def render_markdown(blocks: Sequence[Block], base_dir: Path) -> str:
    out = []
    for b in blocks:
        if b.kind in ("h1", "h2", "h3"):
            out.append("#" * int(b.kind[1]) + " " + b.text)
        elif b.kind == "p":
            out.append(b.text)
        elif b.kind == "ul":
            out.append("\n".join(f"- {i}" for i in b.items))
        elif b.kind == "table":
            out.append("| " + " | ".join(_md_inline(h) for h in b.header) + " |")
            out[-1] += "\n|" + "|".join("---" for _ in b.header) + "|"
            for row in b.rows:
                cells = [_md_inline(c.text if isinstance(c, Cell) else c) for c in row]
                out[-1] += "\n| " + " | ".join(cells) + " |"
        elif b.kind == "img":
            rel = Path(b.path).resolve().relative_to(Path(base_dir).resolve()) if b.path else ""
            out.append(f"![{b.caption}]({rel.as_posix() if rel else ''})\n\n*{b.caption}*")
        elif b.kind == "pre":
            out.append("```\n" + b.text + "\n```")
        out.append("")
    return "\n".join(out)


_CSS = """
body{font-family:-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;max-width:1400px;margin:1.5em auto;
padding:0 1em;color:#222;line-height:1.45;font-size:15px}
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}h3{font-size:1.05em}
table{border-collapse:collapse;margin:.6em 0 1.2em;font-size:.86em}
th,td{border:1px solid #ccc;padding:.3em .45em;vertical-align:top;text-align:left}
th{background:#f2f2f2;position:sticky;top:0}
td.v-rep{background:#1a9850;color:#fff;font-weight:600}td.v-opp{background:#d73027;color:#fff;font-weight:600}
td.v-not{background:#e6e6e6}td.v-ne{background:#fff;color:#777}td.v-nt{background:#fff;color:#777;font-style:italic}
figure{margin:1em 0 2em}figure img{max-width:100%;border:1px solid #ddd}figcaption{font-size:.9em;color:#444}
code{background:#f4f4f4;padding:0 .2em}
nav{background:#f7f7f7;border:1px solid #ddd;padding:.5em 1em;font-size:.9em}
"""


def _html_inline(s: str) -> str:
    s = html.escape(str(s))
    s = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", s)
    s = re.sub(r"`(.+?)`", r"<code>\1</code>", s)
    return re.sub(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])", r"<em>\1</em>", s)


def png_data_uri(path: Path, max_width: int = 1400) -> str:
    """The PNG as a data URI, downscaled to ``max_width`` pixels if wider and reduced to a 256-colour palette
    (figures are flat-coloured; this keeps the HTML a few MB)."""
    data = Path(path).read_bytes()
    try:
        from PIL import Image

        with Image.open(io.BytesIO(data)) as im:
            im = im.convert("RGB")
            if im.width > max_width:
                im = im.resize((max_width, round(im.height * max_width / im.width)), Image.LANCZOS)
            buf = io.BytesIO()
            im.quantize(256).save(buf, format="PNG")
            data = buf.getvalue()
    except ImportError:  # pragma: no cover - pillow comes with matplotlib
        pass
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def _slug(s: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", s.lower()).strip("-")


def render_html(blocks: Sequence[Block], title: str) -> str:
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>"]
    toc = [b for b in blocks if b.kind == "h2"]
    for i, b in enumerate(blocks):
        if b.kind == "h1":
            out.append(f"<h1>{_html_inline(b.text)}</h1>")
        elif b.kind == "h2":
            out.append(f'<h2 id="{_slug(b.text)}">{_html_inline(b.text)}</h2>')
        elif b.kind == "h3":
            out.append(f"<h3>{_html_inline(b.text)}</h3>")
        elif b.kind == "p":
            out.append(f"<p>{_html_inline(b.text)}</p>")
        elif b.kind == "ul":
            out.append("<ul>" + "".join(f"<li>{_html_inline(x)}</li>" for x in b.items) + "</ul>")
        elif b.kind == "table":
            rows = ["<tr>" + "".join(f"<th>{_html_inline(h)}</th>" for h in b.header) + "</tr>"]
            for row in b.rows:
                cells = []
                for c in row:
                    if isinstance(c, Cell):
                        cls = f' class="{c.css}"' if c.css else ""
                        cells.append(f"<td{cls}>{_html_inline(c.text)}</td>")
                    else:
                        cells.append(f"<td>{_html_inline(c)}</td>")
                rows.append("<tr>" + "".join(cells) + "</tr>")
            out.append("<table>" + "".join(rows) + "</table>")
        elif b.kind == "img":
            out.append(f'<figure><img alt="{html.escape(b.caption)}" src="{png_data_uri(b.path)}">'
                       f"<figcaption>{_html_inline(b.caption)}</figcaption></figure>")
        elif b.kind == "pre":
            out.append(f"<pre>{html.escape(b.text)}</pre>")
        if i == 1 and toc:  # contents after the run line
            out.append("<nav><strong>Contents:</strong> " + " · ".join(
                f'<a href="#{_slug(h.text)}">{html.escape(h.text)}</a>' for h in toc) + "</nav>")
    out.append("</body></html>")
    return "\n".join(out)


def write_report(stage_dir: Path, ctx: ReportContext) -> tuple[Path, Path]:
    """Write ``report.md`` and ``report.html`` into ``stage_dir``; returns their paths."""
    stage_dir = Path(stage_dir)
    blocks = build_blocks(ctx)
    md = stage_dir / "report.md"
    md.write_text(render_markdown(blocks, stage_dir), encoding="utf-8")
    h = stage_dir / "report.html"
    h.write_text(render_html(blocks, "dmn-sim claims report"), encoding="utf-8")
    return md, h


def run_info(ds, cfg=None) -> dict:
    """What the report says about the run (from the Dataset and, if given, the config)."""
    from sim.plots._common import fmt_time

    t = np.asarray(ds["time_h"].values, dtype=float)
    info = {"experiment": ds.attrs.get("experiment", ""), "model": ds.attrs.get("model", ""),
            "n_subjects": int(ds.sizes.get("subject", 0)), "n_conditions": int(ds.sizes.get("condition", 0)),
            "n_scans": int(t.size), "first_scan": fmt_time(t[0]) if t.size else "",
            "last_scan": fmt_time(t[-1]) if t.size else "", "preset": ds.attrs.get("depressed_phenotype", ""),
            "mechanisms": str(ds.attrs.get("mechanisms", "")).replace(",", ", "), "seed": ds.attrs.get("seed", ""),
            "date": time.strftime("%Y-%m-%d %H:%M")}
    if cfg is not None and cfg.get("experiment") is not None:
        info["experiment"] = str(cfg["experiment"].get("name", info["experiment"]))
    return info
