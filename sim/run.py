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


def preflight(cfg, changed: Sequence[str] = ()) -> list[str]:
    """Every check that needs no simulation: the config spec, the work estimate, the world (dt stability).

    Returns warnings; raises :class:`ConfigError` naming the key (the one the user changed, see
    :func:`sim.validate.blame_dt`)."""
    from sim.simulate import build_world

    warnings = validate(cfg)
    check_feasible(cfg)
    try:
        build_world(cfg)
    except ConfigError as e:
        raise blame_dt(e, changed) from None
    return warnings


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

            # figure choice by the protocol name (moved from the CLI as is; the lead replaces it with roles)
            treated = [str(c) for c, p in zip(ds["condition"].values, ds["protocol"].values, strict=True)
                       if str(p) != "none" and "placebo" not in str(p)]
            placebo = [str(c) for c, p in zip(ds["condition"].values, ds["protocol"].values, strict=True)
                       if "placebo" in str(p)]
            changes = [(treated[0], 24.0), (treated[0], 0.33)] if treated else []
            if treated and placebo:  # the same, minus what the placebo arm's subjects did (paired)
                changes += [(treated[0], 24.0, placebo[0]), (treated[0], 0.33, placebo[0])]
            extra.append(lambda d: write_figures(ds, d / "figures", formats=formats, network_changes=changes))
        if kind != "cohort":  # claims.csv, report.md, report.html (after the figures, which the report embeds)
            from sim.claims import write_claims_outputs

            extra.append(self.claims_run.write if kind == "claims" else lambda d: write_claims_outputs(ds, cfg, d))
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


def run(cfg, changed: Sequence[str] = (), progress_file=None, checked: bool = False) -> Run:
    """Check ``cfg`` (unless ``checked``), simulate the configured experiment, return the :class:`Run`."""
    from sim.simulate import build_world

    t0 = time.perf_counter()
    warnings = [] if checked else preflight(cfg, changed)
    kind = cfg.experiment.get("kind", "timeline")
    if kind not in KINDS:
        raise ConfigError(f"experiment.kind: unknown value {kind!r}; allowed: {', '.join(KINDS)}")
    world = build_world(cfg)
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

            claims_run = run_claims_experiment(cfg, progress=tick, total_callback=set_total)
            ds = claims_run.ds
        else:
            from sim.experiment import run_timeline

            ds = run_timeline(cfg, progress=tick, total_callback=set_total)
    metric_names = [k for k in ds.data_vars if ds[k].dims == ("condition", "subject", "time_h")]
    from sim.summary import summary_text

    return Run(cfg=cfg, ds=ds, metric_names=metric_names, summary=summary_text(ds, metric_names), kind=kind,
               seed=world.seed, model=world.model.NAME, sim_s=time.perf_counter() - t0, started=t0,
               claims_run=claims_run, warnings=warnings)
