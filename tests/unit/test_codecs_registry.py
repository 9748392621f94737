"""The request codecs' registry: what each route reads, chosen by Content-Type and body shape,
duplicates refused, unknown names answered with the valid ones; decoding in process against a
fake model manager (the real servers are in tests/serving)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from conveyor.bundle.model import Bundle, ModelIdentity
from conveyor.data.feast import OnlineFeatures
from conveyor.data.schema import Column, Kind, Schema
from conveyor.errors import UserError
from conveyor.serving.codecs.base import JSON, Decoded, Named
from conveyor.serving.codecs.predictjson import PredictEnvelope
from conveyor.serving.codecs.registry import CodecRegistry, build_codecs
from conveyor.serving.features import FeatureLookup
from conveyor.serving.inputs import PredictInput, RequestError, UnseenPolicy
from conveyor.serving.metrics import ServerMetrics
from conveyor.settings import Settings

SCHEMA = Schema(
    features=[Column("rate", Kind.NUMERIC), Column("city", Kind.CATEGORICAL, nullable=True)],
    target="y",
    target_kind=Kind.CATEGORICAL,
    classes=[0, 1],
)


class FakeModel:
    def __init__(self, bundle: Bundle) -> None:
        self.bundle = bundle


class FakeManager:
    """Hands out one model and remembers the versions asked for."""

    def __init__(self, bundle: Bundle) -> None:
        self.model = FakeModel(bundle)
        self.asked: list[str | None] = []

    def get(self, version: str | None) -> FakeModel:
        self.asked.append(version)
        return self.model


def bundle_for(tmp_path: Path, online: OnlineFeatures | None = None) -> Bundle:
    return Bundle(
        path=tmp_path,
        schema=SCHEMA,
        onnx_path=None,
        onnx_inputs=[],
        identity=ModelIdentity("m", "1"),
        online_features=online,
    )


def decode(
    registry: CodecRegistry,
    body: bytes,
    manager: FakeManager,
    content_type: str = JSON,
    lookup: FeatureLookup | None = None,
) -> PredictInput:
    return registry.decode(body, content_type, manager, UnseenPolicy.ALLOW, 100, lookup)  # type: ignore[arg-type]


def columns(decoded: PredictInput) -> dict[str, list[Any]]:
    return {k: np.asarray(v).tolist() for k, v in decoded.columns.items()}


class Echo:
    def __init__(self, name: str, media_type: str = JSON) -> None:
        self.name = name
        self.media_type = media_type

    def decode(self, value: Any, schema: Schema, policy: UnseenPolicy, max_rows: int) -> Decoded:
        return Named(value, self.name)


def test_each_route_lists_its_formats() -> None:
    codecs = build_codecs()
    assert codecs.predict.names() == ["csv", "features", "instances"]
    assert codecs.predict.media_types() == ["application/json", "text/csv"]
    assert codecs.invocations.names() == [
        "csv", "dataframe_records", "dataframe_split", "inputs", "instances"
    ]  # fmt: skip
    assert codecs.invocations.media_types() == ["application/json", "text/csv"]
    assert build_codecs().predict is not codecs.predict  # nothing shared between builds


def test_duplicates_are_refused_and_unknown_names_list_the_valid_ones() -> None:
    registry = CodecRegistry(PredictEnvelope(fallback="a"))
    registry.register(Echo("a"))
    registry.register(Echo("b", "text/csv"))
    with pytest.raises(ValueError, match="'a' is registered already"):
        registry.register(Echo("a", "text/plain"))
    with pytest.raises(ValueError, match="text/csv is read by the codec 'b' already"):
        registry.register(Echo("c", "text/csv"))
    with pytest.raises(UserError, match="unknown request format 'z'; use one of a, b"):
        registry.get("z")
    assert registry.names() == ["a", "b"]


def test_predict_bodies_features_win_a_bare_object_is_one_row_and_versions_pin(
    tmp_path: Path,
) -> None:
    predict = build_codecs().predict
    manager = FakeManager(bundle_for(tmp_path))
    both = b'{"features": [[1.5, "x"]], "instances": [{"rate": 9, "city": "y"}]}'
    assert columns(decode(predict, both, manager)) == {"rate": [1.5], "city": ["x"]}
    one = decode(predict, b'{"rate": 2, "city": null, "model_version": 3}', manager)
    assert one.version == "3" and manager.asked[-1] == "3"
    assert columns(one)["rate"] == [2.0] and one.rows == 1
    # any Content-Type but a codec's is read as JSON, as before (curl -d sends form data)
    form = decode(predict, b'{"instances": [{"rate": 1, "city": "a"}]}', manager, "text/plain")
    assert form.rows == 1 and form.version is None


def test_predict_errors_name_the_field(tmp_path: Path) -> None:
    predict = build_codecs().predict
    manager = FakeManager(bundle_for(tmp_path))
    with pytest.raises(RequestError) as caught:
        decode(predict, b"[1, 2]", manager)
    assert caught.value.http_status == 400
    assert caught.value.to_dict()["problems"] == [{"loc": "body", "msg": "must be a JSON object"}]
    with pytest.raises(RequestError) as caught:
        decode(predict, b'{"instances": [{"rate": "x", "city": "a"}]}', manager)
    assert caught.value.to_dict()["problems"] == [
        {"loc": "instances[0].rate", "msg": "must be a number, got str 'x'"}
    ]


def test_invocations_refuse_other_types_and_bodies_without_exactly_one_format(
    tmp_path: Path,
) -> None:
    invocations = build_codecs().invocations
    manager = FakeManager(bundle_for(tmp_path))
    with pytest.raises(RequestError) as caught:
        decode(invocations, b"<rows/>", manager, "application/xml")
    assert caught.value.http_status == 415
    assert caught.value.message == (
        "invalid request: Content-Type: application/xml: send application/json or text/csv"
    )
    with pytest.raises(RequestError) as caught:
        decode(invocations, b'{"instances": [], "inputs": []}', manager)
    assert caught.value.to_dict()["problems"] == [
        {
            "loc": "body",
            "msg": "must hold exactly one of dataframe_split, dataframe_records, instances, "
            "inputs; it holds instances, inputs",
        }
    ]
    assert manager.asked == [None, None]  # the model (readiness) before the body


def test_every_invocations_shape_decodes_to_the_same_columns(tmp_path: Path) -> None:
    invocations = build_codecs().invocations
    manager = FakeManager(bundle_for(tmp_path))
    bodies = {
        JSON: [
            b'{"dataframe_split": {"columns": ["rate", "city"], "data": [[1, "a"], [2, ""]]}}',
            b'{"dataframe_records": [{"rate": 1, "city": "a"}, {"rate": 2, "city": null}]}',
            b'{"instances": [[1, "a"], [2, null]]}',
            b'{"inputs": {"rate": [1, 2], "city": ["a", null]}}',
        ],
        "text/csv; charset=utf-8": [b"rate,city\n1,a\n2,\n"],
    }
    for content_type, shapes in bodies.items():
        for body in shapes:
            decoded = decode(invocations, body, manager, content_type)
            assert decoded.rows == 2, body
            assert columns(decoded)["rate"] == [1.0, 2.0], body
            assert columns(decoded)["city"][0] == "a", body


def test_named_rows_of_a_feature_store_model_wait_for_their_lookup(tmp_path: Path) -> None:
    online = OnlineFeatures(
        repo=str(tmp_path), features=["s:rate", "s:city"], keys={"driver_id": "int"}
    )
    manager = FakeManager(bundle_for(tmp_path, online))
    lookup = FeatureLookup(Settings(home=tmp_path), ServerMetrics())
    codecs = build_codecs()
    for registry, body in (
        (codecs.predict, b'{"instances": [{"driver_id": 7}, {"rate": 1, "city": "a"}]}'),
        (
            codecs.invocations,
            b'{"dataframe_records": [{"driver_id": 7}, {"rate": 1, "city": "a"}]}',
        ),
    ):
        decoded = decode(registry, body, manager, lookup=lookup)
        assert decoded.wanted is not None and decoded.rows == 0
        assert decoded.keys == {"driver_id": [7, None]}
        assert decoded.wanted.rows_wanting == [0]
    # rows that carry every feature are checked at once, their keys kept for the log
    full = b'{"instances": [{"driver_id": 7, "rate": 1, "city": "a"}]}'
    decoded = decode(codecs.predict, full, manager, lookup=lookup)
    assert decoded.wanted is None and decoded.keys == {"driver_id": [7]} and decoded.rows == 1


def test_a_csv_header_spelled_loosely_types_its_values_by_the_feature_it_names(
    tmp_path: Path,
) -> None:
    invocations = build_codecs().invocations
    manager = FakeManager(bundle_for(tmp_path))
    decoded = decode(invocations, b"RATE,City\n1.5,a\n", manager, "text/csv")
    assert columns(decoded) == {"rate": [1.5], "city": ["a"]}
