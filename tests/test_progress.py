"""Progress: the whole plan's total is known before the bar starts, one bar counts it to the end, messages stay
off the bar, the writing phase has its own step bar; the CLI's last lines name the report; the README's Outputs
tables name every file a run writes."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from sim.config import load_config

ROOT = Path(__file__).resolve().parents[1]
TINY = ["cohort.n_subjects=2", "scan.duration_s=60", "scan.transient_s=5", "progress=false"]


def _simulated(cfg):
    """Run the configured simulations with counting callbacks: (item-steps ticked, last reported total)."""
    from sim.simulate import build_world

    world = build_world(cfg)
    ticks, reported = [0], [0]

    def tick(n):
        ticks[0] += n

    def report(n):
        reported[0] = n

    if cfg.experiment.kind == "claims":
        from sim.claims.ablation import run_claims_experiment

        run_claims_experiment(cfg, progress=tick, total_callback=report, world=world)
    else:
        from sim.experiment import run_timeline

        run_timeline(cfg, progress=tick, total_callback=report, world=world)
    return world, ticks[0], reported[0]


@pytest.mark.parametrize("overrides", [
    ["experiment.scans_h=[-24,0.33,48]"],                                         # with the dose-response arm
    ["experiment.scans_h=[-24,24]", "~experiment.dose_response", "claims.replicates=2", "trial.baseline_scans=2"],
    ["experiment=claims", "experiment.scans_h=[-24,0.33,48]"],                    # default run + ablation reruns
    ["experiment=claims", "experiment.scans_h=[-24,48]", "claims.ablation.mechanisms=[tms]",
     "claims.ablation.phenotypes=[depressed_hyper]"],                             # one variant only
])
def test_the_plan_is_every_item_step_the_simulations_do(overrides):
    from sim.run import plan

    cfg = load_config(TINY + ["metrics.engine=linear", *overrides])  # the linear engine counts the same steps
    world, ticked, reported = _simulated(cfg)
    steps = world.settings.n_steps + world.settings.n_transient
    phases = plan(cfg, world)
    assert sum(p.items for p in phases) * steps == ticked == reported
    if cfg.experiment.kind == "claims":
        assert phases[0].label == "default run" and len(phases) > 1


def _bars(stderr: str, prefix: str) -> list[tuple[str, str, float]]:
    """Every drawing of the bars whose description starts with ``prefix``: (n, total, n as a number)."""
    scale = {"": 1, "k": 1e3, "M": 1e6, "G": 1e9}
    out = []
    for frag in re.split(r"[\r\n]", stderr):
        if frag.startswith(prefix):
            m = re.search(r"\|\s*(\d+(?:\.\d+)?)([kMG]?)/(\d+(?:\.\d+)?[kMG]?)\s*\[", frag)
            assert m, frag
            out.append((m.group(1) + m.group(2), m.group(3), float(m.group(1)) * scale[m.group(2)]))
    return out


def test_claims_cli_one_bar_total_fixed_monotone_to_the_end_and_report_lines(tmp_path):
    run_dir = tmp_path / "run"
    code = "import sys, sim.run; sim.run.BAR_DELAY_S = 0; from sim.cli import main; sys.argv[0] = 'dmnsim'; main()"
    cmd = [sys.executable, "-c", code, "experiment=claims", *TINY[:3], "progress=true", "figure_formats=[]",
           "experiment.scans_h=[-24,0.33,48]", f"hydra.run.dir={run_dir}"]  # the run's figures: see below
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    sim = _bars(out.stderr, "hopf claims")
    assert len(sim) >= 3, out.stderr
    assert len({total for _, total, _ in sim}) == 1                      # the total never changes
    counts = [x for _, _, x in sim]
    assert counts == sorted(counts) and sim[-1][0] == sim[-1][1]          # monotone, ends at the total
    assert "[6/6 depressed_hypo preset]" in out.stderr                    # the phase is shown in the bar
    written = _bars(out.stderr, "writing outputs")
    assert len({total for _, total, _ in written}) == 1 and written[-1][0] == written[-1][1]
    from sim.report import REPORT_STEPS

    assert written[-1][1] == str(2 + len(REPORT_STEPS))                   # results, summary, report sections
    assert "assessing the claims" in out.stderr
    # messages on their own lines: the plan before the bar; no bar fragment shares a line with other text
    lines = out.stderr.split("\n")
    assert lines[0].startswith("dmnsim: 6 simulations")
    assert not [ln for ln in lines if "claims ablation:" in ln]
    for ln in lines:
        for frag in ln.split("\r"):
            assert not frag or frag.startswith(("hopf claims", "writing outputs", "dmnsim: ", "  ")), repr(frag)
    page = (run_dir / "report.html").resolve()
    last = out.stdout.strip().splitlines()[-2:]
    assert last[0] == f"report:  {page}" and f"xdg-open {page}" in last[1] and page.as_uri() in last[1]
    # the README's tables name every file; the figures the run would draw (rendering them takes ~25 s) by name
    import xarray as xr

    from sim.plots.figures import figure_jobs

    with xr.open_dataset(run_dir / "results.nc", engine="h5netcdf") as ds:
        for name, _ in figure_jobs(ds.load()):
            (run_dir / "figures" / f"{name}.png").write_bytes(b"")
    check_readme_names_every_file(run_dir)


def _readme_patterns() -> list[re.Pattern]:
    """The file names in the first column of the README's Outputs tables, as patterns (``<x>`` any text,
    ``[x]`` optional)."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index("\n## Outputs"):text.index("\n### Run time of each named experiment")]
    pats = []
    for row in re.findall(r"^\| *([^|]+?) *\|", section, re.M):
        for name in re.findall(r"`([^`]+)`", row):
            rx = re.escape(name).replace(r"\[", "(?:").replace(r"\]", ")?")
            rx = re.sub(r"<[^>]+>", ".+", rx.replace(r"\<", "<").replace(r"\>", ">"))
            pats.append(re.compile(rx.rstrip("/") + ("(/.+)?" if name.endswith("/") else "")))
    return pats


def check_readme_names_every_file(run_dir: Path, required=("report.html", "claims_ablation.csv", "cli.log",
                                                            ".hydra/overrides.yaml", "figures/effects.png",
                                                            "figures/claims_ablation_matrix.png")) -> None:
    """Every file under ``run_dir`` is named by a row of the Outputs tables (a figure by the figure table)."""
    pats = _readme_patterns()
    files = [p.relative_to(run_dir).as_posix() for p in run_dir.rglob("*") if p.is_file()]

    def named(f: str) -> bool:
        name = Path(f).name if f.startswith("figures/") else f  # figures: by the figure table's names
        return any(p.fullmatch(name) for p in pats)

    unnamed = [f for f in files if not named(f)]
    assert not unnamed, f"files a run writes that the README's Outputs tables do not name: {unnamed}"
    for must in required:
        assert must in files, must


def test_readme_patterns_refuse_an_unnamed_file(tmp_path):
    assert any(p.fullmatch("network_change_depressed_ketamine_vs_depressed_placebo_0p33h.png")
               for p in _readme_patterns())
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "effects.png").write_bytes(b"")
    check_readme_names_every_file(tmp_path, required=("figures/effects.png",))
    for unnamed in ("mystery.bin", "figures/mystery.png"):
        (tmp_path / unnamed).write_bytes(b"")
        with pytest.raises(AssertionError, match="mystery"):
            check_readme_names_every_file(tmp_path, required=())
        (tmp_path / unnamed).unlink()


def test_fit_stages_one_bar_each_with_its_total(monkeypatch, capsys):
    import sim.run
    from sim.cli import _StageBars

    monkeypatch.setattr(sim.run, "BAR_DELAY_S", 0)
    with _StageBars(True) as bars:
        for i in range(1, 41):
            bars.update("linear fit over G", i, 40)
        for done in range(0, 70_001, 7_000):
            bars.update("confirming by simulation", done, 70_000)
    err = capsys.readouterr().err
    fit, sim_ = _bars(err, "linear fit over G"), _bars(err, "confirming by simulation")
    assert {t for _, t, _ in fit} == {"40"} and fit[-1][0] == "40"
    assert {t for _, t, _ in sim_} == {"70.0k"} and sim_[-1][0] == "70.0k"
