"""Verdict names, colours and symbols: the one vocabulary of the claims engine (evaluation, stability, report,
sandbox and figures all use these)."""

REPRODUCED = "reproduced"
NOT_REPRODUCED = "not reproduced"
OPPOSITE = "opposite"
NOT_EVALUATED = "not evaluated"
NOT_TESTABLE = "not testable in this model"
VERDICTS = (REPRODUCED, NOT_REPRODUCED, OPPOSITE, NOT_EVALUATED, NOT_TESTABLE)

#: fill colours (figures, sandbox): green = reproduced, red = opposite, grey = not reproduced
COLORS = {REPRODUCED: "#1a9850", OPPOSITE: "#d73027", NOT_REPRODUCED: "#e0e0e0", NOT_EVALUATED: "#ffffff",
          NOT_TESTABLE: "#ffffff"}
#: CSS classes of report.html table cells
CSS = {REPRODUCED: "v-rep", OPPOSITE: "v-opp", NOT_REPRODUCED: "v-not", NOT_EVALUATED: "v-ne", NOT_TESTABLE: "v-nt"}
#: one-character symbols for dense tables
SYMBOLS = {REPRODUCED: "✓", OPPOSITE: "✗", NOT_REPRODUCED: "·", NOT_EVALUATED: "n/e", NOT_TESTABLE: ""}

#: stability classes of a verdict across replicate cohorts (sim.claims.stability)
STABLE = "stable"
FRAGILE = "fragile"
#: how a verdict arises (sim.claims.provenance)
EMERGENT = "emergent"
BUILT_IN_INPUT = "built in: set by an input"
BUILT_IN_NETWORK = "built in: property of the network"
