"""KServe's InferenceRESTClient and `mlserver infer` work unchanged against `conveyor serve`.

Both run from .venv-peers (scripts/peers-venv.sh), since they pin libraries Conveyor does not.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests.needs import needs
from tests.serving.server import Server

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
PEERS = ROOT / ".venv-peers" / "bin"
needs_peers = needs(PEERS / "mlserver", "peer clients", "scripts/peers-venv.sh")


@pytest.fixture
def server(wine_server: Server) -> Server:
    return wine_server


@pytest.fixture(scope="module")
def matrix() -> np.ndarray:
    from sklearn.datasets import load_wine

    x, _ = load_wine(return_X_y=True)
    return x[[0, 70, 140]]  # one row of each class


@needs_peers
@pytest.mark.parametrize("binary", [False, True])
def test_kserve_rest_client(server: Server, matrix: np.ndarray, binary: bool) -> None:
    args = [
        str(PEERS / "python"),
        str(ROOT / "tests/serving/peers/kserve_client.py"),
        server.url,
        "wine",
        json.dumps(matrix.tolist()),
    ]
    proc = subprocess.run(
        [*args, *(["--binary"] if binary else [])], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["ready"] is True
    assert out["model"] == "wine"
    assert out["outputs"]["predictions"] == [0, 1, 2]
    assert np.allclose(np.sum(out["outputs"]["probabilities"], axis=1), 1, atol=1e-5)


@needs_peers
def test_mlserver_infer_cli(server: Server, matrix: np.ndarray, tmp_path: Path) -> None:
    requests = tmp_path / "requests.jsonl"
    lines = [
        {
            "id": f"req-{i}",
            "inputs": [{"name": "input-0", "shape": [1, 13], "datatype": "FP64", "data": row}],
        }
        for i, row in enumerate(matrix.tolist())
    ]
    requests.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    responses = tmp_path / "responses.jsonl"
    proc = subprocess.run(
        [
            str(PEERS / "mlserver"),
            "infer",
            "-u",
            f"127.0.0.1:{server.port}",
            "-m",
            "wine",
            "-i",
            str(requests),
            "-o",
            str(responses),
            "--workers",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    answers = [json.loads(line) for line in responses.read_text().splitlines() if line.strip()]
    assert len(answers) == 3
    predictions = {}
    for answer in answers:
        outputs = {o["name"]: o for o in answer["outputs"]}
        predictions[answer["id"]] = outputs["predictions"]["data"][0]
    assert predictions == {"req-0": 0, "req-1": 1, "req-2": 2}
