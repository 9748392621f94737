"""The server's composition root: ``create_app(settings)`` builds every part and wires it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from conveyor import __version__
from conveyor.bundle.sources import LocalSource, ModelSource, RegistrySource
from conveyor.errors import ConveyorError, UserError
from conveyor.monitoring.watch import Watcher
from conveyor.rollout.strategies import default_strategies
from conveyor.rollout.wiring import controller_for
from conveyor.serving.codecs.registry import build_codecs
from conveyor.serving.dataplane import DataPlane
from conveyor.serving.features import FeatureLookup
from conveyor.serving.feedback import FeedbackDesk
from conveyor.serving.http import JsonResponse, error_response, request_id
from conveyor.serving.inference_log import InferenceLogWriter
from conveyor.serving.manager import ModelManager
from conveyor.serving.metrics import ServerMetrics
from conveyor.serving.middleware import RequestContext
from conveyor.serving.parts import ServerParts
from conveyor.serving.prediction_log import PredictionLog
from conveyor.serving.recent import RecentPredictions
from conveyor.serving.routes import admin, ops, predict, scoring, v2
from conveyor.serving.routing import Routing, start_leader
from conveyor.serving.slashes import StripTrailingSlash
from conveyor.serving.startup import OneLineStartupFailure, StartupNote
from conveyor.serving.store_health import StoreHealth
from conveyor.settings import Settings
from conveyor.store.engine import Store
from conveyor.tracing import Tracing, tracing_from_settings

if TYPE_CHECKING:
    from conveyor.bundle.model import Bundle
    from conveyor.rollout.loop import LeaderLoop

log = logging.getLogger(__name__)


def source_from_settings(settings: Settings) -> ModelSource:
    if settings.model_path is not None:
        return LocalSource(settings.model_path)
    if not settings.model_name:
        raise UserError("nothing to serve: give a model name or --model-path")
    return RegistrySource(
        settings, settings.model_name, settings.model_stage, pinned=settings.model_version
    )


def create_app(
    settings: Settings,
    source: ModelSource | None = None,
    tracing: Tracing | None = None,
    on_ready: Callable[[], None] | None = None,
) -> FastAPI:
    """Build the server. Nothing loads until the app starts (its lifespan); ``on_ready`` is
    called once the model is loaded and the server about to take traffic."""
    source = source or source_from_settings(settings)
    tracing = tracing or tracing_from_settings(settings, "conveyor-serve")
    metrics = ServerMetrics(settings.prometheus_multiproc_dir)
    store = Store(settings.store_url)
    # the watcher asks the manager what is served; the manager feeds it each model call
    watcher = (
        Watcher(
            store,
            metrics,
            lambda: [manager.current().bundle] if manager.ready else [],
            flush_seconds=settings.monitor_flush_seconds,
            interval_seconds=settings.monitor_interval_seconds,
            webhook_secret=(
                settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
            ),
            webhook_policy=settings.webhook_policy,
        )
        if settings.monitoring
        else None
    )
    manager = ModelManager(source, settings, metrics, watcher)
    # one strategy registry and one rollout controller for the process: routing plans with
    # the former; the leader loop and the admin endpoints share the latter
    strategies = default_strategies()
    rollouts = controller_for(settings, store, strategies=strategies)
    routing = Routing(store, manager, settings.rollout_poll_seconds, strategies, metrics)
    writer = (
        InferenceLogWriter(
            settings.store_url,
            settings.home / "spool" / "inference",
            metrics,
            settings.inference_log_buffer,
            settings.inference_log_batch,
            retention_days=settings.inference_log_retention_days,
            feedback_pending_s=settings.feedback_pending_seconds,
            log_level=settings.log_level,
            log_format=settings.log_format.value,
            sync=settings.inference_log_sync,
            spool_max_bytes=settings.inference_log_spool_max_bytes,
            when_full=settings.inference_log_when_full,
            max_rows=settings.inference_log_max_rows,
        )
        if settings.inference_log
        else None
    )
    store_health = StoreHealth(store, metrics)
    recent = RecentPredictions(settings.feedback_recent_ids)
    predictions = (
        PredictionLog(settings.prediction_log_rate, settings.prediction_log_max_bytes)
        if settings.prediction_log_rate > 0
        else None
    )
    features = FeatureLookup(settings, metrics)
    state = ServerParts(
        settings,
        store,
        metrics,
        manager,
        DataPlane(manager, metrics, writer, watcher, routing, recent, predictions, tracing),
        writer,
        watcher,
        store_health,
        feedback=FeedbackDesk.from_settings(settings, store, recent),
        tracing=tracing,
        features=features,
        rollouts=rollouts,
    )

    startup = StartupNote()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            await start()
        except BaseException as exc:
            if isinstance(exc, ConveyorError):
                startup.error = exc.message
            with contextlib.suppress(Exception):  # stop what did start (the log's ingester)
                await stop()
            raise
        try:
            yield
        finally:
            await stop()

    async def start() -> None:
        settings.home.mkdir(parents=True, exist_ok=True)
        # the tables are created now if the store answers; if not, the server starts anyway
        # (the model comes from the registry or its cache) and the log waits in the spool
        store_health.start()
        if writer is not None:
            writer.start()
        if predictions is not None:
            predictions.start()
        if watcher is not None:
            warm_imports()  # before the model loads and the heap is frozen
        await manager.start()
        await routing.start()
        leader: asyncio.Task[LeaderLoop] | None = None
        if settings.rollout_controller and manager.can_load_versions:
            leader = asyncio.create_task(asyncio.to_thread(start_leader, settings, store, rollouts))
            leader.add_done_callback(_report_leader)
        leaders.append(leader)
        ident = manager.current().identity
        log.info("serving %s version %s (%s)", ident.name, ident.version, ident.stage)
        await features.start(served)
        if watcher is not None:
            watcher.start()
        if on_ready is not None:
            on_ready()

    leaders: list[asyncio.Task[LeaderLoop] | None] = []

    async def stop() -> None:
        leader = leaders[0] if leaders else None
        if leader is not None:
            with contextlib.suppress(Exception):  # it failed to start: logged there
                await asyncio.to_thread((await leader).stop)  # releases the lease
        await features.stop()
        await routing.stop()  # a candidate's batcher drains first
        await manager.stop()  # drains queued requests first
        if watcher is not None:
            watcher.stop()  # writes the last live counts
        if writer is not None:
            writer.stop()  # then spools their log records and waits for the ingester
        tracing.shutdown()  # exports the spans still buffered
        store_health.stop()
        store.close()

    app = FastAPI(
        title="Conveyor model server",
        version=__version__,
        lifespan=lifespan,
        description="Predictions over Conveyor's /predict and the Open Inference Protocol (V2).",
    )
    app.state.conveyor = state
    codecs = build_codecs()
    app.include_router(predict.router(state, codecs.predict))
    app.include_router(scoring.router(state, codecs.invocations))
    for module in (v2, ops, admin):
        app.include_router(module.router(state))
    _install_error_handlers(app)

    def served() -> list[Bundle]:
        models = [manager.current()] if manager.ready else []
        return [m.bundle for m in [*models, manager.side] if m is not None]

    def model_name() -> str:
        return manager.current().identity.name if manager.ready else ""

    def failed(version: str, status: int, elapsed_ms: float) -> None:
        if watcher is None or not manager.ready:
            return
        model = manager.current()
        if version and version != model.identity.version:
            return
        watcher.request(model.bundle, elapsed_ms, status)

    app.add_middleware(RequestContext, metrics=metrics, model_name=model_name, on_failure=failed)
    app.add_middleware(StripTrailingSlash)  # /predict/ routes as /predict
    app.add_middleware(OneLineStartupFailure, note=startup)  # outermost: sees the lifespan
    return app


def warm_imports() -> None:
    """Import what the watcher thread uses (scipy's tests, the drift code) now: imported later
    on a background thread, they would hold the GIL mid-traffic and leave hundreds of
    thousands of objects outside the frozen heap for every full collection to scan."""
    import scipy.stats  # noqa: F401

    import conveyor.monitoring.alerts
    import conveyor.monitoring.drift
    import conveyor.rollout.records
    import conveyor.rollout.strategies  # noqa: F401


def _report_leader(task: asyncio.Task[LeaderLoop]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("rollout controller not started: %s", task.exception())


def _install_error_handlers(app: FastAPI) -> None:
    def is_v2(request: Request) -> bool:
        return request.url.path.startswith("/v2")

    @app.exception_handler(ConveyorError)
    async def conveyor_error(request: Request, exc: ConveyorError) -> Response:
        mlflow = request.url.path == "/invocations"
        return error_response(exc, request_id(request), is_v2(request), mlflow=mlflow)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        body: dict[str, Any] = {"error": str(exc.detail)}
        return JsonResponse(body, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        problems = [
            {"loc": ".".join(str(p) for p in e["loc"]), "msg": e["msg"]} for e in exc.errors()
        ]
        return JsonResponse({"error": "invalid request", "problems": problems}, status_code=422)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s", request.url.path)
        rid = request_id(request)
        # answered outside the request-id middleware: name the id here, as every answer does
        headers = {"X-Request-ID": rid} if rid else None
        return JsonResponse(
            {"error": "internal error", "request_id": rid}, status_code=500, headers=headers
        )


def app_from_env() -> FastAPI:
    """Factory for uvicorn workers (`--workers N`): settings come from CONVEYOR_* variables."""
    from conveyor.logs import configure_logging
    from conveyor.serving.protocol import GuardedHttp

    settings = Settings()
    configure_logging(settings)
    GuardedHttp.configure(settings.max_header_bytes, settings.header_timeout_seconds)
    return create_app(settings)
