"""Tests for NMDAR occupancy, trapped block (Ma 2023) and regional weights (science.md §2.2–2.4)."""

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from sim.pharmacology.pk import antidepressant_protocol, plasma_concentration_ng_per_ml
from sim.pharmacology.receptor import (
    KETAMINE_MOLAR_MASS_G_PER_MOL,
    ReceptorParams,
    block_time_course,
    nmda_block,
    occupancy,
    regional_weight,
    trapped_block,
)

GRID_H = np.arange(0, 72 * 60 + 1) / 60.0  # 1-min grid over 72 h
STANDARD = antidepressant_protocol()


@pytest.fixture(scope="module")
def standard_course():
    conc = plasma_concentration_ng_per_ml(GRID_H, STANDARD)
    return block_time_course(GRID_H, conc, ReceptorParams())


def test_occupancy_half_at_ki_and_monotone():
    for ki in (0.119, 1.0, 2.5):
        assert occupancy(ki * KETAMINE_MOLAR_MASS_G_PER_MOL, ki) == pytest.approx(0.5, rel=1e-12)
    c = np.linspace(0, 5000, 1001)
    occ = occupancy(c, 1.0)
    assert occ[0] == 0.0 and np.all(np.diff(occ) > 0) and np.all(occ < 1)


def test_occupancy_reference_values():
    # science.md §2.2 table (Ki 1 uM): 44 % at 0.78 uM antidepressant Cmax, 83-91 % at 5-10 uM.
    assert occupancy(185.0, 1.0) == pytest.approx(0.44, abs=0.005)
    np.testing.assert_allclose(occupancy(np.array([5.0, 10.0]) * 237.7, 1.0), [0.83, 0.91], atol=0.005)
    with pytest.raises(ValueError, match="ki_um"):
        occupancy(100.0, 0.0)
    with pytest.raises(ValueError, match="conc_ng_per_ml"):
        occupancy(-1.0)


def test_trapping_step_response_matches_closed_form():
    p = ReceptorParams(tau_trap_h=1.5, tau_untrap_h=7.0)
    t = np.linspace(0, 30, 301)
    for o, b0 in ((0.4, 0.0), (0.9, 0.0), (0.2, 0.6)):
        b = trapped_block(t, np.full_like(t, o), p, trapped0=b0)
        rate = o / p.tau_trap_h + 1.0 / p.tau_untrap_h
        b_ss = (o / p.tau_trap_h) / rate
        assert b_ss == pytest.approx(float(p.trapped_steady_state(o)), rel=1e-14)
        np.testing.assert_allclose(b, b_ss + (b0 - b_ss) * np.exp(-rate * t), rtol=1e-12, atol=1e-14)
    # Washout: occupancy 0 from a trapped state decays with tau_untrap.
    b = trapped_block(t, np.zeros_like(t), p, trapped0=0.5)
    np.testing.assert_allclose(b, 0.5 * np.exp(-t / p.tau_untrap_h), rtol=1e-12)


def test_trapping_matches_solve_ivp_for_infusion(standard_course):
    p = ReceptorParams()

    def rhs(t, y):
        occ = occupancy(plasma_concentration_ng_per_ml(t, STANDARD), p.ki_um)
        return p.k_on_per_h * occ * (1 - y) - p.k_off_per_h * y

    t_eval = GRID_H[::60][:49]  # hourly to 48 h
    sol = solve_ivp(rhs, (0, 48), [0.0], t_eval=t_eval, rtol=1e-9, atol=1e-12, max_step=1 / 60)
    np.testing.assert_allclose(standard_course.trapped[::60][:49], sol.y[0], atol=1e-4)


def test_trapped_block_outlasts_plasma(standard_course):
    conc, trapped = standard_course.concentration_ng_per_ml, standard_course.trapped
    peak = trapped.max()
    assert peak > 0.05
    # First time after the peak when plasma is < 5 % of Cmax: the trapped block is still > 10 % of peak.
    i_cmax = int(np.argmax(conc))
    i_low = i_cmax + int(np.argmax(conc[i_cmax:] < 0.05 * conc[i_cmax]))
    assert trapped[i_low] > 0.1 * peak
    # Block peaks after the plasma peak and is gone (< 5 % of peak) by 48 h.
    assert GRID_H[int(np.argmax(trapped))] > GRID_H[i_cmax]
    assert trapped[GRID_H == 48.0][0] < 0.05 * peak
    # Total block = 1 - (1 - occ)(1 - trapped), bounded by 1, above each component.
    total = standard_course.total
    np.testing.assert_allclose(total, 1 - (1 - standard_course.occupancy) * (1 - trapped), rtol=1e-14)
    assert np.all(total >= standard_course.occupancy) and np.all(total >= trapped) and np.all(total < 1)


def test_placebo_gives_exactly_zero_block():
    out = nmda_block(np.array([0.0, 0.5, 2.0, 24.0]), antidepressant_protocol(dose_mg_per_kg=0.0))
    for arr in (out.concentration_ng_per_ml, out.occupancy, out.trapped, out.total):
        assert np.all(arr == 0.0)


def test_nmda_block_per_subject_and_scan_times(standard_course):
    scan_h = np.array([24.0, 0.5, 2.0, 6.0])  # any order, off-grid times welcome
    scales = np.array([0.7, 1.0, 1.4])
    out = nmda_block(scan_h, STANDARD, clearance_scale=scales)
    assert out.total.shape == (3, 4) and out.trapped.shape == (3, 4)
    idx = np.searchsorted(GRID_H, scan_h)
    np.testing.assert_allclose(out.trapped[1], standard_course.trapped[idx], rtol=1e-12)
    np.testing.assert_allclose(out.total[1], standard_course.total[idx], rtol=1e-12)
    # Slower clearance -> more drug -> more block at every scan time.
    assert np.all(out.total[0] > out.total[1]) and np.all(out.total[1] > out.total[2])


def test_block_time_course_validation():
    with pytest.raises(ValueError, match="strictly increasing"):
        block_time_course(np.array([0.0, 0.0, 1.0]), np.zeros(3))
    with pytest.raises(ValueError, match="last axis"):
        block_time_course(np.array([0.0, 1.0]), np.zeros(3))
    with pytest.raises(ValueError, match="tau_untrap_h"):
        ReceptorParams(tau_untrap_h=0.0)


def test_regional_weight():
    names = ["PCC", "mPFC", "dACC", "AI"]
    w = regional_weight(names, {"mPFC": 1.3, "AI": 0.0}, default=1.0)
    np.testing.assert_array_equal(w, [1.0, 1.3, 1.0, 0.0])
    np.testing.assert_array_equal(regional_weight(names, {}, default=0.5), [0.5] * 4)
    with pytest.raises(ValueError, match=r"unknown region.*'vmPFC'.*known names.*PCC"):
        regional_weight(names, {"vmPFC": 1.0})
    with pytest.raises(ValueError, match=r"\[0.0, 1.5\]"):
        regional_weight(names, {"PCC": 1.6})
    with pytest.raises(ValueError, match="default"):
        regional_weight(names, {}, default=-0.1)
    with pytest.raises(ValueError, match="duplicates"):
        regional_weight(["PCC", "PCC"], {})
