"""README parameter tables generated from each model's PARAMS (``python -m sim.models.tables [--check]``).

Lives above :mod:`sim.models` so that :mod:`sim.params` (below the models) imports no model: no cycle.
"""

from __future__ import annotations

from sim.models import MODELS
from sim.params import markdown_table


def update_readme(path: str = "README.md", check: bool = False) -> bool:
    """Write each model's parameter table between ``<!-- params:NAME -->`` and ``<!-- /params:NAME -->``.

    Returns True if the file was (or, with ``check``, would be) changed.
    """
    import re
    from pathlib import Path

    p = Path(path)
    text = p.read_text()
    new = text
    for name, mod in MODELS.items():
        block = f"<!-- params:{name} -->\n{markdown_table(mod.PARAMS)}\n<!-- /params:{name} -->"
        pat = re.compile(rf"<!-- params:{name} -->(?:.*?<!-- /params:{name} -->)?", re.S)
        new = pat.sub(lambda _m, b=block: b, new)
    if new != text and not check:
        p.write_text(new)
    return new != text


if __name__ == "__main__":
    import sys

    changed = update_readme(check="--check" in sys.argv)
    print("README parameter tables " + ("out of date" if changed else "up to date"))
    sys.exit(1 if changed and "--check" in sys.argv else 0)
