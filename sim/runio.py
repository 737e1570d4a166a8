"""Writing a run directory: labelled results, tidy CSV, resolved config, provenance.

All files are written into a staging directory next to the run directory and published by one
``os.rename`` of the whole directory (atomic on POSIX) only after the whole simulation and every file
have succeeded (:class:`Stage`). A directory that already holds results is never written into.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

RESULT_FILES = ("results.nc", "metrics.csv", "provenance.json")


class RunExistsError(FileExistsError):
    pass


def check_fresh(run_dir: Path) -> None:
    for name in RESULT_FILES:
        if (run_dir / name).exists():
            raise RunExistsError(f"{run_dir} already holds {name}; refusing to overwrite an earlier run")


#: the number format of metrics.csv (every float column: values and time_h); NaN is an empty cell
CSV_FLOAT_FORMAT = "%.6g"


def _csv_cells(values) -> list[str]:
    """The CSV cells of a 1-d array, as ``pandas.DataFrame.to_csv(float_format=CSV_FLOAT_FORMAT)`` writes them:
    floats with :data:`CSV_FLOAT_FORMAT` (NaN empty), integers as such, text quoted only when it holds a comma,
    a quote or a line break (``csv.QUOTE_MINIMAL``)."""
    a = np.asarray(values)
    if a.dtype.kind == "f":
        return ["" if x != x else CSV_FLOAT_FORMAT % x for x in a.tolist()]
    if a.dtype.kind in "iub":
        return [str(x) for x in a.tolist()]
    out = []
    for x in (str(v) for v in a.tolist()):
        out.append(f'"{x.replace(chr(34), chr(34) * 2)}"' if any(ch in x for ch in ',"\r\n') else x)
    return out


def tidy_frame(ds, metric_names) -> str:
    """The tidy CSV text: condition, subject, time_h, metric, value (one row per value, metric slowest, then
    condition, subject, time_h). Formatted column by column (each coordinate value once): the same text as
    pandas' ``to_csv(index=False, float_format="%.6g")`` of the long table (tests/test_outputs.py), ~9x faster."""
    names = list(metric_names)
    da = ds[names].to_array("metric").transpose("metric", "condition", "subject", "time_h")
    conds, subjects, times = (_csv_cells(da[d].values) for d in ("condition", "subject", "time_h"))
    keys = [f"{c},{s},{t}," for c in conds for s in subjects for t in times]
    values = _csv_cells(da.values.reshape(-1))
    n = len(keys)
    lines = ["condition,subject,time_h,metric,value"]
    for i, m in enumerate(_csv_cells(da["metric"].values)):
        lines += [f"{k}{m},{v}" for k, v in zip(keys, values[i * n:(i + 1) * n], strict=True)]
    return "\n".join(lines) + "\n"


def git_commit() -> str | None:
    """The source commit: of the git checkout this package runs from (source or editable install), else the
    one pip recorded for a VCS install (PEP 610 ``direct_url.json``), else None (a wheel built from a
    directory). A wheel in a venv inside some other git repository does not report that repository's commit."""
    root = Path(__file__).resolve().parent.parent
    if not (root / ".git").exists():
        return _installed_vcs_commit()
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=5)
        if out.returncode != 0:
            return None
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return out.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def _installed_vcs_commit() -> str | None:
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        text = distribution("dmn-sim").read_text("direct_url.json")
    except PackageNotFoundError:
        return None
    try:
        return json.loads(text or "{}").get("vcs_info", {}).get("commit_id")
    except (ValueError, AttributeError):
        return None


def provenance(seed: int, wall_s: float, extra: dict | None = None) -> dict:
    from sim import __version__
    from sim.jitcache import target_info

    started = time.gmtime(time.time() - wall_s)
    return {"package": "dmn-sim", "version": __version__, "git_commit": git_commit(), "seed": seed,
            "wall_time_s": round(wall_s, 3), "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", started),
            "python": sys.version.split()[0], "numpy": np.__version__, "platform": platform.platform(),
            "kernels": target_info(), "argv": sys.argv, **(extra or {})}


def write_outputs(stage: Path, ds, metric_names, config_yaml: str, prov: dict, extra=(), done=None,
                  elapsed=None) -> None:
    """Write config.yaml, results.nc, metrics.csv, the ``extra`` files and provenance.json into ``stage``.

    ``done()``, if given, is called once results.nc and metrics.csv are written (a progress step).
    ``elapsed()``, if given, gives the run's seconds so far: provenance's ``wall_time_s`` is then taken when
    provenance.json is written last, so it includes the figures and the report.

    results.nc is encoded in memory and written with ordinary file writes, so a full disk or a read-only
    directory is a Python ``OSError`` (libhdf5 writing straight to a full disk crashed the process).
    """
    import io

    from sim import cf

    rid = prov.setdefault("run_id", cf.run_id(config_yaml, prov.get("seed", 0)))
    ds = cf.annotate(ds, prov, rid)  # CF attributes on results.nc (sim/cf.py)
    (stage / "config.yaml").write_text(config_yaml)
    buf = io.BytesIO()
    ds.to_netcdf(buf, engine="h5netcdf")
    _write_bytes(stage / "results.nc", buf.getbuffer())
    del buf
    (stage / "metrics.csv").write_text(tidy_frame(ds, metric_names))
    (stage / "metrics.csv-metadata.json").write_text(json.dumps(cf.csv_metadata(ds, rid, prov.get("seed", 0)),
                                                                indent=2) + "\n")
    if done is not None:
        done()
    for write in extra:
        write(stage)
    if elapsed is not None:
        prov["wall_time_s"] = round(elapsed(), 3)
    (stage / "provenance.json").write_text(json.dumps(prov, indent=2) + "\n")


def _write_bytes(path: Path, data) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


TMP_MARK = ".tmp-"


def temp_name(run_dir: Path, pid: int | None = None) -> Path:
    """The staging directory of ``run_dir``: ``.<name>.tmp-<pid>`` next to it (hidden, so globs such as
    ``sweep/*/metrics.csv`` never see it)."""
    return run_dir.parent / f".{run_dir.name}{TMP_MARK}{os.getpid() if pid is None else pid}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale(parent: Path) -> list[Path]:
    """Remove staging directories in ``parent`` left by killed runs (their process is gone); returns them."""
    import shutil

    removed = []
    try:
        entries = list(parent.iterdir()) if parent.is_dir() else []
    except OSError:
        return removed
    for p in entries:
        name = p.name
        if not (name.startswith(".") and TMP_MARK in name and p.is_dir()):
            continue
        pid = name.rsplit(TMP_MARK, 1)[1]
        if pid.isdigit() and int(pid) != os.getpid() and not _pid_alive(int(pid)):
            shutil.rmtree(p, ignore_errors=True)
            removed.append(p)
    return removed


class Stage:
    """A run directory in the making: files go into :func:`temp_name` and :meth:`publish` renames the whole
    directory onto ``run_dir`` in one ``os.rename`` (atomic on POSIX). ``run_dir`` may already exist holding only
    files of the run itself (Hydra's ``.hydra/`` and log): they are moved into the stage just before the rename,
    which replaces the then-empty directory. A killed run leaves only the stage, which the next run in the same
    parent directory removes (:func:`clean_stale`)."""

    def __init__(self, run_dir: Path):
        self.run_dir = Path(run_dir)
        self.path = temp_name(self.run_dir)
        self.published = False
        self.abort_check = None  # called just before the rename; may raise to abort (a signal was received)

    def open(self) -> Stage:
        import shutil

        check_fresh(self.run_dir)
        self.run_dir.parent.mkdir(parents=True, exist_ok=True)
        clean_stale(self.run_dir.parent)
        shutil.rmtree(self.path, ignore_errors=True)
        self.path.mkdir()
        return self

    def publish(self) -> Path:
        if self.abort_check is not None:
            self.abort_check()
        check_fresh(self.run_dir)
        if self.run_dir.exists():
            for p in self.run_dir.iterdir():  # Hydra's own files of this run
                dest = self.path / p.name
                if not dest.exists():
                    os.rename(p, dest)
        os.rename(self.path, self.run_dir)
        self.published = True
        return self.run_dir

    def discard(self) -> None:
        import shutil

        if not self.published:
            shutil.rmtree(self.path, ignore_errors=True)


def write_run(run_dir: Path, ds, metric_names, config_yaml: str, prov: dict, extra=()) -> None:
    """Write results.nc, metrics.csv, config.yaml, provenance.json (and ``extra`` files) as ``run_dir``.

    Everything is written into a staging directory and published by one rename, so a failure or a kill leaves
    no half-written ``run_dir``. ``extra`` is a sequence of ``write(stage_dir)`` callables (figures, reports).
    A directory that already holds results is never written into (:class:`RunExistsError`).
    """
    stage = Stage(run_dir).open()
    try:
        write_outputs(stage.path, ds, metric_names, config_yaml, prov, extra)
        stage.publish()
    finally:
        stage.discard()


#: bytes a run writes per simulated scan (results.nc float32 FC of 21 regions + metrics rows), and the fixed part
#: (figures, report); both rounded up from the default run's outputs
BYTES_PER_ITEM = 4096
BYTES_FIXED = 64e6


def check_free_space(path: Path, n_items: int) -> None:
    """Refuse before the simulation when ``path``'s file system cannot hold the outputs (OSError ENOSPC)."""
    import errno
    import shutil

    need = BYTES_FIXED + BYTES_PER_ITEM * n_items
    free = shutil.disk_usage(path).free
    if free < need:
        raise OSError(errno.ENOSPC, f"not enough free space: the run needs ~{need / 1e6:.0f} MB, "
                                    f"{free / 1e6:.0f} MB free", str(path.parent))
