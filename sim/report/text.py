"""Words for claims: read-outs, contrasts, expected directions, windows, effects (report, CSV and sandbox)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from sim.claims import verdicts as V
from sim.claims.evaluate import Result
from sim.claims.registry import Claim, Registry

EXPECTED_TEXT = {"increase": "↑ increase", "decrease": "↓ decrease", "either": "≠ 0 (either direction)",
                 "below_zero": "< 0", "above_zero": "> 0", "toward_healthy": "toward healthy",
                 "no_difference": "= 0 (within ± the minimal effect)"}


def seed_short(reg: Registry, c: Claim) -> str:
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
    if r.kind in ("most_changed", "activity", "activity_diff"):
        return r.label()
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


def window_text(reg: Registry, r: Result, c: Claim) -> str:
    from sim.plots._common import fmt_time

    w = reg.windows[r.window].label if r.window in reg.windows else r.window
    if c.reference_window:
        w += f" minus {reg.windows[c.reference_window].label}"
    if r.scans_h and not reg.windows[r.window].all:
        w += " [scans: " + ", ".join(fmt_time(t, None) for t in r.scans_h) + "]"
    return w


def effect_text(r: Result) -> str:
    if not np.isfinite(r.effect):
        return "—"
    unit = "" if r.unit in ("", "1") else f" {r.unit.split(' ')[0]}"
    return r.effect_text() + unit


def trim(s: str, n: int = 72) -> str:
    return s if len(s) <= n else s[: n - 1] + "…"


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


def symbol(r: Result | None) -> str:
    if r is None:
        return ""
    sym = V.SYMBOLS.get(r.verdict, "")
    if np.isfinite(r.effect):
        return f"{sym} {r.effect:+.3f}"
    return sym
