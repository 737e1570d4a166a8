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


_DIGEST = r"""
import hashlib, json, sys
import numpy as np
import sim
from sim.config import load_config
from sim.kernel import TILE_VECTORS, VECTOR_BYTES
from sim.simulate import simulate_cohort
out = {"vector_bytes": VECTOR_BYTES, "tile": TILE_VECTORS}
for model, dur in (("hopf", 40.0), ("kuramoto", 40.0), ("wilson_cowan", 2.0)):
    cfg = load_config([f"model={model}", "cohort.n_subjects=300", f"scan.duration_s={dur}", "scan.transient_s=2",
                       "progress=false", "n_threads=2"])
    ds = simulate_cohort(cfg)
    h = hashlib.sha256()
    for k in sorted(ds.data_vars):
        h.update(np.ascontiguousarray(ds[k].values).tobytes())
    out[model] = h.hexdigest()
print(json.dumps(out))
"""


@pytest.mark.slow
def test_outputs_are_bit_identical_under_every_vector_width():
    """The kernels' arithmetic is lane-wise, so the compiled vector width (AVX-512 full width, LLVM's 256-bit
    preference, AVX2 only: sim.jitcache, sim.kernel.coupling_sums' tiles) must not change a bit of any model's
    output. 300 subjects on 2 threads: chunks of 150 items use the 128-item tiles, single vectors and the scalar
    tail. Each variant compiles afresh in its own process (about a minute each without a cache)."""
    import json
    import os

    import llvmlite.binding

    host = llvmlite.binding.get_host_cpu_features().flatten()
    if "+avx512f" not in host:
        pytest.skip("needs an AVX-512 CPU to compare the widths")
    no512 = ",".join("-" + f[1:] if f.startswith("+avx512") else f for f in host.split(","))
    # the middle variant narrows only the loops LLVM vectorises itself; the coupling tiles stay 512-bit there
    variants = {"full width": None, "LLVM default (256-bit preference)": host, "AVX2 only": no512}
    digests = {}
    for name, feats in variants.items():
        env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CPU_FEATURES", "NUMBA_CPU_NAME")}
        if feats is not None:
            env["NUMBA_CPU_FEATURES"] = feats
        r = subprocess.run([sys.executable, "-c", _DIGEST], env=env, capture_output=True, text=True, timeout=1800)
        assert r.returncode == 0, r.stderr[-2000:]
        digests[name] = json.loads(r.stdout.strip().splitlines()[-1])
    assert digests["full width"]["vector_bytes"] == 64 and digests["AVX2 only"]["vector_bytes"] == 32
    for model in ("hopf", "kuramoto", "wilson_cowan"):
        assert len({d[model] for d in digests.values()}) == 1, (model, digests)
