"""The run API: ``run(cfg) -> Run`` simulates the configured experiment; ``Run.write(dir)`` publishes its outputs.

::

    from sim.config import load_config
    from sim.run import run
    r = run(load_config(["experiment=cohort", "cohort.n_subjects=3"]))
    r.write(Path("outputs/mine"))      # results.nc, metrics.csv, config.yaml, provenance.json, summary.txt, ...

:func:`run` first checks the whole config (:func:`sim.validate.validate`, :func:`sim.validate.check_feasible`)
and raises :class:`~sim.errors.ConfigError` before any work. :meth:`Run.write` writes into a staging directory
and renames it onto ``dir`` in one step (:class:`sim.runio.Stage`); it never writes into an earlier run.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sim.errors import ConfigError
from sim.validate import KINDS, ROUGH_ITEM_STEPS_PER_S, blame_dt, check_feasible, validate


def _progress_bar(enabled: bool, total: int, desc: str, file=None):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="item-steps", unit_scale=True, disable=not enabled,
                file=file or sys.stderr, mininterval=0.5, delay=2.0)


def _warn_if_long(world, item_steps: int, file=None) -> None:
    """One line on stderr when a run will clearly take more than ~10 minutes (e.g. wilson_cowan at dt 1 ms
    on the full default experiment), with the knobs that shorten it."""
    rate = ROUGH_ITEM_STEPS_PER_S.get(world.model.NAME)
    if rate and item_steps / rate > 600:
        print(f"dmnsim: note: this run is ~{item_steps / rate / 60:.0f} min on 2 cores ({world.model.NAME}, "
              f"{item_steps:.2g} item-steps); for a quick look use experiment=cohort, fewer subjects "
              f"(cohort.n_subjects) or scans (experiment.scans_h), or a shorter scan.duration_s",
              file=file or sys.stderr)


def preflight(cfg, changed: Sequence[str] = ()):
    """Every check that needs no simulation: the config spec, the work estimate, the world (dt stability).

    Returns (warnings, world): the world is built here once and reused by the run. Raises :class:`ConfigError`
    naming the key (the one the user changed, see :func:`sim.validate.blame_dt`)."""
    from sim.simulate import build_world

    warnings = validate(cfg)
    check_feasible(cfg)
    try:
        world = build_world(cfg)
    except ConfigError as e:
        raise blame_dt(e, changed) from None
    return warnings, world


def expected_run(cfg, world):
    """The same timeline on the linear expected-FC engine (no sampling noise; a few seconds), for the report's
    "expected (no noise)" column; None for models without a linear theory or when the run is already linear."""
    if not hasattr(world.model, "expected_cov") or world.metric_settings.engine == "linear":
        return None
    from omegaconf import OmegaConf

    from sim.experiment import run_timeline

    c = cfg.copy()
    OmegaConf.update(c, "metrics.engine", "linear", force_add=True)
    OmegaConf.update(c, "experiment.dose_response", None, force_add=True)
    return run_timeline(c)


@dataclass
class Run:
    """A finished simulation: the Dataset, its metric names, the summary text and what is needed to write it."""

    cfg: object
    ds: object
    metric_names: list[str]
    summary: str
    kind: str
    seed: int
    model: str
    sim_s: float
    started: float
    claims_run: object = None
    warnings: list[str] = field(default_factory=list)
    expected_ds: object = None  # the same design on the linear engine (report's "expected (no noise)")

    @property
    def n_items(self) -> int:
        ds = self.ds
        n = int(np.prod([ds.sizes[d] for d in ("condition", "subject", "time_h")]))
        if "dr_value" in ds:  # the dose arm: each dose's baseline scan plus its dose-response scans
            n += ds.sizes["dose_mg_per_kg"] * ds.sizes["subject"] * (ds.sizes["dr_time_h"] + 1)
        return n

    def writers(self) -> list[Callable[[Path], object]]:
        """The extra files of this run (summary, figures, claims outputs) as ``write(dir)`` callables."""
        ds, cfg, kind = self.ds, self.cfg, self.kind
        text = self.summary
        extra = [lambda d: (d / "summary.txt").write_text(text + "\n")]
        formats = tuple(cfg.get("figure_formats", ["png"]) or ())
        if kind != "cohort" and formats:
            from sim.plots import write_figures

            # which figures: the experiment's declared contrasts (sim.schema), read from the Dataset
            extra.append(lambda d: write_figures(ds, d / "figures", formats=formats))
        if kind != "cohort":  # claims.csv, report.md, report.html (after the figures, which the report embeds)
            from sim.report import write_claims_outputs

            ablation, expected = (self.claims_run if kind == "claims" else None), self.expected_ds
            extra.append(lambda d: write_claims_outputs(ds, cfg, d, ablation=ablation, expected_ds=expected))
        return extra

    def write(self, run_dir: Path, stage=None) -> Path:
        """Write every output and publish them as ``run_dir`` in one rename; returns ``run_dir``.

        ``stage`` is an already opened :class:`sim.runio.Stage` for ``run_dir`` (the CLI opens it before the
        simulation, so an unwritable directory fails at once)."""
        from omegaconf import OmegaConf

        from sim.runio import Stage, provenance, write_outputs

        run_dir = Path(run_dir)
        own = stage is None
        stage = stage or Stage(run_dir).open()
        try:
            prov = provenance(self.seed, time.perf_counter() - self.started,
                              {"n_items": self.n_items, "model": self.model,
                               "experiment": str(self.cfg.experiment.name),
                               "simulation_wall_time_s": round(self.sim_s, 3)})
            write_outputs(stage.path, self.ds, self.metric_names, OmegaConf.to_yaml(self.cfg, resolve=True), prov,
                          self.writers())
            return stage.publish()
        finally:
            if own:
                stage.discard()


def run(cfg, changed: Sequence[str] = (), progress_file=None, checked: bool = False, world=None) -> Run:
    """Check ``cfg`` (unless ``checked``), simulate the configured experiment, return the :class:`Run`.

    ``world``: the one :func:`preflight` built (the run's world is built once)."""
    from sim.simulate import build_world

    t0 = time.perf_counter()
    if checked:
        warnings, world = [], (world if world is not None else build_world(cfg))
    else:
        warnings, world = preflight(cfg, changed)
    kind = cfg.experiment.get("kind", "timeline")
    if kind not in KINDS:
        raise ConfigError(f"experiment.kind: unknown value {kind!r}; allowed: {', '.join(KINDS)}")
    lock = threading.Lock()
    claims_run = None
    desc = f"{world.model.NAME} {cfg.experiment.name}"
    with _progress_bar(bool(cfg.get("progress", True)), 0, desc, progress_file) as bar:
        def tick(n):
            with lock:
                bar.update(n)

        def set_total(n):
            bar.total = n
            bar.refresh()
            _warn_if_long(world, n, progress_file)

        if kind == "cohort":
            from sim.simulate import simulate_cohort

            set_total(world.cohort.n_subjects * (world.settings.n_steps + world.settings.n_transient))
            ds = simulate_cohort(cfg, progress=tick)
            ds = ds.expand_dims(condition=[world.phenotype], time_h=[0.0]).transpose("condition", "subject", ...)
        elif kind == "claims":  # the default experiment + ablation reruns (sim/claims/ablation.py)
            from sim.claims.ablation import run_claims_experiment

            claims_run = run_claims_experiment(cfg, progress=tick, total_callback=set_total, world=world)
            ds = claims_run.ds
        else:
            from sim.experiment import run_timeline

            ds = run_timeline(cfg, progress=tick, total_callback=set_total, world=world)
    metric_names = [k for k in ds.data_vars if ds[k].dims == ("condition", "subject", "time_h")]
    from sim.summary import summary_text

    expected = expected_run(cfg, world) if kind != "cohort" else None
    return Run(cfg=cfg, ds=ds, metric_names=metric_names, summary=summary_text(ds, metric_names), kind=kind,
               seed=world.seed, model=world.model.NAME, sim_s=time.perf_counter() - t0, started=t0,
               claims_run=claims_run, warnings=warnings, expected_ds=expected)
