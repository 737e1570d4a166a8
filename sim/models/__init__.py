"""Node models, one module each, behind one typed interface (:class:`sim.models.base.NodeModel`).

Each module defines ``NAME``, ``N_STATE``, ``STATE_NAMES``, ``OBSERVATION`` ("direct" or "balloon"),
``DEFAULT_DT_S``, ``PARAMS`` (tuple of :class:`sim.params.ParamSpec`), ``CAPABILITIES`` (declared optional
behaviour: ``kernel``, ``delays``, ``post_step``), a frozen per-item params dataclass, and functions
``build(values, net)``, ``init_state(p, rngs)`` (one generator per item), ``drift(state, p)``, ``noise_scale(p)``,
``observable(state)``, ``check_dt(dt_s, p)``; with ``kernel``, a ``KERNEL`` whose compiled ``rhs`` is the
model's only copy of its equations (``drift`` evaluates it too).
"""

from __future__ import annotations

from types import ModuleType

from sim.errors import unknown
from sim.models import hopf, kuramoto, wilson_cowan

MODELS: dict[str, ModuleType] = {"hopf": hopf, "wilson_cowan": wilson_cowan, "kuramoto": kuramoto}


def get_model(name: str) -> ModuleType:
    if name not in MODELS:
        raise unknown("model.name", name, MODELS)
    return MODELS[name]
