"""Phenotype presets change FC in the directions their sources report.

Subjects are the same virtual people in each phenotype (same traits, independent scan noise), so the
contrasts are paired; each is a one-sided paired t-test at p < 0.001 on 100 subjects x 10 min
(the hypo effect is small by design: Tozzi 2021 g ~ -0.25).
The linearised model's analytic FC (no sampling error) must point the same way.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats

from sim.config import load_config
from sim.models import hopf
from sim.simulate import build_world, simulate_cohort

N = 100


@pytest.fixture(scope="module")
def cohorts():
    out = {}
    for ph in ("healthy", "depressed_hyper", "depressed_hypo"):
        cfg = load_config([f"phenotype={ph}", f"cohort.n_subjects={N}", "progress=false"])
        out[ph] = simulate_cohort(cfg)
    return out


def _analytic(ph, metric_idx):
    world = build_world(load_config([f"phenotype={ph}"]))
    g, a = world.model_values["global_coupling"], world.model_values["a"]
    w = g * world.connectome.signed
    rng = np.random.default_rng(0)
    fcs = [hopf.linear_fc(a - np.abs(w).sum(-1), 2 * np.pi * (0.04 + 0.03 * rng.random(len(w))), w)
           for _ in range(10)]
    fc = np.mean(fcs, 0)
    a_idx, b_idx = metric_idx(world.atlas)
    m = np.zeros_like(fc, bool)
    m[np.ix_(a_idx, b_idx)] = True
    np.fill_diagonal(m, False)
    return fc[m].mean()


def _paired_greater(x, y):
    """One-sided paired t-test that x > y."""
    return scipy.stats.ttest_rel(x, y, alternative="greater").pvalue


def test_healthy_dmn_tpn_anticorrelated(cohorts):
    v = cohorts["healthy"]["fc_dmn_tpn"].values
    assert scipy.stats.ttest_1samp(v, 0.0, alternative="less").pvalue < 1e-3
    assert cohorts["healthy"]["fc_within_dmn"].mean() > 0.2


def test_hyper_more_dmn_and_weaker_anticorrelation(cohorts):
    h, d = cohorts["healthy"], cohorts["depressed_hyper"]
    assert _paired_greater(d["fc_within_dmn"].values, h["fc_within_dmn"].values) < 1e-3
    assert _paired_greater(d["fc_dmn_tpn"].values, h["fc_dmn_tpn"].values) < 1e-3
    dmn = lambda at: (at.members("DMN"), at.members("DMN"))  # noqa: E731
    dmn_tpn = lambda at: (at.members("DMN"), at.members("TPN"))  # noqa: E731
    assert _analytic("depressed_hyper", dmn) > _analytic("healthy", dmn)
    assert _analytic("depressed_hyper", dmn_tpn) > _analytic("healthy", dmn_tpn)


def test_hypo_lower_dmn_core(cohorts):
    h, d = cohorts["healthy"], cohorts["depressed_hypo"]
    assert _paired_greater(h["fc_within_dmn"].values, d["fc_within_dmn"].values) < 1e-3
    core_h = (h["fc_pcc_mpfc"] + h["fc_pcc_dmpfc"]).values  # PCC with the two medial PFC nodes
    core_d = (d["fc_pcc_mpfc"] + d["fc_pcc_dmpfc"]).values
    assert _paired_greater(core_h, core_d) < 1e-3
    core = lambda at: (at.select("PCC"), at.select("mPFC"))  # noqa: E731
    assert _analytic("depressed_hypo", core) < _analytic("healthy", core)
