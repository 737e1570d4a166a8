"""Slow end-to-end checks (make test-slow): the full default experiment and the issue-2 Wilson-Cowan example."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

CHECK_RUN = Path(__file__).resolve().parents[2] / "shared" / "tools" / "check-run"


@pytest.mark.slow
def test_default_experiment_meets_the_run_contract_in_under_60_s(tmp_path):
    run_dir = tmp_path / "run"
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "sim.cli", "progress=false", f"hydra.run.dir={run_dir}"],
                         capture_output=True, text=True, timeout=600)
    wall = time.perf_counter() - t0
    assert out.returncode == 0, out.stderr[-2000:]
    for name in ("results.nc", "metrics.csv", "provenance.json", "config.yaml", "claims.csv", "report.html"):
        assert (run_dir / name).is_file(), name
    assert len(list((run_dir / "figures").glob("*.png"))) >= 5
    if CHECK_RUN.is_file():
        chk = subprocess.run([sys.executable, str(CHECK_RUN), str(run_dir)], capture_output=True, text=True)
        assert chk.returncode == 0, chk.stdout
    assert wall < 60, f"default experiment took {wall:.1f} s"


@pytest.mark.slow
def test_wilson_cowan_cohort_example(tmp_path):
    """The issue-2 CLI example, at 10 subjects x 5 min to keep it to a minute or two."""
    run_dir = tmp_path / "run"
    out = subprocess.run([sys.executable, "-m", "sim.cli", "experiment=cohort", "phenotype=depressed_hyper",
                          "cohort.n_subjects=10", "model=wilson_cowan", "scan.duration_s=300", "progress=false",
                          f"hydra.run.dir={run_dir}"], capture_output=True, text=True, timeout=1200)
    assert out.returncode == 0, out.stderr[-2000:]
    assert (run_dir / "metrics.csv").is_file() and "fc_dmn_tpn" in out.stdout
