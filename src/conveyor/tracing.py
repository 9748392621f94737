"""OpenTelemetry spans for requests and runs, exported by OTLP when configured, else nothing.

``OTEL_EXPORTER_OTLP_ENDPOINT`` (OpenTelemetry's own variable, read by ``Settings``) turns
tracing on: spans go by OTLP/HTTP to ``<endpoint>/v1/traces`` in batches, named after the
process (``OTEL_SERVICE_NAME`` or ``conveyor-serve`` / ``conveyor-run``). Unset, every span is
a no-op and OpenTelemetry is never imported. Conveyor keeps its own ``TracerProvider`` rather
than the global one, so MLflow's tracing and an application's own stay apart.

A request is one ``conveyor.request`` span (attribute ``conveyor.request_id``, the id of the
``X-Request-ID`` header, the inference log, the prediction log lines and feedback: the key
that joins logs and traces) with ``conveyor.parse``, ``conveyor.model`` and ``conveyor.log``
children; a ``conveyor run`` is a ``conveyor.run`` span with one child per step.
"""

from __future__ import annotations

import contextlib
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, cast

from conveyor.errors import UserError

if TYPE_CHECKING:
    from conveyor.settings import Settings

REQUEST_ID = "conveyor.request_id"
_OFF: AbstractContextManager[None] = contextlib.nullcontext()


class Tracing:
    """Opens spans on ``provider`` (an OpenTelemetry ``TracerProvider``), or does nothing."""

    def __init__(self, provider: Any | None = None) -> None:
        self.provider = provider
        self._tracer = provider.get_tracer("conveyor") if provider is not None else None

    @property
    def enabled(self) -> bool:
        return self._tracer is not None

    def span(
        self, name: str, **attributes: str | int | float | bool
    ) -> AbstractContextManager[Any]:
        """A span around the block, a child of the current one; gives it (None when off)."""
        if self._tracer is None:
            return _OFF  # one shared no-op: nothing allocated on the request path
        return cast(
            "AbstractContextManager[Any]",
            self._tracer.start_as_current_span(name, attributes=attributes),
        )

    @staticmethod
    def annotate(span: Any, **attributes: str | int | float | bool) -> None:
        """Attributes learnt inside the span (the version a rollout chose, the rows)."""
        if span is not None:
            span.set_attributes(attributes)

    def shutdown(self) -> None:
        """Export what is buffered; call once when the process stops."""
        if self.provider is not None:
            self.provider.shutdown()


def tracing_from_settings(settings: Settings, service: str) -> Tracing:
    """OTLP/HTTP export when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set; a no-op otherwise."""
    endpoint = settings.otlp_endpoint.strip()
    if not endpoint:
        return Tracing()
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        raise UserError(
            "OTEL_EXPORTER_OTLP_ENDPOINT is set but the OTLP exporter is not installed: "
            "pip install 'conveyor-mlops[otel]' (or unset the variable)"
        ) from None
    resource = Resource.create({"service.name": settings.otel_service_name or service})
    provider = TracerProvider(resource=resource)
    exporter = OTLPSpanExporter(endpoint=endpoint.rstrip("/") + "/v1/traces")
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return Tracing(provider)
