"""The claims registry: load ``configs/claims/registry.yaml`` and validate it.

The registry is data (see the header of the YAML file for every field and the verdict rule). This module
turns it into frozen dataclasses, checks its internal consistency when loading (ids, windows, contrast types,
expected directions, mechanism names), and checks it against a run with :func:`validate`: an entry naming a
metric, region, network or condition that does not exist is a :class:`~sim.errors.ConfigError` naming the
entry id and the allowed names.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sim.config import CONFIG_DIR
from sim.errors import ConfigError
from sim.pharmacology.slow import MECHANISMS  # the one list of drug mechanisms

REGISTRY_PATH = CONFIG_DIR / "claims" / "registry.yaml"
DEPENDENCIES = MECHANISMS + ("phenotype",)
CONTRASTS = ("vs_control", "vs_baseline", "between", "level")
EXPECTED = ("increase", "decrease", "either", "toward_healthy", "below_zero", "above_zero", "no_difference")
SOURCES = ("seed", "literature")


@dataclass(frozen=True)
class SeedQuote:
    file: str
    quote: str


@dataclass(frozen=True)
class Readout:
    """What is measured: a named metric, the mean FC between two sets of regions/networks, mean GBC, the FC change
    of one region against its rivals, or activity (ln BOLD SD, variable ``amp``) of a set of regions or the
    difference of two sets' activity (an asymmetric measure: a minus b)."""

    kind: str  # metric | pair | gbc | most_changed (a = [target], b = the rivals) | activity | activity_diff
    metric: str | None = None
    a: tuple[str, ...] = ()
    b: tuple[str, ...] = ()

    def label(self) -> str:
        if self.kind == "metric":
            return str(self.metric)
        if self.kind == "pair":
            return f"FC {'+'.join(self.a)} <-> {'+'.join(self.b)}"
        if self.kind == "most_changed":
            return f"FC change of {self.a[0]} minus the largest of {'+'.join(self.b)}"
        if self.kind == "activity":
            return f"activity of {'+'.join(self.a)}"
        if self.kind == "activity_diff":
            return f"activity of {'+'.join(self.a)} minus activity of {'+'.join(self.b)}"
        return f"GBC of {'+'.join(self.a)}"


@dataclass(frozen=True)
class Contrast:
    type: str
    treated: str
    control: str | None = None

    def conditions(self) -> tuple[str, ...]:
        return (self.treated,) if self.control is None else (self.treated, self.control)

    def label(self) -> str:
        if self.type == "vs_control":
            return f"{self.treated} vs {self.control} (each minus its own baseline)"
        if self.type == "vs_baseline":
            return f"{self.treated} vs its own baseline"
        if self.type == "between":
            return f"{self.treated} minus {self.control}"
        return f"{self.treated}, value itself"


@dataclass(frozen=True)
class Literature:
    verdict: str
    detail: str
    citations: tuple[str, ...] = ()


@dataclass(frozen=True)
class Claim:
    id: str
    source: str
    seeds: tuple[SeedQuote, ...]
    claim: str
    testable: bool
    literature: Literature
    depends_on: tuple[str, ...]
    reason: str | None = None
    readout: Readout | None = None
    contrast: Contrast | None = None
    population: str = ""
    window: str | None = None
    reference_window: str | None = None
    expected: str | None = None
    note: str = ""
    speaks_about: tuple[str, ...] = ()   # timeline windows the claim speaks about (empty = every one)

    @property
    def seed_files(self) -> str:
        return "; ".join(s.file for s in self.seeds) or "none (primary literature)"


@dataclass(frozen=True)
class Window:
    name: str
    label: str
    times_h: tuple[float, ...] = ()
    all: bool = False


@dataclass(frozen=True)
class Pair:
    ids: tuple[str, str]
    about: str
    same_computation: bool = False   # both sides are one number (same read-out, contrast, windows) judged
                                     # in opposite directions
    latency_until_h: float | None = None  # a pair about timing: each side's onset scan by scan up to this time


@dataclass(frozen=True)
class Excluded:
    """A seed sentence left out of the claims, with the reason (e.g. the title of a cited reference)."""

    file: str
    quote: str
    reason: str


@dataclass(frozen=True)
class Registry:
    claims: tuple[Claim, ...]
    windows: dict[str, Window]
    timeline_windows: tuple[str, ...]
    contradictions: tuple[Pair, ...]
    ci_level: float = 0.95
    min_abs_effect: dict[str, float] = field(default_factory=dict)
    time_tolerance_h: float = 0.01
    normalisation: dict[str, str] = field(default_factory=dict)
    seed_titles: dict[str, str] = field(default_factory=dict)
    path: str = ""
    excluded: tuple[Excluded, ...] = ()
    task_block: dict = field(default_factory=dict)   # settings.task_block (sim/claims/task.py)

    def uses_task(self) -> bool:
        from sim.claims.task import TASK_METRICS

        return any(c.readout.kind == "metric" and c.readout.metric in TASK_METRICS for c in self.testable)

    def windows_of(self, claim: Claim) -> tuple[str, ...]:
        """The timeline windows a claim speaks about: its ``speaks_about``; else none for a claim that names no
        time (its window is every scan, e.g. depressed vs healthy without treatment); else every timeline window."""
        if claim.speaks_about:
            return claim.speaks_about
        if claim.window is not None and self.windows[claim.window].all:
            return ()
        return self.timeline_windows

    def get(self, claim_id: str) -> Claim:
        for c in self.claims:
            if c.id == claim_id:
                return c
        raise KeyError(claim_id)

    @property
    def testable(self) -> tuple[Claim, ...]:
        return tuple(c for c in self.claims if c.testable)


def _names(v, key: str) -> tuple[str, ...]:
    if isinstance(v, str):
        return (v,)
    if not isinstance(v, Iterable) or not v:
        raise ConfigError(f"{key}: expected a non-empty list of region or network names, got {v!r}")
    return tuple(str(x) for x in v)


def _one_of(key: str, value, allowed: Iterable[str]) -> str:
    allowed = tuple(allowed)
    if value not in allowed:
        raise ConfigError(f"{key}: unknown value {value!r}; allowed: {', '.join(allowed)}")
    return str(value)


def _readout(spec, key: str) -> Readout:
    if not isinstance(spec, Mapping) or len(spec) != 1:
        raise ConfigError(f"{key}: give exactly one of metric: <name>, pair: {{a: [...], b: [...]}}, gbc: [...], "
                          "activity: [...], activity_diff: {a: [...], b: [...]}, most_changed: {target, others}")
    (kind, v), = spec.items()
    if kind == "metric":
        return Readout("metric", metric=str(v))
    if kind == "pair":
        if not isinstance(v, Mapping) or "a" not in v or "b" not in v:
            raise ConfigError(f"{key}.pair: needs lists 'a' and 'b' of region or network names")
        return Readout("pair", a=_names(v["a"], f"{key}.pair.a"), b=_names(v["b"], f"{key}.pair.b"))
    if kind == "gbc":
        return Readout("gbc", a=_names(v, f"{key}.gbc"))
    if kind == "most_changed":
        if not isinstance(v, Mapping) or "target" not in v or "others" not in v:
            raise ConfigError(f"{key}.most_changed: needs 'target' (a region) and 'others' (regions)")
        return Readout("most_changed", a=(str(v["target"]),), b=_names(v["others"], f"{key}.most_changed.others"))
    if kind == "activity":
        return Readout("activity", a=_names(v, f"{key}.activity"))
    if kind == "activity_diff":
        if not isinstance(v, Mapping) or "a" not in v or "b" not in v:
            raise ConfigError(f"{key}.activity_diff: needs lists 'a' and 'b' of region or network names")
        a, b = _names(v["a"], f"{key}.activity_diff.a"), _names(v["b"], f"{key}.activity_diff.b")
        if set(a) & set(b):
            raise ConfigError(f"{key}.activity_diff: 'a' and 'b' share {sorted(set(a) & set(b))}; they must differ")
        return Readout("activity_diff", a=a, b=b)
    raise ConfigError(f"{key}: unknown read-out {kind!r}; allowed: metric, pair, gbc, most_changed, activity, "
                      "activity_diff")


def _claim(d: Mapping, windows: Mapping[str, Window], i: int) -> Claim:
    cid = d.get("id")
    if not cid:
        raise ConfigError(f"claims registry: entry #{i} has no id")
    key = f"claims registry entry {cid!r}"

    def req(name):
        if d.get(name) in (None, ""):
            raise ConfigError(f"{key}: missing field {name!r}")
        return d[name]

    source = _one_of(f"{key}.source", req("source"), SOURCES)
    seeds = tuple(SeedQuote(str(s["file"]), str(s["quote"])) for s in (d.get("seeds") or []))
    if source == "seed" and not seeds:
        raise ConfigError(f"{key}: a seed claim needs seeds: [{{file, quote}}]")
    lit = req("literature")
    literature = Literature(str(lit.get("verdict", "")), str(lit.get("detail", "")),
                            tuple(str(c) for c in (lit.get("citations") or [])))
    if not literature.verdict:
        raise ConfigError(f"{key}.literature: missing verdict")
    deps = tuple(str(x) for x in (d.get("depends_on") or []))
    for dep in deps:
        _one_of(f"{key}.depends_on", dep, DEPENDENCIES)
    common = dict(id=str(cid), source=source, seeds=seeds, claim=str(req("claim")), literature=literature,
                  depends_on=deps, note=str(d.get("note") or ""))
    if not bool(d.get("testable", True)):
        return Claim(testable=False, reason=str(req("reason")), **common)
    readout = _readout(req("readout"), f"{key}.readout")
    c = req("contrast")
    ctype = _one_of(f"{key}.contrast.type", c.get("type"), CONTRASTS)
    if not c.get("treated"):
        raise ConfigError(f"{key}.contrast: missing treated condition")
    needs_control = ctype in ("vs_control", "between")
    if needs_control != bool(c.get("control")):
        raise ConfigError(f"{key}.contrast: type {ctype} {'needs' if needs_control else 'takes no'} control condition")
    contrast = Contrast(ctype, str(c["treated"]), str(c["control"]) if needs_control else None)
    window = _one_of(f"{key}.window", req("window"), windows)
    ref = d.get("reference_window")
    if ref is not None:
        ref = _one_of(f"{key}.reference_window", ref, windows)
    expected = _one_of(f"{key}.expected", req("expected"), EXPECTED)
    if (expected in ("below_zero", "above_zero")) != (ctype == "level"):
        raise ConfigError(f"{key}.expected: below_zero/above_zero go with (and only with) contrast type level")
    if ref is not None and ctype == "level":
        raise ConfigError(f"{key}.reference_window: not allowed with contrast type level")
    speaks = tuple(_one_of(f"{key}.speaks_about", w, windows) for w in (d.get("speaks_about") or []))
    return Claim(testable=True, readout=readout, contrast=contrast, population=str(d.get("population") or ""),
                 window=window, reference_window=ref, expected=expected, speaks_about=speaks, **common)


def load_registry(source: str | Path | Mapping | None = None) -> Registry:
    """Load and check a registry from a YAML path (default: ``configs/claims/registry.yaml``) or a mapping."""
    import yaml

    path = ""
    if source is None or isinstance(source, (str, Path)):
        p = Path(source) if source is not None else REGISTRY_PATH
        if not p.is_file():
            raise ConfigError(f"claims registry: file not found: {p}")
        with open(p, encoding="utf-8") as f:
            data = yaml.safe_load(f)
        path = str(p)
    else:
        data = source
    if not isinstance(data, Mapping) or "claims" not in data:
        raise ConfigError("claims registry: expected a mapping with 'claims', 'windows', ...")
    windows = {}
    for name, w in (data.get("windows") or {}).items():
        if not w.get("all") and not w.get("times_h"):
            raise ConfigError(f"claims registry window {name!r}: give times_h: [...] or all: true")
        windows[str(name)] = Window(str(name), str(w.get("label", name)),
                                    tuple(float(t) for t in (w.get("times_h") or [])), bool(w.get("all", False)))
    timeline = tuple(_one_of("claims registry timeline_windows", w, windows)
                     for w in (data.get("timeline_windows") or []))
    claims = tuple(_claim(d, windows, i) for i, d in enumerate(data["claims"]))
    ids = [c.id for c in claims]
    dup = sorted({x for x in ids if ids.count(x) > 1})
    if dup:
        raise ConfigError(f"claims registry: duplicate ids: {', '.join(dup)}")
    for c in claims:
        for w in c.speaks_about:
            if w not in timeline:
                raise ConfigError(f"claims registry entry {c.id!r}.speaks_about: {w!r} is not a timeline window; "
                                  f"allowed: {', '.join(timeline)}")
    by_id = {c.id: c for c in claims}
    pairs = []
    for p in data.get("contradictions") or []:
        a, b = p["pair"]
        key = f"claims registry contradiction {a!r}/{b!r}"
        for x in (a, b):
            _one_of(key, x, ids)
        same = bool(p.get("same_computation", False))
        if same:
            ca, cb = by_id[a], by_id[b]
            if not (ca.testable and cb.testable and ca.readout == cb.readout and ca.contrast == cb.contrast
                    and ca.window == cb.window and ca.reference_window == cb.reference_window):
                raise ConfigError(f"{key}: same_computation needs two testable claims with the same readout, "
                                  "contrast, window and reference_window")
        lat = p.get("latency_until_h")
        if lat is not None and not (isinstance(lat, (int, float)) and lat > 0):
            raise ConfigError(f"{key}.latency_until_h: expected a positive number of hours, got {lat!r}")
        pairs.append(Pair((str(a), str(b)), str(p.get("about", "")), same,
                          float(lat) if lat is not None else None))
    excluded = tuple(Excluded(str(e["file"]), str(e["quote"]), str(e["reason"]))
                     for e in (data.get("excluded") or []))
    titles = {str(k): str(v) for k, v in (data.get("seed_titles") or {}).items()}
    for c in claims:
        for q in c.seeds:
            if titles and q.file not in titles:
                raise ConfigError(f"claims registry entry {c.id!r}: seed file {q.file!r} has no entry in seed_titles; "
                                  f"allowed: {', '.join(sorted(titles))}")
    s = data.get("settings") or {}
    return Registry(claims, windows, timeline, tuple(pairs), float(s.get("ci_level", 0.95)),
                    {str(k): float(v) for k, v in (s.get("min_abs_effect") or {}).items()},
                    float(s.get("time_tolerance_h", 0.01)),
                    {str(k): str(v) for k, v in (s.get("normalisation") or {}).items()}, titles, path, excluded,
                    dict(s.get("task_block") or {}))


@dataclass(frozen=True)
class KnownNames:
    """Names a registry may use. ``*_run`` are those present in the run; the others may be absent from it."""

    metrics: frozenset[str]
    regions: frozenset[str]
    networks: frozenset[str]
    conditions: frozenset[str]


def known_names(ds, cfg: Mapping | None = None) -> KnownNames:
    """Names available in a run's Dataset, widened by the config (conditions of the default experiment and of
    this one, every atlas region incl. dropped ones, every configured seed pair) when ``cfg`` is given."""
    metrics = {str(k) for k in ds.data_vars if ds[k].dims == ("condition", "subject", "time_h")}
    regions = {str(r) for r in ds["region"].values} if "region" in ds.coords else set()
    networks = {str(n) for n in ds["network"].values} if "network" in ds.coords else set()
    conditions = {str(c) for c in ds["condition"].values}
    if cfg is not None:
        from omegaconf import OmegaConf

        conditions |= {str(c) for c in (cfg.get("experiment", {}).get("conditions") or {})}
        default = CONFIG_DIR / "experiment" / "default.yaml"
        if default.is_file():
            conditions |= {str(c) for c in (OmegaConf.load(default).experiment.get("conditions") or {})}
        atlas = cfg.get("atlas") or {}
        regions |= {str(r) for r in (atlas.get("regions") or {})}
        regions |= {str(r) for r in (atlas.get("aliases") or {})} | {str(r) for r in (atlas.get("not_available") or {})}
        networks |= {str(n) for n in (atlas.get("networks") or [])}
        metrics |= {f"fc_{p}" for p in ((cfg.get("metrics") or {}).get("seed_pairs") or {})}
        metrics |= {f"amp_{str(n).lower()}" for n in networks}  # activity per network (sim.metrics)
        from sim.claims.task import TASK_METRICS

        metrics |= set(TASK_METRICS)  # added to the results by the claims stage (sim/claims/task.py)
    return KnownNames(frozenset(metrics), frozenset(regions), frozenset(networks), frozenset(conditions))


def _unknown(cid: str, what: str, value: str, allowed: Iterable[str]) -> ConfigError:
    return ConfigError(f"claims registry entry {cid!r}: unknown {what} {value!r}; allowed: "
                       f"{', '.join(sorted(allowed))}")


def validate(registry: Registry, names: KnownNames) -> None:
    """Raise :class:`ConfigError` (naming the entry and the allowed names) for any unknown metric, region,
    network or condition used by a testable claim (and by the normalisation conditions)."""
    norm = registry.normalisation
    for c in registry.testable:
        r = c.readout
        if r.kind == "metric" and r.metric not in names.metrics:
            raise _unknown(c.id, "metric", r.metric, names.metrics)
        for x in r.a + r.b:
            if x not in names.regions and x not in names.networks:
                raise _unknown(c.id, "region or network", x, names.regions | names.networks)
        if r.kind in ("gbc", "most_changed"):
            for x in r.a + r.b:
                if x not in names.regions:
                    raise _unknown(c.id, "region (gbc)", x, names.regions)
        for cond in c.contrast.conditions():
            if cond not in names.conditions:
                raise _unknown(c.id, "condition", cond, names.conditions)
        if c.expected == "toward_healthy":
            for role in ("healthy", "depressed"):
                cond = norm.get(role)
                if cond not in names.conditions:
                    raise _unknown(c.id, f"normalisation.{role} condition", cond, names.conditions)
