"""The results schema: what a timeline run's :class:`xarray.Dataset` holds, and how presenters read it.

Presenters (summary, figures, claims, report, sweep, sandbox) read conditions' roles and labels, the
contrasts the experiment asks for, the key metrics and the networks' order and colours from the Dataset,
never from condition names. Written by :mod:`sim.experiment`; documented in ``docs/results.md``.

Dimensions
    ``condition``, ``subject``, ``time_h`` (hours from the first infusion/session; baseline scans < 0),
    ``region``, ``region_to``, ``time_fine_h`` (slow states every 10 min), ``event`` (dosing events);
    dose arm: ``dr_metric``, ``dose_mg_per_kg``, ``dr_time_h``.
Coordinates on ``condition``
    ``phenotype``, ``protocol``, ``role`` (one of :data:`ROLES`), ``label`` (legend text).
Coordinates on ``region``
    ``network``, ``mni_x``, ``mni_y``, ``mni_z`` (mm).
Variables
    every metric ``(condition, subject, time_h)``; ``fc (condition, subject, time_h, region, region_to)``;
    ``gbc (condition, subject, time_h, region)``; slow states ``(condition, subject, time_fine_h)``;
    ``infusion_h``, ``infusion_dose_mg_per_kg``, ``infusion_duration_h``, ``tms_session_h`` ``(condition, event)``;
    ``dr_value (dr_metric, dose_mg_per_kg, subject, dr_time_h)``: change from the dose arm's baseline.
Attributes (JSON strings where structured)
    ``experiment``, ``model``, ``seed``, ``engine`` (simulated | linear), ``trial_noise`` (common | independent),
    ``baseline_scans``, ``dt_s``, ``tr_s``, ``scan_duration_s``, ``gsr``, ``mechanisms``, ``depressed_phenotype``,
    ``contrasts`` (list of {treated, control, times_h, label, network_change_h}), ``key_metrics``
    ({name: label}), ``networks`` ({name: {label, color}} in display order), ``replicates``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

#: how FC is obtained: from simulated scans, or as the expectation of the linearised network (hopf only)
ENGINES = ("simulated", "linear")
#: trial designs: scan noise shared by every condition of a subject, or each condition its own (sim.cohort)
NOISE_DESIGNS = ("common", "independent")

#: what a condition is in its experiment: a treatment arm, its untreated comparison, a sham/saline arm, or a
#: reference population (e.g. healthy subjects) that the treated arms are compared with for normalisation
ROLES = ("treated", "control", "placebo", "reference")

#: colours for roles, used when a condition has no colour of its own (one family per role)
ROLE_PALETTES = {
    "treated": ("#d62728", "#ff7f0e", "#9467bd", "#2ca02c", "#8c564b", "#e377c2", "#bcbd22"),
    "placebo": ("#17becf", "#9edae5", "#6baed6"),
    "control": ("#1f77b4", "#393b79", "#3182bd"),
    "reference": ("#4d4d4d", "#7f7f7f", "#252525"),
}


@dataclass(frozen=True)
class ContrastSpec:
    """A paired contrast the experiment asks for: treated minus control, change from baseline, at given scans."""

    treated: str
    control: str
    times_h: tuple[float, ...]
    label: str = ""
    network_change_h: tuple[float, ...] = ()   # network-change diagrams wanted at these times (may be empty)

    def title(self, labels: dict[str, str] | None = None) -> str:
        if self.label:
            return self.label
        lab = labels or {}
        return f"{lab.get(self.treated, self.treated)} vs {lab.get(self.control, self.control)}"


@dataclass(frozen=True)
class Vocabulary:
    """What presenters need to know about a run's conditions, metrics and networks."""

    conditions: tuple[str, ...]
    roles: dict[str, str]
    labels: dict[str, str]
    contrasts: tuple[ContrastSpec, ...]
    key_metrics: dict[str, str]                # metric name -> label, in display order
    networks: dict[str, dict] = field(default_factory=dict)  # name -> {label, color}, in display order

    def with_role(self, role: str) -> list[str]:
        return [c for c in self.conditions if self.roles.get(c) == role]

    def colors(self) -> dict[str, str]:
        """A stable colour per condition, from its role's palette in condition order."""
        used: dict[str, int] = {}
        out = {}
        for c in self.conditions:
            role = self.roles.get(c, "treated")
            pal = ROLE_PALETTES.get(role, ROLE_PALETTES["treated"])
            out[c] = pal[used.get(role, 0) % len(pal)]
            used[role] = used.get(role, 0) + 1
        return out

    def network_color(self, net: str) -> str:
        return str((self.networks.get(net) or {}).get("color", "#999999"))


def encode(obj) -> str:
    """JSON for a Dataset attribute (NetCDF attributes hold strings and numbers only)."""
    if isinstance(obj, (list, tuple)) and obj and isinstance(obj[0], ContrastSpec):
        obj = [asdict(c) for c in obj]
    return json.dumps(obj, separators=(",", ":"))


def vocabulary(ds) -> Vocabulary:
    """Read the vocabulary of a results Dataset (see the module docstring)."""
    conds = tuple(str(c) for c in ds["condition"].values)
    roles = (dict(zip(conds, (str(r) for r in ds["role"].values), strict=True)) if "role" in ds.coords
             else {c: infer_role(str(ds["protocol"].sel(condition=c).values) if "protocol" in ds.coords else "none",
                                 str(ds["phenotype"].sel(condition=c).values) if "phenotype" in ds.coords else "")
                   for c in conds})
    labels = (dict(zip(conds, (str(x) for x in ds["label"].values), strict=True)) if "label" in ds.coords
              else {c: c.replace("_", " ") for c in conds})
    raw = json.loads(ds.attrs["contrasts"]) if "contrasts" in ds.attrs else None
    contrasts = (tuple(ContrastSpec(c["treated"], c["control"], tuple(c["times_h"]), c.get("label", ""),
                                    tuple(c.get("network_change_h", ()))) for c in raw)
                 if raw is not None else default_contrasts(conds, roles, _phenotypes(ds, conds), ()))
    contrasts = tuple(c for c in contrasts if c.treated in conds and c.control in conds)
    key = json.loads(ds.attrs["key_metrics"]) if "key_metrics" in ds.attrs else {}
    key = {m: lab for m, lab in key.items() if m in ds}
    nets = json.loads(ds.attrs["networks"]) if "networks" in ds.attrs else {}
    return Vocabulary(conds, roles, labels, contrasts, key, nets)


def _phenotypes(ds, conds) -> dict[str, str]:
    if "phenotype" not in ds.coords:
        return {c: "" for c in conds}
    return dict(zip(conds, (str(p) for p in ds["phenotype"].values), strict=True))


def infer_role(protocol_drug: str, phenotype: str) -> str:
    """Role of a condition that does not declare one: untreated healthy = reference, untreated = control,
    saline = placebo, anything else = treated."""
    if protocol_drug in ("none", ""):
        return "reference" if phenotype == "healthy" else "control"
    if protocol_drug in ("saline", "placebo") or "placebo" in protocol_drug:
        return "placebo"
    return "treated"


def default_contrasts(conditions, roles: dict[str, str], phenotypes: dict[str, str],
                      times_h) -> tuple[ContrastSpec, ...]:
    """Contrasts of an experiment that declares none: each treated condition against the placebo condition of
    the same phenotype, else against its untreated control (same phenotype), at ``times_h``."""
    out = []
    for c in conditions:
        if roles.get(c) != "treated":
            continue
        same = [o for o in conditions if o != c and phenotypes.get(o) == phenotypes.get(c)]
        for role in ("placebo", "control", "reference"):
            match = [o for o in same if roles.get(o) == role]
            if match:
                out.append(ContrastSpec(c, match[0], tuple(float(t) for t in times_h)))
                break
    return tuple(out)
