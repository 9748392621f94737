"""A registered version as a Triton Inference Server model: ``<out>/<name>/1/model.onnx`` and
``<out>/<name>/config.pbtxt``.

The ONNX graph already holds the preprocessing (imputation, scaling, one-hot) and the label
decoding, so Triton's ONNX Runtime backend serves it as is. Input and output names, types
and shapes are read from the graph itself, never from Conveyor's schema, so the config
matches what ONNX Runtime will check.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from conveyor.errors import UserError

if TYPE_CHECKING:
    import onnx

    from conveyor.settings import Settings

PLATFORM = "onnxruntime_onnx"
TRITON_VERSION_DIR = "1"

# onnx.TensorProto element type names -> Triton DataType names
_TRITON_TYPES = {
    "BOOL": "TYPE_BOOL",
    "UINT8": "TYPE_UINT8",
    "UINT16": "TYPE_UINT16",
    "UINT32": "TYPE_UINT32",
    "UINT64": "TYPE_UINT64",
    "INT8": "TYPE_INT8",
    "INT16": "TYPE_INT16",
    "INT32": "TYPE_INT32",
    "INT64": "TYPE_INT64",
    "FLOAT16": "TYPE_FP16",
    "FLOAT": "TYPE_FP32",
    "DOUBLE": "TYPE_FP64",
    "STRING": "TYPE_STRING",
    "BFLOAT16": "TYPE_BF16",
}


@dataclass(frozen=True)
class TensorConfig:
    """One input or output as Triton sees it: dims exclude the batch dimension when the
    model batches; ``reshape`` is set for a [batch] tensor (Triton needs dims [1])."""

    name: str
    data_type: str
    dims: tuple[int, ...]
    reshape: tuple[int, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "data_type": self.data_type}
        out["dims"] = list(self.dims)
        if self.reshape is not None:
            out["reshape"] = list(self.reshape)
        return out


@dataclass(frozen=True)
class TritonConfig:
    name: str
    max_batch_size: int
    inputs: tuple[TensorConfig, ...]
    outputs: tuple[TensorConfig, ...]
    queue_delay_us: int = 0
    instances: int = 1

    def to_pbtxt(self) -> str:
        """The config in protobuf text format (``inference.ModelConfig``)."""
        lines = [
            f"name: {_quote(self.name)}",
            f'platform: "{PLATFORM}"',
            f"max_batch_size: {self.max_batch_size}",
            *_tensor_block("input", self.inputs),
            *_tensor_block("output", self.outputs),
        ]
        if self.max_batch_size > 0:
            lines += [
                "dynamic_batching {",
                f"  max_queue_delay_microseconds: {self.queue_delay_us}",
                "}",
            ]
        lines += ["instance_group [", "  {", f"    count: {self.instances}"]
        lines += ["    kind: KIND_CPU", "  }", "]"]
        return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class TritonExport:
    """What ``export_triton`` wrote."""

    name: str
    version: str
    model_dir: Path
    config: TritonConfig

    @property
    def onnx_path(self) -> Path:
        return self.model_dir / TRITON_VERSION_DIR / "model.onnx"

    @property
    def config_path(self) -> Path:
        return self.model_dir / "config.pbtxt"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "model_dir": str(self.model_dir),
            "onnx": str(self.onnx_path),
            "config": str(self.config_path),
            "max_batch_size": self.config.max_batch_size,
            "inputs": [t.to_dict() for t in self.config.inputs],
            "outputs": [t.to_dict() for t in self.config.outputs],
        }


def triton_config(
    model: onnx.ModelProto,
    name: str,
    max_batch_size: int = 256,
    queue_delay_us: int = 0,
    instances: int = 1,
) -> TritonConfig:
    """The Triton config for an ONNX graph. The model batches (``max_batch_size`` > 0) when
    every input and output has a free first dimension; otherwise dims are the full shapes."""
    inputs = [_shape_of(v, "input") for v in _graph_inputs(model)]
    outputs = [_shape_of(v, "output") for v in model.graph.output]
    batched = max_batch_size > 0 and all(
        shape and shape[0] == -1 for _, _, shape in inputs + outputs
    )

    def tensor(name: str, data_type: str, shape: list[int]) -> TensorConfig:
        if not batched:
            return TensorConfig(name, data_type, tuple(shape))
        rest = tuple(shape[1:])
        if not rest:  # a [batch] tensor: Triton wants dims [1], reshaped to nothing
            return TensorConfig(name, data_type, (1,), reshape=())
        return TensorConfig(name, data_type, rest)

    return TritonConfig(
        name=name,
        max_batch_size=max_batch_size if batched else 0,
        inputs=tuple(tensor(*t) for t in inputs),
        outputs=tuple(tensor(*t) for t in outputs),
        queue_delay_us=queue_delay_us,
        instances=instances,
    )


def export_triton(
    settings: Settings,
    name: str,
    version: str,
    out: Path,
    max_batch_size: int = 256,
    queue_delay_us: int = 0,
    instances: int = 1,
) -> TritonExport:
    """Write a registered version into the Triton model repository ``out``.

    Other models already in ``out`` are left alone; ``out/<name>`` must not exist or be
    empty. The model directory appears whole or not at all (written aside, then renamed).
    """
    import onnx

    from conveyor.bundle.sources import registered_bundle

    _check_name(name)
    target = out / name
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise UserError(
            f"{target} already exists and is not empty; remove it or choose another --out"
        )
    bundle = registered_bundle(settings, name, version)
    if bundle.onnx_path is None:
        raise UserError(
            f"model {name!r} version {version} has no ONNX export (runtime pyfunc: its "
            "estimator has no ONNX converter), so Triton's ONNX backend cannot serve it"
        )
    try:
        model = onnx.load(str(bundle.onnx_path))
    except Exception as exc:  # onnx raises DecodeError and friends from protobuf
        raise UserError(f"{bundle.onnx_path}: unreadable ONNX model: {exc}") from None
    config = triton_config(model, name, max_batch_size, queue_delay_us, instances)
    out.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=out))
    try:
        (staging / TRITON_VERSION_DIR).mkdir()
        shutil.copyfile(bundle.onnx_path, staging / TRITON_VERSION_DIR / "model.onnx")
        (staging / "config.pbtxt").write_text(config.to_pbtxt(), encoding="utf-8")
        if target.exists():
            target.rmdir()  # empty, checked above
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return TritonExport(name, version, target, config)


def _graph_inputs(model: onnx.ModelProto) -> list[Any]:
    # initializers may be listed as inputs in older IR versions; they are not fed
    initializers = {i.name for i in model.graph.initializer}
    return [v for v in model.graph.input if v.name not in initializers]


def _shape_of(value: Any, role: str) -> tuple[str, str, list[int]]:
    import onnx

    kind = value.type.WhichOneof("value")
    if kind != "tensor_type":
        raise UserError(
            f"ONNX {role} {value.name!r} is a {kind}, not a tensor; Triton serves tensors "
            "only (export classifiers without ZipMap)"
        )
    elem = onnx.TensorProto.DataType.Name(value.type.tensor_type.elem_type)
    if elem not in _TRITON_TYPES:
        raise UserError(f"ONNX {role} {value.name!r} has type {elem}, which Triton lacks")
    dims = [
        d.dim_value if d.HasField("dim_value") else -1 for d in value.type.tensor_type.shape.dim
    ]
    return value.name, _TRITON_TYPES[elem], dims


def _tensor_block(field: str, tensors: tuple[TensorConfig, ...]) -> list[str]:
    lines = [f"{field} ["]
    for i, t in enumerate(tensors):
        lines += [
            "  {",
            f"    name: {_quote(t.name)}",
            f"    data_type: {t.data_type}",
            f"    dims: {_list(t.dims)}",
        ]
        if t.reshape is not None:
            lines.append(f"    reshape: {{ shape: {_list(t.reshape)} }}")
        lines.append("  }," if i < len(tensors) - 1 else "  }")
    lines.append("]")
    return lines


def _list(values: tuple[int, ...]) -> str:
    return f"[ {', '.join(str(v) for v in values)} ]" if values else "[ ]"


def _quote(text: str) -> str:
    escaped = (
        text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    )
    return f'"{escaped}"'


def _check_name(name: str) -> None:
    # the model name is a directory of the repository and Triton's model name
    if not name or name in {".", ".."} or any(c in name for c in "/\\\0"):
        raise UserError(f"model name {name!r} cannot be a Triton model directory")
