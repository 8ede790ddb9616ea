"""The tutorials in notebooks/ run top to bottom (on the tiny setting) and are committed without outputs."""

import time

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = ("01-generate-data", "02-train-hamiltonian-lietransformer", "03-diagnostics")


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_top_to_bottom(root, tmp_path, monkeypatch, name):
    monkeypatch.setenv("HAMILTON_LIE_SCALE", "tiny")
    monkeypatch.setenv("HAMILTON_LIE_NOTEBOOK_OUT", str(tmp_path))
    notebook = nbformat.read(root / "notebooks" / f"{name}.ipynb", as_version=4)
    start = time.perf_counter()
    NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(root / "notebooks")}}
    ).execute()
    code_cells = [c for c in notebook.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code_cells)
    errors = [o for c in code_cells for o in c.outputs if o.output_type == "error"]
    assert not errors
    # the figures the notebook promises were drawn
    images = [o for c in code_cells for o in c.outputs if "image/png" in o.get("data", {})]
    assert len(images) >= {"01-generate-data": 1, "02-train-hamiltonian-lietransformer": 3, "03-diagnostics": 4}[name]
    assert time.perf_counter() - start < 200


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebooks_are_committed_without_outputs(root, name):
    notebook = nbformat.read(root / "notebooks" / f"{name}.ipynb", as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None
