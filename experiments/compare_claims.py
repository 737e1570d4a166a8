"""Which claim verdicts change between two runs (e.g. the 21-region sketch and the real AAL2 connectome)?

Usage: python experiments/compare_claims.py RUN_A RUN_B [--markdown]
Reads each run's claims.csv and prints, per (claim id, window), the two simulation verdicts and effects, changed
rows first, then a count of changed / unchanged / not evaluable in either.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

KEY = ["id", "window"]


def compare(a: Path, b: Path) -> pd.DataFrame:
    cols = KEY + ["claim", "simulation_verdict", "effect", "ci_low", "ci_high", "verdict_reason"]
    da = pd.read_csv(a / "claims.csv")[cols]
    db = pd.read_csv(b / "claims.csv")[cols]
    m = da.merge(db, on=KEY, how="outer", suffixes=("_a", "_b"))
    m["changed"] = m["simulation_verdict_a"].fillna("-") != m["simulation_verdict_b"].fillna("-")
    return m.sort_values(["changed", "id"], ascending=[False, True])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run_a", type=Path)
    ap.add_argument("run_b", type=Path)
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args()
    m = compare(args.run_a, args.run_b)
    show = m[["id", "window", "simulation_verdict_a", "effect_a", "simulation_verdict_b", "effect_b", "changed"]]
    if args.markdown:
        print("| " + " | ".join(show.columns) + " |\n|" + "---|" * len(show.columns))
        for row in show.itertuples(index=False):
            print("| " + " | ".join(f"{v:+.3f}" if isinstance(v, float) else str(v) for v in row) + " |")
    else:
        print(show.to_string(index=False))
    print(f"\n{int(m['changed'].sum())} of {len(m)} (claim, window) verdicts differ between "
          f"{args.run_a} and {args.run_b}")


if __name__ == "__main__":
    main()
