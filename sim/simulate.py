"""Assemble a run from config and simulate a batch of items: the fast network layer.

``World`` gathers what a config resolves to (atlas, connectome, model, settings). ``simulate_items``
runs any batch of per-item :class:`~sim.network.NetworkSpec` with one noise stream per item and
returns named metrics, FC and GBC per item. ``simulate_cohort`` is the one-condition, one-scan case.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from types import ModuleType

import numpy as np

from sim.atlas import Atlas, atlas_from_config
from sim.cohort import CohortSettings, Traits, draw_traits, noise_seeds
from sim.connectome import Connectome, apply_edits, connectome_from_config
from sim.errors import ConfigError, check_bool, unknown
from sim.integrate import Settings
from sim.integrate import simulate as integrate
from sim.metrics import (
    ENGINES,
    MetricSettings,
    OnlineStats,
    amp_from_cov,
    concat_results,
    gbc_from_fc,
    metrics_from_stats,
    seed_pairs_from_config,
)
from sim.models import get_model
from sim.network import NetworkSpec, count_items, distinct_items, take_items
from sim.observe import Pipeline
from sim.params import read_params
from sim.rng import item_keys


@dataclass(frozen=True)
class World:
    atlas: Atlas
    base: Connectome          # healthy connectome
    connectome: Connectome    # after the phenotype's edits
    phenotype: str
    model: ModuleType
    model_values: dict
    settings: Settings
    metric_settings: MetricSettings
    pairs: dict
    cohort: CohortSettings
    seed: int


def _get(cfg: Mapping, key: str):
    try:
        return cfg[key]
    except KeyError:
        raise ConfigError(f"{key}: missing from the config") from None


def build_world(cfg: Mapping) -> World:
    """Resolve a composed config (a DictConfig or plain mapping) into a :class:`World`."""
    atlas = atlas_from_config(_get(cfg, "atlas"))
    base = connectome_from_config(atlas, _get(cfg, "connectome"))
    ph = _get(cfg, "phenotype")
    conn = apply_edits(base, atlas, ph.get("edits") or [], f"phenotype[{ph.get('name')}].edits")
    mcfg = _get(cfg, "model")
    model = get_model(mcfg.get("name"))
    values = read_params(model.PARAMS, mcfg.get("params") or {}, "model.params")
    scan = _get(cfg, "scan")
    dt_s = mcfg.get("dt_s", model.DEFAULT_DT_S)
    settings = Settings(dt_s=float(dt_s), duration_s=float(scan["duration_s"]),
                        transient_s=float(scan.get("transient_s", 60.0)),
                        method=str(mcfg.get("integrator", "heun")), n_threads=int(cfg.get("n_threads", 0)))
    mc = _get(cfg, "metrics")
    ms = MetricSettings(tr_s=float(scan.get("tr_s", 2.0)), band_hz=tuple(mc.get("band_hz", (0.04, 0.07))),
                        gsr=check_bool("metrics.gsr", mc.get("gsr", False)),
                        dominance=tuple(mc.get("dominance", ("DMN", "TPN"))),
                        engine=str(mc.get("engine", "simulated")))
    if ms.engine not in ENGINES:
        raise unknown("metrics.engine", ms.engine, ENGINES)
    if ms.engine == "linear" and not hasattr(model, "expected_cov"):
        raise ConfigError(f"metrics.engine: 'linear' needs a model with a linear theory (hopf); "
                          f"model.name is {model.NAME!r}")
    for net in ms.dominance:
        if net not in atlas.networks:
            raise unknown("metrics.dominance", net, atlas.networks)
    pairs = seed_pairs_from_config(atlas, mc.get("seed_pairs") or {})
    co = _get(cfg, "cohort")
    n_sub = co.get("n_subjects", 20)
    if not isinstance(n_sub, int) or n_sub < 1:
        raise ConfigError(f"cohort.n_subjects: {n_sub!r} is not allowed; allowed: an integer >= 1")
    cohort = CohortSettings(n_subjects=n_sub, coupling_jitter_cv=float(co.get("coupling_jitter_cv", 0.1)))
    seed = cfg.get("seed", 0)
    if seed is None or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"seed: {seed!r} is not allowed; allowed: an integer >= 0")
    world = World(atlas, base, conn, str(ph.get("name")), model, values, settings, ms, pairs, cohort, seed)
    _check_dt_early(world)
    return world


def _check_dt_early(world: World) -> None:
    """Reject an unstable model.dt_s before any long work, on the average subject's network (the integrator
    checks every item again, since drug effects can raise the rates)."""
    n = world.atlas.n_regions
    one = NetworkSpec(exc=world.connectome.exc[None], inh=world.connectome.inh[None], ei_gain=np.ones((1, n)),
                      excitability=np.zeros((1, n)), freq_u=np.ones((1, n)), delay_s=world.connectome.delay_s)
    msg = world.model.check_dt(world.settings.dt_s, world.model.build(world.model_values, one))
    if msg:
        raise ConfigError(f"model.dt_s: {msg}")


def subject_network(world: World, traits: Traits, conn: Connectome | None = None) -> NetworkSpec:
    """Per-subject network spec without drug: the connectome times each subject's jitter."""
    conn = conn or world.connectome
    s, n = traits.freq_u.shape
    return NetworkSpec(exc=conn.exc[None] * traits.jitter, inh=conn.inh[None] * traits.jitter,
                       ei_gain=np.ones((s, n)), excitability=np.zeros((s, n)), freq_u=traits.freq_u,
                       delay_s=conn.delay_s)


def simulate_items(world: World, net: NetworkSpec, seeds: Sequence[np.random.SeedSequence],
                   progress=None) -> dict:
    """Simulate every item of ``net`` (one scan each); returns metrics (name -> (B,)), fc (B, N, N), gbc.

    Items that are the same computation (equal parameters and the same noise stream, e.g. placebo and
    untreated scans under the common-noise design, or the scans before any dose) are simulated once
    (:func:`unique_items`) and copied: the integrator's result for an item does not depend on the batch it is
    in (bit for bit, tests/test_kernels.py), so a copy equals a separate simulation (FC bit for bit; network
    averages, numpy reductions over the batch, to float64 rounding: tests/test_unique_items.py). In the default
    experiment about 22 % of the items are copies.
    """
    model = world.model
    params = model.build(world.model_values, net)
    first, inverse = unique_items(params, None if world.metric_settings.engine == "linear" else seeds)
    if progress is not None and len(first) < len(inverse):  # copies count as done
        progress((len(inverse) - len(first)) * (world.settings.n_steps + world.settings.n_transient))
    out = _simulate_params(world, take_items(params, first), [seeds[i] for i in first], progress)
    return {k: ({m: a[inverse] for m, a in v.items()} if isinstance(v, dict) else v[inverse]) for k, v in out.items()}


def unique_items(params, seeds: Sequence[np.random.SeedSequence] | None) -> tuple[np.ndarray, np.ndarray]:
    """(first, inverse): indices of the distinct items (first occurrence, in order) and, for every item, its
    position in ``first``. Two items are the same when every per-item parameter array and (unless ``seeds`` is
    None, as for the noise-free linear engine) their noise keys are equal byte for byte (a BLAKE2b digest)."""
    return distinct_items(params, item_keys(seeds) if seeds is not None else None)


def _simulate_params(world: World, params, seeds, progress=None) -> dict:
    st, ms, atlas, model = world.settings, world.metric_settings, world.atlas, world.model
    if ms.engine == "linear":
        return expected_items(world, params, progress)
    dom_a, dom_b = (atlas.members(n) for n in ms.dominance)

    def make_sink(n_items):
        stats = OnlineStats(n_items, atlas.n_regions, ms, dom_a, dom_b)
        return Pipeline(stats, st.dt_s, ms.tr_s, st.n_transient, model.OBSERVATION, n_items, atlas.n_regions)

    parts = integrate(model, params, seeds, st, make_sink, progress)
    stats = concat_results(parts)
    metrics, fc = metrics_from_stats(stats, atlas, world.pairs, ms.gsr)
    return {"metrics": metrics, "fc": fc, "gbc": gbc_from_fc(fc), "amp": amp_from_cov(stats["cov"]),
            "n_samples": stats["n_samples"]}


def expected_items(world: World, params, progress=None) -> dict:
    """The ``linear`` engine: per item, FC from the stationary covariance of the linearised network
    (``model.expected_cov``: continuous Lyapunov equation), with no sampling noise. Metrics that need a time
    series (synchrony, metastability, dwell fraction) are NaN. The Lyapunov solves (LAPACK, which releases the
    GIL) run in chunks of ``settings.chunk_items`` on ``settings.threads()`` threads; each item's solution does not
    depend on its chunk."""
    cov = _expected_cov_threaded(world.model, params, world.settings)
    b = cov.shape[0]
    nan = np.full(b, np.nan)
    stats = {"cov": cov, "mean": np.zeros(cov.shape[:2]), "sync": nan, "meta": nan, "dwell": nan,
             "n_samples": np.zeros(b, dtype=int)}
    metrics, fc = metrics_from_stats(stats, world.atlas, world.pairs, world.metric_settings.gsr)
    if progress is not None:
        progress(b * (world.settings.n_steps + world.settings.n_transient))
    return {"metrics": metrics, "fc": fc, "gbc": gbc_from_fc(fc), "amp": amp_from_cov(cov),
            "n_samples": stats["n_samples"]}


def _expected_cov_threaded(model, params, settings) -> np.ndarray:
    n = count_items(params)
    size = max(1, min(settings.chunk_items, math.ceil(n / settings.threads())))
    chunks = [slice(a, min(a + size, n)) for a in range(0, n, size)]
    if len(chunks) <= 1 or settings.threads() == 1:
        return model.expected_cov(params)
    with ThreadPoolExecutor(min(settings.threads(), len(chunks))) as ex:
        return np.concatenate(list(ex.map(lambda sl: model.expected_cov(take_items(params, sl)), chunks)))


def simulate_cohort(cfg: Mapping, progress=None):
    """Resting-state scan of a cohort in one condition (the config's phenotype).

    Returns an :class:`xarray.Dataset` with dims ``subject``, ``region``, ``region_to``: one variable
    per metric (subject), ``fc`` (subject, region, region_to) and ``gbc`` (subject, region).
    """
    import xarray as xr

    world = build_world(cfg)
    subjects = np.arange(world.cohort.n_subjects)
    traits = draw_traits(world.seed, subjects, world.atlas.n_regions, world.cohort.coupling_jitter_cv)
    net = subject_network(world, traits)
    seeds = noise_seeds(world.seed, world.phenotype, subjects, [0.0])
    out = simulate_items(world, net, seeds, progress)
    regions = list(world.atlas.regions)
    data = {k: ("subject", v) for k, v in out["metrics"].items()}
    data["fc"] = (("subject", "region", "region_to"), out["fc"])
    data["gbc"] = (("subject", "region"), out["gbc"])
    data["amp"] = (("subject", "region"), out["amp"])
    ds = xr.Dataset(data, coords={"subject": subjects, "region": regions, "region_to": regions,
                                  "network": ("region", list(world.atlas.network_of))})
    ds.attrs.update(phenotype=world.phenotype, model=world.model.NAME, seed=world.seed,
                    dt_s=world.settings.dt_s, tr_s=world.metric_settings.tr_s,
                    duration_s=world.settings.duration_s, gsr=int(world.metric_settings.gsr))
    return ds
