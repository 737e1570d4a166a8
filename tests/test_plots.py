"""Experiment figures (sim.plots) on a small synthetic dataset with the experiment schema."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats
from matplotlib.figure import Figure

from sim.plots import (
    fig_dose_response,
    fig_fc_matrices,
    fig_metric_timecourses,
    fig_network_change,
    fig_slow_states,
    mean_ci,
    metric_label,
    metric_names,
    write_figures,
)
from tests.synthetic import synthetic_dataset

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
CONDS = ("healthy", "depressed_ketamine", "depressed_placebo", "depressed_tms")
TIMES = (-24.0, 0.33, 4.0, 24.0, 48.0, 96.0, 168.0, 336.0)


@pytest.fixture(scope="module")
def ds():
    return synthetic_dataset(n_subjects=4, conditions=CONDS, scan_times_h=TIMES, fine_step_h=1.0, seed=3)


def _subset(ds, conditions, metrics):
    """Fewer conditions and metrics: fewer panels, faster to draw."""
    out = ds.sel(condition=list(conditions)).drop_vars([m for m in metric_names(ds) if m not in metrics])
    out.attrs["metrics"] = ",".join(metrics)
    return out


def _check_png(path):
    data = path.read_bytes()
    assert len(data) > 1000 and data[:8] == PNG_MAGIC, path


def test_mean_ci_matches_scipy_t_interval():
    x = np.array([0.31, 0.42, 0.28, 0.55, 0.47, 0.39, 0.36])
    lo, hi = scipy.stats.t.interval(0.95, len(x) - 1, loc=x.mean(), scale=scipy.stats.sem(x))
    ci = mean_ci(x)
    assert ci.mean == pytest.approx(x.mean())
    assert (ci.low, ci.high) == (pytest.approx(lo), pytest.approx(hi))
    assert ci.n == len(x)
    # NaN (a missing subject) is left out; along an axis; fewer than two values -> no interval
    two = np.stack([np.append(x, np.nan), np.r_[1.0, [np.nan] * len(x)]], axis=1)
    ci2 = mean_ci(two, axis=0)
    assert (ci2.low[0], ci2.high[0]) == (pytest.approx(lo), pytest.approx(hi))
    assert ci2.mean[1] == 1.0 and np.isnan(ci2.low[1]) and np.isnan(ci2.high[1]) and list(ci2.n) == [7, 1]
    lo90, hi90 = scipy.stats.t.interval(0.9, len(x) - 1, loc=x.mean(), scale=scipy.stats.sem(x))
    assert mean_ci(x, level=0.9).low == pytest.approx(lo90)


def test_write_figures_writes_the_expected_pngs(ds, tmp_path):
    small = _subset(ds, ["depressed_ketamine", "depressed_tms"], ["fc_within_dmn", "fc_dmn_tpn"])
    paths = write_figures(small, tmp_path / "figs", dpi=40,
                          network_changes=[("depressed_ketamine", 24.0), ("depressed_ketamine", 0.33)])
    names = sorted(p.name for p in paths)
    assert names == sorted(["slow_states.png", "metric_timecourses.png", "fc_matrices.png",
                            "network_change_depressed_ketamine_24h.png", "network_change_depressed_ketamine_0p33h.png",
                            "dose_response.png"])
    for p in paths:
        assert p.parent == tmp_path / "figs"
        _check_png(p)


def test_each_figure_has_the_expected_axes(ds):
    n_cond = ds.sizes["condition"]
    fig = fig_slow_states(ds)  # plasma, block, trapped, plasticity, tms: an hours and a days panel each
    assert isinstance(fig, Figure) and len(fig.axes) == 2 * 5
    fig = fig_metric_timecourses(ds, metrics=["fc_within_dmn", "fc_dmn_tpn", "not_a_metric"])
    assert len(fig.axes) == 2 * 2
    fig = fig_fc_matrices(ds)  # one mosaic (6 times x conditions) + one colour bar
    assert len(fig.axes) == 2
    assert fig.axes[0].images[0].get_array().shape == (n_cond * 24 - 3, 6 * 24 - 3)  # 21 regions + 3 gap
    fig = fig_network_change(ds, "depressed_ketamine", 24.0)  # sagittal, axial, colour bar
    assert len(fig.axes) == 3
    fig = fig_dose_response(ds)
    assert len(fig.axes) == ds.sizes["dr_metric"]


def test_fc_matrices_use_the_nearest_scan_and_say_so(ds):
    fig = fig_fc_matrices(ds, times=("baseline", 30.0), conditions=["depressed_ketamine"])
    titles = [t.get_text() for t in fig.axes[0].texts]
    assert "baseline" in titles[0]
    assert "no scan at 30 h" in titles[1] and "nearest 24 h" in titles[1]
    from sim import analysis

    shown = np.asarray(fig.axes[0].images[0].get_array(), dtype=float)
    order = np.argsort([0] * 21, kind="stable")  # the synthetic atlas is already in network order
    bl = analysis.baseline(ds["fc"].sel(condition="depressed_ketamine")).mean("subject").values[np.ix_(order, order)]
    np.fill_diagonal(bl, np.nan)
    np.testing.assert_allclose(shown[:21, :21], bl, rtol=1e-5)
    im = fig.axes[0].images[0]
    vmin, vmax = im.get_clim()
    assert vmin == -vmax > -1.01 and im.get_cmap().name.startswith("RdBu_r")
    # the gap between the two panels is drawn white (above the colour range), the blanked diagonal grey
    from matplotlib.colors import to_hex

    assert (shown[:, 21:24] > vmax).all() and np.isfinite(shown[:, 21:24]).all()
    assert to_hex(im.get_cmap().get_over()) == "#ffffff" and to_hex(im.get_cmap().get_bad()) == "#d9d9d9"
    assert np.isnan(np.diag(shown[:21, :21])).all()


def test_missing_optional_parts_are_skipped(ds, tmp_path):
    part = _subset(ds, ["depressed_ketamine"], ["fc_within_dmn", "synchrony"])
    part = part.drop_vars(["tms_state", "tms_session_h", "dr_value"])
    assert fig_dose_response(part) is None
    assert len(fig_slow_states(part).axes) == 2 * 4  # no TMS row
    assert len(fig_metric_timecourses(part).axes) == 2 * 2  # only the key metrics present
    no_states = part.drop_vars(["plasma_ng_per_ml", "nmda_block", "trapped_block", "plasticity"])
    assert fig_slow_states(no_states) is None
    assert fig_fc_matrices(part.drop_vars("fc")) is None
    paths = write_figures(no_states.drop_vars("fc"), tmp_path, dpi=40)
    assert [p.name for p in paths] == ["metric_timecourses.png"]
    _check_png(paths[0])


def test_unknown_condition_is_a_clear_error(ds):
    with pytest.raises(ValueError, match="unknown condition"):
        fig_network_change(ds, "no_such_condition", 24.0)


def test_metric_labels_are_readable():
    assert metric_label("fc_dmn_tpn")[0].startswith("FC between DMN and TPN")
    assert metric_label("fc_pgacc_insula_r")[0].startswith("FC pgACC–insula R")
    assert metric_label("synchrony")[1] == "R (0–1)"


# ----------------------------------------------------------------------------------------------- effect figures
def _declared(ds):
    """The synthetic dataset with declared contrasts and key metrics, as sim.experiment writes them."""
    import json

    from sim.schema import ContrastSpec, encode

    out = ds.copy()
    out.attrs["contrasts"] = encode([
        ContrastSpec("depressed_ketamine", "depressed_placebo", (0.33, 24.0), "ketamine vs placebo", (24.0,)),
        ContrastSpec("depressed_tms", "depressed_placebo", (168.0,), "TMS vs placebo")])
    out.attrs["key_metrics"] = json.dumps({"fc_within_dmn": "within-DMN FC", "fc_dmn_tpn": "DMN-TPN FC"})
    return out


def test_effects_figure_draws_the_paired_contrast_of_sim_analysis(ds):
    from sim import analysis
    from sim.plots import effect_series, fig_effects
    from sim.schema import vocabulary

    d = _declared(ds)
    voc = vocabulary(d)
    fig = fig_effects(d)
    assert len(fig.axes) == 2 * 2  # contrasts x key metrics
    post = [t for t in TIMES if t >= 0]
    for i, con in enumerate(voc.contrasts):
        for j, m in enumerate(voc.key_metrics):
            t, ci = effect_series(d, m, con)
            assert list(t) == post
            ref = analysis.contrast_ci(d[m], con.treated, con.control, post[-1])
            assert ci.mean[-1] == pytest.approx(float(ref.mean)) and ci.low[-1] == pytest.approx(float(ref.low))
            line = fig.axes[i * 2 + j].lines[1]  # [0] is the zero line
            np.testing.assert_allclose(line.get_ydata(), ci.mean)
            np.testing.assert_allclose(line.get_xdata(), t)
    # the ketamine arm's acute DMN decoupling (synthetic: -0.55 x NMDA block on DMN pairs) shows as a negative effect
    _, ci = effect_series(d, "fc_within_dmn", voc.contrasts[0])
    assert ci.high[0] < 0
    assert fig_effects(ds) is None  # nothing declared, nothing to draw


def test_fc_difference_matrices_show_the_paired_change_on_a_fitted_scale(ds):
    from sim import analysis
    from sim.plots import fc_difference, fig_fc_differences
    from sim.schema import vocabulary

    d = _declared(ds)
    con = vocabulary(d).contrasts[0]
    fig = fig_fc_differences(d)
    ims = [ax.images[0] for ax in fig.axes if ax.images]
    assert len(ims) == 2  # the ketamine contrast at its network-change time 24 h, the TMS one at 168 h
    ref = analysis.contrast_ci(d["fc"].astype(float), con.treated, con.control, 24.0)
    diff = fc_difference(d, con, 24.0).mean
    np.testing.assert_allclose(diff, ref.mean)
    shown = np.asarray(ims[0].get_array(), dtype=float)
    assert np.nanmax(np.abs(shown)) == pytest.approx(np.nanmax(np.abs(diff - np.diag(np.diag(diff)))), rel=1e-6)
    vmin, vmax = ims[0].get_clim()
    every = np.concatenate([np.abs(np.asarray(im.get_array(), dtype=float)).ravel() for im in ims])
    p99 = np.nanpercentile(every, 99)
    assert vmin == -vmax and p99 <= vmax <= 2.5 * p99  # fitted to the differences, not to |FC| <= 1


def test_dose_response_is_placebo_corrected_with_a_zero_dose_point(ds):
    from sim import analysis
    from sim.plots.figures import dose_response_effect, dose_response_placebo

    d = _declared(ds)
    d = d.assign_coords(role=("condition", ["reference", "treated", "placebo", "treated"]),
                        phenotype=("condition", ["healthy", "depressed", "depressed", "depressed"]))
    d.attrs["dose_response_phenotype"] = "depressed"
    d = d.sel(dose_mg_per_kg=[x for x in d["dose_mg_per_kg"].values if x > 0])  # as the default run: no 0 dose
    assert dose_response_placebo(d) == "depressed_placebo"
    doses, eff, pl = dose_response_effect(d, "fc_within_dmn")
    assert pl == "depressed_placebo" and doses[0] == 0 and list(doses[1:]) == list(d["dose_mg_per_kg"].values)
    np.testing.assert_allclose(eff[0], 0.0)
    t = float(d["dr_time_h"].values[1])
    placebo_change = analysis.change(d["fc_within_dmn"].sel(condition="depressed_placebo"), t).values
    raw = d["dr_value"].sel(dr_metric="fc_within_dmn", dose_mg_per_kg=0.5, dr_time_h=t).values
    np.testing.assert_allclose(eff[list(doses).index(0.5), :, 1], raw - placebo_change)
    fig = fig_dose_response(d)
    assert "placebo-corrected" in fig._suptitle.get_text()
    assert fig.get_size_inches()[1] * 150 < 1800  # fits a page at the run's dpi (5 metrics: 2 rows)
    assert fig.axes[0].get_xticklabels()[0].get_text().startswith("0")


def test_network_change_labels_do_not_collide_and_edges_pass_the_stated_threshold(ds):
    from sim.plots.figures import _overlap, edge_threshold, label_positions

    names = [str(r) for r in ds["region"].values]
    for cols in (("mni_y", "mni_z"), ("mni_x", "mni_y")):  # sagittal, axial
        xy = np.stack([ds[c].values for c in cols], axis=1)
        boxes = [p[-1] for p in label_positions(names, xy)]
        for i, b in enumerate(boxes):
            assert _overlap(b, boxes[:i] + boxes[i + 1:]) == 0.0, names[i]
    fig = fig_network_change(ds, "depressed_ketamine", 24.0, control="depressed_placebo")
    title = fig._suptitle.get_text()
    thr = float(title.split("≥ ")[1].split(" ")[0].rstrip(")"))
    widths = [ln.get_linewidth() for ax in fig.axes[:2] for ln in ax.get_lines() if len(ln.get_xdata()) == 2]
    assert widths and thr > 0
    assert "control change" in fig.axes[2].get_ylabel()
    assert edge_threshold(np.array([0.1, -0.2, 0.05])) == pytest.approx(0.1)


def test_slow_states_never_show_a_negative_axis(ds):
    fig = fig_slow_states(ds)
    for ax in fig.axes:
        assert ax.get_ylim()[0] >= 0.0


def test_effects_come_first_in_the_report_and_are_written(ds, tmp_path):
    from sim.report.blocks import RUN_FIGURES

    assert [p for p, _ in RUN_FIGURES[:2]] == ["effects", "fc_differences"]
    small = _subset(_declared(ds), ["depressed_ketamine", "depressed_placebo"], ["fc_within_dmn", "fc_dmn_tpn"])
    small = small.drop_vars("dr_value")
    paths = write_figures(small, tmp_path, dpi=40, network_changes=[])
    names = [p.name for p in paths]
    assert names[:2] == ["effects.png", "fc_differences.png"]
    for p in paths:
        _check_png(p)
