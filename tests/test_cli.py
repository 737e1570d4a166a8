"""The dmnsim command: outputs in the run directory; bad input exits non-zero, one line, nothing left."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import xarray as xr

from sim.runio import RunExistsError, write_run

SMALL = ["experiment=cohort", "cohort.n_subjects=3", "scan.duration_s=60", "scan.transient_s=10", "progress=false"]


def dmnsim(tmp_path: Path, *args: str):
    run_dir = tmp_path / "run"
    cmd = [sys.executable, "-m", "sim.cli", *SMALL, *args, f"hydra.run.dir={run_dir}"]
    env = {**os.environ, "HYDRA_FULL_ERROR": "0"}
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120), run_dir


def test_run_writes_outputs(tmp_path):
    out, run_dir = dmnsim(tmp_path, "phenotype=depressed_hyper")
    assert out.returncode == 0, out.stderr
    for name in ("results.nc", "metrics.csv", "provenance.json", "config.yaml"):
        assert (run_dir / name).is_file(), name
    with open(run_dir / "metrics.csv") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["condition", "subject", "time_h", "metric", "value"]
    assert {r[0] for r in rows[1:]} == {"depressed_hyper"}
    prov = json.loads((run_dir / "provenance.json").read_text())
    assert prov["seed"] == 0 and prov["version"]
    ds = xr.open_dataset(run_dir / "results.nc", engine="h5netcdf")
    assert ds["fc"].dims == ("condition", "subject", "time_h", "region", "region_to") and ds.sizes["subject"] == 3
    assert str(run_dir) in out.stdout
    assert not (run_dir / ".partial").exists()


def test_never_overwrites(tmp_path):
    out, run_dir = dmnsim(tmp_path)
    assert out.returncode == 0, out.stderr
    ds = xr.open_dataset(run_dir / "results.nc", engine="h5netcdf").load()
    with pytest.raises(RunExistsError):
        write_run(run_dir, ds, [], "", {})
    out2, _ = dmnsim(tmp_path)
    assert out2.returncode != 0 and "refusing to overwrite" in out2.stderr


@pytest.mark.parametrize("override, key", [
    ("atlas.drop=[NOPE]", "atlas.drop"),
    ("atlas.regions.PCC.network=XYZ", "atlas.regions.PCC.network"),
    ("model.name=nope", "model.name"),
    ("model.dt_s=0", "model.dt_s"),
    ("model.dt_s=-0.1", "model.dt_s"),
    ("model.dt_s=2.0", "model.dt_s"),
    ("scan.duration_s=-5", "scan.duration_s"),
    ("cohort.n_subjects=0", "cohort.n_subjects"),
    ("model.params.sigma=-1", "model.params.sigma"),
    ("+model.params.nope=1", "model.params"),
    ("connectome.links.0.between=[PCC,NOPE]", "connectome.links[0].between"),
    # NaN / overflow during integration: huge noise with a coarse (but formally stable) step
    ("model.params.sigma=10", "NaN or overflow"),
])
def test_bad_input_one_line_nonzero_nothing_written(tmp_path, override, key):
    args = [override] + (["model.dt_s=0.4"] if "sigma=10" in override else [])
    out, run_dir = dmnsim(tmp_path, *args)
    assert out.returncode != 0
    lines = [ln for ln in out.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, out.stderr
    assert key in lines[0]
    assert not run_dir.exists()


def test_unknown_phenotype_lists_options(tmp_path):
    out, run_dir = dmnsim(tmp_path, "phenotype=nope")
    assert out.returncode != 0
    assert "depressed_hyper" in out.stderr and "healthy" in out.stderr
    assert not run_dir.exists()


TL = ["cohort.n_subjects=3", "scan.duration_s=60", "scan.transient_s=10", "progress=false", "figure_formats=[]",
      "experiment.scans_h=[-24,0.33,48]", "~experiment.dose_response"]


@pytest.mark.parametrize("override, key", [
    ("+experiment.conditions.depressed_ketamine.dose_mg_per_kg=-1", "dose_mg_per_kg"),
    ("protocols.ketamine_single.infusion_days=[40]", "outside the timeline"),
    ("experiment.conditions.depressed_ketamine.protocol=nope", "experiment.conditions.depressed_ketamine.protocol"),
    ("experiment.select=[depressed,nope]", "experiment.select"),
    ("experiment.conditions.depressed.phenotype=nope", "experiment.conditions.depressed.phenotype"),
    ("+drug.mechanisms.nope=true", "drug.mechanisms"),
    ("experiment.scans_h=[-24,800]", "experiment.scans_h"),
])
def test_bad_protocol_one_line_nothing_written(tmp_path, override, key):
    run_dir = tmp_path / "run"
    cmd = [sys.executable, "-m", "sim.cli", *TL, override, f"hydra.run.dir={run_dir}"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert out.returncode != 0
    lines = [ln for ln in out.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and key in lines[0], out.stderr
    assert not run_dir.exists()


def test_timeline_run_selected_conditions(tmp_path):
    run_dir = tmp_path / "run"
    cmd = [sys.executable, "-m", "sim.cli", *TL, "experiment.select=[depressed,depressed_ketamine]",
           "figure_formats=[png]", f"hydra.run.dir={run_dir}"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr
    ds = xr.open_dataset(run_dir / "results.nc", engine="h5netcdf")
    assert list(ds["condition"].values) == ["depressed", "depressed_ketamine"]
    assert list(ds["time_h"].values) == [-24, 0.33, 48]
    assert (run_dir / "figures" / "metric_timecourses.png").stat().st_size > 10_000
    assert f"results: {run_dir.resolve()}" in out.stdout.splitlines(), out.stdout
    # the summary contrasts only conditions that were run: no placebo arm was selected, so none is named
    assert "placebo" not in out.stdout, out.stdout


@pytest.mark.parametrize("launcher", ["basic", pytest.param("joblib", marks=pytest.mark.slow),
                                      pytest.param("submitit_local", marks=pytest.mark.slow)])
def test_sweep_each_job_its_own_dir_and_summary(tmp_path, launcher):
    sweep = tmp_path / "sweep"
    cmd = [sys.executable, "-m", "sim.cli", "-m", "experiment=dose_response", *TL[:5],
           "experiment.scans_h=[-24,0.33,48]", "dose_mg_per_kg=0.1,1.0", f"hydra/launcher={launcher}",
           f"hydra.sweep.dir={sweep}"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stderr[-2000:]
    jobs = sorted(p.parent for p in sweep.glob("*/metrics.csv"))
    assert len(jobs) == 2
    for job, dose in zip(jobs, ("0.1", "1.0"), strict=True):  # named by its overrides; its summary gives the dose
        assert job.name.startswith(f"cohort.n_subjects=3,dose_mg_per_kg={dose},experiment"), job.name
        assert f"depressed_ketamine {float(dose):g} mg/kg x1" in (job / "summary.txt").read_text()
    from sim.sweep import summarize

    paths = summarize(sweep)
    import pandas as pd

    eff = pd.read_csv(paths[1])
    assert set(eff["dose_mg_per_kg"]) == {0.1, 1.0}
    assert (sweep / "sweep_dose_response.png").stat().st_size > 5_000
    with pytest.raises(SystemExit):  # never overwrite
        summarize(sweep)


@pytest.mark.parametrize("override, key", [
    ("drug.mechanisms.plasticity=off", "drug.mechanisms.plasticity"),
    ("metrics.gsr=maybe", "metrics.gsr"),
    ("model.dt_s=5", "model.dt_s"),
])
def test_switches_take_only_booleans_and_dt_is_checked_first(tmp_path, override, key):
    run_dir = tmp_path / "run"
    out = subprocess.run([sys.executable, "-m", "sim.cli", *TL, override, f"hydra.run.dir={run_dir}"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    lines = [ln for ln in out.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and key in lines[0], out.stderr
    assert not run_dir.exists()


def test_job_dir_name_is_the_overrides_path_safe():
    from sim.cli import MAX_JOB_DIR_CHARS, job_dir_name

    name = "dose_mg_per_kg=0.5,experiment=dose_response"
    assert job_dir_name(name, 3) == name
    assert job_dir_name("claims.registry=/a/b.yaml", 0) == "claims.registry=_a_b.yaml"  # one directory level
    assert job_dir_name("", 7) == "7" and job_dir_name(None, 2) == "2"
    long = job_dir_name("x=" + "y" * 400, 4)
    assert long.startswith("4_x=y") and len(long) <= MAX_JOB_DIR_CHARS
