"""Pre-flight validation (sim/validate.py): every class of bad input from issue 14 is refused before any work,
with one line naming the key the user changed and what is allowed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sim.config import load_config
from sim.errors import ConfigError
from sim.run import preflight
from sim.validate import blame_dt, changed_keys, check_feasible, estimate, validate

COHORT = ["experiment=cohort", "cohort.n_subjects=3", "scan.duration_s=120", "scan.transient_s=10", "progress=false"]
TIMELINE = ["cohort.n_subjects=3", "scan.duration_s=120", "scan.transient_s=10", "progress=false",
            "experiment.scans_h=[-24,0.33,48]", "~experiment.dose_response"]


def refuse(overrides, base=COHORT):
    cfg = load_config(base + list(overrides))
    with pytest.raises(ConfigError) as e:
        preflight(cfg, changed_keys(overrides))
    msg = str(e.value)
    assert "\n" not in msg
    return msg


@pytest.mark.parametrize("override, key, allowed", [
    # wrong types for numbers
    ("model.dt_s=abc", "model.dt_s", "a number"),
    ("model.dt_s=''", "model.dt_s", "a number"),
    ("model.dt_s=null", "model.dt_s", "a number"),
    ("model.dt_s=[1,2]", "model.dt_s", "a number"),
    ("scan.duration_s=abc", "scan.duration_s", "a number"),
    ("scan.tr_s=[2]", "scan.tr_s", "a number"),
    ("cohort.coupling_jitter_cv=x", "cohort.coupling_jitter_cv", "a number"),
    ("n_threads=abc", "n_threads", "whole number"),
    ("n_threads=1.5", "n_threads", "whole number"),
    ("atlas.regions.PCC.mni=[0,x,1]", "atlas.regions.PCC.mni[1]", "a number"),
    ("atlas.regions.PCC.mni=[0,1]", "atlas.regions.PCC.mni", "3 entries"),
    # infinite, huge, zero
    ("scan.duration_s=inf", "scan.duration_s", "finite"),
    ("scan.duration_s=1e308", "scan.duration_s", "out of range"),
    ("drug.pk.k10_per_min=1e308", "drug.pk.k10_per_min", "out of range"),
    ("drug.pk.k10_per_min=nan", "drug.pk.k10_per_min", "finite"),
    ("scan.tr_s=0", "scan.tr_s", "out of range"),
    # list lengths and names
    ("metrics.band_hz=[0.04]", "metrics.band_hz", "2 entries"),
    ("metrics.band_hz=[0.07,0.04]", "metrics.band_hz", "low < high"),
    ("metrics.dominance=[DMN]", "metrics.dominance", "2 entries"),
    ("metrics.dominance=[]", "metrics.dominance", "2 entries"),
    ("metrics.dominance=[DMN,DMN]", "metrics.dominance", "two different"),
    ("metrics.dominance=[DMN,XYZ]", "metrics.dominance[1]", "TPN"),
    ("metrics.seed_pairs.pcc_mpfc.a=[]", "metrics.seed_pairs.pcc_mpfc.a", "at least 1"),
    ("~scan.duration_s", "scan.duration_s", "missing"),
    ("~model.dt_s", "model.dt_s", "missing"),
    # checked only after the simulation until now
    ("figure_formats=[xyz]", "figure_formats[0]", "png"),
    ("seed=true", "seed", "whole number"),
    ("seed=18446744073709551616", "seed", "out of range"),
    ("seed=-1", "seed", "out of range"),
    # nonsense that ran silently
    ("scan.duration_s=1", "scan.duration_s", "volumes"),
    ("model.params.sigma=0", "model.params.sigma", "sigma > 0"),
    ("model.params.f_min_hz=0.09", "model.params.f_min_hz", "f_min_hz <= f_max_hz"),
    ("cohort.n_subjects=true", "cohort.n_subjects", "whole number"),
    ("n_threads=-1", "n_threads", "out of range"),
    ("progress=maybe", "progress", "true, false"),
    ("+foo=1", "foo", "allowed top-level keys"),
    ("+scan.foo=1", "scan.foo", "allowed in scan"),
    ("+model.params.nope=1", "model.params", "global_coupling"),
    ("model.integrator=rk4", "model.integrator", "heun"),
    # a config cannot create Python objects
    ("+scan._target_=os.system", "scan._target_", "cannot name Python objects"),
])
def test_bad_cohort_values_name_the_key(override, key, allowed):
    msg = refuse([override])
    assert msg.startswith(key + ":") or msg.startswith(key), msg
    assert allowed in msg, msg


@pytest.mark.parametrize("override, key, allowed", [
    ("experiment.timeline_h=[-24]", "experiment.timeline_h", "2 entries"),
    ("experiment.timeline_h=[-24,inf]", "experiment.timeline_h[1]", "finite"),
    ("experiment.scans_h=[48,-24]", "experiment.scans_h", "increasing"),
    ("experiment.scans_h=[]", "experiment.scans_h", "at least 1"),
    ("experiment.select=[]", "experiment.select", "at least 1"),
    ("experiment.select=[nope]", "experiment.select[0]", "depressed"),
    ("protocols.ketamine_single.infusion_days=0", "protocols.ketamine_single.infusion_days", "list"),
    ("protocols.ketamine_single.infusion_days=[]", "protocols.ketamine_single.infusion_days", "non-empty"),
    ("protocols.ketamine_single.dose_mg_per_kg=abc", "protocols.ketamine_single.dose_mg_per_kg", "a number"),
    ("+experiment.conditions.healthy.colour=red", "experiment.conditions.healthy.colour", "allowed in"),
    ("experiment.conditions.healthy.protocol=foo", "experiment.conditions.healthy.protocol", "ketamine_single"),
    ("drug.mechanisms.plasticity=off", "drug.mechanisms.plasticity", "true, false"),
    ("experiment.kind=nope", "experiment.kind", "timeline"),
])
def test_bad_timeline_values_name_the_key(override, key, allowed):
    msg = refuse([override], TIMELINE)
    assert msg.startswith(key), msg
    assert allowed in msg, msg


def test_unknown_dose_response_protocol():
    msg = refuse(["experiment.dose_response.protocol=foo"], TIMELINE[:-1])
    assert msg.startswith("experiment.dose_response.protocol") and "ketamine_single" in msg


def test_coupling_is_blamed_not_dt():
    msg = refuse(["model.params.global_coupling=10"])
    assert msg.startswith("model.params.global_coupling:"), msg
    # the user changed dt: dt is named
    msg = refuse(["model.dt_s=5"])
    assert msg.startswith("model.dt_s:"), msg
    # blame_dt leaves other errors alone
    e = ConfigError("scan.tr_s: bad")
    assert blame_dt(e, ["model.params.sigma"]) is e


def test_work_that_cannot_finish_is_refused_unless_allowed():
    msg = refuse(["model.dt_s=1e-10"])
    assert msg.startswith("model.dt_s:") and "would take" in msg and "+allow_long=true" in msg
    cfg = load_config(["cohort.n_subjects=1000000"])
    with pytest.raises(ConfigError) as e:
        check_feasible(cfg)
    assert str(e.value).startswith("cohort.n_subjects:") and "GB" in str(e.value)
    assert check_feasible(load_config(["cohort.n_subjects=1000000", "+allow_long=true"])).n_items > 10**8
    # the estimate scales as the work does: twice the subjects, twice the items; half the dt, twice the steps
    a, b = estimate(load_config(COHORT)), estimate(load_config(COHORT + ["cohort.n_subjects=6"]))
    assert b.n_items == 2 * a.n_items and b.item_steps == pytest.approx(2 * a.item_steps)
    c = estimate(load_config(COHORT + ["model.dt_s=0.05"]))
    assert c.item_steps == pytest.approx(2 * a.item_steps)


@pytest.mark.parametrize("exp", sorted(p.stem for p in (Path(__file__).parent.parent / "configs" / "experiment")
                                       .glob("*.yaml")))
@pytest.mark.parametrize("model", ["hopf", "kuramoto", "wilson_cowan"])
def test_every_shipped_config_passes(exp, model):
    assert validate(load_config([f"experiment={exp}", f"model={model}"])) == []


def test_warning_for_a_zero_ketamine_dose():
    w = validate(load_config(TIMELINE + ["protocols.ketamine_single.dose_mg_per_kg=0"]))
    assert any("protocols.ketamine_single.dose_mg_per_kg" in x for x in w)


def _cli(tmp_path, *args, env=None):
    run_dir = tmp_path / "run"
    cmd = [sys.executable, "-m", "sim.cli", *args, f"hydra.run.dir={run_dir}"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=tmp_path,
                         env={**os.environ, **(env or {})})
    return out, run_dir


def test_cli_composition_errors_are_one_line_exit_2(tmp_path):
    for args, key in [(["model=nope"], "model: unknown value 'nope'"), (["model.dt_s=[1"], "override"),
                      (["scan.nope=1"], "scan.nope")]:
        out, run_dir = _cli(tmp_path, *COHORT, *args)
        lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
        assert out.returncode == 2 and len(lines) == 1 and key in lines[0], out.stderr
        assert not run_dir.exists()


def test_hydra_callbacks_are_refused_before_they_run(tmp_path):
    victim = tmp_path / "created_by_callback"
    out, run_dir = _cli(tmp_path, *COHORT, "+hydra.callbacks.x._target_=pathlib.Path.touch",
                        f"+hydra.callbacks.x.self={victim}")
    assert out.returncode == 2 and "hydra.callbacks.x" in out.stderr and not victim.exists()
    out, _ = _cli(tmp_path, "-m", *COHORT, "+hydra.callbacks.x._target_=pathlib.Path.touch",
                  f"+hydra.callbacks.x.self={victim}")
    assert out.returncode == 2 and "hydra.callbacks.x" in out.stderr and not victim.exists()


def test_error_after_a_progress_bar_starts_on_its_own_line(tmp_path):
    # NaN during integration (huge noise at a coarse, formally stable step) after the bar has been drawn
    out, run_dir = _cli(tmp_path, *COHORT[:-1], "progress=true", "model.params.sigma=10", "model.dt_s=0.4",
                        "cohort.n_subjects=40", "scan.duration_s=2000")
    assert out.returncode == 2, out.stderr
    err_lines = [ln for ln in out.stderr.split("\n") if "dmnsim: error:" in ln]
    assert len(err_lines) == 1 and err_lines[0].startswith("dmnsim: error:"), repr(out.stderr[-500:])
    assert not run_dir.exists()
