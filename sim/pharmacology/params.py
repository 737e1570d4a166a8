"""The pharmacology parameters, declared once with the node models' parameter-spec table (unit, range, default,
source): config checks (``drug.*``), the dataclass defaults and the README table all come from here."""

from __future__ import annotations

from sim.params import ParamSpec

#: the drug mechanisms, each switchable in drug.mechanisms (README "Drug and time"): the one list
MECHANISMS = ("disinhibition", "trapping", "plasticity", "tms")

PK = (
    ParamSpec("v1_l_per_kg", 1.7522, "L/kg", 0.0, 100.0, "Clements & Nimmo 1981 (opentiva) [V]",
              "central volume of distribution", lo_open=True),
    ParamSpec("k10_per_min", 0.0109, "1/min", 0.0, 10.0, "Clements & Nimmo 1981 [V]",
              "elimination rate constant", lo_open=True),
    ParamSpec("k12_per_min", 0.0186, "1/min", 0.0, 10.0, "Clements & Nimmo 1981 [V]",
              "central -> peripheral rate constant", lo_open=True),
    ParamSpec("k21_per_min", 0.0137, "1/min", 0.0, 10.0, "Clements & Nimmo 1981 [V]",
              "peripheral -> central rate constant", lo_open=True),
    ParamSpec("clearance_cv", 0.3, "1", 0.0, 2.0, "assumed; textbook CL 15 +/- 5 mL/min/kg [S]",
              "between-subject coefficient of variation of clearance (lognormal, mean 1)"),
)
RECEPTOR = (
    ParamSpec("ki_um", 1.0, "uM", 0.0, 1000.0, "assumed; literature 0.119-2.5 uM [S]",
              "effective inhibition constant on total plasma ketamine", lo_open=True),
    ParamSpec("tau_trap_h", 2.0, "h", 0.0, 1000.0, "assumed", "trapping time constant at full occupancy",
              lo_open=True),
    ParamSpec("tau_untrap_h", 8.0, "h", 0.0, 1000.0, "assumed to match block 'up to 24 h' (Ma 2023) [V]",
              "untrapping time constant", lo_open=True),
)
ACUTE = (
    ParamSpec("excitability_per_block", 0.02, "1/s per block", -10.0, 10.0, "assumed",
              "rise of the hopf a (local excitability) per unit of weighted NMDA block (disinhibition)"),
)
PLASTICITY = (
    ParamSpec("tau_rise_h", 18.0, "h", 0.0, 1e4, "assumed; spines at ~12-24 h (Li 2010; Moda-Sava 2019) [R]",
              "rise of the BDNF/mTOR drive", lo_open=True),
    ParamSpec("tau_decay_h", 120.0, "h", 0.0, 1e5, "assumed; effect lost within ~1 week (Kishimoto 2016) [V]",
              "decay of the synaptic state", lo_open=True),
    ParamSpec("b_max", 0.9, "1", 0.0, 1.0, "assumed; inverted-U glutamate surge (Moghaddam 1997) [V]",
              "block above which the glutamate surge vanishes", lo_open=True),
    ParamSpec("s_half_block_h", 4.0, "block-h", 0.0, 1e4, "assumed: one 0.5 mg/kg infusion ~ half the maximal gain",
              "half-saturation of the synaptic gain", lo_open=True),
)
TMS = (
    ParamSpec("session_h", 1.0, "h", 0.0, 24.0, "one 37.5-min 10 Hz session rounded up (O'Reardon 2007) [R]",
              "duration of one session's drive", lo_open=True),
    ParamSpec("tau_rise_h", 24.0, "h", 0.0, 1e5, "assumed", "rise of the TMS state", lo_open=True),
    ParamSpec("tau_decay_h", 336.0, "h", 0.0, 1e5, "assumed: effects outlast a course by weeks [R]",
              "decay of the TMS state", lo_open=True),
    ParamSpec("s_half_h", 5.0, "session-h", 0.0, 1e5, "assumed: ~a week of daily sessions reaches half effect",
              "half-saturation of the TMS effect", lo_open=True),
)
#: config group -> its table (drug.pk, drug.receptor, drug.acute, drug.plasticity, drug.tms)
TABLES = {"pk": PK, "receptor": RECEPTOR, "acute": ACUTE, "plasticity": PLASTICITY, "tms": TMS}


def defaults(table) -> dict[str, float]:
    return {s.name: s.default for s in table}
