"""Tests for the two-compartment ketamine PK (reference figures: science.md §2.1 and §7)."""

import numpy as np
import pytest

from sim.pharmacology.pk import (
    CLEMENTS_1981,
    Infusion,
    TwoCompartment,
    antidepressant_protocol,
    plasma_concentration_ng_per_ml,
    simulate_plasma_ode,
    subject_clearance_scale,
)

STANDARD = antidepressant_protocol()  # 0.5 mg/kg over 40 min from t = 0


def test_default_constants_are_clements_1981():
    assert CLEMENTS_1981 == TwoCompartment(1.7522, 0.0109, 0.0186, 0.0137)


def test_half_lives_and_clearance():
    assert CLEMENTS_1981.alpha_half_life_min == pytest.approx(17.6, abs=0.05)
    assert CLEMENTS_1981.beta_half_life_min == pytest.approx(182.9, abs=0.05)
    assert CLEMENTS_1981.clearance_ml_per_min_per_kg == pytest.approx(19.1, abs=0.05)
    assert CLEMENTS_1981.clearance_l_per_h_per_70kg == pytest.approx(80.2, abs=0.1)
    # Hybrid constants reproduce the micro constants: alpha + beta = k10 + k12 + k21, alpha beta = k10 k21.
    a, b = CLEMENTS_1981.alpha_per_min, CLEMENTS_1981.beta_per_min
    assert a + b == pytest.approx(0.0109 + 0.0186 + 0.0137, rel=1e-12)
    assert a * b == pytest.approx(0.0109 * 0.0137, rel=1e-12)


def test_standard_dose_reference_figures():
    t_h = np.arange(0, 48 * 60 + 1) / 60.0  # 1-min grid
    c = plasma_concentration_ng_per_ml(t_h, STANDARD)
    i_max = int(np.argmax(c))
    assert 150.0 < c[i_max] < 250.0
    assert abs(t_h[i_max] * 60.0 - 40.0) <= 1.0
    at = plasma_concentration_ng_per_ml(np.array([40 / 60, 1.0, 2.0, 4.0, 24.0]), STANDARD)
    np.testing.assert_allclose(at, [177.3, 115.4, 58.8, 34.6, 0.37], atol=0.05)
    assert at[-1] < 1.0


def test_zero_before_start_and_for_placebo():
    late = (Infusion(start_h=2.0, dose_mg_per_kg=0.5, duration_min=40.0),)
    c = plasma_concentration_ng_per_ml(np.linspace(-1.0, 2.0, 31), late)
    assert np.all(c == 0.0)
    placebo = antidepressant_protocol(dose_mg_per_kg=0.0)
    assert np.all(plasma_concentration_ng_per_ml(np.linspace(0, 24, 97), placebo) == 0.0)
    assert np.all(plasma_concentration_ng_per_ml(np.linspace(0, 24, 97), ()) == 0.0)


def test_closed_form_matches_solve_ivp():
    protocol = (
        Infusion(start_h=0.0, dose_mg_per_kg=0.5, duration_min=40.0),
        Infusion(start_h=3.0, dose_mg_per_kg=0.2, duration_min=1.0),  # a bolus-like top-up
    )
    t_h = np.concatenate([[0.0], np.linspace(0.05, 30.0, 157), [40 / 60, 3.0, 3.0 + 1 / 60]])
    for scale in (1.0, 0.6, 1.7):
        closed = plasma_concentration_ng_per_ml(t_h, protocol, clearance_scale=scale)
        ode = simulate_plasma_ode(t_h, protocol, clearance_scale=scale)
        np.testing.assert_allclose(ode, closed, rtol=1e-6, atol=1e-12)


def test_linear_in_dose():
    t_h = np.linspace(0, 24, 200)
    one = plasma_concentration_ng_per_ml(t_h, antidepressant_protocol(dose_mg_per_kg=0.5))
    three = plasma_concentration_ng_per_ml(t_h, antidepressant_protocol(dose_mg_per_kg=1.5))
    np.testing.assert_allclose(three, 3.0 * one, rtol=1e-12, atol=1e-15)


def test_superposition_of_two_infusions():
    a = Infusion(start_h=0.0, dose_mg_per_kg=0.5, duration_min=40.0)
    b = Infusion(start_h=0.25, dose_mg_per_kg=0.3, duration_min=10.0)  # overlaps the first
    t_h = np.linspace(-0.5, 12, 300)
    both = plasma_concentration_ng_per_ml(t_h, (a, b))
    separate = plasma_concentration_ng_per_ml(t_h, (a,)) + plasma_concentration_ng_per_ml(t_h, (b,))
    np.testing.assert_allclose(both, separate, rtol=1e-12, atol=1e-15)


def test_shapes_and_per_subject_clearance():
    t_h = np.linspace(0, 24, 50)
    scales = np.array([0.5, 1.0, 2.0])
    c = plasma_concentration_ng_per_ml(t_h, STANDARD, clearance_scale=scales)
    assert c.shape == (3, 50)
    np.testing.assert_allclose(c[1], plasma_concentration_ng_per_ml(t_h, STANDARD), rtol=1e-14)
    # Faster clearance -> less drug after the infusion, lower exposure.
    assert np.all(c[0, 10:] > c[1, 10:]) and np.all(c[1, 10:] > c[2, 10:])
    assert plasma_concentration_ng_per_ml(np.zeros((4, 5)), STANDARD).shape == (4, 5)
    assert plasma_concentration_ng_per_ml(1.0, STANDARD).shape == ()
    for s in (0.5, 2.0):
        ode = simulate_plasma_ode(t_h, STANDARD, clearance_scale=s)
        np.testing.assert_allclose(c[0 if s == 0.5 else 2], ode, rtol=1e-6, atol=1e-12)


def test_subject_clearance_scale_mean_and_cv():
    rng = np.random.default_rng(0)
    s = subject_clearance_scale(rng, 200_000, cv=0.3)
    assert s.shape == (200_000,) and np.all(s > 0)
    assert s.mean() == pytest.approx(1.0, abs=0.005)
    assert s.std() / s.mean() == pytest.approx(0.3, abs=0.005)
    np.testing.assert_array_equal(subject_clearance_scale(rng, 3, cv=0.0), np.ones(3))
    with pytest.raises(ValueError, match="cv"):
        subject_clearance_scale(rng, 3, cv=-0.1)
    with pytest.raises(ValueError, match="n must"):
        subject_clearance_scale(rng, -1)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"start_h": 0.0, "dose_mg_per_kg": -0.1, "duration_min": 40.0}, "dose_mg_per_kg"),
        ({"start_h": 0.0, "dose_mg_per_kg": float("nan"), "duration_min": 40.0}, "dose_mg_per_kg"),
        ({"start_h": 0.0, "dose_mg_per_kg": 0.5, "duration_min": 0.0}, "duration_min"),
        ({"start_h": 0.0, "dose_mg_per_kg": 0.5, "duration_min": -5.0}, "duration_min"),
        ({"start_h": float("inf"), "dose_mg_per_kg": 0.5, "duration_min": 40.0}, "start_h"),
        ({"start_h": float("nan"), "dose_mg_per_kg": 0.5, "duration_min": 40.0}, "start_h"),
    ],
)
def test_infusion_validation(kwargs, field):
    with pytest.raises(ValueError, match=field):
        Infusion(**kwargs)


def test_other_validation():
    with pytest.raises(ValueError, match="k10_per_min"):
        TwoCompartment(k10_per_min=0.0)
    with pytest.raises(ValueError, match="clearance_scale"):
        plasma_concentration_ng_per_ml([1.0], STANDARD, clearance_scale=[1.0, -1.0])
    with pytest.raises(ValueError, match="time_h"):
        plasma_concentration_ng_per_ml([np.nan], STANDARD)
    with pytest.raises(TypeError, match="Infusion"):
        plasma_concentration_ng_per_ml([1.0], [(0.0, 0.5, 40.0)])
