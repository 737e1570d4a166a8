"""Activity read-outs (ln BOLD SD per region), the equivalence rule for 'no difference' claims, and onsets scan by
scan: checked against closed forms and synthetic results with known effects."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import xarray as xr

from sim.atlas import atlas_from_config
from sim.claims.evaluate import (
    NOT_REPRODUCED,
    OPPOSITE,
    REPRODUCED,
    classify,
    evaluate_claim,
    onset,
    readout_values,
)
from sim.config import load_config
from sim.errors import ConfigError
from sim.metrics import amp_from_cov, metrics_from_stats
from sim.models.hopf import stationary_cov_complex
from tests.test_claims import CONDS, TIMES, claim, make_ds, registry_with


def with_amp(ds, region_effect: dict[str, float], at_times=(24.0,), seed: int = 1):
    """Add a per-region activity variable ``amp`` to ``ds``: subject traits plus ``region_effect`` (ln units) in
    depressed_ketamine at ``at_times``."""
    rng = np.random.default_rng(seed)
    regions = [str(r) for r in ds["region"].values]
    n = ds.sizes["subject"]
    trait = rng.normal(0.0, 0.2, (n, len(regions)))
    vals = np.broadcast_to(trait[None, :, None, :], (len(CONDS), n, len(TIMES), len(regions))).copy()
    ki = CONDS.index("depressed_ketamine")
    for r, e in region_effect.items():
        for t in at_times:
            vals[ki, :, TIMES.index(t), regions.index(r)] += e * (1 + 0.1 * rng.standard_normal(n))
    return ds.assign(amp=(("condition", "subject", "time_h", "region"), vals))


def test_amp_of_uncoupled_linear_nodes_is_their_closed_form_sd():
    """Uncoupled linearised Hopf nodes dz = (a + i w) z dt + s (dWx + i dWy): var(x) = s^2 / (2 |a|), so the activity
    amp = ln SD = 0.5 ln(s^2 / (2|a|)) (the linear engine reads amp off the stationary covariance's diagonal)."""
    a = np.array([[-0.02, -0.05, -0.3]])
    omega = 2 * np.pi * np.array([[0.04, 0.05, 0.06]])
    sigma = np.array([[0.01, 0.02, 0.05]])
    cov = 0.5 * stationary_cov_complex(a, omega, np.zeros((1, 3, 3)), sigma).real
    np.testing.assert_allclose(amp_from_cov(cov), 0.5 * np.log(sigma**2 / (2 * np.abs(a))), rtol=1e-10)


def test_network_activity_is_the_mean_of_its_regions_activity():
    cfg = load_config([])
    atlas = atlas_from_config(cfg.atlas)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 400, atlas.n_regions)) * rng.uniform(0.5, 2.0, (3, 1, atlas.n_regions))
    cov = np.einsum("bti,btj->bij", x, x) / x.shape[1]
    stats = {"cov": cov, "sync": np.zeros(3), "meta": np.zeros(3), "dwell": np.zeros(3)}
    out, _ = metrics_from_stats(stats, atlas, {})
    amp = amp_from_cov(cov)
    for net in atlas.networks:
        np.testing.assert_allclose(out[f"amp_{net.lower()}"], amp[:, atlas.members(net)].mean(-1))


def test_activity_difference_reads_an_asymmetric_change():
    """+0.2 ln in PCC only: PCC minus mPFC activity rises by 0.2 (reproduced as an increase), mPFC minus PCC falls
    (opposite of an increase), and the symmetric PCC+mPFC mean rises by half as much."""
    ds = with_amp(make_ds(np.zeros(40)), {"PCC": 0.2})
    reg = registry_with(claim("up", "increase", readout={"activity_diff": {"a": ["PCC"], "b": ["mPFC"]}}),
                        claim("down", "increase", readout={"activity_diff": {"a": ["mPFC"], "b": ["PCC"]}}),
                        claim("mean", "increase", readout={"activity": ["PCC", "mPFC"]}))
    up, down, mean = (evaluate_claim(ds, reg.get(c), reg) for c in ("up", "down", "mean"))
    assert up.verdict == REPRODUCED and up.unit == "ln" and up.low < 0.2 < up.high
    assert down.verdict == OPPOSITE
    assert mean.low < 0.1 < mean.high
    with pytest.raises(ConfigError, match="activity_diff.*share"):
        registry_with(claim("bad", "increase", readout={"activity_diff": {"a": ["PCC"], "b": ["PCC"]}}))


def test_activity_of_a_network_matches_its_regions():
    ds = with_amp(make_ds(np.zeros(40)), {"PCC": 0.3})
    from sim.claims.registry import Readout

    v = readout_values(ds, Readout("activity", a=("DMN",)))
    dmn = [i for i, n in enumerate(ds["network"].values) if n == "DMN"]
    np.testing.assert_allclose(v.values, ds["amp"].isel(region=dmn).mean("region").values)
    reg = registry_with(claim("x", "decrease", readout={"activity": ["PCC"]}))
    r = evaluate_claim(make_ds(np.zeros(40)), reg.get("x"), reg)
    assert r.verdict == "not evaluated" and "amp" in r.reason


@pytest.mark.parametrize(("mean", "half", "want"), [
    (0.0, 0.03, REPRODUCED),        # CI (-0.03, 0.03) inside +/-0.05
    (0.04, 0.03, NOT_REPRODUCED),   # CI (0.01, 0.07): excludes 0 but |mean| < 0.05 and not inside the margin
    (0.08, 0.02, OPPOSITE),         # a difference of at least the margin
    (-0.08, 0.02, OPPOSITE),
    (0.0, 0.2, NOT_REPRODUCED),     # too wide to tell
])
def test_no_difference_is_an_equivalence_test(mean, half, want):
    assert classify(mean, mean - half, mean + half, "no_difference", 0.05)[0] == want


def test_no_difference_on_synthetic_groups():
    """healthy offset 0 -> equivalent (reproduced); offset 0.3 -> a difference (opposite)."""
    for offset, want in ((0.0, REPRODUCED), (0.3, OPPOSITE)):
        ds = make_ds(np.zeros(40), metric="amp_dmn", healthy_offset=offset)
        reg = registry_with(claim("nd", "no_difference", readout={"metric": "amp_dmn"}, window="all_scans",
                                  contrast={"type": "between", "treated": "healthy", "control": "depressed"}))
        reg = dataclasses.replace(reg, min_abs_effect={"r": 0.05, "0..1": 0.05, "ln": 0.05})
        assert evaluate_claim(ds, reg.get("nd"), reg).verdict == want, offset


def test_onset_is_the_first_scan_with_a_change():
    """An effect only at 24 h: first change at 24 h; an early opposite effect at 20 min as well: first change at
    20 min but first scan with the claimed decrease still 24 h."""
    reg = registry_with(claim("d", "decrease"))
    late = make_ds(np.full(40, -0.1) + 0.01 * np.random.default_rng(0).standard_normal(40))
    o = onset(late, reg.get("d"), reg, until_h=48)
    assert (o.first_change_h, o.first_claimed_h) == (24.0, 24.0)
    assert [r.scans_h for r in o.per_scan] == [(0.33,), (24.0,), (48.0,)]
    both = late.copy(deep=True)
    both["fc_dmn_tpn"].loc[{"condition": "depressed_ketamine", "time_h": 0.33}] += 0.1
    o = onset(both, reg.get("d"), reg, until_h=48)
    assert (o.first_change_h, o.first_claimed_h) == (0.33, 24.0)
    assert onset(late, reg.get("d"), reg, until_h=1).first_change_h is None


def test_latency_pairs_are_checked():
    a, b = claim("a", "decrease"), claim("b", "either")
    base = registry_with(a, b)
    assert base.contradictions == ()
    from sim.claims.registry import load_registry

    spec = {"settings": {}, "windows": {"day_1": {"label": "24 h", "times_h": [24]}}, "timeline_windows": ["day_1"],
            "claims": [a, b], "contradictions": [{"pair": ["a", "b"], "latency_until_h": -1}]}
    with pytest.raises(ConfigError, match="latency_until_h"):
        load_registry(spec)
    spec["contradictions"][0]["latency_until_h"] = 12
    assert load_registry(spec).contradictions[0].latency_until_h == 12.0


def test_amp_is_in_the_results_of_both_engines():
    """The per-region activity variable comes out of a (tiny) timeline run with the simulated and the linear engine,
    and the network activity metric is the mean of its regions' activity in both."""
    from sim.experiment import run_timeline

    over = ["cohort.n_subjects=2", "experiment.select=[healthy]", "experiment.scans_h=[-24,24]",
            "scan.duration_s=60", "scan.transient_s=10", "experiment.dose_response=null"]
    for engine in ("simulated", "linear"):
        ds = run_timeline(load_config(over + [f"metrics.engine={engine}"]))
        assert ds["amp"].dims == ("condition", "subject", "time_h", "region")
        dmn = [i for i, n in enumerate(ds["network"].values) if n == "DMN"]
        xr.testing.assert_allclose(ds["amp_dmn"], ds["amp"].isel(region=dmn).mean("region"))


# ------------------------------------------------------------------------------- task block (linear response)
def test_block_response_is_the_exact_linear_mean():
    """The stepped mean equals an ODE solution of dm/dt = L m + u (solve_ivp, tight tolerances) for a random stable
    coupled network, during and after the block."""
    from scipy.integrate import solve_ivp

    from sim.claims.task import TaskBlock, block_response, linear_operator

    rng = np.random.default_rng(3)
    n = 4
    a = -rng.uniform(0.2, 0.5, (1, n))
    om = 2 * np.pi * rng.uniform(0.04, 0.07, (1, n))
    w = 0.05 * rng.standard_normal((1, n, n))
    lop = linear_operator(a, om, w)
    u = np.array([1.0, 1.0, 0.0, 0.0])
    tb = TaskBlock(duration_s=10.0, after_s=20.0, dt_s=0.5)
    t, x = block_response(lop, u, tb)

    def f(tt, y):
        m = y[:n] + 1j * y[n:]
        dm = lop[0] @ m + (u if tt < tb.duration_s else 0.0)
        return np.concatenate([dm.real, dm.imag])

    sol = solve_ivp(f, (0, t[-1]), np.zeros(2 * n), t_eval=t, rtol=1e-10, atol=1e-12, max_step=0.05)
    np.testing.assert_allclose(x[0], sol.y[:n].T, atol=1e-7)


def test_task_measures_closed_forms():
    """Without rotation (omega = 0): a node read on itself decays as exp(-|a| t) after the block, so it is back
    within 10 % after ln(10)/|a|; a cross-inhibited node follows its driver with the sign of the coupling, and the
    block-mean ratio tends to the steady state W / |a_read| for a long block."""
    from sim.claims.task import TaskBlock, block_response, linear_operator, task_measures

    a = np.array([[-1.0, -0.5]])
    w = np.array([[[0.0, 0.0], [-0.2, 0.0]]])        # node 1 (read) receives -0.2 x node 0 (driven)
    lop = linear_operator(a, np.zeros((1, 2)), w)
    tb = TaskBlock(duration_s=2000.0, after_s=40.0, dt_s=0.01)
    t, x = block_response(lop, np.array([1.0, 0.0]), tb)
    self_read = task_measures(t, x, [0], [0], tb)
    assert abs(self_read["task_recovery_s"][0] - np.log(10) / 1.0) <= tb.dt_s
    cross = task_measures(t, x, [1], [0], tb)
    assert cross["task_dmn_per_tpn"][0] == pytest.approx(-0.2 / 0.5, rel=0.01)


def test_task_response_of_the_default_run_is_per_untreated_condition():
    """On the default config: finite and the same at every scan for untreated conditions, NaN for treated ones;
    the claim gets a verdict and the Assessment a summary."""
    from sim.claims.task import TASK_METRICS, with_task_response

    cfg = load_config([])
    conds = list(cfg.experiment.conditions)
    ds = xr.Dataset(coords={"condition": conds, "subject": np.arange(4), "time_h": [-24.0, 0.33, 24.0]})
    out = with_task_response(ds, cfg)
    for k in TASK_METRICS:
        v = out[k]
        for c in conds:
            x = v.sel(condition=c).values
            untreated = str(cfg.experiment.conditions[c].protocol) == "none"
            assert np.isfinite(x).all() == untreated and np.isnan(x).all() != untreated, (k, c)
            if untreated:
                np.testing.assert_array_equal(x[:, 0], x[:, -1])
    assert with_task_response(out, cfg) is out
    # a memo shared with another run of the same subjects (the expected run) gives the same values; other
    # subjects are computed afresh, not taken from the memo
    memo: dict = {}
    first = with_task_response(ds, cfg, memo=memo)
    again = with_task_response(ds.assign_coords(time_h=[-24.0, 48.0, 96.0]), cfg, memo=memo)
    others = with_task_response(ds.assign_coords(subject=np.arange(4) + 4), cfg, memo=memo)
    fresh = with_task_response(ds.assign_coords(subject=np.arange(4) + 4), cfg)
    for k in TASK_METRICS:
        np.testing.assert_array_equal(first[k].values, out[k].values)
        np.testing.assert_array_equal(again[k].values, out[k].values)
        np.testing.assert_array_equal(others[k].values, fresh[k].values)
        assert not np.array_equal(others[k].values, out[k].values, equal_nan=True)


def test_docs_claims_counts_and_lists_match_the_registry():
    """docs/claims.md states the registry's counts, lists every not-testable claim and every contradiction pair."""
    import re
    from pathlib import Path

    from sim.claims.registry import load_registry

    reg = load_registry()
    text = (Path(__file__).resolve().parents[1] / "docs" / "claims.md").read_text()
    seed = [c for c in reg.claims if c.source == "seed"]
    m = re.search(r"\*\*(\d+) entries: (\d+) seed claims \((\d+) evaluated, (\d+) not testable\) and (\d+) from the "
                  r"primary literature\*\*", text)
    assert m, "the counts sentence is missing from docs/claims.md"
    assert tuple(int(x) for x in m.groups()) == (len(reg.claims), len(seed), sum(c.testable for c in seed),
                                                 sum(not c.testable for c in seed), len(reg.claims) - len(seed))
    assert f"**{len(reg.contradictions)} contradiction pairs**" in text
    for c in reg.claims:
        if not c.testable:
            assert f"| `{c.id}` |" in text, c.id
    for p in reg.contradictions:
        assert f"`{p.ids[0]}` / `{p.ids[1]}`" in text, p.ids


def test_acting_names_what_differs_between_the_two_sides():
    """During the infusion the acute block acts on ketamine and not on saline, plasticity has not risen; at 48 h
    plasticity acts and the block has gone (trapped block < 5 % of its peak by 48 h, tests/test_receptor.py);
    depressed vs healthy differ by the preset only."""
    from sim.claims.origin import acting
    from sim.experiment import run_timeline

    cfg = load_config(["progress=false", "cohort.n_subjects=2", "scan.duration_s=60", "scan.transient_s=10",
                       "experiment.dose_response=null", "experiment.scans_h=[-24,0.33,48]", "metrics.engine=linear",
                       "experiment.select=[healthy,depressed,depressed_ketamine,depressed_placebo]"])
    ds = run_timeline(cfg)
    reg = registry_with(claim("k"), claim("p", contrast={"type": "between", "treated": "depressed",
                                                         "control": "healthy"}))
    during, later = acting(ds, reg.get("k"), [0.33]), acting(ds, reg.get("k"), [48.0])
    assert "disinhibition" in during and "plasticity" not in during
    assert "plasticity" in later and "disinhibition" not in later and "trapping" not in later
    assert acting(ds, reg.get("p"), [0.33, 48.0]) == ("phenotype",)
