"""Dosing protocols from config: infusions (ketamine or saline) and TMS sessions on a calendar.

A protocol entry in ``configs/protocols/default.yaml``::

    ketamine_murrough2013:
      drug: ketamine            # ketamine | saline | none
      dose_mg_per_kg: 0.5
      duration_min: 40
      infusion_days: [0, 2, 4, 7, 9, 11]
      tms_session_days: []      # optional

Days are converted to hours from the first session (time 0); a day may be fractional.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sim.errors import ConfigError, check_range, unknown
from sim.pharmacology.pk import Infusion

DRUGS = ("ketamine", "saline", "none")


@dataclass(frozen=True)
class Protocol:
    name: str
    drug: str
    infusions: tuple[Infusion, ...]
    tms_sessions_h: tuple[float, ...]

    @property
    def events_h(self) -> tuple[float, ...]:
        return tuple(i.start_h for i in self.infusions) + self.tms_sessions_h


def protocol_from_config(name: str, cfg: Mapping, timeline_h: tuple[float, float],
                         dose_override: float | None = None) -> Protocol:
    """Build and validate one protocol. Saline infusions carry dose 0 (a placebo with the same schedule)."""
    key = f"protocols.{name}"
    drug = cfg.get("drug", "none")
    if drug not in DRUGS:
        raise unknown(f"{key}.drug", drug, DRUGS)
    days = list(cfg.get("infusion_days") or [])
    if drug == "none" and days:
        raise ConfigError(f"{key}.infusion_days: given but drug is 'none'; allowed drugs: ketamine, saline")
    dose = cfg.get("dose_mg_per_kg", 0.0) if dose_override is None else dose_override
    dose = check_range(f"{key}.dose_mg_per_kg", dose, 0.0, 10.0)
    if drug == "saline":
        dose = 0.0
    dur = check_range(f"{key}.duration_min", cfg.get("duration_min", 40.0), 0.0, 24 * 60.0, lo_open=True)
    t0, t1 = timeline_h
    infusions = []
    for i, d in enumerate(days):
        start = check_range(f"{key}.infusion_days[{i}]", d, None, None) * 24.0
        if not t0 <= start < t1:
            raise ConfigError(f"{key}.infusion_days[{i}]: day {float(d):g} is outside the timeline "
                              f"[{t0 / 24:g}, {t1 / 24:g}) days")
        infusions.append(Infusion(start_h=start, dose_mg_per_kg=dose, duration_min=dur))
    tms = []
    for i, d in enumerate(cfg.get("tms_session_days") or []):
        start = check_range(f"{key}.tms_session_days[{i}]", d, None, None) * 24.0
        if not t0 <= start < t1:
            raise ConfigError(f"{key}.tms_session_days[{i}]: day {float(d):g} is outside the timeline "
                              f"[{t0 / 24:g}, {t1 / 24:g}) days")
        tms.append(start)
    return Protocol(name, drug, tuple(infusions), tuple(sorted(tms)))
