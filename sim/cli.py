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
from sim.integrate import IntegrationError
from sim.runio import RunExistsError


def _progress_bar(enabled: bool, total: int, desc: str):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="item-steps", unit_scale=True, disable=not enabled,
                file=sys.stderr, mininterval=0.5, delay=2.0)


def run(cfg: DictConfig, run_dir: Path) -> Path:
    """Simulate and write outputs into ``run_dir``; returns it."""
    import threading

    from sim.runio import provenance, write_run
    from sim.simulate import build_world, simulate_cohort

    t0 = time.perf_counter()
    world = build_world(cfg)  # validates everything before any long work
    total = world.cohort.n_subjects * (world.settings.n_steps + world.settings.n_transient)
    lock = threading.Lock()
    with _progress_bar(bool(cfg.get("progress", True)), total, f"{world.model.NAME} cohort") as bar:
        def tick(n):
            with lock:
                bar.update(n)

        ds = simulate_cohort(cfg, progress=tick)
    metric_names = [k for k in ds.data_vars if ds[k].dims == ("subject",)]
    ds.attrs["condition"] = world.phenotype
    prov = provenance(world.seed, time.perf_counter() - t0,
                      {"n_items": int(ds.sizes["subject"]), "model": world.model.NAME})
    write_run(run_dir, ds, metric_names, OmegaConf.to_yaml(cfg, resolve=True), prov)
    _summary(ds, metric_names, run_dir, prov["wall_time_s"])
    return run_dir


def _summary(ds, metric_names, run_dir: Path, wall_s: float) -> None:
    n = ds.sizes["subject"]
    print(f"dmnsim: {ds.attrs['model']} model, phenotype {ds.attrs['phenotype']}, {n} subjects, "
          f"{ds.attrs['duration_s']:.0f} s scans, in {wall_s:.1f} s")
    for m in metric_names:
        v = ds[m].values
        half = 1.96 * v.std(ddof=1) / n**0.5 if n > 1 else float("nan")
        print(f"  {m:<22} {v.mean():+.3f}  (95% CI {v.mean() - half:+.3f} .. {v.mean() + half:+.3f})")
    print(f"results: {run_dir.resolve()}")


@hydra.main(config_path=str(CONFIG_DIR), config_name="config", version_base="1.3")
def _hydra_main(cfg: DictConfig) -> None:
    from hydra.core.hydra_config import HydraConfig

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
