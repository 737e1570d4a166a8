"""Atlas and connectome from config: names, selection, edits."""

from __future__ import annotations

import numpy as np
import pytest
from omegaconf import OmegaConf

from sim.atlas import atlas_from_config
from sim.config import load_config
from sim.connectome import apply_edits, connectome_from_config, edge_mask
from sim.errors import ConfigError


@pytest.fixture(scope="module")
def cfg():
    return load_config([])


def test_default_atlas_has_the_named_regions(cfg):
    at = atlas_from_config(cfg.atlas)
    for r in ["PCC", "mPFC", "dmPFC", "AG_L", "AG_R", "HIP_L", "HIP_R", "dACC", "AI_L", "AI_R", "DLPFC_L",
              "DLPFC_R", "IPS_L", "IPS_R", "sgACC", "pgACC", "AMY_L", "VS_L", "LHb"]:
        assert r in at.regions
    assert set(at.networks) == {"DMN", "SN", "TPN", "LIMBIC", "OTHER"}  # OTHER: the supramarginal gyri
    assert 18 <= at.n_regions <= 24


def test_unknown_names_list_known_ones(cfg):
    at = atlas_from_config(cfg.atlas)
    with pytest.raises(ConfigError, match="allowed: .*PCC"):
        at.select("XYZ")
    bad = OmegaConf.to_container(cfg.atlas)
    bad["regions"]["PCC"]["network"] = "FOO"
    with pytest.raises(ConfigError, match="atlas.regions.PCC.network.*DMN"):
        atlas_from_config(bad)


def test_drop_and_add_regions(cfg):
    c = OmegaConf.to_container(cfg.atlas)
    c["drop"] = ["LHb"]
    c["regions"]["V1"] = {"network": "TPN", "mni": [0, -90, 0]}
    at = atlas_from_config(c)
    assert "LHb" not in at.regions and "V1" in at.regions and at.network_of[at.index("V1")] == "TPN"


def test_links_and_edits(cfg):
    at = atlas_from_config(cfg.atlas)
    conn = connectome_from_config(at, cfg.connectome)
    assert np.all(conn.exc >= 0) and np.all(conn.inh >= 0)
    np.testing.assert_array_equal(np.diag(conn.exc), 0)
    dmn, tpn = at.members("DMN"), at.members("TPN")
    assert conn.inh[np.ix_(tpn, dmn)].min() > 0 and conn.inh[np.ix_(dmn, tpn)].min() > 0
    m = edge_mask(at, ["DMN", "DMN"])
    edited = apply_edits(conn, at, [{"between": ["DMN", "DMN"], "kind": "exc", "scale": 2.0}], "t")
    np.testing.assert_allclose(edited.exc[m], 2 * conn.exc[m])
    np.testing.assert_array_equal(edited.exc[~m], conn.exc[~m])
    np.testing.assert_array_equal(edited.inh, conn.inh)
    d = edge_mask(at, ["SN", "DMN"], directed=True)
    assert d[np.ix_(dmn, at.members("SN"))].all() and not d[np.ix_(at.members("SN"), dmn)].any()
    # delays: distance / speed; PCC-mPFC ~ 100 mm at 7 m/s ~ 15 ms
    i, j = at.index("PCC"), at.index("mPFC")
    assert conn.delay_s[i, j] == pytest.approx(conn.distance_mm[i, j] / 7.0 / 1000)


@pytest.mark.parametrize("region", ["LHb", "AG_L", "sgACC", "PCC"])
def test_dropping_any_region_runs_end_to_end(region):
    """A dropped region's links, weights and seed pairs vanish; the run still works."""
    from sim.experiment import run_timeline

    cfg = load_config([f"atlas.drop=[{region}]", "cohort.n_subjects=2", "scan.duration_s=60",
                       "scan.transient_s=10", "progress=false", "experiment.scans_h=[-24,24]",
                       "~experiment.dose_response", "experiment.select=[depressed,depressed_ketamine]"])
    ds = run_timeline(cfg)
    assert region not in ds["region"].values
    assert np.isfinite(ds["fc_within_dmn"].values).all()
    if region == "PCC":
        assert "fc_pcc_mpfc" not in ds  # its seed pair has no PCC side left
