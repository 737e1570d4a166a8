"""notebooks/tutorial.ipynb (the sandbox lessons through the Python API) runs top to bottom without errors."""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "tutorial.ipynb"


def test_tutorial_notebook_executes():
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    from jupyter_client import KernelManager
    from jupyter_client.kernelspec import KernelSpec

    spec = KernelSpec(argv=[sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                      display_name="dmn-sim", language="python")

    class ThisPython(KernelManager):
        """Run the kernel with this interpreter (the project's venv), whatever kernels the machine has."""

        @property
        def kernel_spec(self):
            return spec

    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=120, kernel_name="python3", kernel_manager_class=ThisPython,
                                     resources={"metadata": {"path": str(NOTEBOOK.parent)}})
    t0 = time.perf_counter()
    client.execute()
    assert time.perf_counter() - t0 < 90
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    text = "".join(o.get("text", "") for o in outputs)
    assert "disinhibition=true" in text and "plasticity=false" in text and "supported in" in text
    assert_no_stray_reprs(outputs)
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 4  # the lessons' figures are shown
    effect = re.compile(r"(\w+=\w+)\s*: ketamine minus saline.*? = ([-+.\d]+)")
    effects = {m.group(1): float(m.group(2)) for m in effect.finditer(text)}
    # the expected-FC engine: switching a mechanism off removes its effect; on, the effect is visible
    for on, off in (("disinhibition=true", "disinhibition=false"), ("plasticity=true", "plasticity=false")):
        assert abs(effects[on]) >= 0.01 and abs(effects[off]) < abs(effects[on]) / 2, effects


def assert_no_stray_reprs(outputs) -> None:
    """No object reprs in what a reader sees: no cell's value is displayed (every cell ends in a statement, a
    print or a ``;``), and no text output holds a repr such as ``<Figure size …>`` or ``<matplotlib….>``; a figure
    is shown as its image (its display_data also carries a text/plain fallback, which a notebook does not show)."""
    shown = [o for o in outputs if o.get("output_type") == "execute_result"]
    assert not shown, [o.get("data", {}).get("text/plain") for o in shown]
    for o in outputs:
        text = o.get("text", "") + ("" if "image/png" in o.get("data", {}) else o.get("data", {}).get("text/plain", ""))
        assert not re.search(r"<(Figure size|matplotlib[.\w]*|Axes|Text)\b|\[<matplotlib|\bText\(", text), text


def test_stray_repr_check_can_fail():
    with pytest.raises(AssertionError):
        assert_no_stray_reprs([{"output_type": "execute_result", "data": {"text/plain": "[Text(0.5, 0, 'x')]"}}])
    with pytest.raises(AssertionError):
        assert_no_stray_reprs([{"output_type": "stream", "text": "<matplotlib.legend.Legend at 0x7f>"}])
    assert_no_stray_reprs([{"output_type": "display_data", "data": {"image/png": "…", "text/plain": "<Figure size>"}}])
