"""notebooks/tutorial.ipynb (the sandbox lessons through the Python API) runs top to bottom without errors."""

from __future__ import annotations

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
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "disinhibition=true" in text and "plasticity=false" in text and "supported in" in text
