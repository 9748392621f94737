"""Triton configs from ONNX graphs built here: types, batch dimension, reshape, refusals."""

from __future__ import annotations

from typing import Any

import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper  # noqa: E402

from conveyor.deploy.triton import triton_config  # noqa: E402
from conveyor.errors import UserError  # noqa: E402


def graph(
    inputs: list[tuple[str, int, list[Any]]], outputs: list[tuple[str, int, list[Any]]]
) -> Any:
    """An Identity-only graph with the given (name, element type, shape) values."""
    ins = [helper.make_tensor_value_info(n, t, s) for n, t, s in inputs]
    outs = [helper.make_tensor_value_info(n, t, s) for n, t, s in outputs]
    nodes = [
        helper.make_node("Identity", [i[0]], [o[0]]) for i, o in zip(inputs, outputs, strict=False)
    ]
    return helper.make_model(helper.make_graph(nodes, "g", ins, outs))


def test_batched_graph_drops_the_batch_dimension_and_reshapes_vectors() -> None:
    model = graph(
        [("a", TensorProto.FLOAT, ["N", 1]), ("b", TensorProto.STRING, [None, 1])],
        [("label", TensorProto.INT64, ["N"]), ("p", TensorProto.DOUBLE, ["N", 3])],
    )
    config = triton_config(model, "m", max_batch_size=64)
    assert config.max_batch_size == 64
    assert [(t.name, t.data_type, t.dims, t.reshape) for t in config.inputs] == [
        ("a", "TYPE_FP32", (1,), None),
        ("b", "TYPE_STRING", (1,), None),
    ]
    assert [(t.name, t.data_type, t.dims, t.reshape) for t in config.outputs] == [
        ("label", "TYPE_INT64", (1,), ()),
        ("p", "TYPE_FP64", (3,), None),
    ]
    text = config.to_pbtxt()
    assert "dynamic_batching {" in text
    assert "reshape: { shape: [ ] }" in text


def test_a_fixed_first_dimension_turns_batching_off() -> None:
    model = graph([("a", TensorProto.FLOAT, [4, 2])], [("b", TensorProto.FLOAT, [4, "k"])])
    config = triton_config(model, "m", max_batch_size=64)
    assert config.max_batch_size == 0
    assert config.inputs[0].dims == (4, 2)
    assert config.outputs[0].dims == (4, -1)  # a named free dimension is variable
    assert "dynamic_batching" not in config.to_pbtxt()


def test_max_batch_size_zero_keeps_full_shapes() -> None:
    model = graph([("a", TensorProto.FLOAT, ["N", 1])], [("b", TensorProto.FLOAT, ["N", 1])])
    config = triton_config(model, "m", max_batch_size=0)
    assert config.max_batch_size == 0
    assert config.inputs[0].dims == (-1, 1)


def test_names_with_quotes_are_escaped() -> None:
    model = graph([('say "hi"\\', TensorProto.FLOAT, ["N", 1])], [("o", TensorProto.FLOAT, ["N"])])
    text = triton_config(model, "m").to_pbtxt()
    assert 'name: "say \\"hi\\"\\\\"' in text


def test_a_sequence_output_is_refused_with_its_name() -> None:
    ins = [helper.make_tensor_value_info("a", TensorProto.FLOAT, ["N", 1])]
    zipmap = helper.make_tensor_sequence_value_info("output_probability", TensorProto.FLOAT, None)
    model = helper.make_model(helper.make_graph([], "g", ins, [zipmap]))
    with pytest.raises(UserError, match="output 'output_probability' is a sequence_type"):
        triton_config(model, "m")


def test_a_type_triton_lacks_is_refused() -> None:
    model = graph(
        [("c", TensorProto.COMPLEX64, ["N", 1])], [("o", TensorProto.COMPLEX64, ["N", 1])]
    )
    with pytest.raises(UserError, match="input 'c' has type COMPLEX64"):
        triton_config(model, "m")
