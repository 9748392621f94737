"""OpenTelemetry spans: a request's parse, model and log under one span carrying the request
id (the SDK's in-memory exporter, in process), a `conveyor run`'s steps, and the real OTLP/HTTP
export from a `conveyor serve` process to a collector endpoint."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from conveyor.serving.app import create_app
from conveyor.tracing import REQUEST_ID, Tracing
from tests.conftest import WebhookReceiver
from tests.serving.conftest import Registered, make_settings
from tests.serving.server import running_server


def attrs(span: ReadableSpan) -> Mapping[str, Any]:
    """A finished span's attributes (the SDK types them optional; ours always have some)."""
    assert span.attributes is not None, span.name
    return span.attributes


def ns(time_ns: int | None) -> int:
    """A finished span's start or end time."""
    assert time_ns is not None
    return time_ns


@pytest.fixture
def spans() -> tuple[Tracing, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return Tracing(provider), exporter


async def test_a_request_is_one_trace_keyed_by_its_request_id(
    wine_registered: Registered,
    wine_row: dict[str, float],
    tmp_path: Path,
    spans: tuple[Tracing, InMemorySpanExporter],
) -> None:
    tracing, exporter = spans
    settings = make_settings(
        wine_registered.home, model_name="wine", store_url=f"sqlite:///{tmp_path / 's.db'}"
    )
    app = create_app(settings, tracing=tracing)
    v2_body = {
        "id": "v2-request-7",
        "inputs": [
            {"name": k, "shape": [1], "datatype": "FP64", "data": [v]} for k, v in wine_row.items()
        ],
    }
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        answer = (await client.post("/predict", json={"instances": [wine_row]})).json()
        v2 = await client.post("/v2/models/wine/infer", json=v2_body)
        assert v2.status_code == 200, v2.text
    finished = exporter.get_finished_spans()
    roots = {attrs(s)[REQUEST_ID]: s for s in finished if s.name == "conveyor.request"}
    assert set(roots) == {answer["request_id"], "v2-request-7"}
    for rid, route in (
        (answer["request_id"], "/predict"),
        ("v2-request-7", "/v2/models/{name}/infer"),
    ):
        root = roots[rid]
        assert attrs(root)["http.route"] == route
        children = {
            s.name: s
            for s in finished
            if s.parent is not None and s.parent.span_id == root.context.span_id
        }
        assert set(children) == {"conveyor.parse", "conveyor.model", "conveyor.log"}, children
        model = children["conveyor.model"]
        assert (attrs(model)["conveyor.model"], attrs(model)["conveyor.version"]) == (
            "wine",
            "1",
        )
        assert attrs(model)["conveyor.arm"] == "production"
        assert all(c.context.trace_id == root.context.trace_id for c in children.values())
        parse, log = children["conveyor.parse"], children["conveyor.log"]
        assert ns(parse.end_time) <= ns(model.start_time) and ns(model.end_time) <= ns(
            log.start_time
        )


def test_a_run_is_one_trace_with_a_span_per_step(
    wine_registered: Registered, tmp_path: Path, spans: tuple[Tracing, InMemorySpanExporter]
) -> None:
    from conveyor.pipeline.run import run_pipeline
    from conveyor.spec.loader import load_spec
    from conveyor.store import Store

    tracing, exporter = spans
    reg = wine_registered.clone(tmp_path)
    settings = make_settings(reg.home)
    store = Store(settings.store_url).create()
    try:
        spec = load_spec(reg.project / "conveyor.yaml")
        result = run_pipeline(spec, reg.project, settings, store, tracing=tracing)
    finally:
        store.close()
    finished = exporter.get_finished_spans()
    (root,) = [s for s in finished if s.name == "conveyor.run"]
    assert attrs(root)["conveyor.run_id"] == result.run_id
    assert attrs(root)["conveyor.version"] == result.registered.version  # type: ignore[union-attr]
    steps = [
        s.name
        for s in finished
        if s.parent is not None and s.parent.span_id == root.context.span_id
    ]
    assert {"conveyor.run.data", "conveyor.run.train", "conveyor.run.evaluate",
            "conveyor.run.register"} <= set(steps), steps  # fmt: skip


def exported_spans(receiver: WebhookReceiver) -> list[dict[str, Any]]:
    """The spans in the OTLP/HTTP requests (protobuf) a local endpoint received."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    spans = []
    for headers, body in list(receiver.received):
        request = ExportTraceServiceRequest.FromString(body)
        for resource in request.resource_spans:
            service = {a.key: a.value.string_value for a in resource.resource.attributes}
            for scope in resource.scope_spans:
                for span in scope.spans:
                    attributes = {a.key: a.value.string_value for a in span.attributes}
                    spans.append({"name": span.name, "service": service,
                                  "attributes": attributes,
                                  "type": {k.lower(): v for k, v in headers.items()}.get("content-type")})  # fmt: skip
    return spans


@pytest.mark.integration
def test_a_server_exports_spans_by_otlp(
    wine_registered: Registered,
    wine_row: dict[str, float],
    tmp_path: Path,
    webhook_receiver: WebhookReceiver,
) -> None:
    reg = wine_registered.clone(tmp_path)
    endpoint = webhook_receiver.url.rsplit("/", 1)[0]  # the exporter posts to <endpoint>/v1/traces
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_SERVICE_NAME": "wine-api"}
    with running_server(reg, "wine", env=env) as server:
        answer = httpx.post(f"{server.url}/predict", json={"instances": [wine_row]}).json()
    # the batch processor exports on shutdown at the latest
    deadline = time.monotonic() + 10
    while not any(s["name"] == "conveyor.request" for s in exported_spans(webhook_receiver)):
        assert time.monotonic() < deadline, webhook_receiver.received
        time.sleep(0.1)
    spans = exported_spans(webhook_receiver)
    (request,) = [s for s in spans if s["name"] == "conveyor.request"]
    assert request["type"] == "application/x-protobuf"
    assert request["attributes"][REQUEST_ID] == answer["request_id"]
    assert request["service"]["service.name"] == "wine-api"
    assert {"conveyor.parse", "conveyor.model", "conveyor.log"} <= {s["name"] for s in spans}


def test_tracing_is_off_without_an_endpoint(tmp_path: Path) -> None:
    from conveyor.settings import Settings
    from conveyor.tracing import tracing_from_settings

    assert not tracing_from_settings(Settings(home=tmp_path), "conveyor-serve").enabled
    on = tracing_from_settings(Settings(home=tmp_path, otlp_endpoint="http://127.0.0.1:9"), "x")
    assert on.enabled
    on.shutdown()
