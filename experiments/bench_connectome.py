"""Node-steps per second of the Hopf model on the real AAL2 connectome (94 regions) beside the 21-region sketch,
measured in one process so that the ratio is meaningful on a shared machine.

Usage: python experiments/bench_connectome.py [--subjects 64] [--duration 600]  (needs `make connectomes`)
Each case: a cohort resting-state scan (simulate_items: integration + TR sampling + online FC metrics), timed
end to end after one warm-up call that compiles the numba loop. dt is each configuration's own (0.1 s for the
sketch; 0.05 s on AAL2 at the fitted G, where dt 0.1 s fails the stability check).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from sim.cohort import draw_traits, noise_seeds
from sim.config import load_config
from sim.simulate import build_world, simulate_items, subject_network


def case(overrides: list[str], n_subjects: int) -> tuple[int, float, float]:
    world = build_world(load_config(overrides))
    subjects = np.arange(n_subjects)
    traits = draw_traits(world.seed, subjects, world.atlas.n_regions, world.cohort.coupling_jitter_cv)
    net = subject_network(world, traits)
    seeds = noise_seeds(world.seed, "bench", subjects, [0.0])
    simulate_items(world, subject_network(world, draw_traits(0, [0], world.atlas.n_regions, 0.1)), seeds[:1])
    t0 = time.perf_counter()
    simulate_items(world, net, seeds)
    wall = time.perf_counter() - t0
    steps = world.settings.n_steps + world.settings.n_transient
    return world.atlas.n_regions, wall, n_subjects * steps * world.atlas.n_regions / wall


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--subjects", type=int, default=64)
    ap.add_argument("--duration", type=float, default=600.0)
    args = ap.parse_args()
    common = [f"scan.duration_s={args.duration}", "experiment=cohort", "progress=false"]
    rows = [("sketch, 21 regions, dt 0.1 s", case(common + ["phenotype=healthy"], args.subjects)),
            ("AAL2 gw, 94 regions, G 1.03, dt 0.05 s",
             case(common + ["atlas=aal2", "connectome=aal2", "phenotype=healthy", "model.params.global_coupling=1.03",
                           "model.dt_s=0.05"], args.subjects))]
    for name, (_n, wall, rate) in rows:
        print(f"{name:42s} {args.subjects} subjects x {args.duration:g} s: {wall:6.2f} s, "
              f"{rate / 1e6:5.1f} M node-steps/s")
    print(f"per node-step, AAL2 / sketch cost ratio: {rows[0][1][2] / rows[1][1][2]:.2f}")


if __name__ == "__main__":
    main()
