"""The content of the claims report, built once as a list of blocks (rendered to Markdown and HTML by
:mod:`sim.report.render`). Every verdict and effect comes from :mod:`sim.claims`."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sim.claims import verdicts as V
from sim.claims.ablation import observed_dependence, shifted_by
from sim.claims.assess import Assessment
from sim.claims.evaluate import Result
from sim.claims.registry import Claim, Registry
from sim.claims.verdicts import NOT_EVALUATED, NOT_REPRODUCED, NOT_TESTABLE, OPPOSITE, REPRODUCED
from sim.report.figures import window_rows
from sim.report.text import (
    contrast_text,
    effect_text,
    expected_text,
    pair_sentence,
    primary_verdicts,
    readout_text,
    seed_short,
    symbol,
    trim,
    window_text,
)
from sim.schema import vocabulary

#: the run's figures shown in the report, in this order (by file-name prefix), with a caption; others in figures/
#: are listed after. Network-change captions are made from the file name and the conditions' labels.
RUN_FIGURES = (
    ("effects", "Effects: each declared contrast (treated − control, change from baseline) over time per key "
                "metric, cohort mean and 95% CI, dosing marked."),
    ("fc_differences", "FC difference matrices: the contrasts' paired effect on every region pair."),
    ("metric_timecourses", "Metric time courses: cohort mean and 95% CI of the key metrics in every condition."),
    ("slow_states", "Slow states: plasma ketamine, NMDA block (total and trapped), plasticity and TMS states."),
    ("network_change_", ""),
    ("fc_matrices", "FC matrices at baseline and after the drug."),
    ("dose_response", "Dose response (change from baseline at each dose)."),
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
    ("AI, AMY, VS, HIP, LHb, SMG", "anterior insula, amygdala, ventral striatum, hippocampus, lateral habenula, "
                                  "supramarginal gyrus"),
    ("activity", "ln of the SD of a region's BOLD signal over a scan (an amplitude, not connectivity)"),
    ("metastability", "how much whole-brain synchrony varies over time (a model measure of flexible dynamics)"),
    ("[V] [S] [R]", "evidence tags of science.md: seen in a primary abstract/table [V]; only in a secondary source "
                    "[S]; compiler's background knowledge, not re-verified [R]"),
    ("disinhibition, trapping, plasticity, tms", "the drug mechanisms of the model (README, 'Drug and time'), each "
                                                 "switchable in drug.mechanisms"),
)


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
    assessment: Assessment
    run: dict
    figures_dir: Path
    claim_figures: dict[str, Path] = field(default_factory=dict)

    @property
    def registry(self) -> Registry:
        return self.assessment.registry

    @property
    def primary(self) -> dict[str, Result]:
        return self.assessment.primary

    @property
    def by_window(self):
        return self.assessment.by_window

    @property
    def pairs(self):
        return self.assessment.pairs

    @property
    def variants(self):
        return self.assessment.variants


def _observed(ctx: ReportContext, cid: str) -> str | None:
    """Mechanisms whose removal changes the claim's verdict ('none'), or None without ablation runs."""
    if not ctx.variants:
        return None
    return ", ".join(observed_dependence(cid, ctx.variants)) or "none"


def _shifted(ctx: ReportContext, cid: str) -> str | None:
    """Mechanisms whose removal shifts the claim's effect significantly (paired), or None without ablation."""
    if not ctx.variants:
        return None
    return ", ".join(shifted_by(cid, ctx.variants)) or "none"


def _depends_text(ctx: ReportContext, c: Claim) -> str:
    s = f"expected: {', '.join(c.depends_on) or 'none'}"
    if not ctx.variants:
        return s + "; observed: run experiment=claims"
    return s + f"; verdict changes without: {_observed(ctx, c.id)}; effect shifts without: {_shifted(ctx, c.id)}"


def verdict_cell(r: Result, shown: str | None = None) -> Cell:
    text = shown or r.verdict
    css = "v-frag" if text.startswith("fragile") else V.CSS.get(r.verdict, "")
    return Cell(text, css)


def _stability_text(ctx: ReportContext, cid: str) -> str:
    s = ctx.assessment.stability.get(cid)
    return s.text() if s is not None and s.method else "—"


def _origin_text(ctx: ReportContext, cid: str) -> str:
    o = ctx.assessment.origin.get(cid)
    if o is None:
        return "—"
    text = o.kind + (f": {o.detail}" if o.detail else "")
    if o.confirmed is not None:
        text += "; ablation " + ("confirms it" if o.confirmed else "does not confirm it")
    return text


def _expected_effect(ctx: ReportContext, cid: str) -> str:
    e = ctx.assessment.expected
    if e is None or cid not in e:
        return "—"
    r = e[cid]
    return f"{r.effect:+.3f}" if np.isfinite(r.effect) else "n/a"


def design_text(run: Mapping) -> str:
    noise = run.get("trial_noise")
    out = {"common": "common scan noise across conditions (each subject's scan at a given time has the same noise "
                     "in every condition: a crossover a clinic cannot run)",
           "independent": "independent scan noise per condition (a parallel-group trial)"}.get(noise, "unknown")
    rep = int(run.get("replicates") or 1)
    stab = (f"{rep} independent replicate cohorts pooled; stability = share of replicates agreeing" if rep > 1 else
            "one cohort; stability = share of 200 bootstrap resamples of the subjects agreeing")
    return (f"Trial design: {out}; baseline = mean of {run.get('baseline_scans', 1)} scan(s) before time 0; "
            f"{stab}; engine: {run.get('engine', 'simulated')}.")


def build_blocks(ctx: ReportContext) -> list[Block]:
    """The whole report, section by section."""
    B: list[Block] = []
    for section in (_intro, _how_to_read, _summary, _hypotheses, _main_table, _untestable, _contradictions,
                    _task, _by_window, _mechanisms, _run_figures, _details, _method, _glossary):
        B += section(ctx)
    return B


def _intro(ctx: ReportContext) -> list[Block]:
    run = ctx.run
    return [Block("h1", "Claims explorer: what the seed articles say, what the literature says, what the model does"),
            Block("p", f"Run: **{run.get('experiment', '')}** experiment, {run.get('model', '')} model, "
                       f"{run.get('n_subjects', '?')} virtual subjects per condition, {run.get('n_conditions', '?')} "
                       f"conditions, {run.get('n_scans', '?')} scans from {run.get('first_scan', '')} to "
                       f"{run.get('last_scan', '')}; depressed preset **{run.get('preset', '')}**; drug mechanisms "
                       f"on: {run.get('mechanisms', '') or 'none'}; seed {run.get('seed', '')}; "
                       f"written {run.get('date', '')}."),
            Block("p", design_text(run))]


def _how_to_read(ctx: ReportContext) -> list[Block]:
    return [Block("h2", "How to read this report"), Block("ul", items=[
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
        "**Stability**: how often the verdict comes out the same in independent replicate cohorts (or bootstrap "
        "resamples of the subjects). A verdict that replicates disagree on is shown as **fragile**, never as "
        "reproduced.",
        "**Origin**: *built in* when the read-out is set directly by an input (most of its region pairs are edited "
        "by the depressed preset or by the drug's assumed targets) or has the claimed value in every condition "
        "alike (a property of the network); *emergent* otherwise. Only emergent, stable verdicts count as results.",
        "**Expected (no noise)**: the same effect computed from the linearised network's stationary covariance "
        "(metrics.engine=linear) instead of simulated scans: no sampling noise at all. At the default noise "
        "simulated |FC| is 10-20 % smaller than the linear value (the cubic term), so the two differ a little.",
    ])]


def _summary(ctx: ReportContext) -> list[Block]:
    reg, primary, a = ctx.registry, ctx.primary, ctx.assessment
    n_test = len(reg.testable)
    counts = {v: sum(1 for c in reg.claims if primary[c.id].verdict == v) for v in primary_verdicts(primary)}
    groups = a.groups()
    res = groups["results"]
    by_v = {v: [cid for cid in res if primary[cid].verdict == v] for v in (REPRODUCED, OPPOSITE, NOT_REPRODUCED)}
    B = [Block("h2", "Summary"),
         Block("p", f"{len(reg.claims)} claims: {n_test} testable here, {len(reg.claims) - n_test} not testable in "
                    "this model. Pooled verdicts of the testable ones: "
                    + ", ".join(f"{counts.get(v, 0)} {v}" for v in (REPRODUCED, NOT_REPRODUCED, OPPOSITE,
                                                                     NOT_EVALUATED)) + "."),
         Block("p", f"**Results** (emergent and stable: {len(res)}): "
                    + "; ".join(f"{len(by_v[v])} {v}" for v in by_v) + ". Listed apart: "
                    f"{len(groups['built in'])} built in (they restate an input or a property of the network), "
                    f"{len(groups['fragile'])} fragile, {len(groups['not evaluated'])} not evaluated.")]
    items = []
    for v in (REPRODUCED, OPPOSITE, NOT_REPRODUCED):
        if by_v[v]:
            items.append(f"**{v}** ({len(by_v[v])}): " + "; ".join(f"{cid} ({trim(reg.get(cid).claim, 60)})"
                                                                  for cid in by_v[v]))
    for g in ("built in", "fragile", "not evaluated"):
        if groups[g]:
            items.append(f"*{g}* ({len(groups[g])}): " + "; ".join(
                f"{cid} ({a.shown_verdict(cid)})" for cid in groups[g]))
    B.append(Block("ul", items=items))
    if "effects" in ctx.claim_figures:
        B.append(Block("img", path=ctx.claim_figures["effects"],
                       caption="Each testable claim at its own time window. Dot = mean effect, bar = 95% CI across "
                               "subjects, colour = verdict; the grey band marks effects below the minimal effect "
                               "size. 'expects ↑/↓' is the direction the claim predicts."))
    return B


KIND_WORDS = {"exc": "excitatory coupling (E->E)", "inh": "cross-inhibitory coupling (E->I)"}


def _target_words(t: Mapping) -> str:
    """One drug target in words: which edges, which way, how much at the full state, and its source."""
    way = "strengthens" if t["gain"] > 0 else "weakens"
    full = f"{abs(t['gain']):.0%}" if t["gain"] >= -1 else f"{abs(t['gain']):g}x"
    return (f"{t['state']}: {way} the {KIND_WORDS.get(t['kind'], t['kind'])} between {t['between']}, by up to "
            f"{full} at the full {t['state']} state (edge x (1 {'+' if t['gain'] >= 0 else '-'} {abs(t['gain']):g} "
            f"x state)); source: {t['source']}")


def _hypotheses(ctx: ReportContext) -> list[Block]:
    targets = ctx.run.get("targets") or []
    acute = ctx.run.get("acute") or {}
    if not targets and not acute:
        return []
    B = [Block("h2", "The drug's hypothesis in this run")]
    if acute:
        w = acute.get("weights") or {}
        wtxt = ", ".join(f"{k} {v:g}" for k, v in w.items()) or "1 everywhere"
        B.append(Block("p", "**Acute (disinhibition, trapping)**: while ketamine blocks NMDA receptors (block = "
                            "receptor occupancy from the plasma level, plus the part trapped in closed channels that "
                            f"outlasts the plasma: trapping τ {acute.get('tau_trap_h', '?'):g} h, release τ "
                            f"{acute.get('tau_untrap_h', '?'):g} h), every region's drive onto its interneurons is "
                            "scaled by 1 − block × w and its excitability rises by "
                            f"{acute.get('excitability_per_block', 0):g} × block × w (Hopf a, 1/s). w = regional "
                            f"weight ({wtxt}; other regions 1), assumed from interneuron density maps. These act on "
                            "every region, not on chosen edges; all values are assumed (configs/drug/ketamine.yaml)."))
    if targets:
        B.append(Block("p", "**Slow (plasticity after ketamine; the TMS state during a course)**: these states act "
                            "only on the edges below (drug.targets); every gain is assumed. A verdict on a read-out "
                            "made of these edges is marked *built in* below: it follows from the assumed target, and "
                            "the column 'Carried by' names the hypothesis each verdict rests on."))
        B.append(Block("ul", items=[_target_words(t) for t in targets]))
    return B


def _main_table(ctx: ReportContext) -> list[Block]:
    reg, primary, a = ctx.registry, ctx.primary, ctx.assessment
    header = ["Seed claim", "Read-out; contrast; expected", "Literature verdict", "Simulation verdict",
              "Effect (95% CI)", "Expected (no noise)", "Stability", "Origin", "Carried by (hypothesis)", "Time window",
              "Depends on"]
    rows = []
    for c in reg.testable:
        r = primary[c.id]
        rows.append([f"**{c.id}** {c.claim} ({seed_short(reg, c)})",
                     f"{readout_text(c)}; {contrast_text(c)}; expected {expected_text(c, r)}",
                     c.literature.verdict, verdict_cell(r, a.shown_verdict(c.id)), effect_text(r),
                     _expected_effect(ctx, c.id), _stability_text(ctx, c.id), _origin_text(ctx, c.id),
                     _carried_by(ctx, c.id), window_text(reg, r, c), _depends_text(ctx, c)])
    return [Block("h2", "Claims side by side"), Block("table", header=header, rows=rows)]


def _untestable(ctx: ReportContext) -> list[Block]:
    reg = ctx.registry
    rows = [[f"**{c.id}** {c.claim} ({seed_short(reg, c)})", c.literature.verdict, Cell(NOT_TESTABLE, "v-nt"),
             c.reason or ""] for c in reg.claims if not c.testable]
    B = [Block("h3", "Claims this model cannot test"),
         Block("table", header=["Seed claim", "Literature verdict", "Simulation verdict", "Why not"], rows=rows)]
    if reg.excluded:
        B.append(Block("h3", "Seed sentences left out of the claims"))
        B.append(Block("table", header=["Seed", "Sentence", "Why left out"],
                       rows=[[reg.seed_titles.get(e.file, e.file).split(" - ")[0], e.quote, e.reason]
                             for e in reg.excluded]))
    return B


def _contradictions(ctx: ReportContext) -> list[Block]:
    reg = ctx.registry
    B: list[Block] = []
    B.append(Block("h2", "Claims that contradict each other"))
    B.append(Block("p", "Each pair below makes opposite statements. For each side: its verdict at its own window, "
                        "the time windows in which the simulation reproduces it, and (with experiment=claims) the "
                        "regimes - mechanism switched off or other depressed preset - in which it is reproduced."))
    wl = {w: reg.windows[w].label for w in reg.windows}
    for p in ctx.pairs:
        B.append(Block("h3", p.about))
        rows = []
        holds = [(c_win(reg, cid, p.primary[k]) if p.timeless[k] else p.holds_in_windows[k])
                 for k, cid in enumerate(p.ids)]
        for k, cid in enumerate(p.ids):
            c, r = reg.get(cid), p.primary[k]
            wins = ", ".join(wl[w] for w in holds[k]) or "none"
            if p.timeless[k]:
                wins = f"names no time; {wins}"
            if ctx.variants:
                label = {v.name: v.label for v in ctx.variants}
                regs = ", ".join(label[n] for n in p.holds_in_variants[k]) or "none"
            else:
                regs = "run experiment=claims"
            rows.append([f"**{cid}** {c.claim} ({seed_short(reg, c)})",
                         verdict_cell(r, ctx.assessment.shown_verdict(cid)), _stability_text(ctx, cid),
                         (f"{effect_text(r)} ({reg.windows[r.window].label})" if r.window in reg.windows
                          else (c.reason or "")), wins, regs])
        B.append(Block("table", header=["Claim", "Verdict", "Stability", "Effect at its window",
                                        "Reproduced in windows", "Reproduced in regimes"], rows=rows))
        B.append(Block("p", _supports_sentence(ctx, p) + " " + pair_sentence(p.ids, holds, wl)))
        if any(cid in ctx.assessment.onsets for cid in p.ids):
            B.append(Block("p", _onset_sentence(ctx, p)))
    return B


def _onset_sentence(ctx: ReportContext, p) -> str:
    """The latency of each side's change at the run's scan resolution (a timing pair)."""
    from sim.plots._common import fmt_time

    def at(t):
        return "no scan" if t is None else fmt_time(t, None)

    parts = []
    for cid in p.ids:
        o = ctx.assessment.onsets.get(cid)
        if o is None:
            continue
        first = next((r for r in o.per_scan if r.scans_h and r.scans_h[0] == o.first_change_h), None)
        eff = f" ({effect_text(first)})" if first is not None else ""
        parts.append(f"{cid}: first scan with a change in either direction: {at(o.first_change_h)}{eff}; first "
                     f"scan with the change the claim states ({expected_text(ctx.registry.get(cid))}): "
                     f"{at(o.first_claimed_h)}")
    o0 = next(ctx.assessment.onsets[c] for c in p.ids if c in ctx.assessment.onsets)
    grid = ", ".join(fmt_time(r.scans_h[0], None) for r in o0.per_scan if r.scans_h)
    return (f"Onset, scan by scan (each scan alone as the window; scans after time 0 up to "
            f"{fmt_time(o0.until_h, None)}: {grid}): " + "; ".join(parts) + ".")


def c_win(reg: Registry, cid: str, r: Result) -> tuple[str, ...]:
    """A claim that names no time holds at its own window (every scan) if its verdict there is reproduced."""
    return (reg.get(cid).window,) if r.verdict == REPRODUCED else ()


def _supports_sentence(ctx: ReportContext, p) -> str:
    """Which side of a pair this run supports at the sides' own windows, and at what stability."""
    sides = []
    for k, cid in enumerate(p.ids):
        r = p.primary[k]
        if r.verdict == REPRODUCED:
            sides.append(cid)
    if p.same_computation:
        r = p.primary[0]
        lead = (f"One computation ({effect_text(r)}): ")
    else:
        lead = ""
    if len(sides) == 1:
        cid = sides[0]
        st = _stability_text(ctx, cid)
        carried = _carried_by(ctx, cid)
        return _cap(f"{lead}this run supports **{cid}** ({ctx.assessment.shown_verdict(cid)}; stability: {st}; "
                    f"carried by: {carried}).")
    if len(sides) == 2:
        return _cap(f"{lead}this run reproduces both sides at their own windows (their read-outs or contrasts "
                    "differ).")
    opp = [cid for k, cid in enumerate(p.ids) if p.primary[k].verdict == OPPOSITE]
    if opp:
        return _cap(f"{lead}this run supports neither side; it finds the opposite of {' and '.join(opp)} "
                    f"(stability: {'; '.join(_stability_text(ctx, c) for c in opp)}).")
    return _cap(f"{lead}this run supports neither side at its own window.")


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def _carried_by(ctx: ReportContext, cid: str) -> str:
    """The hypothesis a verdict rests on: the input that sets it (origin) or the mechanisms whose removal changes
    or shifts it (ablations), with the drug targets of those mechanisms."""
    o = ctx.assessment.origin.get(cid)
    mechs: list[str] = []
    if ctx.variants:
        mechs = list(dict.fromkeys(observed_dependence(cid, ctx.variants) + shifted_by(cid, ctx.variants)))
    elif o is not None and o.inputs:
        mechs = list(o.inputs)
    if not mechs:
        if ctx.variants:
            return "no single mechanism found by the ablations"
        if o is not None and o.acting:
            return ("not separated in this run; what differs between the two sides at these scans: "
                    + ", ".join(_acting_word(ctx, m) for m in o.acting) + " (experiment=claims switches each off)")
        return (o.kind if o is not None else "—") + " (run experiment=claims for the mechanisms)"
    targets = ctx.run.get("targets") or []
    out = []
    for m in mechs:
        if m == "phenotype":
            out.append(f"the depressed preset ({ctx.run.get('preset', '')}, an input)")
            continue
        ts = [f"{t['kind']} {t['between']} (gain {t['gain']:g}, {t['source']})" for t in targets if t["state"] == m]
        out.append(f"{m}" + (f" via the assumed target(s) {'; '.join(ts)}" if ts else ""))
    return "; ".join(out)


def _task(ctx: ReportContext) -> list[Block]:
    """The task block's linear response per untreated condition (claim task_reciprocity)."""
    t = ctx.assessment.task
    if not t:
        return []
    from sim.plots._common import pretty_condition as pc

    tb = ctx.registry.task_block

    def ci(x, fmt="+.3f", unit=""):
        m, lo, hi, _ = x
        return "—" if m != m else f"{m:{fmt}}{unit} ({lo:{fmt}} to {hi:{fmt}})"

    rows = [[pc(c), ci(v["task_dmn_per_tpn"]), ci(v["task_recovery_s"], ".1f", " s")] for c, v in t.items()]
    return [Block("h2", "Task block: the linear response of the model"),
            Block("p", "The scans are resting state, so the claim that the DMN 'turns off' during a task "
                       "(task_reciprocity) is read on the linearised network's mean response to a block of external "
                       f"drive onto the {tb.get('driven', 'TPN')} regions ({tb.get('duration_s', 30):g} s; "
                       "sim/claims/task.py): exact for the linear engine, an approximation of the non-linear model, "
                       "and not a simulated task scan. Untreated conditions only. DMN per TPN = the DMN's mean "
                       "signal change during the block divided by the driven regions' (< 0: reciprocal). Recovery = "
                       f"time after the block until the DMN stays within {tb.get('recover_fraction', 0.1):.0%} of "
                       "its largest deviation during it. Mean over subjects (95% CI)."),
            Block("table", header=["Condition", "DMN per TPN change during the block", "DMN recovery after it"],
                  rows=rows)]


def _acting_word(ctx: ReportContext, m: str) -> str:
    if m == "phenotype":
        return f"the depressed preset ({ctx.run.get('preset', '')}, an input)"
    n = sum(1 for t in (ctx.run.get("targets") or []) if t["state"] == m)
    return f"{m} ({n} assumed target edge set{'s' if n != 1 else ''})" if n else m


def _by_window(ctx: ReportContext) -> list[Block]:
    reg = ctx.registry
    B: list[Block] = []
    B.append(Block("h2", "When does each claim hold?"))
    B.append(Block("p", "The same contrast evaluated in each time window the claim speaks about (claims that "
                        "compare two windows by construction - e_peak_rise, e_peak_fall - and claims that name no "
                        "time, such as depressed vs healthy without treatment, are left out). Time 0 = start of "
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
            row.append(Cell(symbol(r), V.CSS.get(r.verdict, "")) if r else "")
        rows.append(row)
    B.append(Block("table", header=["Claim"] + [reg.windows[w].label for w in wins], rows=rows))
    B.append(Block("p", "✓ reproduced, ✗ opposite, · not reproduced, n/e not evaluated (no scan in the window or "
                        "no abnormality to normalise); the number is the effect. Claims with the same read-out, "
                        "contrast and expected direction share a row."))
    return B


def _mechanisms(ctx: ReportContext) -> list[Block]:
    reg = ctx.registry
    B: list[Block] = []
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
                row.append(Cell(f"{symbol(r)}{mark}", V.CSS.get(r.verdict, "")))
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
    return B


def _run_figures(ctx: ReportContext) -> list[Block]:
    B: list[Block] = []
    figs = run_figures(ctx.figures_dir, ctx.run.get("labels"))
    if figs:
        B.append(Block("h2", "Key figures of this run"))
        for path, cap in figs:
            B.append(Block("img", path=path, caption=cap))
    return B


def _details(ctx: ReportContext) -> list[Block]:
    reg, primary = ctx.registry, ctx.primary
    B: list[Block] = []
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
                         f"window: {window_text(reg, r, c)}; expected: {expected_text(c, r)}.")
            items.append(f"Simulation: {ctx.assessment.shown_verdict(c.id)}: {effect_text(r)}, n = {r.n} subjects "
                         f"({r.reason}); expected (no noise): {_expected_effect(ctx, c.id)}; stability: "
                         f"{_stability_text(ctx, c.id)}; origin: {_origin_text(ctx, c.id)}.")
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
    return B


def _method(ctx: ReportContext) -> list[Block]:
    reg = ctx.registry
    B: list[Block] = []
    B.append(Block("h2", "Verdict rule and caveats"))
    m = reg.min_abs_effect
    B.append(Block("ul", items=[
        "Window: a set of scan times; the scans of the run that fall in it are used, and each subject's read-out is "
        "averaged over them. Baseline = the mean of the subject's scans before time 0 (sim/analysis.py).",
        "Effect per subject: vs_control = (treated - its baseline) - (control - its baseline); vs_baseline = "
        "treated - baseline; between = treated - control (no baseline, e.g. depressed vs healthy); level = the "
        "treated value itself. With a reference window: effect in the window minus effect in the reference window. "
        "All conditions hold the same virtual subjects, so every contrast is paired.",
        f"Effect = mean across subjects; {reg.ci_level:.0%} CI = mean ± t(n-1)·SD/√n (t-based, across subjects).",
        f"{REPRODUCED}: CI excludes 0 on the expected side and |effect| ≥ the minimal effect size; {OPPOSITE}: CI "
        f"excludes 0 on the other side (same size condition); {NOT_REPRODUCED}: otherwise. Minimal effect size: "
        f"{m.get('r', 0):g} r for FC (a fifth of the per-subject SD of single-pair FC over a 10-min scan, below what "
        f"an fMRI study of 20-70 people could detect), {m.get('0..1', 0):g} for 0..1 quantities, "
        f"{m.get('ln', 0):g} ln for activity (about {m.get('ln', 0):.0%} amplitude; assumed).",
        f"'no difference' claims (expected = 0) are an equivalence test: {REPRODUCED} if the whole CI lies within ± "
        f"the minimal effect size, {OPPOSITE} if the CI excludes 0 and |effect| ≥ it, {NOT_REPRODUCED} otherwise.",
        "'toward healthy' claims take their direction from the run: the sign of healthy minus depressed (untreated "
        "conditions, all scans); if that difference is not itself significant and at least the minimal effect size "
        f"the claim is '{NOT_EVALUATED}'.",
        f"Multiple comparisons: {len(reg.testable)} claims are each tested at 95% without correction, and more in "
        "the window and mechanism tables. If no claim were true about 1 in 20 verdicts would still come out "
        "'reproduced' or 'opposite' by chance; single borderline verdicts (a CI ending near 0) should not be "
        "over-read.",
        "Stability: a pooled verdict is checked on independent replicate cohorts (claims.replicates) or on "
        "bootstrap resamples of the subjects; one that they do not reproduce is fragile (sim/claims/stability.py). "
        "Origin: built in or emergent, detected from the config (sim/claims/origin.py).",
        "Honesty by construction: the registry holds claims, operationalisations and literature verdicts only; "
        "every simulation verdict and effect here is computed from this run's results (sim/claims/evaluate.py).",
        "The model is qualitative: connectome weights, phenotype magnitudes and drug gains are assumed, and the "
        "slow drug effects follow the hypothesis in drug.targets. A reproduced claim shows the hypothesis *can* "
        "produce it, not that brains do.",
    ]))
    return B


def _glossary(ctx: ReportContext) -> list[Block]:
    B: list[Block] = []
    B.append(Block("h2", "Glossary"))
    B.append(Block("table", header=["Term", "Meaning"], rows=[[a, b] for a, b in GLOSSARY]))
    return B


def _network_change_caption(stem: str, labels: Mapping[str, str]) -> str:
    body = stem.removeprefix("network_change_")
    body, _, t = body.rpartition("_")
    t = t.removesuffix("h").replace("p", ".").replace("m", "-")
    treated, _, control = body.partition("_vs_")
    lab = labels.get(treated, treated.replace("_", " "))
    if control:
        return (f"Network change at {t} h, {lab} minus {labels.get(control, control.replace('_', ' '))} "
                "(each from its own baseline, same subjects): the treatment's own effect.")
    return f"Network change at {t} h from baseline, {lab}."


def run_figures(figures_dir: Path, labels: Mapping[str, str] | None = None) -> list[tuple[Path, str]]:
    """The run's own figures (PNG) in report order, excluding the claims figures."""
    if not figures_dir or not Path(figures_dir).is_dir():
        return []
    d = Path(figures_dir)
    pngs = sorted(p for p in d.glob("*.png") if not p.name.startswith("claims_"))
    out, seen = [], set()
    for prefix, cap in RUN_FIGURES:
        for p in pngs:
            if p.stem.startswith(prefix) and p.name not in seen:
                out.append((p, cap or _network_change_caption(p.stem, labels or {})))
                seen.add(p.name)
    out += [(p, p.stem.replace("_", " ")) for p in pngs if p.name not in seen]
    return out


def run_info(ds, cfg=None) -> dict:
    """What the report says about the run (from the Dataset and, if given, the config)."""
    from sim.plots._common import fmt_time

    t = np.asarray(ds["time_h"].values, dtype=float)
    info = {"experiment": ds.attrs.get("experiment", ""), "model": ds.attrs.get("model", ""),
            "n_subjects": int(ds.sizes.get("subject", 0)), "n_conditions": int(ds.sizes.get("condition", 0)),
            "n_scans": int(t.size), "first_scan": fmt_time(t[0]) if t.size else "",
            "last_scan": fmt_time(t[-1]) if t.size else "", "preset": ds.attrs.get("depressed_phenotype", ""),
            "mechanisms": str(ds.attrs.get("mechanisms", "")).replace(",", ", "), "seed": ds.attrs.get("seed", ""),
            "date": time.strftime("%Y-%m-%d %H:%M"), "labels": vocabulary(ds).labels}
    info.update({k: ds.attrs.get(k) for k in ("trial_noise", "engine", "replicates", "baseline_scans")})
    if "replicates" in ds.attrs:
        info["n_subjects"] = int(ds.sizes.get("subject", 0))
    if cfg is not None and cfg.get("experiment") is not None:
        info["experiment"] = str(cfg["experiment"].get("name", info["experiment"]))
    if cfg is not None and cfg.get("drug") is not None:
        d = cfg["drug"]
        rec, acute = d.get("receptor") or {}, d.get("acute") or {}
        info["acute"] = {"excitability_per_block": float(acute.get("excitability_per_block", 0.0)),
                         "weights": {str(k): float(v) for k, v in (d.get("regional_weights") or {}).items()},
                         "tau_trap_h": float(rec.get("tau_trap_h", float("nan"))),
                         "tau_untrap_h": float(rec.get("tau_untrap_h", float("nan")))}
        info["targets"] = [{"state": str(t.get("state")), "kind": str(t.get("kind")), "gain": float(t.get("gain")),
                            "between": " and ".join(x if isinstance(x, str) else "+".join(x) for x in t["between"]),
                            "source": str(t.get("source", "assumed"))} for t in (cfg["drug"].get("targets") or [])]
    return info
