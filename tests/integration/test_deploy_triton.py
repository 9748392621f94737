"""`conveyor export triton` on a real registry: the config parses with Triton's own protobuf
definitions, and the exported graph fed as Triton feeds it answers what `conveyor serve` does."""

from __future__ import annotations

import importlib.util
import math
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import numpy as np
import pytest

from conveyor.bundle.sources import LocalSource, registered_bundle
from conveyor.cli.main import main
from conveyor.serving.app import create_app
from conveyor.settings import Settings
from tests.conftest import CliResult
from tests.serving.conftest import Registered

pytestmark = pytest.mark.integration

SPEC = (
    "name: mixed\ntask: classification\n"
    "data: {source: data.csv, target: label}\n"
    "model: {estimator: %s}\n"
    "gates:\n  champion: {enabled: false}\n"
)


def triton_model_config() -> ModuleType:
    """Triton's ``model_config_pb2``, loaded from tritonclient's file: the package's grpc
    ``__init__`` refuses to import without the grpc extra, the generated module needs only
    protobuf."""
    tritonclient = pytest.importorskip("tritonclient", reason="tritonclient (dev extra) missing")
    path = Path(tritonclient.__file__).parent / "grpc" / "model_config_pb2.py"
    if not path.exists():
        pytest.skip(f"{path} missing from this tritonclient")
    spec = importlib.util.spec_from_file_location("triton_model_config_pb2", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory, mixed_registered: Registered) -> Path:
    """``mixed`` v1 (logistic regression, ONNX: string, float and boolean features, string
    labels; a copy of the session's) and v2 (an estimator without an ONNX converter),
    registered by `conveyor run`."""
    root = tmp_path_factory.mktemp("triton")
    reg = mixed_registered.clone(root)
    project = root / "project"
    project.mkdir()
    shutil.copy(mixed_registered.project / "data.csv", project / "data.csv")
    (project / "conveyor.yaml").write_text(SPEC % "sklearn.semi_supervised.LabelSpreading")
    Registered(reg.home, project, "mixed").prepare("run")
    return reg.home


@pytest.fixture
def conveyor(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Callable[..., CliResult]:
    """`conveyor ARGS...` in process against the module's registry."""
    for key in list(os.environ):
        if key.startswith("CONVEYOR_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("CONVEYOR_HOME", str(home))

    def run(*args: str) -> CliResult:
        capsys.readouterr()
        code = main(list(args))
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


def rows() -> list[dict[str, Any]]:
    """Rows a client would send: one missing size, every colour, both flags."""
    return [
        {"colour": "red", "size": 8.0, "flag": True},
        {"colour": "green", "size": 13.5, "flag": False},
        {"colour": "blue", "size": None, "flag": True},
        {"colour": "blue", "size": 11.9, "flag": False},
        {"colour": "green", "size": 2.0, "flag": True},
        {"colour": "red", "size": 15.0, "flag": False},
    ]


def feeds(pb: ModuleType, config: Any, batch: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    """What Triton hands ONNX Runtime: one [N, *dims] tensor per config input, typed by it."""
    dtypes = {"TYPE_STRING": object, "TYPE_FP32": np.float32, "TYPE_FP64": np.float64}
    out = {}
    for tensor in config.input:
        type_name = pb.DataType.Name(tensor.data_type)
        values = [math.nan if r[tensor.name] is None else r[tensor.name] for r in batch]
        column = np.asarray(values, dtype=dtypes[type_name])
        out[tensor.name] = column.reshape(len(batch), *tensor.dims)
    return out


async def test_export_parses_as_triton_config_and_matches_the_server(
    home: Path, conveyor: Callable[..., CliResult], tmp_path: Path
) -> None:
    import onnxruntime as ort
    from google.protobuf import text_format

    pb = triton_model_config()
    repo = tmp_path / "model_repository"
    (repo / "other").mkdir(parents=True)  # another model in the repository stays
    (repo / "other" / "config.pbtxt").write_text('name: "other"\n')
    result = conveyor("export", "triton", "mixed", "1", "--out", str(repo), "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["config"] == str(repo / "mixed" / "config.pbtxt")
    assert sorted(p.relative_to(repo).as_posix() for p in repo.rglob("*") if p.is_file()) == [
        "mixed/1/model.onnx",
        "mixed/config.pbtxt",
        "other/config.pbtxt",
    ]

    config = text_format.Parse((repo / "mixed" / "config.pbtxt").read_text(), pb.ModelConfig())
    assert config.name == "mixed"
    assert config.platform == "onnxruntime_onnx"
    assert config.max_batch_size == 256
    assert config.HasField("dynamic_batching")
    assert [i.kind for i in config.instance_group] == [pb.ModelInstanceGroup.KIND_CPU]
    inputs = {i.name: (pb.DataType.Name(i.data_type), list(i.dims)) for i in config.input}
    assert inputs == {
        "colour": ("TYPE_STRING", [1]),
        "size": ("TYPE_FP32", [1]),
        "flag": ("TYPE_FP32", [1]),
    }
    outputs = {o.name: (pb.DataType.Name(o.data_type), list(o.dims)) for o in config.output}
    assert outputs == {"label": ("TYPE_STRING", [1]), "probabilities": ("TYPE_FP32", [2])}
    label = next(o for o in config.output if o.name == "label")
    assert label.HasField("reshape") and list(label.reshape.shape) == []

    session = ort.InferenceSession(
        str(repo / "mixed" / "1" / "model.onnx"), providers=["CPUExecutionProvider"]
    )
    assert {i.name for i in session.get_inputs()} == set(inputs)
    assert {o.name for o in session.get_outputs()} == set(outputs)
    batch = rows()
    got_labels, got_proba = session.run(["label", "probabilities"], feeds(pb, config, batch))

    settings = Settings(
        home=home, store_url=f"sqlite:///{tmp_path / 'store.db'}", inference_log=False
    )
    served = registered_bundle(settings, "mixed", "1").path
    app = create_app(settings.model_copy(update={"refresh_seconds": 0}), LocalSource(served))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        response = await client.post("/predict", json={"instances": batch})
    assert response.status_code == 200, response.text
    body = response.json()
    assert list(got_labels) == body["predictions"]
    assert set(body["predictions"]) == {"yes", "no"}  # both classes: a real comparison
    np.testing.assert_allclose(got_proba, np.asarray(body["probabilities"]), atol=1e-6)


def test_export_refusals_name_the_problem_and_write_nothing(
    conveyor: Callable[..., CliResult], tmp_path: Path
) -> None:
    repo = tmp_path / "repo"
    unknown = conveyor("export", "triton", "nosuch", "1", "--out", str(repo))
    assert unknown.exit_code == 2
    assert "'nosuch'" in unknown.stderr
    no_version = conveyor("export", "triton", "mixed", "9", "--out", str(repo))
    assert no_version.exit_code == 2
    assert "'mixed' has no version 9" in no_version.stderr
    pyfunc = conveyor("export", "triton", "mixed", "2", "--out", str(repo))
    assert pyfunc.exit_code == 2
    assert "version 2 has no ONNX export" in " ".join(pyfunc.stderr.split())
    assert not (repo / "mixed").exists()

    (repo / "mixed").mkdir(parents=True)
    (repo / "mixed" / "config.pbtxt").write_text("keep me")
    taken = conveyor("export", "triton", "mixed", "1", "--out", str(repo), "--json")
    assert taken.exit_code == 2
    assert "already exists and is not empty" in taken.json()["error"]
    assert (repo / "mixed" / "config.pbtxt").read_text() == "keep me"
    assert sorted(p.name for p in repo.iterdir()) == ["mixed"]  # no staging left behind
