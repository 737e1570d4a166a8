"""Pre-flight check of the whole composed config, before any work (README, "Errors and what a config can do").

:func:`validate` walks the config against a declared spec: the keys each section may hold, the type and the
finite range of every number, list lengths, references to known names (networks, regions, phenotypes,
protocols, conditions, mechanisms), and ``_target_`` anywhere. It raises one :class:`~sim.errors.ConfigError`
naming the key and what is allowed, or returns warnings for values a user could mean but that are unusual.
:func:`estimate` gives the work (item-steps, seconds, bytes) so :func:`check_feasible` can refuse work that
cannot finish unless ``+allow_long=true`` is given. The model-specific checks (unknown parameters, dt
stability) are the models' own (:func:`sim.params.read_params`, ``check_dt``); :func:`blame_dt` renames a dt
error to the key the user actually changed (``model.params.global_coupling=10`` is a coupling problem).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sim.errors import ConfigError, unknown
from sim.pharmacology.params import MECHANISMS
from sim.schema import ENGINES, NOISE_DESIGNS, ROLES

KINDS = ("cohort", "timeline", "claims", "fit")
INTEGRATORS = ("heun", "euler")
FIGURE_FORMATS = ("png", "pdf", "svg", "eps", "ps")
DRUGS = ("ketamine", "saline", "none")
MAX_SEED = 2**63 - 1  # stored as int64 in results.nc
MIN_TR_PER_SCAN = 30  # FC over fewer than 30 volumes is noise (and over 1 volume exactly 0)

#: top-level keys a config may hold (``+foo=1`` is refused); groups are checked section by section
TOP_KEYS = {"atlas", "connectome", "phenotype", "phenotypes", "model", "cohort", "scan", "metrics", "drug",
            "protocols", "experiment", "seed", "n_threads", "progress", "figure_formats", "claims",
            "dose_mg_per_kg", "allow_long", "trial", "fit"}
SECTION_KEYS = {
    "scan": {"tr_s", "duration_s", "transient_s"},
    "cohort": {"n_subjects", "coupling_jitter_cv"},
    "metrics": {"gsr", "band_hz", "dominance", "seed_pairs", "engine", "key"},
    "model": {"name", "integrator", "dt_s", "params"},
    "atlas": {"networks", "regions", "drop", "network_style", "source", "aliases", "not_available",
              "mni_transform"},
    "connectome": {"conduction_speed_m_per_s", "links", "source", "dataset", "subject", "normalise"},
    "drug": {"mechanisms", "pk", "receptor", "regional_weights", "acute", "plasticity", "tms", "targets"},
    "experiment": {"name", "kind", "timeline_h", "scans_h", "select", "conditions", "dose_response", "contrasts"},
    "claims": {"registry", "ablation", "replicates"},
    "trial": {"noise", "baseline_scans", "baseline_spacing_h"},
}
REQUIRED = ("scan.tr_s", "scan.duration_s", "scan.transient_s", "model.name", "model.dt_s", "cohort.n_subjects",
            "experiment.name", "experiment.kind")
CONDITION_KEYS = {"phenotype", "protocol", "dose_mg_per_kg", "label", "role"}
PROTOCOL_KEYS = {"drug", "dose_mg_per_kg", "duration_min", "infusion_days", "tms_session_days"}
DOSE_RESPONSE_KEYS = {"phenotype", "protocol", "doses_mg_per_kg", "times_h"}
SEED_PAIR_KEYS = {"a", "b", "source"}
CONTRAST_KEYS = {"treated", "control", "times_h", "label", "network_change_h"}

REGION_KEYS = {"network", "mni", "label", "source"}

#: numeric leaves of the drug section: (lo, hi), both inclusive; sources are in configs/drug/ketamine.yaml
DRUG_RANGES = {
    "pk.v1_l_per_kg": (1e-3, 100.0), "pk.k10_per_min": (1e-6, 10.0), "pk.k12_per_min": (0.0, 10.0),
    "pk.k21_per_min": (1e-6, 10.0), "pk.clearance_cv": (0.0, 2.0), "receptor.ki_um": (1e-6, 1e4),
    "receptor.tau_trap_h": (1e-3, 1e4), "receptor.tau_untrap_h": (1e-3, 1e4),
    "acute.excitability_per_block": (-10.0, 10.0), "plasticity.tau_rise_h": (1e-3, 1e5),
    "plasticity.tau_decay_h": (1e-3, 1e5), "plasticity.b_max": (0.0, 1.0), "plasticity.s_half_block_h": (1e-6, 1e5),
    "tms.session_h": (1e-3, 24.0), "tms.tau_rise_h": (1e-3, 1e5), "tms.tau_decay_h": (1e-3, 1e5),
    "tms.s_half_h": (1e-6, 1e5),
}

#: rough end-to-end node-steps per second on 2 cores (README, "Speed": make bench, 1,024 subjects, 23 regions; measured
#: 172-273 M hopf, 85-103 M wilson_cowan, 62-69 M kuramoto on two hosts,
#: rounded down); used only for estimates, as node-steps / region count = item-steps
ROUGH_NODE_STEPS_PER_S = {"hopf": 150e6, "kuramoto": 50e6, "wilson_cowan": 80e6}


def rough_item_steps_per_s(model: str, n_regions: int) -> float | None:
    """Rough item-steps per second of a model on ``n_regions`` regions (None for a model not measured)."""
    rate = ROUGH_NODE_STEPS_PER_S.get(model)
    return rate / max(1, n_regions) if rate else None
MAX_ESTIMATED_S = 24 * 3600.0      # refuse work estimated longer than this without +allow_long=true
MAX_MEMORY_FRACTION = 0.5          # ... or needing more than half the machine's memory


# ------------------------------------------------------------------------------------------ primitives
def _is_num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def number(key: str, v, lo: float | None = None, hi: float | None = None, lo_open: bool = False) -> float:
    """A finite real number in [lo, hi] ((lo, hi] with ``lo_open``); booleans, strings, null, lists refused."""
    rng = f"{'(' if lo_open else '['}{'-inf' if lo is None else f'{lo:g}'}, {'inf' if hi is None else f'{hi:g}'}]"
    if not _is_num(v):
        raise ConfigError(f"{key}: expected a number in {rng}, got {_show(v)}")
    x = float(v) if not isinstance(v, int) or abs(v) < 1e300 else math.inf
    if not math.isfinite(x):
        raise ConfigError(f"{key}: {_show(v)} is not a finite number; allowed: {rng}")
    if (lo is not None and (x <= lo if lo_open else x < lo)) or (hi is not None and x > hi):
        raise ConfigError(f"{key}: {_show(v)} is out of range; allowed: {rng}")
    return x


def integer(key: str, v, lo: int, hi: int) -> int:
    if not isinstance(v, int) or isinstance(v, bool):
        raise ConfigError(f"{key}: expected a whole number in [{lo}, {hi}], got {_show(v)}")
    if not lo <= v <= hi:
        raise ConfigError(f"{key}: {_show(v)} is out of range; allowed: a whole number in [{lo}, {hi}]")
    return v


def boolean(key: str, v) -> bool:
    if not isinstance(v, bool):
        raise ConfigError(f"{key}: {_show(v)} is not allowed; allowed: true, false")
    return v


def string(key: str, v) -> str:
    if not isinstance(v, str) or not v or "\x00" in v:
        raise ConfigError(f"{key}: expected a non-empty name, got {_show(v)}")
    return v


def seq(key: str, v, n: int | None = None, min_len: int = 0, what: str = "a list") -> list:
    if isinstance(v, (str, bytes)) or not isinstance(v, Sequence):
        allowed = f"a list of {n}" if n is not None else f"{what} (at least {min_len} entries)"
        raise ConfigError(f"{key}: expected {allowed}, got {_show(v)}")
    v = list(v)
    if n is not None and len(v) != n:
        raise ConfigError(f"{key}: expected a list of {n} entries, got {len(v)}: {_show(v)}")
    if len(v) < min_len:
        raise ConfigError(f"{key}: expected at least {min_len} entr{'y' if min_len == 1 else 'ies'}, got {_show(v)}")
    return v


def mapping(key: str, v) -> Mapping:
    if not isinstance(v, Mapping):
        raise ConfigError(f"{key}: expected a mapping of keys to values, got {_show(v)}")
    return v


def only_keys(key: str, m: Mapping, allowed: set[str]) -> None:
    for k in m:
        if k not in allowed:
            raise ConfigError(f"{key}.{k}: unknown key; allowed in {key}: {', '.join(sorted(allowed))}")


def one_of(key: str, v, allowed) -> str:
    allowed = list(allowed)
    if not isinstance(v, str) or v not in allowed:
        raise unknown(key, v, allowed)
    return v


def _show(v) -> str:
    s = repr(v)
    return s if len(s) <= 60 else s[:57] + "..."


def _plain(cfg):
    """A plain dict/list copy of a DictConfig (interpolations resolved; a broken one names its key)."""
    from omegaconf import DictConfig, ListConfig, OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    if isinstance(cfg, (DictConfig, ListConfig)):
        try:
            return OmegaConf.to_container(cfg, resolve=True)
        except OmegaConfBaseException as e:
            key = getattr(e, "full_key", None) or "config"
            msg = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise ConfigError(f"{key}: {msg}") from None
    return cfg


# ------------------------------------------------------------------------------------------ the check
def validate(cfg) -> list[str]:
    """Check the whole composed config; raise :class:`ConfigError` on the first bad key, else return warnings."""
    c = _plain(cfg)
    warnings: list[str] = []
    mapping("config", c)
    _no_targets(c, "")
    for k in c:
        if k not in TOP_KEYS:
            raise ConfigError(f"{k}: unknown key (a typo, or a '+' override of a key the program does not read); "
                              f"allowed top-level keys: {', '.join(sorted(TOP_KEYS))}")
    for path in REQUIRED:
        sec, _, k = path.partition(".")
        if not isinstance(c.get(sec), Mapping) or c[sec].get(k) is None and k not in c[sec]:
            raise ConfigError(f"{path}: missing from the config (was it deleted with ~?); restore it")
    for sec, keys in SECTION_KEYS.items():
        if sec in c and c[sec] is not None:
            only_keys(sec, mapping(sec, c[sec]), keys)

    integer("seed", c.get("seed", 0), 0, MAX_SEED)
    integer("n_threads", c.get("n_threads", 0), 0, 1024)
    boolean("progress", c.get("progress", True))
    boolean("allow_long", c.get("allow_long", False))
    fmts = c.get("figure_formats") or []
    for i, f in enumerate(seq("figure_formats", fmts)):
        if not isinstance(f, str) or f.lower().lstrip(".") not in FIGURE_FORMATS:
            raise unknown(f"figure_formats[{i}]", f, FIGURE_FORMATS)
    if "dose_mg_per_kg" in c:
        number("dose_mg_per_kg", c["dose_mg_per_kg"], 0.0, 10.0)

    networks, regions = _atlas(c["atlas"])
    names = set(networks) | set(regions)
    tr_s = _scan(c["scan"], warnings)
    _model(c["model"], warnings)
    co = c["cohort"]
    integer("cohort.n_subjects", co["n_subjects"], 1, 10**9)
    if "coupling_jitter_cv" in co:
        number("cohort.coupling_jitter_cv", co["coupling_jitter_cv"], 0.0, 1.0)
    _metrics(c["metrics"], networks, names, tr_s)
    _connectome(c.get("connectome") or {})
    phenotypes = _phenotypes(c)
    protocols = _protocols(mapping("protocols", c.get("protocols") or {}), warnings)
    _drug(mapping("drug", c.get("drug") or {}))
    _experiment(c["experiment"], phenotypes, protocols, warnings)
    if c["experiment"].get("kind") == "claims" or c.get("claims") is not None:
        _claims(c.get("claims") or {}, phenotypes)
    _trial(c.get("trial") or {})
    return warnings


def _trial(t) -> None:
    t = mapping("trial", t)
    one_of("trial.noise", t.get("noise", "common"), NOISE_DESIGNS)
    if t.get("baseline_scans") is not None:
        integer("trial.baseline_scans", t["baseline_scans"], 1, 48)
    if "baseline_spacing_h" in t:
        number("trial.baseline_spacing_h", t["baseline_spacing_h"], 0.0, 24.0 * 30, lo_open=True)


def _no_targets(node, key: str) -> None:
    """No ``_target_`` anywhere: the program never instantiates objects named in a config."""
    if isinstance(node, Mapping):
        for k, v in node.items():
            sub = f"{key}.{k}" if key else str(k)
            if k in ("_target_", "_partial_", "_args_", "_recursive_", "_convert_"):
                raise ConfigError(f"{sub}: not allowed; a dmn-sim config cannot name Python objects to create or "
                                  f"call (README, \"What a config can do\")")
            _no_targets(v, sub)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            _no_targets(v, f"{key}[{i}]")


def _atlas(a) -> tuple[list[str], list[str]]:
    a = mapping("atlas", a)
    networks = [string(f"atlas.networks[{i}]", n) for i, n in enumerate(seq("atlas.networks", a.get("networks"),
                                                                               min_len=1))]
    regions = mapping("atlas.regions", a.get("regions"))
    if not regions:
        raise ConfigError("atlas.regions: at least one region is needed")
    for name, r in regions.items():
        key = f"atlas.regions.{name}"
        r = mapping(key, r)
        only_keys(key, r, REGION_KEYS)
        one_of(f"{key}.network", r.get("network"), networks)
        for i, x in enumerate(seq(f"{key}.mni", r.get("mni"), n=3)):
            number(f"{key}.mni[{i}]", x, -200.0, 200.0)
    drop = seq("atlas.drop", a.get("drop") or [])
    for i, d in enumerate(drop):
        one_of(f"atlas.drop[{i}]", d, regions)
    if len(set(drop)) >= len(regions):
        raise ConfigError("atlas.drop: drops every region; at least one region must stay")
    kept = [r for r in regions if r not in set(drop)]
    return networks, kept


def _scan(s, warnings) -> float:
    s = mapping("scan", s)
    tr = number("scan.tr_s", s["tr_s"], 0.1, 60.0)
    dur = number("scan.duration_s", s["duration_s"], 0.0, 7 * 86400.0, lo_open=True)
    number("scan.transient_s", s["transient_s"], 0.0, 86400.0)
    if dur < MIN_TR_PER_SCAN * tr:
        raise ConfigError(f"scan.duration_s: {dur:g} s gives {int(dur // tr)} volumes at scan.tr_s={tr:g}; allowed: "
                          f">= {MIN_TR_PER_SCAN * tr:g} s ({MIN_TR_PER_SCAN} volumes), FC needs a time series")
    return tr


def _model(m, warnings) -> None:
    from sim.models import MODELS

    m = mapping("model", m)
    name = one_of("model.name", m["name"], MODELS)
    one_of("model.integrator", m.get("integrator", "heun"), INTEGRATORS)
    number("model.dt_s", m["dt_s"], 0.0, 10.0, lo_open=True)
    params = mapping("model.params", m.get("params") or {})
    specs = {s.name: s for s in MODELS[name].PARAMS}
    for k, v in params.items():
        if k not in specs:
            raise unknown("model.params.<param>", k, specs)
        s = specs[k]
        number(f"model.params.{k}", v, s.lo, s.hi, s.lo_open)
    if "sigma" in specs and float(params.get("sigma", specs["sigma"].default)) == 0.0:
        raise ConfigError("model.params.sigma: 0 leaves the network noise-free (FC then only reflects the relaxation "
                          "from the initial state); allowed: sigma > 0")
    if "f_min_hz" in specs:
        lo = float(params.get("f_min_hz", specs["f_min_hz"].default))
        hi = float(params.get("f_max_hz", specs["f_max_hz"].default))
        if lo > hi:
            raise ConfigError(f"model.params.f_min_hz: {lo:g} is above model.params.f_max_hz={hi:g}; "
                              f"allowed: f_min_hz <= f_max_hz")


def _metrics(mc, networks, names, tr_s) -> None:
    mc = mapping("metrics", mc)
    boolean("metrics.gsr", mc.get("gsr", False))
    band = seq("metrics.band_hz", mc.get("band_hz", [0.04, 0.07]), n=2)
    nyq = 0.5 / tr_s
    lo = number("metrics.band_hz[0]", band[0], 0.0, None, lo_open=True)
    hi = number("metrics.band_hz[1]", band[1], 0.0, None, lo_open=True)
    if hi > nyq:
        raise ConfigError(f"metrics.band_hz[1]: {hi:g} Hz is above the Nyquist frequency {nyq:g} Hz of "
                          f"scan.tr_s={tr_s:g}; allowed: a band below {nyq:g} Hz, or a shorter scan.tr_s")
    if lo >= hi:
        raise ConfigError(f"metrics.band_hz: [{lo:g}, {hi:g}] is empty; allowed: [low, high] with "
                          f"0 < low < high <= {nyq:g} Hz (Nyquist at scan.tr_s)")
    one_of("metrics.engine", mc.get("engine", "simulated"), ENGINES)
    for k, v in mapping("metrics.key", mc.get("key") or {}).items():
        string(f"metrics.key.{k}", v)
    dom = seq("metrics.dominance", mc.get("dominance", ["DMN", "TPN"]), n=2)
    for i, d in enumerate(dom):
        one_of(f"metrics.dominance[{i}]", d, networks)
    if dom[0] == dom[1]:
        raise ConfigError(f"metrics.dominance: {dom!r} names one network twice; allowed: two different networks")
    for name, spec in mapping("metrics.seed_pairs", mc.get("seed_pairs") or {}).items():
        key = f"metrics.seed_pairs.{name}"
        spec = mapping(key, spec)
        only_keys(key, spec, SEED_PAIR_KEYS)
        for side in ("a", "b"):
            for i, x in enumerate(seq(f"{key}.{side}", spec.get(side), min_len=1, what="a list of region names")):
                if not isinstance(x, str):
                    raise ConfigError(f"{key}.{side}[{i}]: expected a region or network name, got {_show(x)}")


def _connectome(cc) -> None:
    cc = mapping("connectome", cc)
    if "conduction_speed_m_per_s" in cc:
        number("connectome.conduction_speed_m_per_s", cc["conduction_speed_m_per_s"], 0.0, 1000.0, lo_open=True)
    for i, link in enumerate(seq("connectome.links", cc.get("links") or [])):
        key = f"connectome.links[{i}]"
        link = mapping(key, link)
        if "weight" in link:
            number(f"{key}.weight", link["weight"], 0.0, 100.0)


def _phenotypes(c) -> list[str]:
    ph = mapping("phenotypes", c.get("phenotypes") or {})
    for name, p in {**ph, "phenotype": c.get("phenotype")}.items():
        key = "phenotype" if name == "phenotype" else f"phenotypes.{name}"
        p = mapping(key, p)
        only_keys(key, p, {"name", "description", "edits"})
        for i, e in enumerate(seq(f"{key}.edits", p.get("edits") or [])):
            e = mapping(f"{key}.edits[{i}]", e)
            if "scale" in e:
                number(f"{key}.edits[{i}].scale", e["scale"], 0.0, 100.0)
    return list(ph)


def _protocols(lib: Mapping, warnings) -> list[str]:
    for name, p in lib.items():
        key = f"protocols.{name}"
        p = mapping(key, p)
        only_keys(key, p, PROTOCOL_KEYS)
        drug = one_of(f"{key}.drug", p.get("drug", "none"), DRUGS)
        if "dose_mg_per_kg" in p:
            number(f"{key}.dose_mg_per_kg", p["dose_mg_per_kg"], 0.0, 10.0)
        if "duration_min" in p:
            number(f"{key}.duration_min", p["duration_min"], 0.0, 24 * 60.0, lo_open=True)
        for field in ("infusion_days", "tms_session_days"):
            if field in p and p[field] is not None:
                for i, d in enumerate(seq(f"{key}.{field}", p[field], what="a list of days")):
                    number(f"{key}.{field}[{i}]", d, -3650.0, 3650.0)
        if drug in ("ketamine", "saline") and not p.get("infusion_days"):
            raise ConfigError(f"{key}.infusion_days: a {drug} protocol without infusion days leaves its arm untreated; "
                              f"allowed: a non-empty list of days, e.g. [0]")
        if drug == "ketamine" and "dose_mg_per_kg" in p and float(p["dose_mg_per_kg"]) == 0.0:
            warnings.append(f"{key}.dose_mg_per_kg is 0: the ketamine arm receives no drug")
    return list(lib)


def _drug(d: Mapping) -> None:
    mech = mapping("drug.mechanisms", d.get("mechanisms") or {})
    for k, v in mech.items():
        one_of("drug.mechanisms.<name>", k, MECHANISMS)
        boolean(f"drug.mechanisms.{k}", v)
    for path, (lo, hi) in DRUG_RANGES.items():
        sec, _, k = path.partition(".")
        node = d.get(sec)
        if isinstance(node, Mapping) and k in node:
            number(f"drug.{path}", node[k], lo, hi)
    for k, v in mapping("drug.regional_weights", d.get("regional_weights") or {}).items():
        number(f"drug.regional_weights.{k}", v, 0.0, 100.0)
    for i, t in enumerate(seq("drug.targets", d.get("targets") or [])):
        t = mapping(f"drug.targets[{i}]", t)
        if "gain" in t:
            number(f"drug.targets[{i}].gain", t["gain"], -1.0, 10.0)


def _experiment(e, phenotypes, protocols, warnings) -> None:
    e = mapping("experiment", e)
    string("experiment.name", e["name"])
    kind = one_of("experiment.kind", e["kind"], KINDS)
    if kind in ("cohort", "fit"):  # no timeline (the fit's own settings are checked by sim/fit.py)
        return
    tl = seq("experiment.timeline_h", e.get("timeline_h"), n=2)
    t0 = number("experiment.timeline_h[0]", tl[0], -24 * 365.0, 0.0)
    t1 = number("experiment.timeline_h[1]", tl[1], 0.0, 24 * 365.0, lo_open=True)
    scans = seq("experiment.scans_h", e.get("scans_h"), min_len=1, what="a list of scan times in h")
    vals = [number(f"experiment.scans_h[{i}]", s, t0, t1) for i, s in enumerate(scans)]
    if any(b <= a for a, b in zip(vals, vals[1:], strict=False)):
        raise ConfigError(f"experiment.scans_h: {_show(vals)} is not strictly increasing; allowed: increasing times")
    conds = mapping("experiment.conditions", e.get("conditions") or {})
    if not conds:
        raise ConfigError("experiment.conditions: at least one condition is needed")
    for name, spec in conds.items():
        key = f"experiment.conditions.{name}"
        spec = mapping(key, spec)
        only_keys(key, spec, CONDITION_KEYS)
        one_of(f"{key}.phenotype", spec.get("phenotype"), phenotypes)
        one_of(f"{key}.protocol", spec.get("protocol", "none"), protocols)
        if spec.get("dose_mg_per_kg") is not None:
            number(f"{key}.dose_mg_per_kg", spec["dose_mg_per_kg"], 0.0, 10.0)
        if spec.get("role") is not None:
            one_of(f"{key}.role", spec["role"], ROLES)
        if spec.get("label") is not None:
            string(f"{key}.label", spec["label"])
    for i, ct in enumerate(seq("experiment.contrasts", e.get("contrasts") or [])):
        key = f"experiment.contrasts[{i}]"
        ct = mapping(key, ct)
        only_keys(key, ct, CONTRAST_KEYS)
        for side in ("treated", "control"):
            if side not in ct:
                raise ConfigError(f"{key}.{side}: missing; allowed: a condition name")
            string(f"{key}.{side}", ct[side])
        for k in ("times_h", "network_change_h"):
            for j, x in enumerate(seq(f"{key}.{k}", ct.get(k) or [])):
                number(f"{key}.{k}[{j}]", x, -24 * 365.0, 24 * 365.0)
    sel = e.get("select")
    if sel is not None:
        sel = seq("experiment.select", sel, min_len=1, what="null (all conditions) or a list of condition names")
        for i, s in enumerate(sel):
            one_of(f"experiment.select[{i}]", s, conds)
    dr = e.get("dose_response")
    if dr is not None:
        dr = mapping("experiment.dose_response", dr)
        only_keys("experiment.dose_response", dr, DOSE_RESPONSE_KEYS)
        one_of("experiment.dose_response.phenotype", dr.get("phenotype"), phenotypes)
        one_of("experiment.dose_response.protocol", dr.get("protocol", "ketamine_single"), protocols)
        for i, d in enumerate(seq("experiment.dose_response.doses_mg_per_kg", dr.get("doses_mg_per_kg"), min_len=1,
                                  what="a list of doses")):
            number(f"experiment.dose_response.doses_mg_per_kg[{i}]", d, 0.0, 10.0)
        for i, t in enumerate(seq("experiment.dose_response.times_h", dr.get("times_h"), min_len=1,
                                  what="a list of times in h")):
            number(f"experiment.dose_response.times_h[{i}]", t, t0, t1)


def _claims(cl, phenotypes) -> None:
    cl = mapping("claims", cl)
    if "replicates" in cl:
        integer("claims.replicates", cl["replicates"], 1, 20)
    reg = cl.get("registry")
    if reg is not None:
        string("claims.registry", reg)
    ab = mapping("claims.ablation", cl.get("ablation") or {})
    only_keys("claims.ablation", ab, {"mechanisms", "phenotypes", "rerun_all_conditions"})
    for i, m in enumerate(seq("claims.ablation.mechanisms", ab.get("mechanisms") or [])):
        one_of(f"claims.ablation.mechanisms[{i}]", m, MECHANISMS)
    for i, p in enumerate(seq("claims.ablation.phenotypes", ab.get("phenotypes") or [])):
        one_of(f"claims.ablation.phenotypes[{i}]", p, phenotypes)
    if "rerun_all_conditions" in ab:
        boolean("claims.ablation.rerun_all_conditions", ab["rerun_all_conditions"])


# ------------------------------------------------------------------------------------------ feasibility
@dataclass(frozen=True)
class Estimate:
    n_items: int
    item_steps: float
    seconds: float
    bytes: float


def estimate(cfg) -> Estimate:
    """Rough work of a validated config: items (scans), item-steps, seconds on 2 cores, peak result memory.

    Memory per item: about five N x N float64 arrays (covariance accumulators, FC, the float32 copy) plus the
    per-item state; seconds from :func:`rough_item_steps_per_s`.
    """
    c = _plain(cfg)
    e, n_sub = c["experiment"], int(c["cohort"]["n_subjects"])
    n_regions = max(1, len(c["atlas"]["regions"]) - len(c["atlas"].get("drop") or []))
    if e["kind"] == "cohort":
        n_items = n_sub
    else:
        conds = e.get("conditions") or {}
        n_cond = len(e.get("select") or conds)
        n_items = n_cond * n_sub * len(e["scans_h"])
        dr = e.get("dose_response")
        if dr:
            n_items += len(dr["doses_mg_per_kg"]) * n_sub * (len(dr["times_h"]) + 1)
        if e["kind"] == "claims":
            ab = (c.get("claims") or {}).get("ablation") or {}
            n_items *= 1 + len(ab.get("mechanisms") or []) + max(0, len(ab.get("phenotypes") or []) - 1)
    s, dt = c["scan"], float(c["model"]["dt_s"])
    steps = (float(s["duration_s"]) + float(s["transient_s"])) / dt
    item_steps = n_items * steps
    rate = rough_item_steps_per_s(c["model"]["name"], n_regions) or 1e6
    mem = n_items * (5 * n_regions * n_regions * 8 + 64 * n_regions)
    return Estimate(n_items, item_steps, item_steps / rate, mem)


def _memory_bytes() -> float:
    try:
        import os

        return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 8e9


def check_feasible(cfg) -> Estimate:
    """Refuse work estimated beyond :data:`MAX_ESTIMATED_S` or half the memory, unless ``allow_long`` is true."""
    est = estimate(cfg)
    if bool(_plain(cfg).get("allow_long", False)):
        return est
    mem_limit = MAX_MEMORY_FRACTION * _memory_bytes()
    how = ("shrink cohort.n_subjects, experiment.scans_h or scan.duration_s, raise model.dt_s, or add "
           "+allow_long=true if you mean it")
    if est.bytes > mem_limit:
        raise ConfigError(f"cohort.n_subjects: this run needs ~{est.bytes / 1e9:.3g} GB for {est.n_items:.3g} scans "
                          f"(limit {mem_limit / 1e9:.3g} GB, half this machine's memory); {how}")
    if est.seconds > MAX_ESTIMATED_S:
        dt = _plain(cfg)["model"]["dt_s"]
        raise ConfigError(f"model.dt_s: this run would take ~{_duration(est.seconds)} on 2 cores ({est.item_steps:.3g} "
                          f"item-steps at model.dt_s={dt:g}, {est.n_items} scans; limit {_duration(MAX_ESTIMATED_S)}); "
                          f"{how}")
    return est


def _duration(s: float) -> str:
    if s < 3600:
        return f"{s / 60:.0f} min"
    if s < 86400 * 3:
        return f"{s / 3600:.1f} h"
    return f"{s / 86400:.3g} days"


# ------------------------------------------------------------------------------------------ blame
def changed_keys(overrides: Sequence[str]) -> list[str]:
    """Config keys named by command-line overrides (``+a.b=1`` -> ``a.b``; group choices ``model=x`` -> ``model``)."""
    out = []
    for o in overrides:
        k = o.split("=", 1)[0].lstrip("+~")
        if k and not k.startswith("hydra"):
            out.append(k.split("@", 1)[0].replace("/", "."))
    return out


def blame_dt(err: ConfigError, changed: Sequence[str]) -> ConfigError:
    """An unstable-dt error is about the key the user changed: a model parameter, not ``model.dt_s``, when the user
    changed parameters and left dt alone."""
    msg = str(err)
    if not msg.startswith("model.dt_s:") or "model.dt_s" in changed:
        return err
    params = [k for k in changed if k.startswith("model.params.")]
    if not params:
        return err
    detail = msg.removeprefix("model.dt_s:").strip()
    keys = ", ".join(params)
    return ConfigError(f"{params[0]}: the value given makes the network too fast for the time step ({detail}); "
                       f"lower {keys} or lower model.dt_s")
