"""notebooks/quickstart.ipynb executes top to bottom (nbclient) on a tiny budget.

PPO_JAX_NOTEBOOK_BUDGET selects the env steps per agent: 1024 here, i.e. four
CartPole updates, so the run checks every cell's plumbing, not learning. The
kernel runs in a temporary folder and inherits XLA_FLAGS and the rest of the
environment.
"""

from __future__ import annotations

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "quickstart.ipynb"
BUDGET = "1024"


def test_quickstart_notebook_executes(tmp_path, monkeypatch):
    monkeypatch.setenv("PPO_JAX_NOTEBOOK_BUDGET", BUDGET)
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel's inline backend draws the figures
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()  # raises CellExecutionError naming the failing cell

    outputs = "\n".join(
        out.get("text", "")
        for cell in nb.cells if cell.cell_type == "code"
        for out in cell.get("outputs", [])
    )
    assert "identical evaluation after load: True" in outputs
    assert "CheckpointError" in outputs
    assert "compiles:" in outputs  # the sweep cell ran
    assert "carried by hand:" in outputs  # the recurrent cell ran
    figures = [out for cell in nb.cells if cell.cell_type == "code" for out in cell.get("outputs", [])
               if out.get("output_type") == "display_data" and "image/png" in out.get("data", {})]
    assert len(figures) == 2  # learning curves, sweep curves
