"""Faults (issue 14): a run is published by one rename; SIGKILL / SIGTERM / SIGINT at random moments never leave a
half-written run directory nor a surviving child process; a full disk or an unwritable directory is one line, exit 2.

Invariants checked after every kill: the run directory is absent, holds only Hydra's own files of the run (no
result file), or is complete (every output, results.nc readable); anything else in the parent is a staging
directory named ``.<run>.tmp-<pid>`` (none at all after SIGTERM/SIGINT); no process of the run's session is
alive; and the next run in the same parent succeeds and removes every stale staging directory.
"""

from __future__ import annotations

import errno
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sim import cli
from sim.config import load_config
from sim.runio import RESULT_FILES, clean_stale, temp_name

SMALL = ["experiment=cohort", "cohort.n_subjects=3", "scan.duration_s=120", "scan.transient_s=10", "progress=false"]
#: a small timeline run with figures and the claims report, so kills also land while figures are drawn
TIMELINE = ["cohort.n_subjects=2", "scan.duration_s=120", "scan.transient_s=10", "progress=false",
            "experiment.scans_h=[-24,0.33,24]", "~experiment.dose_response", "experiment.select=[depressed,"
            "depressed_ketamine,depressed_placebo]"]
COMPLETE = set(RESULT_FILES) | {"config.yaml", "summary.txt"}
HYDRA_OWN = {".hydra", "cli.log", "__main__.log"}


def _start(run_dir: Path, args) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "sim.cli", *args, f"hydra.run.dir={run_dir}"]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)


def _session_alive(sid: int) -> list[int]:
    alive = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                fields = (p / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[3]) == sid and fields[0] != "Z":  # session id; zombies are already dead
                alive.append(int(p.name))
    return alive


def _check_invariants(parent: Path, run_dir: Path, sig: int, pid: int) -> str:
    for _ in range(50):  # a killed process's children (if any) get a moment to die with it
        if not _session_alive(pid):
            break
        time.sleep(0.1)
    assert not _session_alive(pid), f"processes of the killed run still alive: {_session_alive(pid)}"
    hidden = [p.name for p in parent.iterdir() if p.name.startswith(".")]
    assert all(re.match(r"^\.(k\d+|full|after)\.tmp-\d+$", n) for n in hidden), hidden
    mine = [n for n in hidden if n.endswith(f".tmp-{pid}")]
    if sig != signal.SIGKILL:
        assert not mine, f"{signal.Signals(sig).name} left {mine}"
    if not run_dir.exists():
        return "absent"
    names = {p.name for p in run_dir.iterdir()}
    if names <= HYDRA_OWN:
        return "hydra-only"
    assert COMPLETE <= names, f"half-written run dir: {sorted(names)}"
    import xarray as xr

    xr.open_dataset(run_dir / "results.nc", engine="h5netcdf").close()
    return "complete"


def _kill_series(tmp_path: Path, n: int, args, seed: int):
    parent = tmp_path / "runs"
    parent.mkdir()
    t0 = time.perf_counter()
    full = _start(parent / "full", args)
    assert full.wait(timeout=300) == 0, full.stderr.read().decode()[-2000:]
    t_full = time.perf_counter() - t0
    rng = random.Random(seed)
    outcomes = {}
    sigs = [signal.SIGKILL, signal.SIGTERM, signal.SIGINT]
    for i in range(n):
        sig = sigs[i % 3]
        run_dir = parent / f"k{i}"
        p = _start(run_dir, args)
        at = rng.uniform(0.0, t_full * 1.05)
        try:
            p.wait(timeout=at)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, sig) if sig == signal.SIGKILL else p.send_signal(sig)
        rc = p.wait(timeout=120)
        err = p.stderr.read().decode()
        state = _check_invariants(parent, run_dir, sig, p.pid)
        # Ctrl-C while Python is still importing the package gives Python's own KeyboardInterrupt report
        # (before any of our code runs, with nothing created); any other traceback is a failure
        startup = sig == signal.SIGINT and state == "absent" and err.rstrip().endswith("KeyboardInterrupt")
        assert "Traceback" not in err or startup, err[-3000:]
        assert rc != 0 or state == "complete", (state, rc, err[-500:])  # complete + killed: after publishing
        outcomes[(signal.Signals(sig).name, state)] = outcomes.get((signal.Signals(sig).name, state), 0) + 1
    last = _start(parent / "after", args)  # the next run is never blocked and removes stale staging dirs
    assert last.wait(timeout=300) == 0
    assert not [p for p in parent.iterdir() if ".tmp-" in p.name]
    print(f"kill test: {n} kills over a {t_full:.1f} s run: {outcomes}")
    return outcomes


@pytest.mark.slow
def test_kill_at_random_points_cohort(tmp_path):
    _kill_series(tmp_path, 6, SMALL, seed=1)


@pytest.mark.slow
def test_kill_at_many_random_points_timeline(tmp_path):
    outcomes = _kill_series(tmp_path, 45, TIMELINE, seed=2)
    assert sum(outcomes.values()) == 45


def _execute(tmp_path, run_dir, *extra):
    cfg = load_config(SMALL + list(extra))
    with pytest.raises(SystemExit) as e:
        cli.execute(cfg, run_dir)
    return e.value.code


def _one_line(capsys):
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("dmnsim: error:"), err
    return lines[0]


def test_disk_full_before_the_run(tmp_path, monkeypatch, capsys):
    import shutil
    from collections import namedtuple

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(10**9, 10**9 - 10**6, 10**6))
    run_dir = tmp_path / "run"
    assert _execute(tmp_path, run_dir) == 2
    assert "not enough free space" in _one_line(capsys)
    assert not run_dir.exists() and not list(tmp_path.iterdir())


def test_disk_full_while_writing(tmp_path, monkeypatch, capsys):
    import sim.runio as runio

    def full(path, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(runio, "_write_bytes", full)
    run_dir = tmp_path / "run"
    assert _execute(tmp_path, run_dir) == 2
    assert "No space left on device" in _one_line(capsys)
    assert not run_dir.exists() and not list(tmp_path.iterdir())


def test_unwritable_directory(tmp_path, capsys):
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("x")
    assert _execute(tmp_path, blocker / "run") == 2
    assert "cannot write the run directory" in _one_line(capsys)
    assert blocker.read_text() == "x"


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_read_only_directory(tmp_path, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        assert _execute(tmp_path, ro / "run") == 2
        assert "cannot write the run directory" in _one_line(capsys)
    finally:
        ro.chmod(0o755)


def test_stale_staging_dirs_are_cleaned_and_live_ones_kept(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = temp_name(tmp_path / "a", dead.pid)
    live = temp_name(tmp_path / "b", os.getppid())
    for d in (stale, live):
        (d / "sub").mkdir(parents=True)
    assert clean_stale(tmp_path) == [stale]
    assert live.exists() and not stale.exists()
