"""The run's figures drawn by a helper process and the caller together (sim/plots/pool.py): the same files as
drawing them all in one process, each figure once; a failure in the helper reaches the caller."""

from __future__ import annotations

import time

import pytest

from sim.plots.figures import figure_jobs
from sim.plots.pool import FigureHelperError, FigureWork, draw_figures
from tests.helpers import FailsToUnpickle
from tests.synthetic import synthetic_dataset

DPI = 40


@pytest.fixture(scope="module")
def ds():
    full = synthetic_dataset(n_subjects=3, conditions=("depressed_placebo", "depressed_ketamine"),
                             scan_times_h=(-24.0, 0.33, 24.0), fine_step_h=4.0, seed=4)
    keep = ["fc_within_dmn", "fc_dmn_tpn"]  # fewer panels: faster to draw
    out = full.drop_vars([m for m in full.attrs["metrics"].split(",") if m not in keep])
    return out.assign_attrs(metrics=",".join(keep))


def _files(d):
    return {p.name: p.read_bytes() for p in sorted(d.iterdir())}


def test_helper_and_caller_write_the_same_bytes_as_one_process(ds, tmp_path, caplog):
    import logging

    caplog.set_level(logging.INFO, logger="sim")
    done = []
    with FigureWork(ds, tmp_path / "two", dpi=DPI, helper=True, embed=True) as work:
        assert work.helper
        time.sleep(1.0)  # let the helper start and take figures before the caller joins in
        paths = work.finish(done.append)
    alone = draw_figures(ds, tmp_path / "one", dpi=DPI, helper=False)
    names = [name for name, _ in figure_jobs(ds)]
    assert sorted(done) == sorted(names) and len(done) == len(set(done))      # every figure once (or skipped)
    assert [p.name for p in paths] == [p.name for p in alone] and len(alone) >= 4
    assert _files(tmp_path / "two") == _files(tmp_path / "one")
    assert work._theirs, "the helper drew none of the figures"
    # the helper's log records (render times: the run's cli.log) are logged again in the caller
    drawn = [r.getMessage() for r in caplog.records if "drawn in" in r.getMessage()]
    helper_drawn = [m for m in drawn if "figure helper process" in m]
    assert len(helper_drawn) == len([i for i in work._theirs if work.paths[i]]) and len(drawn) >= len(paths)
    # each figure's data URI for report.html, made by the process that drew it: what the report would make
    from sim.report.render import png_data_uri

    assert sorted(work.uris) == sorted(str(p.resolve()) for p in paths)
    assert all(work.uris[str(p.resolve())] == png_data_uri(p) for p in paths)


def test_an_exception_in_the_helper_is_raised_in_the_caller_with_the_helpers_traceback(ds, tmp_path):
    bad = ds.assign_attrs(poison=FailsToUnpickle("helper-side failure"))
    with pytest.raises(ValueError, match="helper-side failure") as info:
        with FigureWork(bad, tmp_path / "figs", dpi=DPI) as work:
            deadline = time.monotonic() + 60
            while work._inbox.empty() and time.monotonic() < deadline:  # the helper reports before we draw
                time.sleep(0.05)
            work.finish()
    notes = "\n".join(getattr(info.value, "__notes__", []))
    assert "in the figure helper process" in notes and "_refuse" in notes


def test_a_killed_helper_is_an_error_not_a_missing_figure(ds, tmp_path):
    with pytest.raises(FigureHelperError, match="figure helper process ended"):
        with FigureWork(ds, tmp_path / "figs", dpi=DPI) as work:
            work._proc.kill()
            work._proc.wait()
            work.finish()
    assert work._proc is None  # closed


def test_one_core_draws_everything_in_the_caller(ds, tmp_path):
    from omegaconf import OmegaConf

    from sim.run import Run, usable_cores

    cfg = OmegaConf.create({"n_threads": 1, "figure_formats": ["png"]})
    assert usable_cores(cfg) == 1
    r = Run(cfg=cfg, ds=ds, metric_names=[], summary="", kind="timeline", seed=0, model="hopf", sim_s=0.0,
            started=0.0)
    assert r.figure_work(tmp_path).helper is False
    assert r.figure_work(tmp_path, helper=True).helper is True
    assert Run(cfg=OmegaConf.create({"figure_formats": []}), ds=ds, metric_names=[], summary="", kind="timeline",
               seed=0, model="hopf", sim_s=0.0, started=0.0).figure_work(tmp_path) is None
