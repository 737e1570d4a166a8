"""One vocabulary from config: an experiment YAML that exists only in this test, with condition names the code has
never seen, gets a correct summary, figures and report with no code change (house issue §2)."""

from __future__ import annotations

import subprocess
import sys

import xarray as xr

from sim import analysis
from sim.schema import vocabulary

TRIAL = """# @package _global_
experiment:
  name: my_trial
  kind: timeline
  timeline_h: [-48, 96]
  scans_h: [-48, 6, 30, 96]
  conditions:
    arm_none:   {phenotype: depressed_hyper, protocol: none, role: control, label: "no treatment arm"}
    arm_sham:   {phenotype: depressed_hyper, protocol: placebo_single, role: placebo, label: "sham arm"}
    arm_active: {phenotype: depressed_hyper, protocol: ketamine_single, role: treated, label: "active arm"}
  contrasts:
    - {treated: arm_active, control: arm_sham, times_h: [6, 30], label: "active vs sham", network_change_h: [30]}
  dose_response: null
"""


def test_an_unknown_experiment_gets_summary_figures_and_report(tmp_path):
    (tmp_path / "conf" / "experiment").mkdir(parents=True)
    (tmp_path / "conf" / "experiment" / "my_trial.yaml").write_text(TRIAL)
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "sim.cli", f"hydra.searchpath=[file://{tmp_path / 'conf'}]", "experiment=my_trial",
           "cohort.n_subjects=3", "scan.duration_s=60", "scan.transient_s=10", "progress=false",
           f"hydra.run.dir={run}"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    summary = (run / "summary.txt").read_text()
    assert "at 6 h, active vs sham" in summary and "at 30 h, active vs sham" in summary
    figs = {p.name for p in (run / "figures").glob("*.png")}
    assert {"network_change_arm_active_30h.png", "network_change_arm_active_vs_arm_sham_30h.png",
            "metric_timecourses.png", "slow_states.png", "fc_matrices.png"} <= figs
    report = (run / "report.md").read_text()
    assert "active arm minus sham arm" in report and "Trial design: common scan noise" in report
    with xr.open_dataset(run / "results.nc", engine="h5netcdf") as ds:
        voc = vocabulary(ds)
        assert voc.roles == {"arm_none": "control", "arm_sham": "placebo", "arm_active": "treated"}
        assert voc.labels["arm_sham"] == "sham arm"
        assert [(c.treated, c.control, c.times_h) for c in voc.contrasts] == [("arm_active", "arm_sham", (6.0, 30.0))]
        # the summary's number is the analysis layer's paired contrast
        r = analysis.contrast_ci(ds["fc_dmn_tpn"].load(), "arm_active", "arm_sham", 30.0)
        at_30 = next(ln for ln in summary.splitlines() if ln.startswith("- at 30 h, active vs sham"))
        assert f"DMN-TPN FC {float(r.mean):+.3f}" in at_30


def test_default_contrasts_follow_roles():
    """Without declared contrasts each treated condition is compared with the placebo of its phenotype, else its
    untreated control."""
    from sim.schema import default_contrasts

    conds = ["a", "b", "c", "d"]
    roles = {"a": "control", "b": "treated", "c": "placebo", "d": "treated"}
    phen = {"a": "x", "b": "x", "c": "x", "d": "y"}
    out = default_contrasts(conds, roles, phen | {"e": "y"}, (24.0,))
    assert [(c.treated, c.control) for c in out] == [("b", "c")]
    out = default_contrasts(conds + ["e"], roles | {"e": "control"}, phen | {"e": "y"}, (24.0,))
    assert [(c.treated, c.control) for c in out] == [("b", "c"), ("d", "e")]


def test_every_presenter_uses_one_baseline(tmp_path):
    """The baseline is the mean of all scans before 0 (here three), in the analysis layer and therefore in every
    presenter that calls it."""
    import numpy as np

    da = xr.DataArray(np.arange(2 * 5, dtype=float).reshape(1, 2, 5), dims=("condition", "subject", "time_h"),
                      coords={"condition": ["a"], "subject": [0, 1], "time_h": [-24, -23, -22, 1, 24]})
    np.testing.assert_array_equal(analysis.baseline(da).values, [[1.0, 6.0]])
    np.testing.assert_array_equal(analysis.change(da, 24).values, [[3.0, 3.0]])
