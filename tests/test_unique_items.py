"""Items that are the same computation are simulated once, and their copies equal a separate simulation."""

from __future__ import annotations

import numpy as np
import pytest

from sim.cohort import draw_traits, noise_seeds
from sim.config import load_config
from sim.network import take_items
from sim.simulate import build_world, simulate_items, subject_network, unique_items


def _world(engine="simulated"):
    cfg = load_config(["cohort.n_subjects=2", "scan.duration_s=60", "scan.transient_s=10", "progress=false",
                       f"metrics.engine={engine}"])
    return build_world(cfg)


def _items(world):
    """Four items: subject 0 scan a, subject 1 scan a, subject 0 scan a again (a copy), subject 0 scan b."""
    traits = draw_traits(world.seed, np.arange(2), world.atlas.n_regions, world.cohort.coupling_jitter_cv)
    net = take_items(subject_network(world, traits), np.array([0, 1, 0, 0]))
    seeds = noise_seeds(world.seed, "any", [0], [0.0])
    s1 = noise_seeds(world.seed, "any", [1], [0.0])
    s0b = noise_seeds(world.seed, "any", [0], [24.0])
    return net, [seeds[0], s1[0], seeds[0], s0b[0]]


def test_unique_items_groups_equal_parameters_and_streams_only():
    world = _world()
    net, seeds = _items(world)
    first, inverse = unique_items(world.model.build(world.model_values, net), seeds)
    # item 2 repeats item 0; item 1 (other subject) and item 3 (same subject, other scan stream) differ
    np.testing.assert_array_equal(first, [0, 1, 3])
    np.testing.assert_array_equal(inverse, [0, 1, 0, 2])
    # without noise (the linear engine) only the parameters count: item 3 is item 0's network
    first, inverse = unique_items(world.model.build(world.model_values, net), None)
    np.testing.assert_array_equal(first, [0, 1])
    np.testing.assert_array_equal(inverse, [0, 1, 0, 0])


@pytest.mark.parametrize("engine", ["simulated", "linear"])
def test_copies_equal_the_items_simulated_alone(engine):
    world = _world(engine)
    net, seeds = _items(world)
    together = simulate_items(world, net, seeds)
    alone = simulate_items(world, take_items(net, np.array([3])), seeds[3:4])
    np.testing.assert_array_equal(together["fc"][2], together["fc"][0])  # a copy, exactly
    np.testing.assert_array_equal(together["fc"][3], alone["fc"][0])  # the kernel ignores the batch
    for name, v in together["metrics"].items():
        np.testing.assert_array_equal(v[2], v[0])
        # network averages are numpy reductions over the batch: equal to float64 rounding, not bit for bit
        np.testing.assert_allclose(v[3], alone["metrics"][name][0], rtol=1e-12, atol=1e-15)
    assert not np.array_equal(together["fc"][0], together["fc"][1])
    if engine == "simulated":  # another noise stream gives another finite-scan FC
        assert not np.array_equal(together["fc"][0], together["fc"][3])


def test_linear_engine_solves_each_distinct_network_once(monkeypatch):
    from sim.models import hopf

    world = _world("linear")
    net, seeds = _items(world)
    calls = []
    solve = hopf.expected_cov

    def spy(p):
        calls.append(p.a_eff.shape[0])
        return solve(p)

    monkeypatch.setattr(hopf, "expected_cov", spy)
    out = simulate_items(world, net, seeds)
    assert sum(calls) == 2  # four items, two distinct networks (the noise stream does not enter the linear engine)
    np.testing.assert_array_equal(out["fc"][3], out["fc"][0])


def test_hopf_start_solves_each_distinct_network_once_and_equals_separate_starts(monkeypatch):
    """Items 0, 2 and 3 are one network (2 a copy of 0, 3 another scan's noise stream): one Lyapunov solve serves
    them, and every item's initial state equals the one it gets alone in a batch."""
    from sim.integrate import _initial_state
    from sim.models import hopf
    from sim.rng import item_keys

    world = _world()
    net, seeds = _items(world)
    p = world.model.build(world.model_values, net)
    keys = item_keys(seeds)
    solve = hopf._stationary_cov_and_stability
    sizes = []

    def spy(a, *rest):
        sizes.append(len(a))
        return solve(a, *rest)

    monkeypatch.setattr(hopf, "_stationary_cov_and_stability", spy)
    z = _initial_state(hopf, p, keys)
    assert sizes == [2]
    for i in range(4):
        np.testing.assert_array_equal(z[i], _initial_state(hopf, take_items(p, slice(i, i + 1)), keys[i:i + 1])[0])
    assert not np.array_equal(z[0], z[3])  # same network, its own noise stream
