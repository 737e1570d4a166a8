"""Parameter metadata declared once: unit, allowed range, default, source.

Each node model declares a tuple of :class:`ParamSpec`; the same table checks config values,
documents the model (README tables are generated from it by :mod:`sim.models.tables`) and builds the
sandbox's controls. This module imports no model (the layers point down: models -> params).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from sim.errors import check_range, unknown


@dataclass(frozen=True)
class ParamSpec:
    name: str
    default: float
    unit: str
    lo: float | None
    hi: float | None
    source: str
    doc: str
    lo_open: bool = False


#: Natural frequencies of BOLD-time-scale oscillators (hopf, kuramoto), drawn per subject and region.
FREQUENCY_PARAMS = (
    ParamSpec("f_min_hz", 0.04, "Hz", 0.0, 1.0, "Deco 2017 Sci Rep 7:3095: 0.04-0.07 Hz band-passed BOLD peak",
              "lowest natural frequency drawn per subject and region"),
    ParamSpec("f_max_hz", 0.07, "Hz", 0.0, 1.0, "Deco 2017", "highest natural frequency"),
)


def natural_frequency_rad_s(values: dict, freq_u):
    """omega = 2 pi (f_min + u (f_max - f_min)) for per-subject quantiles u in [0, 1]."""
    return 2 * np.pi * (values["f_min_hz"] + freq_u * (values["f_max_hz"] - values["f_min_hz"]))


def read_params(specs: Sequence[ParamSpec], cfg: Mapping, key: str) -> dict[str, float]:
    """Check a config mapping against ``specs``: unknown keys and out-of-range values raise.

    Keys of ``cfg`` that are not parameters (``name``, ``integrator`` ...) are listed in ``extra``.
    """
    out = {}
    known = {s.name for s in specs}
    for k in cfg:
        if k not in known:
            raise unknown(f"{key}.<param>", k, known)
    for s in specs:
        v = cfg.get(s.name, s.default)
        out[s.name] = check_range(f"{key}.{s.name}", v, s.lo, s.hi, s.lo_open)
    return out


def markdown_table(specs: Sequence[ParamSpec]) -> str:
    """The parameter table as Markdown (used in the README and the sandbox)."""
    rows = ["| parameter | default | unit | range | meaning | source |", "|---|---|---|---|---|---|"]
    for s in specs:
        rng = f"{'(' if s.lo_open else '['}{s.lo if s.lo is not None else '-inf'}, "
        rng += f"{s.hi if s.hi is not None else 'inf'}]"
        rows.append(f"| `{s.name}` | {s.default:g} | {s.unit} | {rng} | {s.doc} | {s.source} |")
    return "\n".join(rows)
