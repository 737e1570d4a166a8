"""A synthetic experiment dataset with the simulator's output schema, for tests (moved out of the package, issue 9).

The numbers are made up (smooth plausible time courses plus noise); they are NOT simulation results.
The schema is the one :mod:`sim.plots.figures` reads:

* dims ``condition``, ``subject``, ``time_h``, ``region``, ``region_to``, ``time_fine_h``, ``event``, and for the
  dose-response part ``dose_mg_per_kg``, ``dr_time_h``, ``dr_metric``;
* region coords ``network``, ``mni_x``, ``mni_y``, ``mni_z``;
* one variable per scalar metric (condition, subject, time_h), listed in ``attrs["metrics"]``;
* ``fc`` (condition, subject, time_h, region, region_to) float32;
* slow states (condition, subject, time_fine_h): ``plasma_ng_per_ml``, ``nmda_block``, ``trapped_block``,
  ``plasticity``, ``tms_state``;
* ``infusion_h``, ``infusion_dose_mg_per_kg``, ``tms_session_h`` (condition, event), NaN padded;
* ``dr_value`` (dr_metric, dose_mg_per_kg, subject, dr_time_h).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: (name, network, MNI x, y, z) — the default atlas of configs/atlas/default.yaml.
REGIONS = (
    ("PCC", "DMN", 0.6, -51.7, 28.9), ("mPFC", "DMN", -7.0, 50.8, -1.3), ("dmPFC", "DMN", -2.1, 37.9, 36.3),
    ("AG_L", "DMN", -44.5, -64.6, 34.8), ("AG_R", "DMN", 52.0, -59.4, 35.5), ("HIP_L", "DMN", -25.6, -11.8, -21.5),
    ("HIP_R", "DMN", 24.7, -11.3, -22.7), ("dACC", "SN", -0.2, 30.4, 27.2), ("AI_L", "SN", -35.4, 20.0, 0.1),
    ("AI_R", "SN", 33.6, 16.5, -7.6), ("DLPFC_L", "TPN", -42.1, 24.7, 29.5), ("DLPFC_R", "TPN", 48.0, 24.6, 26.5),
    ("IPS_L", "TPN", -42.1, -55.0, 44.7), ("IPS_R", "TPN", 43.9, -53.0, 47.0), ("sgACC", "LIMBIC", 6.0, 16.0, -10.0),
    ("pgACC", "LIMBIC", 0.0, 42.0, 4.0), ("AMY_L", "LIMBIC", -20.3, -2.3, -22.2),
    ("AMY_R", "LIMBIC", 19.5, -1.9, -23.1), ("VS_L", "LIMBIC", -12.5, 17.1, -4.5),
    ("VS_R", "LIMBIC", 12.7, 17.3, -5.1), ("LHb", "LIMBIC", 4.0, -25.0, 3.0),
)
CONDITIONS = ("healthy", "depressed", "depressed_ketamine", "depressed_placebo", "depressed_ketamine_repeated",
              "depressed_tms", "healthy_ketamine")
SCAN_TIMES_H = (-24.0, 0.33, 1, 2, 4, 8, 12, 24, 48, 72, 96, 120, 168, 240, 336, 504, 672)
DOSES = (0.0, 0.1, 0.25, 0.5, 1.0, 2.0)
DR_TIMES_H = (0.33, 48.0)
DR_METRICS = ("fc_within_dmn", "fc_dmn_tpn", "fc_sgacc_dmn", "gbc_mean", "synchrony")

_SEED_PAIRS = {"pcc_mpfc": (["PCC"], ["mPFC"]), "pcc_dmpfc": (["PCC"], ["dmPFC"]), "sgacc_dmn": (["sgACC"], "DMN"),
               "dlpfc_l_sgacc": (["DLPFC_L"], ["sgACC"]), "sgacc_vs": (["sgACC"], ["VS_L", "VS_R"]),
               "amygdala_dmn": (["AMY_L", "AMY_R"], "DMN")}
_INFUSION_H = 40.0 / 60.0


def _schedule(condition: str, with_tms: bool):
    """(infusion times h, doses mg/kg, TMS session times h) of a condition."""
    if condition == "depressed_placebo":
        return [0.0], [0.0], []
    if condition == "depressed_ketamine_repeated":
        t = [0.0, 48.0, 96.0, 168.0, 216.0, 264.0]  # Mon/Wed/Fri for two weeks
        return t, [0.5] * len(t), []
    if "ketamine" in condition:
        return [0.0], [0.5], []
    if condition == "depressed_tms" and with_tms:
        return [], [], [24.0 * d + h for d in range(5) for h in range(10)]  # accelerated iTBS: 10/day, 5 days
    return [], [], []


def _plasma(t, starts, doses, scale):
    """Two-exponential PK of 40-min infusions (ng/mL); ~185 ng/mL peak for 0.5 mg/kg."""
    c = np.zeros_like(t)
    for t0, dose in zip(starts, doses, strict=True):
        tau = t - t0
        for w, k in ((0.7, np.log(2) / 0.25), (0.3, np.log(2) / 2.5)):
            during = (1 - np.exp(-k * np.clip(tau, 0, _INFUSION_H))) / k
            after = np.exp(-k * np.clip(tau - _INFUSION_H, 0, None))
            c += np.where(tau > 0, w * during * after, 0.0) * dose * scale
    return c


def _slow_states(t, cond, rng, n_subjects, with_tms):
    starts, doses, tms = _schedule(cond, with_tms)
    depressed = cond.startswith("depressed")
    dt = np.diff(t, prepend=t[0])
    out = {k: np.zeros((n_subjects, t.size)) for k in ("plasma", "block", "trapped", "plasticity", "tms")}
    p0 = 0.35 if depressed else 0.6
    for s in range(n_subjects):
        scale = 1050.0 * np.exp(0.25 * rng.standard_normal())
        c = _plasma(t, starts, doses, scale)
        b = c / (c + 350.0)
        g = 0.08 * np.exp(0.3 * rng.standard_normal())
        base = p0 + 0.04 * rng.standard_normal()
        trapped, p, m = 0.0, base, 0.0
        tms_idx = set(np.searchsorted(t, tms)) if tms else set()
        for i in range(t.size):
            h = dt[i]
            target = 0.7 * b[i]  # channels trapped closed under the drug; released slowly (t1/2 4 h)
            trapped += h * (2.0 * (target - trapped) if target > trapped else -np.log(2) / 4.0 * trapped)
            if i in tms_idx:
                m += 0.06 * (1 - m)
            m -= h * m / 336.0
            p += h * ((g * trapped + 0.004 * m) * (1 - p) - (p - base) / 120.0)
            out["trapped"][s, i], out["plasticity"][s, i], out["tms"][s, i] = trapped, p, m
        out["plasma"][s], out["block"][s] = c, b
    return out, (starts, doses, tms), p0


def _template(networks, depressed: bool):
    idx = {n: np.array([i for i, x in enumerate(networks) if x == n]) for n in ("DMN", "SN", "TPN", "LIMBIC")}
    w = {("DMN", "DMN"): 0.40, ("SN", "SN"): 0.38, ("TPN", "TPN"): 0.40, ("LIMBIC", "LIMBIC"): 0.22,
         ("DMN", "TPN"): -0.15, ("DMN", "SN"): 0.02, ("SN", "TPN"): 0.18, ("DMN", "LIMBIC"): 0.10,
         ("SN", "LIMBIC"): 0.12, ("TPN", "LIMBIC"): -0.02}
    if depressed:
        w.update({("DMN", "DMN"): 0.50, ("DMN", "TPN"): -0.04, ("DMN", "LIMBIC"): 0.20, ("TPN", "TPN"): 0.34})
    n = len(networks)
    m = np.zeros((n, n))
    for (a, b), v in w.items():
        m[np.ix_(idx[a], idx[b])] = v
        m[np.ix_(idx[b], idx[a])] = v
    return m


def synthetic_dataset(n_subjects: int = 12, conditions: Sequence[str] = CONDITIONS,
                      scan_times_h: Sequence[float] = SCAN_TIMES_H, fine_step_h: float = 1.0 / 6.0,
                      seed: int = 0, with_tms: bool = True, with_dose_response: bool = True):
    """Build a synthetic experiment :class:`xarray.Dataset` (see the module docstring for the schema)."""
    import xarray as xr

    rng = np.random.default_rng(seed)
    names = [r[0] for r in REGIONS]
    networks = [r[1] for r in REGIONS]
    n = len(names)
    t_scan = np.asarray(scan_times_h, dtype=float)
    t_fine = np.round(np.arange(min(-24.0, t_scan.min()), t_scan.max() + 1e-9, fine_step_h), 6)
    conds = list(conditions)
    shape_s = (len(conds), n_subjects, t_fine.size)
    states = {k: np.zeros(shape_s) for k in ("plasma", "block", "trapped", "plasticity", "tms")}
    fc = np.zeros((len(conds), n_subjects, t_scan.size, n, n), dtype=np.float32)
    schedules = []
    # edges changed acutely by NMDA block (DMN decoupling) and by the plasticity state (towards healthy)
    healthy, depressed_t = _template(networks, False), _template(networks, True)
    dmn = np.array([x == "DMN" for x in networks])
    acute = np.where(np.outer(dmn, dmn), -0.55, 0.0) + 0.25 * (np.outer(dmn, ~dmn) + np.outer(~dmn, dmn)) / 2
    iu = np.triu_indices(n, 1)
    for ci, cond in enumerate(conds):
        st, sched, p0 = _slow_states(t_fine, cond, rng, n_subjects, with_tms)
        schedules.append(sched)
        for k in states:
            states[k][ci] = st[k]
        dep = cond.startswith("depressed")
        tmpl = depressed_t if dep else healthy
        normalise = (healthy - depressed_t) if dep else 0.3 * (healthy - depressed_t)
        tms_edge = np.zeros((n, n))
        i, j = names.index("DLPFC_L"), names.index("sgACC")
        tms_edge[i, j] = tms_edge[j, i] = -0.35
        for s in range(n_subjects):
            trait = np.zeros((n, n))
            trait[iu] = 0.05 * rng.standard_normal(iu[0].size)
            trait = trait + trait.T
            b = np.interp(t_scan, t_fine, st["block"][s])
            dp = np.interp(t_scan, t_fine, st["plasticity"][s]) - p0
            m = np.interp(t_scan, t_fine, st["tms"][s])
            for ti in range(t_scan.size):
                noise = np.zeros((n, n))
                noise[iu] = 0.04 * rng.standard_normal(iu[0].size)
                mat = tmpl + trait + noise + noise.T + b[ti] * acute + 6.0 * dp[ti] * normalise + m[ti] * tms_edge
                mat = np.clip(mat, -0.9, 0.95)
                np.fill_diagonal(mat, 1.0)
                fc[ci, s, ti] = mat
    data = _metrics_from_fc(fc, names, networks, states, t_scan, t_fine, rng)
    dims3 = ("condition", "subject", "time_h")
    vars_ = {k: (dims3, v) for k, v in data.items()}
    vars_["fc"] = (dims3 + ("region", "region_to"), fc)
    dimsf = ("condition", "subject", "time_fine_h")
    for name, key in (("plasma_ng_per_ml", "plasma"), ("nmda_block", "block"), ("trapped_block", "trapped"),
                      ("plasticity", "plasticity"), ("tms_state", "tms")):
        if key == "tms" and not with_tms:
            continue
        vars_[name] = (dimsf, states[key].astype(np.float32))
    n_ev = max(1, max(max(len(a), len(c)) for a, _, c in schedules))
    inf = np.full((len(conds), n_ev), np.nan)
    dose = np.full((len(conds), n_ev), np.nan)
    tms = np.full((len(conds), n_ev), np.nan)
    for ci, (a, d, c) in enumerate(schedules):
        inf[ci, :len(a)], dose[ci, :len(d)], tms[ci, :len(c)] = a, d, c
    vars_["infusion_h"] = (("condition", "event"), inf)
    vars_["infusion_dose_mg_per_kg"] = (("condition", "event"), dose)
    if with_tms:
        vars_["tms_session_h"] = (("condition", "event"), tms)
    coords = {"condition": conds, "subject": np.arange(n_subjects), "time_h": t_scan, "region": names,
              "region_to": names, "time_fine_h": t_fine, "event": np.arange(n_ev),
              "network": ("region", networks), "mni_x": ("region", [r[2] for r in REGIONS]),
              "mni_y": ("region", [r[3] for r in REGIONS]), "mni_z": ("region", [r[4] for r in REGIONS])}
    if with_dose_response:
        vars_["dr_value"] = (("dr_metric", "dose_mg_per_kg", "subject", "dr_time_h"), _dose_response(n_subjects, rng))
        coords.update(dr_metric=list(DR_METRICS), dose_mg_per_kg=list(DOSES), dr_time_h=list(DR_TIMES_H))
    ds = xr.Dataset(vars_, coords=coords)
    ds.attrs["metrics"] = ",".join(data)
    ds.attrs["description"] = "synthetic data with the experiment schema (tests/synthetic.py), not a simulation"
    return ds


def _metrics_from_fc(fc, names, networks, states, t_scan, t_fine, rng):
    idx = {k: np.array([i for i, x in enumerate(networks) if x == k]) for k in ("DMN", "SN", "TPN", "LIMBIC")}

    def block(a, b):
        sub = fc[..., a[:, None], b[None, :]].astype(float)
        if np.array_equal(a, b):
            k = len(a)
            return (sub.sum((-1, -2)) - k) / max(k * (k - 1), 1)
        return sub.mean((-1, -2))

    out = {}
    for net in ("DMN", "SN", "TPN", "LIMBIC"):
        out[f"fc_within_{net.lower()}"] = block(idx[net], idx[net])
    for a, b in (("DMN", "TPN"), ("DMN", "SN"), ("SN", "TPN"), ("DMN", "LIMBIC")):
        out[f"fc_{a.lower()}_{b.lower()}"] = block(idx[a], idx[b])
    for pair, (a, b) in _SEED_PAIRS.items():
        ia = np.array([names.index(x) for x in a])
        ib = idx[b] if isinstance(b, str) else np.array([names.index(x) for x in b])
        out[f"fc_{pair}"] = block(ia, ib)
    n = fc.shape[-1]
    gbc = (fc.astype(float).sum(-1) - 1.0) / (n - 1)
    out["gbc_mean"] = gbc.mean(-1)
    shp = out["gbc_mean"].shape
    block_scan = np.stack([[np.interp(t_scan, t_fine, s) for s in c] for c in states["block"]])
    out["synchrony"] = np.clip(0.25 + 0.6 * out["gbc_mean"] + 0.03 * rng.standard_normal(shp), 0, 1)
    out["metastability"] = 0.11 + 0.12 * block_scan + 0.015 * rng.standard_normal(shp)
    dwell = 0.5 + 0.8 * (out["fc_within_dmn"] - out["fc_within_tpn"]) + 0.05 * rng.standard_normal(shp)
    out["dmn_dwell_fraction"] = np.clip(dwell, 0, 1)
    return out


def _dose_response(n_subjects, rng):
    d = np.asarray(DOSES)
    conc = 370.0 * d  # peak ng/mL per mg/kg
    block = conc / (conc + 350.0)
    late = d * np.exp(-d / 0.7) / (0.7 * np.exp(-1))  # inverted U, 1 at 0.7 mg/kg
    acute_gain = {"fc_within_dmn": -0.25, "fc_dmn_tpn": 0.10, "fc_sgacc_dmn": -0.10, "gbc_mean": -0.06,
                  "synchrony": -0.05}
    late_gain = {"fc_within_dmn": -0.10, "fc_dmn_tpn": -0.08, "fc_sgacc_dmn": -0.12, "gbc_mean": -0.02,
                 "synchrony": -0.01}
    out = np.zeros((len(DR_METRICS), d.size, n_subjects, len(DR_TIMES_H)))
    for mi, m in enumerate(DR_METRICS):
        resp = rng.lognormal(0, 0.3, n_subjects)
        out[mi, :, :, 0] = acute_gain[m] * block[:, None] * resp + 0.03 * rng.standard_normal((d.size, n_subjects))
        out[mi, :, :, 1] = late_gain[m] * late[:, None] * resp + 0.03 * rng.standard_normal((d.size, n_subjects))
    return out
