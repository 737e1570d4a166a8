"""``dmnsim``: the Hydra command-line entry point.

Composes the config, runs the simulation, writes the run directory and prints a short summary.
Bad input exits with code 2 and one line naming the key and what is allowed; nothing is left behind.
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from sim.config import CONFIG_DIR
from sim.errors import ConfigError


def _progress_bar(enabled: bool, total: int, desc: str):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="item-steps", unit_scale=True, disable=not enabled,
                file=sys.stderr, mininterval=0.5, delay=2.0)


KINDS = ("cohort", "timeline", "claims")


#: rough end-to-end item-steps per second on 2 cores (README, "Speed"); only for the long-run warning
ROUGH_ITEM_STEPS_PER_S = {"hopf": 40e6 / 21, "kuramoto": 25e6 / 21, "wilson_cowan": 6e6 / 21}


def _warn_if_long(world, item_steps: int) -> None:
    """One line on stderr when a run will clearly take more than ~10 minutes (e.g. wilson_cowan at dt 1 ms
    on the full default experiment), with the knobs that shorten it."""
    rate = ROUGH_ITEM_STEPS_PER_S.get(world.model.NAME)
    if rate and item_steps / rate > 600:
        print(f"dmnsim: note: this run is ~{item_steps / rate / 60:.0f} min on 2 cores ({world.model.NAME}, "
              f"{item_steps:.2g} item-steps); for a quick look use experiment=cohort, fewer subjects "
              f"(cohort.n_subjects) or scans (experiment.scans_h), or a shorter scan.duration_s", file=sys.stderr)


def expected_run(cfg: DictConfig, world):
    """The same timeline on the linear expected-FC engine (no sampling noise; a few seconds), for the report's
    "expected (no noise)" column; None for models without a linear theory or when the run is already linear."""
    if not hasattr(world.model, "expected_cov") or world.metric_settings.engine == "linear":
        return None
    from sim.experiment import run_timeline

    c = cfg.copy()
    OmegaConf.update(c, "metrics.engine", "linear", force_add=True)
    OmegaConf.update(c, "experiment.dose_response", None, force_add=True)
    return run_timeline(c)


def run(cfg: DictConfig, run_dir: Path) -> Path:
    """Simulate the configured experiment and write its outputs into ``run_dir``; returns it."""
    import threading

    import numpy as np

    from sim.runio import provenance, write_run
    from sim.simulate import build_world

    t0 = time.perf_counter()
    kind = cfg.experiment.get("kind", "timeline")
    if kind not in KINDS:
        raise ConfigError(f"experiment.kind: unknown value {kind!r}; allowed: {', '.join(KINDS)}")
    world = build_world(cfg)  # validates the core config before any long work
    lock = threading.Lock()
    with _progress_bar(bool(cfg.get("progress", True)), 0, f"{world.model.NAME} {cfg.experiment.name}") as bar:
        def tick(n):
            with lock:
                bar.update(n)

        def set_total(n):
            bar.total = n
            bar.refresh()
            _warn_if_long(world, n)

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
    sim_s = time.perf_counter() - t0
    from sim.summary import summary_text

    text = summary_text(ds, metric_names)
    extra = [lambda d: (d / "summary.txt").write_text(text + "\n")]
    formats = tuple(cfg.get("figure_formats", ["png"]) or ())
    if kind != "cohort" and formats:
        from sim.plots import write_figures

        # which figures: the experiment's declared contrasts (sim.schema), read from the Dataset
        extra.append(lambda d: write_figures(ds, d / "figures", formats=formats))
    if kind != "cohort":  # claims.csv, report.md, report.html (after the figures, which the report embeds)
        from sim.report import write_claims_outputs

        ablation = claims_run if kind == "claims" else None
        expected_ds = expected_run(cfg, world)
        extra.append(lambda d: write_claims_outputs(ds, cfg, d, ablation=ablation, expected_ds=expected_ds))
    n_items = int(np.prod([ds.sizes[d] for d in ("condition", "subject", "time_h")]))
    if "dr_value" in ds:  # the dose arm: each dose's baseline scan plus its dose-response scans
        n_items += ds.sizes["dose_mg_per_kg"] * ds.sizes["subject"] * (ds.sizes["dr_time_h"] + 1)
    prov = provenance(world.seed, time.perf_counter() - t0,
                      {"n_items": n_items,
                       "model": world.model.NAME, "experiment": str(cfg.experiment.name),
                       "simulation_wall_time_s": round(sim_s, 3)})
    write_run(run_dir, ds, metric_names, OmegaConf.to_yaml(cfg, resolve=True), prov, extra)
    print(text)
    print(f"wall time {time.perf_counter() - t0:.1f} s")
    print(f"results: {run_dir.resolve()}")
    if (run_dir / "report.html").is_file():  # self-contained page: open it in any web browser
        print(f"report:  {(run_dir / 'report.html').resolve()}  (open: python -m webbrowser "
              f"{(run_dir / 'report.html').resolve().as_uri()})")
    return run_dir


@hydra.main(config_path=str(CONFIG_DIR), config_name="config", version_base="1.3")
def _hydra_main(cfg: DictConfig) -> None:
    from hydra.core.hydra_config import HydraConfig

    # imported here, not at module level: a bad override fails in Hydra's compose, before this function,
    # and must not pay for numba / scipy (sim.integrate) first (issue 9 §4)
    from sim.integrate import IntegrationError
    from sim.runio import RunExistsError

    run_dir = Path(HydraConfig.get().runtime.output_dir)
    try:
        run(cfg, run_dir)
    except (ConfigError, IntegrationError, RunExistsError) as e:
        print(f"dmnsim: error: {e}", file=sys.stderr)
        if not isinstance(e, RunExistsError):
            _remove_fresh(run_dir)
        sys.exit(2)
    except BaseException:
        _remove_fresh(run_dir)
        raise


def _remove_fresh(run_dir: Path) -> None:
    """Remove a run directory this run created if it holds no results (only Hydra's own files)."""
    from sim.runio import RESULT_FILES

    if not any((run_dir / f).exists() for f in RESULT_FILES):
        shutil.rmtree(run_dir, ignore_errors=True)


def main() -> None:
    _hydra_main()


if __name__ == "__main__":
    main()
