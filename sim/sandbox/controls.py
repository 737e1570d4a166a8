"""The sandbox's controls: what a page may set, their ranges (from the models' ParamSpec tables), validation
(:func:`parse_controls`) and the live run's config (:func:`condition_plan`, :func:`build_config`)."""

from __future__ import annotations

import copy
import math
import threading
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from sim.pharmacology.params import MECHANISMS  # the one list of drug mechanisms

STATIC_DIR = Path(__file__).resolve().parent / "static"
DEFAULT_PORT = 8765
MODEL = "hopf"

#: Scan times of the live run (h from the first infusion): baseline, during the infusion, 2 h, then days
#: 1, 2, 4, 7, 11, 14 and 28. Every claims window of configs/claims/registry.yaml has at least one scan.
LIVE_SCANS_H = (-24.0, 0.33, 2.0, 24.0, 48.0, 96.0, 168.0, 264.0, 336.0, 672.0)
LIVE_SCAN_S = 120.0       # recorded part of each live scan (the CLI default is 600 s)
LIVE_TRANSIENT_S = 20.0   # discarded start (relaxation time ~1/|a| of a few seconds)
MAX_SUBJECTS = 24

#: Metrics drawn over time, in this order.
#: Slow states sent for the drug panel.
SLOW_VARS = ("plasma_ng_per_ml", "nmda_block", "plasticity", "tms_state")

#: phenotype key -> short label (fits the control column); PHENOTYPE_NOTES: the longer description under it
PHENOTYPES = {
    "healthy": "healthy",
    "depressed_hyper": "depressed, DMN hyperconnected",
    "depressed_hypo": "depressed, DMN hypoconnected",
}
PHENOTYPE_NOTES = {
    "healthy": "the healthy connectome of configs/connectome",
    "depressed_hyper": "hyperconnected default-mode network (Kaiser 2015 meta-analysis)",
    "depressed_hypo": "hypoconnected default-mode network (Yan 2019, REST-meta-MDD)",
}

#: treatment key -> (label, protocol in configs/protocols/default.yaml, condition suffix, uses dose, is ketamine)
TREATMENTS = {
    "none": ("no treatment", "none", "", False, False),
    "ketamine_single": ("ketamine, one infusion", "ketamine_single", "ketamine", True, True),
    "ketamine_repeated": ("ketamine, 6 infusions in 12 days", "ketamine_murrough2013", "ketamine_repeated", True,
                          True),
    "ketamine_weekly": ("ketamine, weekly for 4 weeks", "ketamine_weekly", "ketamine_weekly", True, True),
    "placebo": ("saline placebo, one infusion", "placebo_single", "placebo", False, False),
    "tms": ("rTMS to left DLPFC, 4 weeks", "tms_course", "tms", False, False),
}
TREATMENT_NOTES = {
    "none": "the untreated group only",
    "ketamine_single": "one 40-min infusion at time 0, compared with saline",
    "ketamine_repeated": "three infusions a week for two weeks (Murrough 2013), compared with saline",
    "ketamine_weekly": "one infusion a week for four weeks, compared with saline",
    "placebo": "a 40-min saline infusion, compared with no treatment",
    "tms": "rTMS sessions to left DLPFC on weekdays for 4 weeks, compared with no treatment",
}

#: the sandbox's two modes -> metrics.engine: expected values (default: no sampling noise, so an untreated cohort
#: shows no change over time and a control change answers at once) or simulated scans (with their noise)
ENGINE_MODES = {"expected": "linear", "simulated": "simulated"}
DOSE_RANGE = (0.05, 2.0)  # mg/kg; 0.5 is the antidepressant dose, 1-2 approach anaesthesia (Zanos 2018)


class ControlError(ValueError):
    """A control is unknown, of the wrong type or out of range (the API answers 400 with this message)."""


def _param_spec(name: str):
    from sim.models import MODELS

    for s in MODELS[MODEL].PARAMS:
        if s.name == name:
            return s
    raise KeyError(name)


def slider_range(name: str) -> dict:
    """Slider of a model parameter: the teaching range is [max(lo, default/4 for noise, lo for coupling),
    min(hi, 4 x default)] inside the parameter's allowed range; the server accepts the whole allowed range."""
    s = _param_spec(name)
    lo = s.lo if s.lo is not None else 0.0
    hi = s.hi if s.hi is not None else 4 * s.default
    slider_lo = max(lo, s.default / 4) if name == "sigma" else lo
    slider_hi = min(hi, 4 * s.default)
    return {"min": slider_lo, "max": slider_hi, "step": round((slider_hi - slider_lo) / 40, 6), "default": s.default,
            "unit": s.unit, "allowed": [s.lo, s.hi], "source": s.source, "doc": s.doc}


@dataclass(frozen=True)
class Controls:
    """Everything that changes the live simulation (the time point does not: it only selects a scan)."""

    phenotype: str = "depressed_hyper"
    treatment: str = "ketamine_single"
    dose_mg_per_kg: float = 0.5
    disinhibition: bool = True
    trapping: bool = True
    plasticity: bool = True
    tms: bool = True
    coupling: float = 0.3
    noise: float = 0.02
    n_subjects: int = 8
    engine: str = "expected"   # expected: linear expected FC, no sampling noise (instant); simulated: live scans


DEFAULT_CONTROLS = Controls()
_IGNORED_KEYS = {"time_h"}  # accepted (the page sends it) but not part of the simulation


def _number(key: str, v, lo: float, hi: float, lo_open: bool = False) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ControlError(f"{key}: expected a number, got {v!r}")
    x = float(v)
    if not math.isfinite(x) or x < lo or x > hi or (lo_open and x == lo):
        raise ControlError(f"{key}: {v!r} is out of range; allowed {'(' if lo_open else '['}{lo:g}, {hi:g}]")
    return x


def parse_controls(data) -> Controls:
    """Validate a JSON object of controls (missing keys take the defaults); raise :class:`ControlError`."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ControlError(f"controls: expected a JSON object, got {type(data).__name__}")
    names = [f.name for f in fields(Controls)]
    unknown = sorted(set(data) - set(names) - _IGNORED_KEYS)
    if unknown:
        raise ControlError(f"unknown control {unknown[0]!r}; allowed: {', '.join(names + sorted(_IGNORED_KEYS))}")
    d = {**asdict(DEFAULT_CONTROLS), **{k: v for k, v in data.items() if k in names}}
    if d["phenotype"] not in PHENOTYPES:
        raise ControlError(f"phenotype: unknown value {d['phenotype']!r}; allowed: {', '.join(PHENOTYPES)}")
    if d["treatment"] not in TREATMENTS:
        raise ControlError(f"treatment: unknown value {d['treatment']!r}; allowed: {', '.join(TREATMENTS)}")
    if d["engine"] not in ENGINE_MODES:
        raise ControlError(f"engine: unknown value {d['engine']!r}; allowed: {', '.join(ENGINE_MODES)}")
    for m in MECHANISMS:
        if not isinstance(d[m], bool):
            raise ControlError(f"{m}: expected true or false, got {d[m]!r}")
    d["dose_mg_per_kg"] = round(_number("dose_mg_per_kg", d["dose_mg_per_kg"], *DOSE_RANGE), 3)
    g, s = _param_spec("global_coupling"), _param_spec("sigma")
    d["coupling"] = round(_number("coupling", d["coupling"], g.lo, g.hi), 4)
    # zero noise leaves the network at its fixed point: no fluctuations, so no correlations to show
    d["noise"] = round(_number("noise", d["noise"], s.lo, s.hi, lo_open=True), 5)
    n = d["n_subjects"]
    if isinstance(n, bool) or not isinstance(n, (int, float)) or n != int(n) or not 2 <= n <= MAX_SUBJECTS:
        raise ControlError(f"n_subjects: expected a whole number in [2, {MAX_SUBJECTS}], got {n!r}")
    d["n_subjects"] = int(n)
    if not TREATMENTS[d["treatment"]][3]:
        d["dose_mg_per_kg"] = DEFAULT_CONTROLS.dose_mg_per_kg  # the dose does not matter: one cache entry
    return Controls(**d)


# ------------------------------------------------------------------------------------------ config
def condition_plan(c: Controls) -> tuple[dict[str, dict], str, str]:
    """Conditions of the live run, named as in configs/experiment/default.yaml so the claims registry finds them.

    Returns ({name: {phenotype, protocol[, dose_mg_per_kg]}}, treated name, control name). Ketamine is compared
    with saline, placebo and TMS with the untreated group; depressed runs add ``healthy`` (the registry's
    normalisation reference).
    """
    group = "healthy" if c.phenotype == "healthy" else "depressed"
    _, protocol, suffix, uses_dose, is_ketamine = TREATMENTS[c.treatment]
    conds: dict[str, dict] = {group: {"phenotype": c.phenotype, "protocol": "none"}}
    if group == "depressed":
        conds["healthy"] = {"phenotype": "healthy", "protocol": "none"}
    treated = control = group
    if suffix:
        treated = f"{group}_{suffix}"
        spec = {"phenotype": c.phenotype, "protocol": protocol}
        if uses_dose:
            spec["dose_mg_per_kg"] = c.dose_mg_per_kg
        conds[treated] = spec
        if is_ketamine:
            control = f"{group}_placebo"
            conds[control] = {"phenotype": c.phenotype, "protocol": "placebo_single"}
    return conds, treated, control


_BASE_LOCK = threading.Lock()
_BASE = None


def _base_config() -> dict:
    """The default config composed once (Hydra) and resolved into plain dicts and lists (read-only: every live
    config copies the parts it changes)."""
    global _BASE
    with _BASE_LOCK:
        if _BASE is None:
            from omegaconf import OmegaConf

            from sim.config import load_config

            cfg = load_config(["progress=false", "~experiment.dose_response", f"model={MODEL}",
                               f"scan.duration_s={LIVE_SCAN_S}", f"scan.transient_s={LIVE_TRANSIENT_S}"])
            _BASE = OmegaConf.to_container(cfg, resolve=True)
        return _BASE


def build_config(c: Controls) -> dict:
    """The live run's config for these controls: the default config with the changed parts copied (the rest is
    shared with :func:`_base_config`, which nothing writes to)."""
    base = _base_config()
    conds, _, _ = condition_plan(c)
    cfg = dict(base)
    cfg["cohort"] = {**base["cohort"], "n_subjects": c.n_subjects}
    cfg["model"] = {**base["model"], "params": {**base["model"]["params"], "global_coupling": c.coupling,
                                                 "sigma": c.noise}}
    cfg["metrics"] = {**base["metrics"], "engine": ENGINE_MODES[c.engine]}
    cfg["drug"] = {**base["drug"], "mechanisms": {**base["drug"]["mechanisms"],
                                                   **{m: bool(getattr(c, m)) for m in MECHANISMS}}}
    if c.phenotype != "healthy":
        cfg["phenotype"] = copy.deepcopy(base["phenotypes"][c.phenotype])
    cfg["experiment"] = {**base["experiment"], "name": "sandbox", "scans_h": list(LIVE_SCANS_H), "select": None,
                         "conditions": copy.deepcopy(conds)}
    return cfg


def slow_key(c: Controls) -> tuple:
    """What the slow drug states of a live run depend on: the treatment, dose, the mechanisms that shape them
    (trapping, plasticity, TMS; disinhibition only acts on the network) and the cohort (its clearance draws), not
    the network or the phenotype. The key of the slow-state cache (sim.experiment.run_timeline's ``slow_cache``)."""
    return (c.treatment, c.dose_mg_per_kg, c.trapping, c.plasticity, c.tms, c.n_subjects)


def controls_spec() -> dict:
    """What the page needs to build its controls and lessons (GET /api/controls)."""
    from sim.sandbox.lessons import LESSONS

    return {
        "defaults": asdict(DEFAULT_CONTROLS),
        "phenotypes": PHENOTYPES,
        "phenotype_notes": PHENOTYPE_NOTES,
        "treatments": {k: {"label": v[0], "protocol": v[1], "uses_dose": v[3], "note": TREATMENT_NOTES[k]}
                       for k, v in TREATMENTS.items()},
        "engines": {"expected": "expected values (instant)", "simulated": "simulated scans (noisy)"},
        "mechanisms": list(MECHANISMS),
        "dose": {"min": DOSE_RANGE[0], "max": DOSE_RANGE[1], "step": 0.05, "default": DEFAULT_CONTROLS.dose_mg_per_kg,
                 "unit": "mg/kg"},
        "coupling": slider_range("global_coupling"),
        "noise": slider_range("sigma"),
        "n_subjects": {"min": 2, "max": MAX_SUBJECTS, "step": 1, "default": DEFAULT_CONTROLS.n_subjects},
        "times_h": list(LIVE_SCANS_H),
        "default_time_h": 24.0,
        "live": {"scan_duration_s": LIVE_SCAN_S, "n_scans": len(LIVE_SCANS_H), "model": MODEL},
        # the command line's default experiment, for comparison (its scan times; the live runs shorten the scans)
        "cli": {"n_scans": len(_base_config()["experiment"]["scans_h"]),
                "n_subjects": _base_config()["cohort"]["n_subjects"]},
        "lessons": list(LESSONS),
    }
