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

import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sim.errors import ConfigError
from sim.validate import KINDS, blame_dt, check_feasible, rough_item_steps_per_s, validate

log = logging.getLogger(__name__)


#: a bar appears only after this many seconds (a run that ends sooner prints no bar)
BAR_DELAY_S = 2.0


def _progress_bar(enabled: bool, total: int, desc: str, file=None, unit: str = "item-steps"):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, unit_scale=unit == "item-steps", disable=not enabled,
                file=file or sys.stderr, mininterval=0.5, delay=BAR_DELAY_S, dynamic_ncols=True)


class _AboveBar(logging.Handler):
    """A logging handler that prints each record on its own line above the progress bar."""

    def __init__(self, bar, file, level, formatter):
        super().__init__(level)
        self.bar, self.file = bar, file
        self.setFormatter(formatter)

    def emit(self, record) -> None:
        try:
            self.bar.write(self.format(record), file=self.file)
        except Exception:  # noqa: BLE001 -- logging must never break the run
            self.handleError(record)


@contextmanager
def _messages_above(bar, file):
    """While ``bar`` is shown, Python warnings and console log records (the root logger's stream handlers,
    e.g. Hydra's console) print on their own lines above it instead of into it."""
    import warnings

    if bar.disable:
        yield
        return
    old_show = warnings.showwarning
    root = logging.getLogger()
    swapped = [(h, _AboveBar(bar, file, h.level, h.formatter)) for h in root.handlers
               if type(h) is logging.StreamHandler and getattr(h, "stream", None) in (sys.stdout, sys.stderr)]

    def show(message, category, filename, lineno, f=None, line=None):
        bar.write(warnings.formatwarning(message, category, filename, lineno, line).rstrip("\n"), file=file)

    warnings.showwarning = show
    for old, new in swapped:
        root.removeHandler(old)
        root.addHandler(new)
    try:
        yield
    finally:
        warnings.showwarning = old_show
        for old, new in swapped:
            root.removeHandler(new)
            root.addHandler(old)


@contextmanager
def _heartbeat(bar, every_s: float = 1.0):
    """Redraw ``bar`` every ``every_s`` while a long step runs, so its elapsed time keeps moving (tqdm redraws
    only on updates)."""
    if bar.disable:
        yield
        return
    stop = threading.Event()

    def beat():
        while not stop.wait(every_s):
            if time.time() - bar.start_t >= bar.delay:
                bar.refresh()

    t = threading.Thread(target=beat, name="progress-heartbeat", daemon=True)
    t.start()
    try:
        yield
    finally:
        stop.set()
        t.join()


@dataclass(frozen=True)
class Phase:
    """One simulation of a run's plan: what it is and how many scans (items) it simulates."""

    label: str
    items: int


def timeline_items(cfg, n_subjects: int) -> int:
    """Scans :func:`sim.experiment.run_timeline` simulates for ``cfg``: conditions x subjects (x replicates) x
    scans (with the trial design's extra baseline scans), plus each dose of the dose-response arm x subjects x
    (baseline scans + its times)."""
    from sim.analysis import baseline_times
    from sim.experiment import _timeline, conditions_from_config, replicates_from_config, trial_from_config

    exp = cfg["experiment"]
    timeline, scans = _timeline(exp, trial_from_config(cfg))
    n_sub = int(n_subjects) * replicates_from_config(cfg)
    n = len(conditions_from_config(cfg, timeline)) * n_sub * len(scans)
    dr = exp.get("dose_response")
    if dr:
        n += len(dr["doses_mg_per_kg"]) * n_sub * (len(baseline_times(scans)) + len(dr["times_h"]))
    return n


def design_dataset(cfg):
    """The experiment's conditions without simulation: ``condition`` with its ``phenotype``, the infusion doses
    and TMS session times (what :func:`sim.claims.ablation.plan_variants` reads to choose what to rerun)."""
    import xarray as xr

    from sim.experiment import _timeline, conditions_from_config

    timeline, _ = _timeline(cfg["experiment"])
    conds = conditions_from_config(cfg, timeline)
    n_ev = max([1] + [len(c.protocol.infusions) for c in conds] + [len(c.protocol.tms_sessions_h) for c in conds])

    def pad(vals):
        return list(vals) + [np.nan] * (n_ev - len(vals))

    return xr.Dataset(
        {"infusion_dose_mg_per_kg": (("condition", "event"),
                                     np.array([pad([i.dose_mg_per_kg for i in c.protocol.infusions])
                                               for c in conds], dtype=float)),
         "tms_session_h": (("condition", "event"), np.array([pad(c.protocol.tms_sessions_h) for c in conds],
                                                             dtype=float))},
        coords={"condition": [c.name for c in conds], "phenotype": ("condition", [c.phenotype for c in conds])})


def plan(cfg, world) -> list[Phase]:
    """Every simulation the run will do, in order, known before the first one starts (the progress bar's total):
    the experiment, and for ``experiment=claims`` each ablation variant that reruns conditions (the same choice
    :func:`sim.claims.ablation.run_claims_experiment` makes)."""
    kind = cfg.experiment.get("kind", "timeline")
    n_sub = world.cohort.n_subjects
    if kind == "cohort":
        return [Phase(f"cohort of {n_sub}", n_sub)]
    phases = [Phase("default run" if kind == "claims" else str(cfg.experiment.name), timeline_items(cfg, n_sub))]
    if kind == "claims":
        from sim.claims.ablation import plan_variants, variant_config

        phases += [Phase(v.label, timeline_items(variant_config(cfg, v), n_sub))
                   for v in plan_variants(cfg, design_dataset(cfg)) if v.conditions]
    return phases


def _warn_if_long(world, item_steps: int, file=None) -> None:
    """One line on stderr when a run will clearly take more than ~10 minutes (e.g. wilson_cowan at dt 1 ms
    on the full default experiment), with the knobs that shorten it."""
    rate = rough_item_steps_per_s(world.model.NAME, world.atlas.n_regions)
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


def expected_run(cfg, world, slow_cache=None):
    """The same timeline on the linear expected-FC engine (no sampling noise; a few seconds), for the report's
    "expected (no noise)" column; None for models without a linear theory or when the run is already linear.

    ``world`` is the run's own with the linear engine swapped in; ``slow_cache`` the one the simulated run filled
    (the conditions' slow drug states do not depend on the engine), so neither is built twice."""
    if not hasattr(world.model, "expected_cov") or world.metric_settings.engine == "linear":
        return None
    from dataclasses import replace

    from omegaconf import OmegaConf

    from sim.experiment import run_timeline

    c = cfg.copy()
    OmegaConf.update(c, "metrics.engine", "linear", force_add=True)
    OmegaConf.update(c, "experiment.dose_response", None, force_add=True)
    linear = replace(world, metric_settings=replace(world.metric_settings, engine="linear"))
    return run_timeline(c, world=linear, slow_cache=slow_cache)


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
    figures: object = None  # a sim.plots.pool.FigureWork already drawing into a staging directory (run(figures_dir))

    @property
    def n_items(self) -> int:
        ds = self.ds
        n = int(np.prod([ds.sizes[d] for d in ("condition", "subject", "time_h")]))
        if "dr_value" in ds:  # the dose arm: each dose's baseline scan plus its dose-response scans
            n += ds.sizes["dose_mg_per_kg"] * ds.sizes["subject"] * (ds.sizes["dr_time_h"] + 1)
        return n

    @property
    def figure_formats(self) -> tuple[str, ...]:
        """The formats of the run's figures (none for ``experiment=cohort`` or ``figure_formats=[]``)."""
        formats = tuple(self.cfg.get("figure_formats", ["png"]) or ())
        return formats if self.kind != "cohort" else ()

    def figure_work(self, stage_dir: Path, helper: bool | None = None):
        """The run's figures as a :class:`sim.plots.pool.FigureWork` drawing into ``stage_dir/figures`` (None
        without figures): the one :func:`run` already started there (``figures_dir``), else a new one.
        ``helper`` (default: when the run may use two or more cores, ``n_threads``): draw them in a helper
        process too, alongside the claims report."""
        started = self.figures
        if started is not None and started.out_dir == Path(stage_dir) / "figures" and helper is not False:
            return started
        return figure_work(self.cfg, self.ds, self.kind, Path(stage_dir) / "figures", helper)

    def steps(self, figures=None) -> list[OutputStep]:
        """The extra files of this run in order: the summary, the claims report (its sections:
        :data:`sim.report.REPORT_STEPS`) with the run's figures (one step each) finished just before report.md
        and report.html, which embed them.

        ``figures``: the run's :meth:`figure_work`, already started (its helper draws while the summary and the
        claims are written); without it the figures are drawn in this process when the report needs them."""
        ds, cfg, kind = self.ds, self.cfg, self.kind
        text = self.summary
        extra = [OutputStep.single("summary.txt", lambda d: (d / "summary.txt").write_text(text + "\n"))]
        if kind == "cohort":
            return extra
        from sim.report import REPORT_STEPS, write_claims_outputs

        names = []
        if self.figure_formats:
            from sim.plots.figures import figure_jobs

            names = [f"figures/{name}" for name, _ in (figure_jobs(ds) if figures is None else figures.jobs)]
        ablation, expected = (self.claims_run if kind == "claims" else None), self.expected_ds

        def write(d, advance):
            def draw_figures():  # the run's figures, each a progress step, before the report that embeds them
                work = figures if figures is not None else self.figure_work(d, helper=False)
                if work is not None:
                    work.finish(lambda name: advance())
                    return work.uris
                return None

            write_claims_outputs(ds, cfg, d, ablation=ablation, expected_ds=expected,
                                 progress=lambda section: advance(), before_report=draw_figures)

        extra.append(OutputStep((*REPORT_STEPS[:-1], *names, REPORT_STEPS[-1]), write))
        return extra

    def writers(self) -> list[Callable[[Path], object]]:
        """The extra files of this run as ``write(dir)`` callables (:meth:`steps` without progress)."""
        return [lambda d, s=s: s.write(d, lambda: None) for s in self.steps()]

    def write(self, run_dir: Path, stage=None, progress_file=None) -> Path:
        """Write every output and publish them as ``run_dir`` in one rename; returns ``run_dir``.

        ``stage`` is an already opened :class:`sim.runio.Stage` for ``run_dir`` (the CLI opens it before the
        simulation, so an unwritable directory fails at once). With ``progress`` on (the config's key) a bar
        counts one step per part: results.nc and metrics.csv, the summary, each report section, each figure.
        The figures' helper process (:meth:`figure_work`) starts first and is ended on any failure."""
        from contextlib import nullcontext

        from omegaconf import OmegaConf

        from sim.runio import Stage, provenance, write_outputs

        run_dir = Path(run_dir)
        own = stage is None
        stage = stage or Stage(run_dir).open()
        enabled = bool(self.cfg.get("progress", True))
        out = progress_file or sys.stderr
        try:
            figures = self.figure_work(stage.path)
            if self.figures is not None and self.figures is not figures:  # started for another directory
                self.figures.close()
            steps = self.steps(figures)
            labels = ["results.nc, metrics.csv"] + [label for s in steps for label in s.labels]
            with figures or nullcontext(), \
                    _progress_bar(enabled, len(labels), "writing outputs", out, unit="step") as bar, \
                    _messages_above(bar, out), _heartbeat(bar):
                def advance():  # one part written; show the one now being written
                    bar.update(1)
                    bar.set_postfix_str(labels[bar.n] if bar.n < len(labels) else "done")

                bar.set_postfix_str(labels[0], refresh=False)
                prov = provenance(self.seed, time.perf_counter() - self.started,
                                  {"n_items": self.n_items, "model": self.model,
                                   "experiment": str(self.cfg.experiment.name),
                                   "simulation_wall_time_s": round(self.sim_s, 3)})
                write_outputs(stage.path, self.ds, self.metric_names, OmegaConf.to_yaml(self.cfg, resolve=True),
                              prov, [lambda d, s=s: s.write(d, advance) for s in steps], done=advance,
                              elapsed=lambda: time.perf_counter() - self.started)
            return stage.publish()
        finally:
            if own:
                stage.discard()


def figure_work(cfg, ds, kind: str, figures_dir: Path, helper: bool | None = None):
    """A :class:`sim.plots.pool.FigureWork` of the run's figures into ``figures_dir`` (not started), or None when
    the run draws none (``experiment=cohort``, ``figure_formats=[]``). ``helper``: see :meth:`Run.figure_work`."""
    formats = tuple(cfg.get("figure_formats", ["png"]) or ()) if kind != "cohort" else ()
    if not formats:
        return None
    from sim.plots.pool import FigureWork

    helper = usable_cores(cfg) >= 2 if helper is None else helper
    return FigureWork(ds, Path(figures_dir), formats, helper=helper, embed=True)


def usable_cores(cfg) -> int:
    """The cores a run may use: ``n_threads`` if set (> 0), else the CPUs this process may run on."""
    n = int(cfg.get("n_threads", 0) or 0)
    if n > 0:
        return n
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@dataclass(frozen=True)
class OutputStep:
    """One group of a run's output files: its parts' labels (one progress step each) and ``write(dir, advance)``,
    which calls ``advance()`` once after each part is written."""

    labels: tuple[str, ...]
    write: Callable[[Path, Callable[[], None]], object]

    @staticmethod
    def single(label: str, write: Callable[[Path], object]) -> OutputStep:
        def run(d, advance):
            write(d)
            advance()
        return OutputStep((label,), run)


def run(cfg, changed: Sequence[str] = (), progress_file=None, checked: bool = False, world=None,
        figures_dir: Path | None = None) -> Run:
    """Check ``cfg`` (unless ``checked``), simulate the configured experiment, return the :class:`Run`.

    ``world``: the one :func:`preflight` built (the run's world is built once). ``figures_dir``: the staging
    directory's ``figures/`` (the CLI's): with two or more cores the figures' helper process starts as soon as
    the simulation is done and draws while the expected run (one core) and the summary are computed
    (:meth:`Run.write` then finishes the same :class:`sim.plots.pool.FigureWork`)."""
    from sim.simulate import build_world

    t0 = time.perf_counter()
    if checked:
        warnings, world = [], (world if world is not None else build_world(cfg))
    else:
        warnings, world = preflight(cfg, changed)
    kind = cfg.experiment.get("kind", "timeline")
    if kind not in KINDS:
        raise ConfigError(f"experiment.kind: unknown value {kind!r}; allowed: {', '.join(KINDS)}")
    claims_run = None
    phases = plan(cfg, world)
    steps = world.settings.n_steps + world.settings.n_transient
    total = sum(p.items for p in phases) * steps
    enabled = bool(cfg.get("progress", True))
    out = progress_file or sys.stderr
    _warn_if_long(world, total, out)
    if enabled and len(phases) > 1:  # the plan on its own lines, before the one bar of all of it
        print(f"dmnsim: {len(phases)} simulations, {sum(p.items for p in phases)} scans in all, one progress bar:",
              file=out)
        for i, p in enumerate(phases, 1):
            print(f"  {i}. {p.label}: {p.items} scans", file=out)
    desc = f"{world.model.NAME} {cfg.experiment.name}"
    ends = np.cumsum([p.items * steps for p in phases])
    with _progress_bar(enabled, total, desc, out) as bar, _messages_above(bar, out):
        lock = threading.Lock()
        shown = [-1]

        def tick(n):
            with lock:
                bar.update(n)
                k = min(int(np.searchsorted(ends, bar.n, side="right")), len(phases) - 1)
                if len(phases) > 1 and k != shown[0]:  # the phase now running, in the bar itself
                    shown[0] = k
                    bar.set_description(f"{desc} [{k + 1}/{len(phases)} {phases[k].label}]", refresh=False)

        def reported(n):  # the simulations' own count (cumulative for claims) must match the plan
            if n > bar.total:
                log.warning("progress: the simulations report %d item-steps, the plan %d", n, bar.total)
                bar.total = n

        tick(0)
        slow_cache: dict = {}  # condition -> slow drug states, shared with the expected run below
        if kind == "cohort":
            from sim.simulate import simulate_cohort

            ds = simulate_cohort(cfg, progress=tick)
            ds = ds.expand_dims(condition=[world.phenotype], time_h=[0.0]).transpose("condition", "subject", ...)
        elif kind == "claims":  # the default experiment + ablation reruns (sim/claims/ablation.py)
            from sim.claims.ablation import run_claims_experiment

            claims_run = run_claims_experiment(cfg, progress=tick, total_callback=reported, world=world)
            ds = claims_run.ds
        else:
            from sim.experiment import run_timeline

            ds = run_timeline(cfg, progress=tick, total_callback=reported, world=world, slow_cache=slow_cache)
    metric_names = [k for k in ds.data_vars if ds[k].dims == ("condition", "subject", "time_h")]
    from sim.summary import summary_text

    figures = None
    if figures_dir is not None and usable_cores(cfg) >= 2:
        figures = figure_work(cfg, ds, kind, Path(figures_dir), helper=True)
    try:
        if figures is not None:
            figures.start()
        expected = expected_run(cfg, world, slow_cache) if kind != "cohort" else None
        summary = summary_text(ds, metric_names)
    except BaseException:
        if figures is not None:
            figures.close()
        raise
    return Run(cfg=cfg, ds=ds, metric_names=metric_names, summary=summary, kind=kind,
               seed=world.seed, model=world.model.NAME, sim_s=time.perf_counter() - t0, started=t0,
               claims_run=claims_run, warnings=warnings, expected_ds=expected, figures=figures)
