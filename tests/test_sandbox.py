"""The sandbox's API without a browser: controls, JSON shapes, the cache, HTTP errors, offline page."""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request

import numpy as np
import pytest

from sim.claims import load_registry
from sim.config import load_config
from sim.sandbox import server as sb
from tests.helpers import sandbox_server

SMALL = {"n_subjects": 3}


@pytest.fixture(scope="module")
def http():
    with sandbox_server() as (base, _):
        yield base


def _post(url, body: bytes):
    req = urllib.request.Request(url + "/api/simulate", data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_defaults_and_ranges_come_from_param_specs():
    from sim.models import MODELS

    c = sb.parse_controls({})
    assert c == sb.DEFAULT_CONTROLS
    specs = {s.name: s for s in MODELS["hopf"].PARAMS}
    assert c.coupling == specs["global_coupling"].default and c.noise == specs["sigma"].default
    spec = sb.controls_spec()
    assert spec["coupling"]["default"] == specs["global_coupling"].default
    g = specs["global_coupling"]
    assert g.lo <= spec["coupling"]["min"] < spec["coupling"]["max"] <= g.hi
    assert specs["sigma"].lo < spec["noise"]["min"] < spec["noise"]["max"] <= specs["sigma"].hi
    assert set(spec["treatments"]) == set(sb.TREATMENTS) and set(spec["phenotypes"]) == set(sb.PHENOTYPES)
    from sim.config import load_config

    cli = load_config([])  # the page compares its live runs with the command line's default experiment
    assert spec["cli"] == {"n_scans": len(cli.experiment.scans_h), "n_subjects": cli.cohort.n_subjects}


@pytest.mark.parametrize("bad, words", [
    ({"phenotype": "sad"}, ["phenotype", "healthy", "depressed_hypo"]),
    ({"treatment": "lsd"}, ["treatment", "ketamine_single"]),
    ({"dose_mg_per_kg": 9}, ["dose_mg_per_kg", "out of range"]),
    ({"coupling": "strong"}, ["coupling", "number"]),
    ({"noise": 0}, ["noise", "out of range"]),
    ({"n_subjects": 2.5}, ["n_subjects", "whole number"]),
    ({"plasticity": "yes"}, ["plasticity", "true or false"]),
    ({"colour": "red"}, ["unknown control 'colour'", "phenotype"]),
])
def test_bad_controls_raise_clear_errors(bad, words):
    with pytest.raises(sb.ControlError) as e:
        sb.parse_controls(bad)
    for w in words:
        assert w in str(e.value)


def test_condition_plan_uses_registry_names():
    conds, treated, control = sb.condition_plan(sb.parse_controls({"treatment": "ketamine_repeated"}))
    assert (treated, control) == ("depressed_ketamine_repeated", "depressed_placebo")
    assert set(conds) == {"depressed", "healthy", "depressed_ketamine_repeated", "depressed_placebo"}
    conds, treated, control = sb.condition_plan(sb.parse_controls({"phenotype": "healthy", "treatment": "tms"}))
    assert (treated, control) == ("healthy_tms", "healthy") and set(conds) == {"healthy", "healthy_tms"}
    # the dose does not change a placebo run: one cache entry
    assert sb.parse_controls({"treatment": "placebo", "dose_mg_per_kg": 1.0}) == sb.parse_controls(
        {"treatment": "placebo"})


def test_simulate_shapes_and_cache():
    sb.CACHE.clear()
    out = sb.simulate(SMALL)
    assert out["cached"] is False
    nt, n = len(sb.LIVE_SCANS_H), len(load_config([]).atlas.regions)
    assert out["times_h"] == pytest.approx(list(sb.LIVE_SCANS_H))
    names = [c["name"] for c in out["conditions"]]
    assert out["treated"] == "depressed_ketamine" and out["control"] == "depressed_placebo"
    assert set(names) == {"healthy", "depressed", "depressed_ketamine", "depressed_placebo"}
    for k in names:
        fc = out["fc"][k]
        assert len(fc) == nt and all(len(m) == n and all(len(r) == n for r in m) for m in fc)
        assert fc[0][0][0] == pytest.approx(1.0)
    for m in out["metrics"]["names"]:
        assert all(len(out["metrics"]["mean"][m][k]) == nt for k in names)
    assert "fc_dmn_tpn" in out["metrics"]["names"]
    r = out["regions"]
    assert len(r["names"]) == n and len(r["x"]) == len(r["y"]) == len(r["z"]) == n
    # regions grouped by network, in the blocks the matrices draw
    assert [b["name"] for b in out["networks"]] == list(load_config([]).atlas.networks)
    assert all(r["network"][i] == b["name"] for b in out["networks"] for i in range(b["start"], b["end"]))
    assert out["events"]["infusion_h"] == [0.0] and out["events"]["dose_mg_per_kg"] == [0.5]
    assert len(out["slow"]["nmda_block"]["depressed_ketamine"]) == len(out["slow"]["time_h"])
    reg = load_registry(None)
    assert [row["id"] for row in out["claims"]["rows"]] == [c.id for c in reg.claims]
    assert len(out["claims"]["contradictions"]) == len(reg.contradictions)
    assert any(row["verdict"] not in ("not evaluated", "not testable in this model") for row in out["claims"]["rows"])
    assert out["cohort"]["n_subjects"] == 3
    # the same controls again come from the cache, fast
    t0 = time.perf_counter()
    again = sb.simulate(SMALL)
    assert time.perf_counter() - t0 < 0.5
    assert again["cached"] is True and again["fc"] == out["fc"]


def test_mechanism_switch_changes_the_acute_result():
    on = sb.simulate({**SMALL, "treatment": "ketamine_single"})
    off = sb.simulate({**SMALL, "treatment": "ketamine_single", "disinhibition": False})
    i = sb.LIVE_SCANS_H.index(0.33)
    assert max(on["slow"]["nmda_block"]["depressed_ketamine"]) > 0.1
    assert on["fc"]["depressed_ketamine"][i] != off["fc"]["depressed_ketamine"][i]


def test_http_api(http):
    with urllib.request.urlopen(http + "/api/controls", timeout=10) as r:
        spec = json.loads(r.read())
    assert len(spec["lessons"]) >= 4 and spec["times_h"] == list(sb.LIVE_SCANS_H)
    for lesson in spec["lessons"]:  # every lesson's settings are valid and its time point is a live scan
        sb.parse_controls(lesson["controls"])
        assert lesson["time_h"] in sb.LIVE_SCANS_H
    status, body = _post(http, json.dumps({**SMALL, "phenotype": "sad"}).encode())
    assert status == 400 and "phenotype" in body["error"] and "depressed_hyper" in body["error"]
    status, body = _post(http, b"{not json")
    assert status == 400 and "not valid JSON" in body["error"]
    status, body = _post(http, json.dumps({**SMALL, "time_h": 24}).encode())
    assert status == 200 and body["cohort"]["n_subjects"] == 3 and isinstance(body["cached"], bool)
    with urllib.request.urlopen(http + "/", timeout=10) as r:
        page = r.read().decode()
        assert "default-src 'self'" in r.headers["Content-Security-Policy"]
    assert "/static/app.js" in page
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(http + "/static/../server.py", timeout=10)
    assert e.value.code == 404


def test_static_assets_are_offline():
    for f in sb.STATIC_DIR.iterdir():
        text = f.read_text()
        urls = set(re.findall(r"https?://[^\s\"'`)]+", text)) - {"http://www.w3.org/2000/svg"}
        assert not urls, f"{f.name} refers to the internet: {urls}"


def test_expected_mode_is_the_default_and_shows_no_change_without_treatment():
    """The default view computes expected values (metrics.engine=linear): an untreated cohort's metrics and FC are
    identical at every scan time (no sampling noise to read as effects), while simulated scans do vary."""
    assert sb.DEFAULT_CONTROLS.engine == "expected"
    out = sb.simulate({**SMALL, "treatment": "none"})
    assert out["cohort"]["engine"] == "linear"
    for m in out["metrics"]["names"]:
        series = out["metrics"]["mean"][m]["depressed"]
        assert all(v == series[0] for v in series), m
    fc = out["fc"]["depressed"]
    assert all(mat == fc[0] for mat in fc)
    sim = sb.simulate({**SMALL, "treatment": "none", "engine": "simulated"})
    assert sim["cohort"]["engine"] == "simulated"
    assert len(set(sim["metrics"]["mean"]["fc_within_dmn"]["depressed"])) > 1


# ------------------------------------------------------------------ the speed-ups change no number
def _fresh(c):
    from sim.sandbox.payload import build_payload

    return build_payload(c)[0]


def _strip(p):
    return {k: v for k, v in p.items() if k != "timing"}


@pytest.mark.parametrize("first, second", [
    ({"coupling": 0.2}, {"coupling": 0.35}),                          # same drug states: reused
    ({"phenotype": "depressed_hypo"}, {"phenotype": "depressed_hyper"}),
    ({"disinhibition": False}, {"disinhibition": True}),
    ({"dose_mg_per_kg": 0.5}, {"dose_mg_per_kg": 1.0}),               # new drug states: recomputed
    ({"trapping": True}, {"trapping": False}),
    ({"plasticity": True}, {"plasticity": False}),
    ({"treatment": "ketamine_single"}, {"treatment": "ketamine_repeated"}),
    ({"treatment": "tms", "tms": True}, {"treatment": "tms", "tms": False}),
])
def test_slow_state_cache_gives_the_fresh_answer(first, second):
    """The slow-state cache is keyed by slow_key: an answer built after another setting (sharing its cache entry
    when the keys agree) equals the answer built from nothing, bit for bit."""
    from sim.sandbox.payload import build_payload

    caches: dict = {}
    a, b = (sb.parse_controls({**SMALL, **x}) for x in (first, second))
    for c in (a, b):
        out = build_payload(c, slow_cache=caches.setdefault(sb.slow_key(c), {}))[0]
    assert _strip(out) == _strip(_fresh(b))


def test_compiled_trapping_recurrence_is_the_numpy_loop():
    from sim.pharmacology import receptor as rc

    prm = rc.DEFAULT_RECEPTOR_PARAMS
    t = np.arange(0.0, 50.0, 1 / 60)
    occ = np.random.default_rng(0).uniform(0, 1, (3, t.size))
    o = 0.5 * (occ[:, 1:] + occ[:, :-1])
    rate = prm.k_on_per_h * o + prm.k_off_per_h
    b_ss, decay = prm.k_on_per_h * o / rate, np.exp(-rate * np.diff(t))
    ref = np.empty(occ.shape)
    ref[:, 0] = 0.2
    for k in range(t.size - 1):
        ref[:, k + 1] = b_ss[:, k] + (ref[:, k] - b_ss[:, k]) * decay[:, k]
    assert np.array_equal(rc.trapped_block(t, occ, prm, 0.2), ref)


def test_claims_on_the_trimmed_run_are_the_claims_on_the_whole_run():
    from sim.claims import evaluate
    from sim.sandbox.payload import _registry, build_payload, claims_view

    _, ds = build_payload(sb.parse_controls(SMALL))
    reg = _registry()
    whole = evaluate(ds, reg)
    trimmed = evaluate(claims_view(ds), reg)
    def key(rs):
        return [(r.claim_id, r.verdict, r.reason, repr(r.effect), repr(r.low), repr(r.high)) for r in rs]

    assert key(whole) == key(trimmed)


def test_by_window_claims_only_in_the_windows_they_speak_about():
    out = sb.simulate(SMALL)
    reg = load_registry(None)
    for p, spec in zip(out["claims"]["contradictions"], reg.contradictions, strict=True):
        for cid, about, holds in zip(spec.ids, p["speaks_about"], p["holds_in"], strict=True):
            labels = [reg.windows[w].label for w in reg.windows_of(reg.get(cid))]
            assert about == labels and set(holds) <= set(labels)


def test_claims_and_progress_endpoints(http):
    body = json.dumps({**SMALL, "coupling": 0.25}).encode()
    status, plots = _post(http, body)
    assert status == 200 and "claims" not in plots  # the plots do not wait for the claims
    req = urllib.request.Request(http + "/api/claims", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as r:
        claims = json.loads(r.read())
    assert [row["id"] for row in claims["rows"]] == [c.id for c in load_registry(None).claims]
    req = urllib.request.Request(http + "/api/progress", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        assert json.loads(r.read()) == {"state": "cached", "fraction": 1.0}
    new = json.dumps({**SMALL, "coupling": 0.2511}).encode()
    req = urllib.request.Request(http + "/api/progress", data=new, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        assert json.loads(r.read())["state"] == "unknown"


def test_noise_band_is_the_ci_of_the_untreated_mean():
    from sim.stats import mean_ci

    out, ds = sb.build_payload(sb.parse_controls({**SMALL, "engine": "simulated", "n_subjects": 4}))
    assert out["untreated"] == "depressed"
    x = ds["fc_dmn_tpn"].sel(condition="depressed").values
    ci = mean_ci(x, axis=0, level=0.95)
    band = out["metrics"]["noise_band"]["fc_dmn_tpn"]
    assert np.allclose(band["low"], ci.low, atol=1e-4) and np.allclose(band["high"], ci.high, atol=1e-4)
    # simulated scans: a band of width > 0
    assert all(lo < hi for lo, hi in zip(band["low"], band["high"], strict=True))
