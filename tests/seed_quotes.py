"""What the seed-quote check needs in any clone: ``tests/seed_quotes.json``, a manifest of the seed articles'
hashes and of every registry quote, verified against the articles when the manifest was written.

The seed articles themselves (``shared/seeds/*.txt``) are not in the repository. The manifest records, for each
seed file, the sha256 of its normalised text (runs of white space -> one space) and, for each claim's quote,
the sha256 of the normalised quote and its offset in that normalised text. tests/test_claims.py then checks

* in any clone: every registry quote (claim, file, normalised-quote hash) is in the manifest and vice versa,
  so a quote changed, added or removed in configs/claims/registry.yaml fails until the manifest is rewritten;
* where the articles are present: each file's hash matches and each quote stands at its recorded offset.

The manifest can only be written where the articles are present, and only when every quote is found::

    .venv/bin/python -m tests.seed_quotes          # rewrites tests/seed_quotes.json (DMNSIM_SEEDS=dir to point)
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from pathlib import Path

MANIFEST = Path(__file__).resolve().parent / "seed_quotes.json"


def normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def seeds_dir() -> Path | None:
    """``$DMNSIM_SEEDS``, else the first ``shared/seeds`` beside this checkout or one of its parents."""
    if os.environ.get("DMNSIM_SEEDS"):
        env = Path(os.environ["DMNSIM_SEEDS"])
        return env if env.is_dir() else None
    for parent in Path(__file__).resolve().parents[1:]:
        if (parent / "shared" / "seeds").is_dir():
            return parent / "shared" / "seeds"
    return None


def registry_quotes(reg) -> list[tuple[str, str, str]]:
    """(claim id, seed file, normalised quote) for every seed quote of the registry, in registry order."""
    return [(c.id, s.file, normalise(s.quote).strip()) for c in reg.claims for s in c.seeds]


def quote_key(claim: str, file: str, quote: str) -> tuple[str, str, str]:
    return claim, file, sha256(quote)


def build_manifest(reg, seeds: Path) -> dict:
    """The manifest for ``reg`` from the articles in ``seeds``; raises if a quote is not verbatim in its file."""
    texts = {p.name: normalise(p.read_text(encoding="utf-8")) for p in sorted(seeds.glob("*.txt"))}
    quotes, missing = [], []
    for claim, file, q in registry_quotes(reg):
        offset = texts.get(file, "").find(q)
        if offset < 0:
            missing.append(f"{claim}: {file}: {q[:60]!r}")
        quotes.append({"claim": claim, "file": file, "quote_sha256": sha256(q), "offset": offset})
    if missing:
        raise ValueError("quotes not found verbatim in their seed file:\n  " + "\n  ".join(missing))
    used = sorted({q["file"] for q in quotes})
    return {"normalisation": "runs of white space -> one space; quotes also stripped",
            "seeds": {f: {"sha256": sha256(texts[f]), "n_chars": len(texts[f])} for f in used},
            "quotes": quotes}


def main() -> None:
    from sim.claims.registry import load_registry

    seeds = seeds_dir()
    if seeds is None:
        sys.exit("seed articles not found (set DMNSIM_SEEDS to the directory holding 000_*.txt ...)")
    MANIFEST.write_text(json.dumps(build_manifest(load_registry(), seeds), indent=1) + "\n")
    print(f"wrote {MANIFEST}")


if __name__ == "__main__":
    main()
