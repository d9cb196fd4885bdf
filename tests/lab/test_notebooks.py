"""The example notebooks run top to bottom against the FakeService."""

from __future__ import annotations

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = Path(__file__).parents[2] / "notebooks"


def test_overview_notebook(fake_service):
    nb = nbformat.read(NOTEBOOKS / "overview.ipynb", as_version=4)
    nbclient.NotebookClient(nb, timeout=60, kernel_name="python3").execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "\n".join(o.get("data", {}).get("text/plain", "") for o in outputs)
    assert "<Overview user='alice'" in text
    assert "'vc-a'" in text
