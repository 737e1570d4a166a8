r"""The one analysis layer: baseline, change, paired contrast and their confidence intervals.

Every presenter (summary, figures, claims, report, sweep, sandbox, notebook) computes effects here, so a
"baseline" or a "treated minus control change" means the same thing everywhere:

* **baseline** of a subject in a condition = the mean of its scans before time 0 (``time_h < 0``: before the
  first infusion or session). With the common-noise design one baseline scan suffices (every condition of a
  subject shares it); with independent noise the trial takes several (``trial.baseline_scans``).
* **window value** = the mean of the subject's scans at the requested times (each matched within
  :data:`TIME_TOLERANCE_H`).
* **change** = window value − baseline (per subject, per condition).
* **paired contrast** (difference in differences) = change(treated) − change(control), per subject: every
  condition holds the same virtual subjects (same traits), so the contrast is paired.
* **CI**: the t-based interval across subjects of :func:`sim.stats.mean_ci`.

Functions take and return :class:`xarray.DataArray` objects with dims ``(condition, subject, time_h, ...)``
(any trailing dims, e.g. ``region, region_to`` for FC, are carried along).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from sim.stats import CI_LEVEL, MeanCI, mean_ci

TIME_TOLERANCE_H = 1e-3  # scan times closer than this (3.6 s) are the same scan


class MissingData(LookupError):
    """The results lack what an analysis needs (a condition, a scan time or a baseline scan)."""


def _times(times_h) -> np.ndarray:
    return np.atleast_1d(np.asarray(times_h, dtype=float))


def select_times(v, times_h, tol: float = TIME_TOLERANCE_H):
    """The scans of ``v`` at the given times (each within ``tol``); raises :class:`MissingData` if one is absent."""
    t = np.asarray(v["time_h"].values, dtype=float)
    idx = []
    for x in _times(times_h):
        hit = np.flatnonzero(np.abs(t - x) <= tol)
        if hit.size == 0:
            raise MissingData(f"no scan at time_h = {x:g}")
        idx.append(int(hit[0]))
    return v.isel(time_h=idx)


def baseline_times(times_h) -> np.ndarray:
    """The baseline scan times: every scan before time 0."""
    t = np.asarray(times_h, dtype=float)
    return t[t < 0]


def baseline(v):
    """Per-subject baseline: mean over the scans before time 0 (drops ``time_h``)."""
    pre = np.asarray(v["time_h"].values, dtype=float) < 0
    if not pre.any():
        raise MissingData("no baseline scan (time_h < 0)")
    return v.isel(time_h=np.flatnonzero(pre)).mean("time_h")


def window(v, times_h):
    """Per-subject mean over the scans at ``times_h`` (drops ``time_h``)."""
    return select_times(v, times_h).mean("time_h")


def change(v, times_h=None):
    """Change from baseline. With ``times_h``: window mean − baseline (drops ``time_h``); without: every scan
    minus the baseline (keeps ``time_h``)."""
    b = baseline(v)
    return (v - b) if times_h is None else (window(v, times_h) - b)


def condition(v, name: str):
    names = [str(c) for c in v["condition"].values]
    if name not in names:
        raise MissingData(f"condition {name} is not in this run")
    return v.sel(condition=name)


def paired_contrast(v, treated: str, control: str | None, times_h=None, baseline_corrected: bool = True):
    """Per-subject effect of ``treated`` against ``control``.

    ``baseline_corrected`` (default): change(treated) − change(control) (difference in differences); without
    a control: change(treated). Otherwise the plain difference treated − control at the same scans.
    """
    tr = condition(v, treated)
    if not baseline_corrected:
        if control is None:
            raise ValueError("a contrast without baseline correction needs a control")
        co = condition(v, control)
        d = tr - co
        return d if times_h is None else window(d, times_h)
    d = change(tr, times_h)
    if control is not None:
        d = d - change(condition(v, control), times_h)
    return d


def ci(per_subject, level: float = CI_LEVEL) -> MeanCI:
    """Cohort mean and t-CI of a per-subject DataArray (or array with subjects first), over ``subject``."""
    if hasattr(per_subject, "dims"):
        per_subject = per_subject.transpose("subject", ...).values
    return mean_ci(np.asarray(per_subject, dtype=float), axis=0, level=level)


def contrast_ci(v, treated: str, control: str | None, times_h=None, level: float = CI_LEVEL) -> MeanCI:
    """:func:`paired_contrast` summarised across subjects."""
    return ci(paired_contrast(v, treated, control, times_h), level)


def present_times_in(scan_times_h, times_h: Sequence[float]) -> list[float]:
    """The requested times that are among ``scan_times_h`` (within :data:`TIME_TOLERANCE_H`)."""
    t = np.asarray(scan_times_h, dtype=float)
    return [float(x) for x in _times(times_h) if np.any(np.abs(t - x) <= TIME_TOLERANCE_H)]


def present_times(v, times_h: Sequence[float]) -> list[float]:
    """The requested times that the results have a scan for (within :data:`TIME_TOLERANCE_H`)."""
    return present_times_in(v["time_h"].values, times_h)
