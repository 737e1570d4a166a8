"""Claims of the seed articles written as data, evaluated against a run: each seed claim, the literature's verdict
and the simulation's verdict side by side.

* :mod:`sim.claims.registry` loads and validates ``configs/claims/registry.yaml`` (data: claims, quotes,
  operationalisations, literature verdicts, expected mechanism dependence; never a simulation outcome);
* :mod:`sim.claims.evaluate` computes each claim's effect, 95 % CI and verdict from a run's results;
* :mod:`sim.claims.ablation` reruns the experiment with each mechanism off and with the other phenotype
  (``dmnsim experiment=claims``) and compares the verdicts;
* :mod:`sim.claims.verdicts` names the verdicts (and their colours and symbols).

The claims package knows nothing of its presenters: :mod:`sim.report` writes claims.csv, report.md and
report.html (docs/claims.md).
"""

from __future__ import annotations

from sim.claims.evaluate import (
    Result,
    contradictions,
    evaluate,
    evaluate_by_window,
    evaluate_claim,
)
from sim.claims.registry import Claim, Registry, known_names, load_registry, validate
from sim.claims.verdicts import NOT_EVALUATED, NOT_REPRODUCED, NOT_TESTABLE, OPPOSITE, REPRODUCED

__all__ = ["NOT_EVALUATED", "NOT_REPRODUCED", "NOT_TESTABLE", "OPPOSITE", "REPRODUCED", "Claim", "Registry",
           "Result", "contradictions", "evaluate", "evaluate_by_window", "evaluate_claim", "known_names",
           "load_registry", "validate"]
