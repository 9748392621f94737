"""The walkthrough notebook, executed end to end in a fresh kernel with a temporary
CONVEYOR_HOME: it can never rot. Its outputs must show what each step claims."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOK = Path(__file__).resolve().parents[2] / "examples" / "walkthrough.ipynb"


def text_of(cell: dict) -> str:
    parts = []
    for output in cell.get("outputs", []):
        if output["output_type"] == "stream":
            parts.append(output["text"])
        elif "data" in output:
            parts.append(output["data"].get("text/plain", ""))
    return "\n".join(parts)


def test_the_walkthrough_runs_end_to_end(tmp_path: Path, home: Path) -> None:
    work = tmp_path / "nb"
    work.mkdir()
    shutil.copy(NOTEBOOK, work / NOTEBOOK.name)
    nb = nbformat.read(work / NOTEBOOK.name, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(work)}}
    )
    client.execute()  # raises CellExecutionError, with the cell and traceback, on any error
    code = [c for c in nb.cells if c.cell_type == "code"]
    everything = "\n".join(text_of(c) for c in code)

    assert f"home: {home}" in everything  # the kernel used the test's home, nothing else
    assert "registered version 1" in everything and "registered version 2" in everything
    assert "runtime: onnx | passed" in everything  # the parity check, in words
    assert "drifted: ['alcohol', 'color_intensity']" in everything
    images = [o for c in code for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert images, "the PSI chart renders as an image"
    tables = [o for c in code for o in c.get("outputs", []) if "text/html" in o.get("data", {})]
    assert len(tables) >= 6  # schema, runs, gates, versions, predictions, drift, checks
    assert (home / "mlflow.db").exists() and (home / "conveyor.db").exists()
    assert not (work / ".conveyor").exists()
