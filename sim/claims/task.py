r"""A task block on the task-positive network: the *linear response of the model*, for the healthy DMN-TPN
reciprocity claim (seed 001: the DMN is "turned off" during a task and "immediately" back on after it).

The scans of the model are resting state, so the task is not simulated with noise. Instead the claim is read
on the linearised network's deterministic mean response to a block of external drive. With z = x + iy the
linearised hopf network is dz = (L z + u(t)) dt + noise, L = diag(a_eff + i omega) + W (the operator of
:func:`sim.models.hopf.stationary_cov_complex`), so the mean m(t) = E[z](t) solves dm/dt = L m + u(t) exactly,
whatever the noise. For a drive that is constant over each step of length dt (exact for a block):

    m(t + dt) = E m(t) + F u,   E = expm(L dt),   F = L^{-1} (E - I)

(the variation-of-constants formula). The drive u is real (it enters the BOLD-like x) on the driven network's
regions during the block and 0 otherwise; the response is linear in u, so its size is arbitrary and the
measures below are ratios or times.

* ``task_dmn_per_tpn``: mean over the block of the DMN regions' mean signal Re m, divided by the same for the
  driven (TPN) regions. Negative = the DMN goes down while the task network goes up (reciprocity).
* ``task_recovery_s``: time after the block's end until the DMN's mean signal stays within
  ``recover_fraction`` (10 %) of its largest deviation during the block, to the end of the record.

Why the sign need not follow the resting anticorrelation: every node rotates (omega = 2 pi x 0.04-0.07 Hz, about
0.25-0.44 rad/s, comparable to |a_eff|), so its steady response to a constant drive, -u / (a_eff + i omega), is
turned by atan(omega / |a_eff|); passed through a cross-inhibitory link and a second rotating node, the mean of x
can change sign. The resting anticorrelation (a covariance of fluctuations) and the mean response to a block are
different quantities of the same network.

Only for untreated conditions (no infusion, no TMS): their network does not change over the calendar, so the
value is the same at every scan; treated conditions are NaN (the drug's effect on the task response is not
computed). Needs the hopf model (a linear theory); other models give NaN and the claim is "not evaluated".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import scipy.linalg

TASK_METRICS = ("task_dmn_per_tpn", "task_recovery_s")  # definitions and units: sim.metrics.METRIC_TABLE


@dataclass(frozen=True)
class TaskBlock:
    """The block design (registry ``settings.task_block``); every value assumed unless stated."""

    driven: str = "TPN"            # network receiving the external drive
    read: str = "DMN"              # network whose response is read
    duration_s: float = 30.0       # a 30-s task block, typical of block designs (Fox 2005 used 20-40 s) [R]
    after_s: float = 300.0         # record after the block (>> the slowest relaxation time, ~40 s)
    dt_s: float = 0.5              # output step; the propagation is exact at any step
    recover_fraction: float = 0.1  # "recovered" = within 10 % of the largest deviation during the block


def task_block_from(settings: Mapping | None) -> TaskBlock:
    from sim.errors import ConfigError

    s = dict(settings or {})
    known = set(TaskBlock.__dataclass_fields__)
    bad = sorted(set(s) - known)
    if bad:
        raise ConfigError(f"claims registry settings.task_block: unknown key {bad[0]!r}; allowed: "
                          f"{', '.join(sorted(known))}")
    tb = TaskBlock(**s)
    for k in ("duration_s", "after_s", "dt_s", "recover_fraction"):
        if not float(getattr(tb, k)) > 0:
            raise ConfigError(f"claims registry settings.task_block.{k}: must be > 0, got {getattr(tb, k)!r}")
    return tb


def linear_operator(a_eff: np.ndarray, omega: np.ndarray, w: np.ndarray) -> np.ndarray:
    """L = diag(a_eff + i omega) + W per item, (B, N, N) complex."""
    a_eff, omega, w = (np.asarray(x, float) for x in (a_eff, omega, w))
    return w.astype(complex) + np.eye(a_eff.shape[-1]) * (a_eff + 1j * omega)[..., None, :]


def block_response(lop: np.ndarray, drive: np.ndarray, block: TaskBlock) -> tuple[np.ndarray, np.ndarray]:
    """Mean signal Re m(t) of every region, (B, T, N), from rest (m = 0) with ``drive`` (N,) on during
    [0, duration_s) and off after; returns (t_s, x). Exact stepping (module docstring)."""
    b, n, _ = lop.shape
    dt = float(block.dt_s)
    e = scipy.linalg.expm(lop * dt)                                   # (B, N, N)
    f = np.linalg.solve(lop, e - np.eye(n))                          # L^-1 (E - I)
    fu = f @ np.asarray(drive, complex)                              # (B, N)
    n_on = int(round(block.duration_s / dt))
    n_all = n_on + int(round(block.after_s / dt))
    m = np.zeros((b, n), complex)
    out = np.empty((b, n_all + 1, n))
    out[:, 0] = 0.0
    for k in range(n_all):
        m = np.einsum("bij,bj->bi", e, m) + (fu if k < n_on else 0.0)
        out[:, k + 1] = m.real
    return np.arange(n_all + 1) * dt, out


def task_measures(t_s: np.ndarray, x: np.ndarray, read_idx, driven_idx, block: TaskBlock) -> dict[str, np.ndarray]:
    """``task_dmn_per_tpn`` and ``task_recovery_s`` per item from a block response (module docstring)."""
    on = (t_s > 0) & (t_s <= block.duration_s + 1e-9)
    r = x[..., read_idx].mean(-1)                                    # (B, T)
    d = x[..., driven_idx].mean(-1)
    ratio = r[:, on].mean(-1) / d[:, on].mean(-1)
    peak = np.abs(r[:, on]).max(-1)
    after = t_s >= block.duration_s - 1e-9
    outside = np.abs(r[:, after]) > block.recover_fraction * peak[:, None]   # (B, T_after)
    ta = t_s[after] - block.duration_s
    last = np.where(outside.any(-1), outside.shape[-1] - 1 - np.argmax(outside[:, ::-1], -1), -1)
    rec = np.where(last < 0, 0.0, ta[np.minimum(last + 1, ta.size - 1)])
    rec = np.where(last >= ta.size - 1, np.nan, rec)                 # not recovered within the record
    return {"task_dmn_per_tpn": ratio, "task_recovery_s": rec}


def _cond_spec(cfg: Mapping, name: str) -> tuple[str, str]:
    c = cfg["experiment"]["conditions"][name]
    return str(c["phenotype"]), str(c.get("protocol", "none"))


def with_task_response(ds, cfg: Mapping, block: TaskBlock | None = None, memo: dict | None = None):
    """``ds`` with the task metrics added as (condition, subject, time_h) variables (NaN for treated conditions;
    all NaN for a model without a linear theory). Returns ``ds`` unchanged if they are already there.

    ``memo``: a dict shared by calls with the same ``cfg`` and ``block`` (a run and its expected run): each
    phenotype's response for the same subjects is computed once (it depends on neither the engine nor the scans)."""
    if all(k in ds for k in TASK_METRICS) or cfg is None:
        return ds
    from sim.cohort import draw_traits
    from sim.connectome import apply_edits
    from sim.simulate import build_world, subject_network

    block = block or TaskBlock()
    shape = (ds.sizes["condition"], ds.sizes["subject"], ds.sizes["time_h"])
    vals = {k: np.full(shape, np.nan) for k in TASK_METRICS}
    world = build_world(cfg)
    if hasattr(world.model, "expected_cov"):
        atlas = world.atlas
        subjects = np.asarray(ds["subject"].values, dtype=int)
        traits = draw_traits(world.seed, subjects, atlas.n_regions, world.cohort.coupling_jitter_cv)
        drive = np.zeros(atlas.n_regions)
        drive[atlas.members(block.driven)] = 1.0
        cache: dict = {} if memo is None else memo
        for i, cond in enumerate(str(c) for c in ds["condition"].values):
            try:
                phen, proto = _cond_spec(cfg, cond)
            except (KeyError, TypeError):
                continue
            if proto != "none":
                continue
            key = (phen, tuple(subjects.tolist()))
            if key not in cache:
                conn = apply_edits(world.base, atlas, cfg["phenotypes"][phen].get("edits") or [],
                                   f"phenotypes.{phen}.edits")
                p = world.model.build(world.model_values, subject_network(world, traits, conn))
                t, x = block_response(linear_operator(p.a_eff, p.omega, p.w), drive, block)
                cache[key] = task_measures(t, x, atlas.members(block.read), atlas.members(block.driven), block)
            for k, v in cache[key].items():
                vals[k][i] = v[:, None]
    return ds.assign({k: (("condition", "subject", "time_h"), v) for k, v in vals.items()})
