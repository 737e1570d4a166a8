"""Claims explorer: registry, verdict rule on synthetic results with known effects, validation errors, and one
small real run in which switching a mechanism off changes the verdict of the claim that depends on it."""

from __future__ import annotations

import copy
import csv
import json
import re

import numpy as np
import pytest
import scipy.stats
import xarray as xr

from sim.claims.evaluate import (
    NOT_EVALUATED,
    NOT_REPRODUCED,
    NOT_TESTABLE,
    OPPOSITE,
    REPRODUCED,
    classify,
    evaluate,
    evaluate_by_window,
    evaluate_claim,
    t_interval,
)
from sim.claims.origin import origins
from sim.claims.registry import REGISTRY_PATH, known_names, load_registry, validate
from sim.claims.stability import BOOTSTRAP_AGREEMENT, bootstrap, replicates, stability_of
from sim.claims.verdicts import BUILT_IN_INPUT, BUILT_IN_NETWORK, EMERGENT
from sim.config import load_config
from sim.errors import ConfigError
from sim.report import write_claims_outputs
from tests import seed_quotes

REGIONS = [("PCC", "DMN"), ("mPFC", "DMN"), ("dmPFC", "DMN"), ("DLPFC_L", "TPN"), ("IPS_L", "TPN"),
           ("sgACC", "LIMBIC")]
CONDS = ["healthy", "depressed", "depressed_ketamine", "depressed_placebo"]
TIMES = [-24.0, 0.33, 24.0, 48.0]


# ------------------------------------------------------------------------------------------- synthetic data
def make_ds(effect_by_subject: np.ndarray, n: int = 40, seed: int = 0, metric: str = "fc_dmn_tpn",
            effect_times=(24.0,), healthy_offset: float = 0.0):
    """A Dataset with the run schema in which ``depressed_ketamine`` differs from ``depressed_placebo`` by
    exactly ``effect_by_subject`` (per subject) at ``effect_times``, on ``metric`` and on the PCC-mPFC FC entry;
    every other scan of every condition equals the subject's trait value (so baselines cancel exactly)."""
    rng = np.random.default_rng(seed)
    trait = rng.normal(-0.2, 0.1, n)
    vals = np.repeat(trait[None, :, None], len(CONDS), 0).repeat(len(TIMES), 2)   # (cond, subj, time)
    vals[CONDS.index("healthy")] += healthy_offset
    ki = CONDS.index("depressed_ketamine")
    for t in effect_times:
        vals[ki, :, TIMES.index(t)] += effect_by_subject
    r = len(REGIONS)
    fc = np.zeros(vals.shape + (r, r), dtype=np.float32)
    fc[...] = np.eye(r, dtype=np.float32)
    fc[..., 0, 1] = fc[..., 1, 0] = vals
    dims = ("condition", "subject", "time_h")
    data = {metric: (dims, vals), "other_metric": (dims, np.zeros_like(vals)),
            "fc": (dims + ("region", "region_to"), fc)}
    coords = {"condition": CONDS, "subject": np.arange(n), "time_h": TIMES,
              "region": [x for x, _ in REGIONS], "region_to": [x for x, _ in REGIONS],
              "network": ("region", [y for _, y in REGIONS])}
    return xr.Dataset(data, coords=coords)


def registry_with(*claims, windows=None, min_r=0.0):
    base = {"settings": {"ci_level": 0.95, "min_abs_effect": {"r": min_r, "0..1": 0.0},
                         "normalisation": {"healthy": "healthy", "depressed": "depressed"}},
            "windows": windows or {"day_1": {"label": "24 h", "times_h": [24]},
                                   "days_1_3": {"label": "days 1-3", "times_h": [24, 48, 72]},
                                   "late": {"label": "week 2", "times_h": [336]},
                                   "all_scans": {"label": "all", "all": True}},
            "timeline_windows": ["day_1", "days_1_3"],
            "claims": list(claims)}
    return load_registry(base)


def claim(cid="x", expected="decrease", readout=None, contrast=None, window="day_1", **kw):
    d = {"id": cid, "source": "literature", "seeds": [], "claim": "test claim", "testable": True,
         "readout": readout or {"metric": "fc_dmn_tpn"},
         "contrast": contrast or {"type": "vs_control", "treated": "depressed_ketamine",
                                  "control": "depressed_placebo"},
         "window": window, "expected": expected, "literature": {"verdict": "test", "detail": ""},
         "depends_on": ["plasticity"]}
    d.update(kw)
    return d


# ------------------------------------------------------------------------------------------- registry
def test_registry_covers_the_seed_claims():
    reg = load_registry()
    ids = {c.id for c in reg.claims}
    # the twelve claims a-l of science.md §5, plus the anterior-cingulate claims of seed 004
    for cid in ("a", "b_up", "b_down", "c", "d", "e_onset", "f", "g", "h_mpfc", "i", "j", "k", "l",
                "acc_pgacc_insula", "acc_sgacc_vs", "acc_dacc_smg"):
        assert cid in ids, cid
    for c in reg.claims:
        assert c.literature.verdict, c.id
        if not c.testable:
            assert c.reason, c.id
        if c.source == "seed":
            assert c.seeds, c.id
    assert {c.id for c in reg.claims if not c.testable} >= {"bdnf", "h_release", "clinical_response"}
    assert any(set(p.ids) == {"b_up", "b_down"} for p in reg.contradictions)
    assert any(set(p.ids) == {"d", "lit_anticevic2012"} for p in reg.contradictions)


def test_seed_quotes_match_the_shipped_manifest():
    """Runs in any clone: each registry quote's hash is in tests/seed_quotes.json (verified against the seed
    articles when it was written), so a changed, added or removed quote fails until the manifest is rewritten
    with the articles at hand (``python -m tests.seed_quotes``)."""
    manifest = json.loads(seed_quotes.MANIFEST.read_text())
    recorded = {(q["claim"], q["file"], q["quote_sha256"]) for q in manifest["quotes"]}
    current = {seed_quotes.quote_key(*cq) for cq in seed_quotes.registry_quotes(load_registry())}
    assert current - recorded == set(), "registry quotes not in tests/seed_quotes.json (changed or new)"
    assert recorded - current == set(), "tests/seed_quotes.json lists quotes the registry no longer has"
    assert all(q["offset"] >= 0 and q["file"] in manifest["seeds"] for q in manifest["quotes"])


def test_seed_quotes_are_verbatim_in_the_seed_articles():
    """Where the articles are present (shared/seeds beside the checkout, or $DMNSIM_SEEDS): the manifest's file
    hashes hold and every quote stands verbatim at its recorded offset."""
    seeds = seed_quotes.seeds_dir()
    if seeds is None:
        pytest.skip("seed articles not available; test_seed_quotes_match_the_shipped_manifest covers the registry")
    manifest = json.loads(seed_quotes.MANIFEST.read_text())
    texts = {f: seed_quotes.normalise((seeds / f).read_text(encoding="utf-8")) for f in manifest["seeds"]}
    for f, meta in manifest["seeds"].items():
        assert seed_quotes.sha256(texts[f]) == meta["sha256"], f"{f} changed since the manifest was written"
    for claim, file, q in seed_quotes.registry_quotes(load_registry()):
        entry = [e for e in manifest["quotes"] if (e["claim"], e["file"]) == (claim, file)
                 and e["quote_sha256"] == seed_quotes.sha256(q)]
        assert entry, (claim, q[:50])
        assert texts[file][entry[0]["offset"]:entry[0]["offset"] + len(q)] == q, (claim, q[:50])


def test_registry_holds_no_simulation_outcome():
    """Honest by construction: entries may only have these fields (no effect, verdict or result field)."""
    import yaml

    allowed = {"id", "source", "seeds", "claim", "testable", "reason", "readout", "contrast", "population", "window",
               "reference_window", "expected", "literature", "depends_on", "note", "speaks_about"}
    data = yaml.safe_load(REGISTRY_PATH.read_text(encoding="utf-8"))
    for entry in data["claims"]:
        assert set(entry) <= allowed, (entry["id"], set(entry) - allowed)
        assert set(entry["literature"]) <= {"verdict", "detail", "citations"}
    text = REGISTRY_PATH.read_text(encoding="utf-8")
    assert not re.search(r"^\s*-?\s*(effect|ci_low|ci_high|simulation_verdict|result)\s*:", text, re.M)


def test_default_registry_validates_against_the_run_schema():
    from tests.synthetic import synthetic_dataset

    ds = synthetic_dataset(n_subjects=3, scan_times_h=(-24.0, 0.33, 24.0), with_dose_response=False)
    validate(load_registry(), known_names(ds, load_config([])))


@pytest.mark.parametrize("field, value, needle", [
    ("readout", {"metric": "fc_nope"}, "unknown metric 'fc_nope'; allowed: fc_dmn_tpn, other_metric"),
    ("readout", {"pair": {"a": ["PCC"], "b": ["Precuneus"]}}, "unknown region or network 'Precuneus'"),
    ("contrast", {"type": "vs_control", "treated": "ketamine_daily", "control": "depressed_placebo"},
     "unknown condition 'ketamine_daily'; allowed: depressed, depressed_ketamine"),
])
def test_unknown_names_are_errors_naming_the_entry(field, value, needle):
    reg = registry_with(claim("my_entry", **{field: value}))
    ds = make_ds(np.zeros(5), n=5)
    with pytest.raises(ConfigError) as e:
        validate(reg, known_names(ds))
    assert "'my_entry'" in str(e.value) and needle in str(e.value)


def test_malformed_entries_are_errors():
    with pytest.raises(ConfigError, match="'bad'.*expected"):
        registry_with(claim("bad", expected="upwards"))
    with pytest.raises(ConfigError, match="'bad'.*window"):
        registry_with(claim("bad", window="fortnight"))
    with pytest.raises(ConfigError, match="'bad'.*depends_on"):
        registry_with(claim("bad", depends_on=["serotonin"]))
    with pytest.raises(ConfigError, match="duplicate"):
        registry_with(claim("a"), claim("a"))


# ------------------------------------------------------------------------------------------- verdict rule
def test_known_effect_gets_right_interval_and_verdict():
    n = 40
    d = np.random.default_rng(1).normal(-0.08, 0.05, n)  # known per-subject effect
    ds = make_ds(d, n=n)
    mean, lo, hi = d.mean(), *scipy.stats.t.interval(0.95, n - 1, loc=d.mean(), scale=scipy.stats.sem(d))
    reg = registry_with(claim("down", "decrease"), claim("up", "increase"), claim("any", "either"),
                        claim("pair", "decrease", readout={"pair": {"a": ["PCC"], "b": ["mPFC"]}}),
                        claim("vsbase", "decrease", contrast={"type": "vs_baseline", "treated": "depressed_ketamine"}))
    res = {r.claim_id: r for r in evaluate(ds, reg)}
    for cid in ("down", "up", "any", "pair", "vsbase"):
        r = res[cid]
        assert r.n == n and r.scans_h == (24.0,)
        np.testing.assert_allclose([r.effect, r.low, r.high], [mean, lo, hi], rtol=1e-5, atol=1e-6)
    assert res["down"].verdict == REPRODUCED
    assert res["up"].verdict == OPPOSITE
    assert res["any"].verdict == REPRODUCED
    assert res["pair"].verdict == REPRODUCED  # read from the fc matrices


def test_no_effect_is_not_reproduced_and_tiny_effect_below_minimum():
    n = 40
    null = make_ds(np.random.default_rng(2).normal(0, 0.05, n) - 0.0, n=n)
    reg = registry_with(claim("down", "decrease"))
    r = evaluate_claim(null, reg.get("down"), reg)
    if r.low <= 0 <= r.high:  # a null effect: the CI includes 0 for this seed
        assert r.verdict == NOT_REPRODUCED
    tiny = make_ds(np.full(n, -0.01) + np.random.default_rng(3).normal(0, 1e-4, n), n=n)
    reg_min = registry_with(claim("down", "decrease"), min_r=0.02)
    r = evaluate_claim(tiny, reg_min.get("down"), reg_min)
    assert r.high < 0 and r.verdict == NOT_REPRODUCED and "minimal effect size" in r.reason
    assert classify(-0.1, -0.2, -0.05, "decrease", 0.02)[0] == REPRODUCED
    assert classify(0.1, 0.05, 0.2, "decrease", 0.02)[0] == OPPOSITE
    assert classify(0.1, -0.05, 0.2, "increase", 0.02)[0] == NOT_REPRODUCED
    m, lo, hi, k = t_interval([1.0, np.nan, 3.0])
    assert k == 2 and m == 2.0 and lo < 2 < hi


def test_window_uses_the_scans_that_exist_and_averages_them():
    n = 30
    d = np.random.default_rng(4).normal(-0.1, 0.03, n)
    ds = make_ds(d, n=n, effect_times=(24.0,))  # effect at 24 h only, 0 at 48 h
    reg = registry_with(claim("w13", "decrease", window="days_1_3"), claim("late", "decrease", window="late"))
    r = evaluate_claim(ds, reg.get("w13"), reg)
    assert r.scans_h == (24.0, 48.0)  # 72 h is not a scan of this run
    np.testing.assert_allclose(r.effect, d.mean() / 2, rtol=1e-6)
    late = evaluate_claim(ds, reg.get("late"), reg)
    assert late.verdict == NOT_EVALUATED and "no scan" in late.reason


def test_reference_window_between_level_and_toward_healthy():
    n = 30
    d = np.random.default_rng(5).normal(-0.1, 0.03, n)
    ds = make_ds(d, n=n, healthy_offset=-0.1)  # healthy lower than depressed -> 'toward healthy' = decrease
    reg = registry_with(
        claim("peak", "decrease", window="day_1", reference_window="days_1_3"),
        claim("norm", "toward_healthy"),
        claim("mdd", "increase", contrast={"type": "between", "treated": "depressed", "control": "healthy"},
              window="all_scans"),
        claim("lvl", "below_zero", contrast={"type": "level", "treated": "depressed_placebo"}))
    res = {r.claim_id: r for r in evaluate(ds, reg)}
    np.testing.assert_allclose(res["peak"].effect, d.mean() - d.mean() / 2, rtol=1e-6)
    assert res["norm"].expected == "decrease" and res["norm"].verdict == REPRODUCED
    np.testing.assert_allclose(res["mdd"].effect, 0.1, rtol=1e-6)
    assert res["mdd"].verdict == REPRODUCED and res["lvl"].verdict == REPRODUCED
    flat = make_ds(d, n=n, healthy_offset=0.0)  # no abnormality: 'toward healthy' has no direction
    assert evaluate_claim(flat, reg.get("norm"), reg).verdict == NOT_EVALUATED


def test_not_testable_and_missing_condition():
    reg = registry_with(claim("gone", contrast={"type": "vs_control", "treated": "depressed_tms",
                                                "control": "depressed"}),
                        {"id": "nt", "source": "literature", "seeds": [], "claim": "c", "testable": False,
                         "reason": "no read-out", "literature": {"verdict": "v"}, "depends_on": []})
    ds = make_ds(np.zeros(5), n=5)
    res = {r.claim_id: r for r in evaluate(ds, reg)}
    assert res["nt"].verdict == NOT_TESTABLE and res["nt"].reason == "no read-out"
    assert res["gone"].verdict == NOT_EVALUATED and "depressed_tms" in res["gone"].reason


# ------------------------------------------------------------------------------------------- real run
@pytest.fixture(scope="module")
def small_claims_run():
    from sim.claims.ablation import run_claims_experiment

    cfg = load_config(["experiment=claims", "cohort.n_subjects=60", "scan.duration_s=600", "progress=false",
                       "experiment.scans_h=[-24,0.33]", "~experiment.dose_response",
                       "experiment.select=[healthy,healthy_ketamine]", "claims.ablation.mechanisms=[disinhibition]",
                       "claims.ablation.phenotypes=[]"])
    return run_claims_experiment(cfg)


def test_switching_disinhibition_off_changes_the_acute_claim(small_claims_run):
    """Acute weakening of DMN-TPN anticorrelation (Anticevic 2012) is expected to depend on disinhibition."""
    from sim.claims.ablation import observed_dependence

    run = small_claims_run
    default, off = run.variants
    assert off.dependency == "disinhibition" and off.conditions == ("healthy_ketamine",)
    assert "disinhibition" in run.registry.get("lit_anticevic2012").depends_on
    assert default.results["lit_anticevic2012"].verdict == REPRODUCED
    assert off.results["lit_anticevic2012"].verdict != REPRODUCED
    assert abs(off.results["lit_anticevic2012"].effect) < abs(default.results["lit_anticevic2012"].effect)
    assert "disinhibition" in observed_dependence("lit_anticevic2012", run.variants)
    # the unaffected condition is reused bit for bit
    np.testing.assert_array_equal(off.ds["fc_dmn_tpn"].sel(condition="healthy").values,
                                  default.ds["fc_dmn_tpn"].sel(condition="healthy").values)


def test_outputs_are_written_and_report_is_self_contained(small_claims_run, tmp_path):
    run = small_claims_run
    paths = write_claims_outputs(run.ds, run.cfg, tmp_path, ablation=run)
    names = {p.name for p in paths}
    assert {"claims.csv", "claims_by_window.csv", "claims_ablation.csv", "report.md", "report.html",
            "claims_ablation_matrix.png"} <= names
    with open(tmp_path / "claims.csv", encoding="utf-8") as f:
        rows = {r["id"]: r for r in csv.DictReader(f)}
    assert set(rows) == {c.id for c in run.registry.claims}
    assert rows["lit_anticevic2012"]["simulation_verdict"] == run.variants[0].results["lit_anticevic2012"].verdict
    assert rows["lit_anticevic2012"]["depends_on_observed"] == "disinhibition"
    assert rows["bdnf"]["simulation_verdict"] == NOT_TESTABLE
    assert rows["a"]["simulation_verdict"] == NOT_EVALUATED  # its conditions were not run
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "data:image/png;base64," in page
    assert not re.search(r"""(src|href)=["'](?!data:|#)""", page), "external reference in report.html"
    assert not re.search(r"https?://", re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", page))
    md = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert "| Seed claim | Read-out; contrast; expected | Literature verdict | Simulation verdict |" in md
    assert "Multiple comparisons" in md


def test_registry_error_in_a_run_names_the_entry(small_claims_run, tmp_path):
    run = small_claims_run
    cfg = copy.deepcopy(run.cfg)
    bad = tmp_path / "registry.yaml"
    text = REGISTRY_PATH.read_text(encoding="utf-8").replace("readout: {metric: fc_sgacc_vs}",
                                                             "readout: {metric: fc_sgacc_nacc}")
    bad.write_text(text, encoding="utf-8")
    cfg.claims.registry = str(bad)
    with pytest.raises(ConfigError, match="'acc_sgacc_vs'.*unknown metric 'fc_sgacc_nacc'"):
        write_claims_outputs(run.ds, cfg, tmp_path)


# ------------------------------------------------------------------------------------------- stability, origin
def _rng():
    return np.random.default_rng(0)


def test_a_clear_effect_is_stable_and_a_borderline_one_is_fragile():
    """Effect mean/SE = 12: every bootstrap cohort agrees. Effect mean/SE ~ 2.1 (p ~ 0.04): a large share of
    resamples loses significance (for t = 2.1 about 40 % of bootstrap means fall below 2 SE), so fragile."""
    reg = registry_with(claim())
    n = 40
    z = np.random.default_rng(1).standard_normal(n)
    z = (z - z.mean()) / z.std(ddof=1)
    for mean_over_se, fragile in ((12.0, False), (2.1, True)):
        eff = -(mean_over_se / np.sqrt(n)) * 0.05 + 0.05 * z  # mean / (SD/sqrt n) = mean_over_se
        ds = make_ds(eff, n=n)
        r = evaluate_claim(ds, reg.get("x"), reg)
        assert r.verdict == REPRODUCED
        s = bootstrap(eff, r, reg, _rng())
        assert s.fragile == fragile, (mean_over_se, s.agree)
        assert (s.agree >= BOOTSTRAP_AGREEMENT) == (not fragile)


def test_replicate_cohorts_are_judged_separately():
    """Four replicate groups of 20: an effect present only in the first group is pooled-reproduced but fragile;
    one present in every group is stable with 4/4 agreeing."""
    reg = registry_with(claim())
    n, noise = 80, 0.01 * np.random.default_rng(2).standard_normal(80)
    only_first = np.where(np.arange(n) < 20, -0.2, 0.0) + noise
    everywhere = -0.05 + noise
    for eff, fragile in ((only_first, True), (everywhere, False)):
        ds = make_ds(eff, n=n)
        c = reg.get("x")
        r = evaluate_claim(ds, c, reg)
        s = replicates(ds, c, r, reg, 4)
        assert s.method == "replicates" and s.n == 4 and s.fragile == fragile, s
        assert (s.verdicts[0] == REPRODUCED)
    # stability_of picks replicates for R >= 2 and the bootstrap for R = 1
    prim = {"x": r}
    assert stability_of(ds, reg, prim, 4, seed=0)["x"].method == "replicates"
    assert stability_of(ds, reg, prim, 1, seed=0)["x"].method == "bootstrap"


@pytest.fixture(scope="module")
def tiny_run():
    from sim.experiment import run_timeline

    cfg = load_config(["progress=false", "cohort.n_subjects=4", "scan.duration_s=60", "scan.transient_s=10",
                       "experiment.dose_response=null", "experiment.scans_h=[-24,0.33,48,336]"])
    return cfg, run_timeline(cfg)


def _origin_of(cfg, ds, c):
    reg = registry_with(c, windows={"day_2": {"label": "48 h", "times_h": [48]},
                                    "during": {"label": "20 min", "times_h": [0.33]},
                                    "all_scans": {"label": "all", "all": True},
                                    "day_1": {"label": "x", "times_h": [48]},
                                    "days_1_3": {"label": "y", "times_h": [48]}})
    prim = {c["id"]: evaluate_claim(ds, reg.get(c["id"]), reg)}
    return origins(ds, cfg, reg, prim)[c["id"]]


def test_origin_is_detected_from_the_config(tiny_run):
    cfg, ds = tiny_run
    # depressed vs healthy on within-DMN FC: the depressed preset scales every within-DMN edge
    o = _origin_of(cfg, ds, claim("mdd", "increase", {"metric": "fc_within_dmn"},
                                  {"type": "between", "treated": "depressed", "control": "healthy"}, "all_scans"))
    assert o.kind == BUILT_IN_INPUT and o.inputs == ("phenotype",) and o.overlap == 1.0
    # ketamine vs saline on DLPFC-DMN FC at 48 h: the plasticity target writes exactly these edges
    o = _origin_of(cfg, ds, claim("tgt", "decrease", {"pair": {"a": ["DLPFC_L", "DLPFC_R"], "b": ["DMN"]}},
                                  window="day_2"))
    assert o.kind == BUILT_IN_INPUT and o.inputs == ("plasticity",)
    # the same read-out during the infusion: plasticity has not started, the acute block is not an edge target
    o = _origin_of(cfg, ds, claim("acute", "increase", {"pair": {"a": ["DLPFC_L", "DLPFC_R"], "b": ["DMN"]}},
                                  window="during"))
    assert o.kind == EMERGENT
    # within-DMN FC after ketamine: no input writes these edges in a drug contrast
    o = _origin_of(cfg, ds, claim("emerg", "decrease", {"metric": "fc_within_dmn"}, window="day_2"))
    assert o.kind == EMERGENT


def test_read_outs_shared_across_claims_and_windows_give_the_claim_by_claim_results(tiny_run):
    """evaluate / evaluate_by_window compute each read-out once (a memo per Dataset): the same Results, NaN and
    not-evaluable reasons included, as each claim computed on its own."""
    from sim.claims import evaluate
    from sim.claims.registry import load_registry

    cfg, ds = tiny_run
    reg = load_registry(None)
    memo: dict = {}
    shared = evaluate(ds, reg, memo)
    assert 0 < len(memo) < len(reg.testable)  # claims do share read-outs
    assert [repr(r) for r in shared] == [repr(evaluate_claim(ds, c, reg)) for c in reg.claims]
    by_window = evaluate_by_window(ds, reg, memo)
    assert {k: repr(r) for k, r in by_window.items()} == {
        (c.id, w): repr(evaluate_claim(ds, c, reg, w)) for c in reg.testable if not c.reference_window
        for w in reg.windows_of(c)}


def test_a_level_true_in_every_condition_is_a_property_of_the_network():
    # the linear engine (expected FC, no sampling noise: 4 subjects x 60-s scans would leave CIs that reach 0 by
    # chance): within-DMN FC > 0 holds in every condition (excitatory within-network coupling)
    from sim.experiment import run_timeline

    cfg = load_config(["progress=false", "cohort.n_subjects=4", "scan.duration_s=60", "scan.transient_s=10",
                       "experiment.dose_response=null", "experiment.scans_h=[-24,0.33,48,336]",
                       "metrics.engine=linear"])
    ds = run_timeline(cfg)
    o = _origin_of(cfg, ds, claim("lvl", "above_zero", {"metric": "fc_within_dmn"},
                                  {"type": "level", "treated": "depressed_ketamine"}, "day_2"))
    assert o.kind == BUILT_IN_NETWORK


# ------------------------------------------------------------------------------------------- issue 12
def test_by_window_shows_only_the_windows_a_claim_speaks_about():
    reg = registry_with(claim("x"), claim("y", speaks_about=["days_1_3"]))
    ds = make_ds(np.full(40, -0.1))
    bw = evaluate_by_window(ds, reg)
    assert {w for (c, w) in bw if c == "x"} == {"day_1", "days_1_3"}
    assert {w for (c, w) in bw if c == "y"} == {"days_1_3"}
    with pytest.raises(ConfigError, match="speaks_about"):
        registry_with(claim("z", speaks_about=["all_scans"]))  # not a timeline window


def test_same_computation_pair_needs_one_number():
    base = [claim("lo", "decrease"), claim("hi", "increase")]
    reg = registry_with(*base)
    reg = load_registry({**_raw(reg), "contradictions": [{"pair": ["lo", "hi"], "same_computation": True}]})
    assert reg.contradictions[0].same_computation
    ds = make_ds(np.full(40, -0.1) + 0.01 * np.random.default_rng(3).standard_normal(40))
    lo, hi = evaluate_claim(ds, reg.get("lo"), reg), evaluate_claim(ds, reg.get("hi"), reg)
    assert lo.effect == hi.effect and lo.verdict == REPRODUCED and hi.verdict == "opposite"
    other = claim("late", "increase", window="days_1_3")
    with pytest.raises(ConfigError, match="same_computation"):
        load_registry({**_raw(registry_with(base[0], other)),
                       "contradictions": [{"pair": ["lo", "late"], "same_computation": True}]})


def _raw(reg):
    """The mapping registry_with built (rebuilt from its claims' source dicts is not possible: rebuild here)."""
    return {"settings": {"ci_level": 0.95, "min_abs_effect": {"r": 0.0, "0..1": 0.0},
                         "normalisation": {"healthy": "healthy", "depressed": "depressed"}},
            "windows": {"day_1": {"label": "24 h", "times_h": [24]},
                        "days_1_3": {"label": "days 1-3", "times_h": [24, 48, 72]}},
            "timeline_windows": ["day_1", "days_1_3"],
            "claims": [claim(c.id, c.expected, window=c.window) for c in reg.claims]}


def test_activity_metric_is_the_log_sd_from_the_covariance_diagonal():
    """amp_<net> = mean over the network's regions of ln sqrt(var): a region with 4x the variance adds ln 2."""
    from sim.atlas import atlas_from_config
    from sim.metrics import describe, metrics_from_stats

    atlas = atlas_from_config(load_config([]).atlas)
    n = atlas.n_regions
    var = np.ones(n)
    dmn = atlas.members("DMN")
    var[dmn[0]] = 4.0
    cov = np.diag(var)[None]
    stats = {"cov": cov, "sync": np.zeros(1), "meta": np.zeros(1), "dwell": np.zeros(1)}
    m, _ = metrics_from_stats(stats, atlas, {})
    assert m["amp_dmn"][0] == pytest.approx(np.log(2.0) / len(dmn))
    assert m["amp_tpn"][0] == pytest.approx(0.0)
    assert describe("amp_dmn")[1] == "ln"


def test_most_changed_ranks_the_target_row_against_its_rivals():
    """Only the PCC-mPFC entry changes (by e): PCC's row mean |change| over the 3 regions outside {PCC, dmPFC,
    sgACC} is |e|/3, the rivals' is 0, so the effect is exactly mean |e|/3; with mPFC as target the same."""
    e = -0.3 + 0.05 * np.random.default_rng(4).standard_normal(40)
    ds = make_ds(e)
    ro = {"most_changed": {"target": "PCC", "others": ["dmPFC", "sgACC"]}}
    reg = registry_with(claim("most", "increase", readout=ro), claim("least", "increase",
                        readout={"most_changed": {"target": "dmPFC", "others": ["PCC", "sgACC"]}}))
    r = evaluate_claim(ds, reg.get("most"), reg)
    assert r.effect == pytest.approx(np.mean(np.abs(e)) / 3, rel=1e-5) and r.verdict == REPRODUCED
    assert evaluate_claim(ds, reg.get("least"), reg).verdict == OPPOSITE
