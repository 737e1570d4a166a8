"""Effect, confidence interval and verdict of each claim, computed from a run's results only.

The rule (also in the header of ``configs/claims/registry.yaml`` and in the report):

* A **window** is a set of scan times; the scans of the run that are in it are used (within
  ``time_tolerance_h``). Per subject the read-out is averaged over those scans.
* **Baseline** = the mean of the subject's scans before time 0 (before the first infusion or session).
* Per-subject effect by contrast type: ``vs_control`` = (treated − baseline) − (control − baseline);
  ``vs_baseline`` = treated − baseline; ``between`` = treated − control; ``level`` = treated.
  With a ``reference_window`` the effect is (effect in the window) − (effect in the reference window).
  Every condition holds the same virtual subjects (same traits), so contrasts are paired.
* **effect** = mean across subjects, 95 % CI = mean ± t(0.975, n−1)·SD/√n.
* **verdict**: "reproduced" if the CI excludes 0 on the expected side and |effect| ≥ the minimal effect
  size of the metric's unit; "opposite" if it does so on the other side; "not reproduced" otherwise.
  ``expected: either`` is two-sided (no "opposite"); ``toward_healthy`` takes its side from the run
  (healthy − depressed, untreated, all scans) and is "not evaluated" if that difference is not itself
  significant and at least the minimal effect size.
* ``expected: no_difference`` (a claim that two things do not differ) is an equivalence test (two one-sided
  tests at the same level, Schuirmann 1987): "reproduced" if the whole CI lies within ± the minimal effect size,
  "opposite" if the CI excludes 0 and |effect| ≥ the minimal effect size (a difference exists), "not
  reproduced" otherwise (the run cannot tell).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from sim import analysis
from sim.claims.registry import Claim, Readout, Registry, Window
from sim.claims.verdicts import NOT_EVALUATED, NOT_REPRODUCED, NOT_TESTABLE, OPPOSITE, REPRODUCED, VERDICTS
from sim.stats import t_interval

__all__ = ["NOT_EVALUATED", "NOT_REPRODUCED", "NOT_TESTABLE", "OPPOSITE", "REPRODUCED", "VERDICTS", "NotEvaluable",
           "Onset", "Result", "classify", "contradictions", "evaluate", "evaluate_by_window", "evaluate_claim",
           "onset", "per_subject_effect", "readout_values", "t_interval"]


class NotEvaluable(Exception):
    """The run lacks what a claim needs (a condition, region, scan window or baseline scan)."""


@dataclass(frozen=True)
class Result:
    """One claim evaluated in one window of one run."""

    claim_id: str
    window: str
    scans_h: tuple[float, ...]
    effect: float
    low: float
    high: float
    n: int
    unit: str
    expected: str          # the expected direction as used (toward_healthy resolved to increase/decrease)
    verdict: str
    reason: str            # one short sentence: why this verdict

    def effect_text(self, digits: int = 3) -> str:
        if not np.isfinite(self.effect):
            return "—"
        return f"{self.effect:+.{digits}f} ({self.low:+.{digits}f} to {self.high:+.{digits}f})"


def classify(mean: float, low: float, high: float, expected: str, min_effect: float = 0.0) -> tuple[str, str]:
    """Verdict and reason for an effect with CI; ``expected`` in increase | decrease | either."""
    if not (np.isfinite(low) and np.isfinite(high)):
        return NOT_EVALUATED, "too few subjects for a confidence interval"
    if expected == "no_difference":
        if -min_effect < low and high < min_effect:
            return REPRODUCED, f"the whole CI lies within ±{min_effect:g} (equivalence: no difference that matters)"
        if (low > 0 or high < 0) and abs(mean) >= min_effect:
            return OPPOSITE, f"the CI excludes 0 and |effect| ≥ {min_effect:g}: there is a difference"
        return NOT_REPRODUCED, f"the CI neither lies within ±{min_effect:g} nor shows a difference of that size"
    if low <= 0 <= high:
        return NOT_REPRODUCED, "the 95% CI includes 0"
    side = 1 if low > 0 else -1
    if abs(mean) < min_effect:
        return NOT_REPRODUCED, f"the CI excludes 0 but |effect| < the minimal effect size {min_effect:g}"
    if expected == "either":
        return REPRODUCED, "the CI excludes 0 (either direction was expected)"
    want = 1 if expected in ("increase", "above_zero") else -1
    if side == want:
        return REPRODUCED, "the CI excludes 0 on the expected side"
    return OPPOSITE, "the CI excludes 0 on the side opposite to the claim"


# ------------------------------------------------------------------------------------------ read-outs
def _attr_map(ds, key: str) -> dict:
    import json

    return json.loads(ds.attrs.get(key, "{}"))


def _region_index(ds, names) -> np.ndarray:
    regions = [str(r) for r in ds["region"].values]
    networks = [str(n) for n in ds["network"].values] if "network" in ds.coords else [None] * len(regions)
    out = []
    for x in names:
        if x in regions:
            out.append(regions.index(x))
        elif x in networks:
            out.extend(i for i, n in enumerate(networks) if n == x)
        elif x in _attr_map(ds, "atlas_aliases"):  # a seed name on a real atlas: its parcels (configs/atlas/aal2.yaml)
            out.extend(regions.index(r) for r in _attr_map(ds, "atlas_aliases")[x])
        elif x in _attr_map(ds, "atlas_not_available"):
            raise NotEvaluable(f"region {x} is not in this atlas: {_attr_map(ds, 'atlas_not_available')[x]}")
        else:
            raise NotEvaluable(f"region or network {x} is not in this run (dropped from the atlas?)")
    return np.array(sorted(set(out)), dtype=int)


def readout_values(ds, readout: Readout):
    """The read-out as a DataArray (condition, subject, time_h)."""
    import xarray as xr

    if readout.kind == "metric":
        if readout.metric not in ds:
            raise NotEvaluable(f"metric {readout.metric} is not in this run")
        return ds[readout.metric].transpose("condition", "subject", "time_h")
    if readout.kind in ("activity", "activity_diff"):
        if "amp" not in ds:
            raise NotEvaluable("per-region activity (amp) is not in this run")
        amp = ds["amp"].transpose("condition", "subject", "time_h", "region")
        out = amp.isel(region=_region_index(ds, readout.a)).mean("region")
        if readout.kind == "activity_diff":
            out = out - amp.isel(region=_region_index(ds, readout.b)).mean("region")
        return out
    if readout.kind == "gbc":
        if "gbc" not in ds:
            raise NotEvaluable("per-region gbc is not in this run")
        idx = _region_index(ds, readout.a)
        return ds["gbc"].isel(region=idx).mean("region").transpose("condition", "subject", "time_h")
    if "fc" not in ds:
        raise NotEvaluable("the fc matrices are not in this run")
    if readout.kind == "most_changed":  # the FC rows of the target and its rivals (per-subject effect: _ranked)
        target = _region_index(ds, readout.a)
        rivals = [i for i in _region_index(ds, readout.b) if i not in set(target)]
        idx = np.concatenate([target[:1], np.array(rivals, dtype=int)])  # target first (_region_index sorts)
        return ds["fc"].isel(region=idx).transpose("condition", "subject", "time_h", "region", "region_to")
    a, b = _region_index(ds, readout.a), _region_index(ds, readout.b)
    fc = ds["fc"].transpose("condition", "subject", "time_h", "region", "region_to")
    n = fc.sizes["region"]
    mask = np.zeros((n, n), dtype=bool)
    mask[np.ix_(a, b)] = True
    np.fill_diagonal(mask, False)
    if not mask.any():
        raise NotEvaluable("the two region sets have no distinct pair")
    vals = np.asarray(fc.values, dtype=float)[..., mask].mean(-1)
    return xr.DataArray(vals, dims=("condition", "subject", "time_h"),
                        coords={k: fc.coords[k] for k in ("condition", "subject", "time_h")})


def unit_of(readout: Readout) -> str:
    if readout.kind in ("activity", "activity_diff"):
        return "ln"
    if readout.kind != "metric":
        return "r"
    from sim.metrics import describe

    try:
        return describe(str(readout.metric))[1]
    except (KeyError, IndexError):
        return "r" if str(readout.metric).startswith("fc_") else "1"


def min_effect_for(registry: Registry, unit: str) -> float:
    key = unit if unit in ("r", "ln") else "0..1"
    return float(registry.min_abs_effect.get(key, 0.0))


def window_scans(ds, window: Window, tol: float) -> np.ndarray:
    """Scan times of the run that are in the window."""
    t = np.asarray(ds["time_h"].values, dtype=float)
    if window.all:
        return t
    listed = np.asarray(window.times_h, dtype=float)
    return t[np.any(np.abs(t[:, None] - listed[None, :]) <= tol, axis=1)]


def _cond(v, name: str):
    try:
        return analysis.condition(v, name)
    except analysis.MissingData as e:
        raise NotEvaluable(str(e)) from None


def _contrast(v, claim: Claim, scans: np.ndarray) -> np.ndarray:
    """Per-subject effect of the claim's contrast over the window's scans (:mod:`sim.analysis`)."""
    c = claim.contrast
    try:
        if c.type == "level":
            return analysis.window(_cond(v, c.treated), scans).values
        if c.type == "between":
            return analysis.paired_contrast(v, c.treated, c.control, scans, baseline_corrected=False).values
        control = c.control if c.type == "vs_control" else None
        return analysis.paired_contrast(v, c.treated, control, scans).values
    except analysis.MissingData as e:
        raise NotEvaluable(f"{e} in this run") from None


def per_subject_effect(ds, claim: Claim, registry: Registry, window: str | None = None,
                       values=None) -> tuple[np.ndarray, tuple[float, ...]]:
    """Per-subject effects of a testable claim in ``window`` (default: the claim's), and the scans used."""
    v = readout_values(ds, claim.readout) if values is None else values
    w = registry.windows[window or claim.window]
    scans = window_scans(ds, w, registry.time_tolerance_h)
    if scans.size == 0:
        raise NotEvaluable(f"no scan of this run is in the window '{w.label}'")
    x = _contrast(v, claim, scans)
    if claim.readout.kind == "most_changed":
        x = _ranked(x, v, claim.readout)
    if claim.reference_window:
        wr = registry.windows[claim.reference_window]
        ref = window_scans(ds, wr, registry.time_tolerance_h)
        if ref.size == 0:
            raise NotEvaluable(f"no scan of this run is in the reference window '{wr.label}'")
        x = x - _contrast(v, claim, ref)
    return np.asarray(x, dtype=float), tuple(float(s) for s in scans)


def _ranked(x: np.ndarray, v, readout: Readout) -> np.ndarray:
    """Per subject: mean |change in FC| of the target's row minus the largest such mean among the rivals, each row
    over the regions outside the compared set ("the target changes most"). x: (subject, k, region)."""
    names = [str(r) for r in v["region"].values]
    cols = np.array([str(r) not in names for r in v["region_to"].values])
    s = np.abs(np.asarray(x, dtype=float)[..., cols]).mean(-1)   # (subject, k)
    return s[:, 0] - s[:, 1:].max(-1)


def healthy_direction(ds, registry: Registry, readout: Readout, values=None) -> tuple[int, str]:
    """Sign of (healthy − depressed) of a read-out, untreated, all scans; 0 if not significant."""
    v = readout_values(ds, readout) if values is None else values
    h, d = registry.normalisation.get("healthy"), registry.normalisation.get("depressed")
    diff = (_cond(v, h) - _cond(v, d)).mean("time_h").values
    m, lo, hi, _ = t_interval(diff, registry.ci_level)
    unit = unit_of(readout)
    text = f"{h} − {d} = {m:+.3f} ({lo:+.3f} to {hi:+.3f})"
    if not (np.isfinite(lo) and np.isfinite(hi)) or lo <= 0 <= hi or abs(m) < min_effect_for(registry, unit):
        return 0, text
    return (1 if m > 0 else -1), text


def _memo_values(ds, readout: Readout, memo: dict | None):
    """:func:`readout_values`, each read-out computed once per ``memo`` (one per ``ds``): claims and windows
    share read-outs, and a pair read-out reads the whole FC array. A read-out that is not evaluable raises
    the same :class:`NotEvaluable` each time."""
    if memo is None:
        return readout_values(ds, readout)
    if readout not in memo:
        try:
            memo[readout] = readout_values(ds, readout)
        except NotEvaluable as e:
            memo[readout] = e
    v = memo[readout]
    if isinstance(v, NotEvaluable):
        raise NotEvaluable(str(v))
    return v


def evaluate_claim(ds, claim: Claim, registry: Registry, window: str | None = None, memo: dict | None = None) -> Result:
    """Evaluate one claim in one window (default: the claim's own window). ``memo``: a dict shared by calls on
    the same ``ds`` (:func:`_memo_values`)."""
    wname = window or claim.window
    if not claim.testable:
        return Result(claim.id, wname or "", (), np.nan, np.nan, np.nan, 0, "", "", NOT_TESTABLE,
                      claim.reason or "")
    unit = unit_of(claim.readout)
    expected = claim.expected
    extra = ""
    try:
        v = _memo_values(ds, claim.readout, memo)
        if expected == "toward_healthy":
            sign, text = healthy_direction(ds, registry, claim.readout, v)
            if sign == 0:
                return Result(claim.id, wname, (), np.nan, np.nan, np.nan, 0, unit, "toward healthy",
                              NOT_EVALUATED, f"no abnormality to normalise in this run ({text})")
            expected = "increase" if sign > 0 else "decrease"
            extra = f"; healthy direction = {expected} ({text})"
        x, scans = per_subject_effect(ds, claim, registry, wname, v)
    except NotEvaluable as e:
        return Result(claim.id, wname, (), np.nan, np.nan, np.nan, 0, unit, expected or "", NOT_EVALUATED, str(e))
    m, lo, hi, n = t_interval(x, registry.ci_level)
    verdict, reason = classify(m, lo, hi, expected, min_effect_for(registry, unit))
    return Result(claim.id, wname, scans, m, lo, hi, n, unit, expected, verdict, reason + extra)


def evaluate(ds, registry: Registry, memo: dict | None = None) -> list[Result]:
    """Every claim (testable or not) in its own window. ``memo``: see :func:`evaluate_claim` (default: one for
    this call)."""
    memo = {} if memo is None else memo
    return [evaluate_claim(ds, c, registry, memo=memo) for c in registry.claims]


def evaluate_by_window(ds, registry: Registry, memo: dict | None = None) -> dict[tuple[str, str], Result]:
    """Every testable claim in each timeline window it speaks about (``speaks_about``, default every window of
    ``registry.timeline_windows``): (claim id, window) -> Result.

    Claims with a reference window (they compare two windows by construction) are left out. ``memo``: see
    :func:`evaluate_claim` (default: one for this call).
    """
    memo = {} if memo is None else memo
    out = {}
    for c in registry.testable:
        if c.reference_window:
            continue
        for w in registry.windows_of(c):
            out[(c.id, w)] = evaluate_claim(ds, c, registry, w, memo)
    return out


@dataclass(frozen=True)
class PairView:
    """A contradiction pair: each claim's primary verdict and the windows / regimes where it holds."""

    ids: tuple[str, str]
    about: str
    primary: tuple[Result, Result]
    holds_in_windows: tuple[tuple[str, ...], tuple[str, ...]]
    holds_in_variants: tuple[tuple[str, ...], tuple[str, ...]] = ((), ())
    same_computation: bool = False
    timeless: tuple[bool, bool] = (False, False)   # a side names no time (its window is every scan): its
                                                   # holds_in_windows is empty; its own verdict is over every scan


def contradictions(registry: Registry, primary: dict[str, Result], by_window: dict[tuple[str, str], Result],
                   variants: dict[str, dict[str, Result]] | None = None) -> list[PairView]:
    """The registry's contradiction pairs with, for each side, the windows (and ablation variants, if given)
    in which the simulation reproduces it."""
    out = []
    for p in registry.contradictions:
        wins, regs = [], []
        for cid in p.ids:
            wins.append(tuple(w for w in registry.windows_of(registry.get(cid))
                              if (cid, w) in by_window and by_window[(cid, w)].verdict == REPRODUCED))
            regs.append(tuple(name for name, res in (variants or {}).items()
                              if cid in res and res[cid].verdict == REPRODUCED))
        timeless = tuple(bool(registry.get(cid).testable and not registry.windows_of(registry.get(cid)))
                         for cid in p.ids)
        out.append(PairView(p.ids, p.about, (primary[p.ids[0]], primary[p.ids[1]]), (wins[0], wins[1]),
                            (regs[0], regs[1]), p.same_computation, (timeless[0], timeless[1])))
    return out


@dataclass(frozen=True)
class Onset:
    """When a claim's contrast first changes after time 0, scan by scan (each scan its own window).

    ``first_change_h``: the first scan whose effect has a CI excluding 0 and |effect| >= the minimal effect size, in
    either direction; ``first_claimed_h``: the first scan where the claim itself is reproduced (its expected
    direction); None = no such scan up to ``until_h``. ``per_scan``: the Result at every scan in (0, until_h]."""

    claim_id: str
    until_h: float
    first_change_h: float | None
    first_claimed_h: float | None
    per_scan: tuple[Result, ...]


def onset(ds, claim: Claim, registry: Registry, until_h: float) -> Onset:
    """The latency of a testable claim's change at the run's scan resolution (e.g. scans at 5, 10, 20 min, 1 h, ...):
    the claim's contrast evaluated at each single scan in (0, ``until_h``]."""
    t = np.asarray(ds["time_h"].values, dtype=float)
    scans = t[(t > 0) & (t <= until_h + registry.time_tolerance_h)]
    wins = {f"_scan_{x:g}": Window(f"_scan_{x:g}", f"scan at {x:g} h", (float(x),)) for x in scans}
    reg = dataclasses.replace(registry, windows={**registry.windows, **wins})
    plain = dataclasses.replace(claim, reference_window=None)
    res = tuple(evaluate_claim(ds, plain, reg, w) for w in wins)
    unit = unit_of(claim.readout)
    m_eff = min_effect_for(registry, unit)
    change = [r.scans_h[0] for r in res if r.scans_h
              and classify(r.effect, r.low, r.high, "either", m_eff)[0] == REPRODUCED]
    claimed = [r.scans_h[0] for r in res if r.scans_h and r.verdict == REPRODUCED]
    return Onset(claim.id, float(until_h), change[0] if change else None, claimed[0] if claimed else None, res)


def onsets(ds, registry: Registry) -> dict[str, Onset]:
    """Onsets of both claims of every contradiction pair that asks for one (``latency_until_h``)."""
    out = {}
    for p in registry.contradictions:
        if p.latency_until_h is None:
            continue
        for cid in p.ids:
            c = registry.get(cid)
            if c.testable:
                out[cid] = onset(ds, c, registry, p.latency_until_h)
    return out
