"""`conveyor ui`: the console's composition root. A JSON API under ``/api/`` (the page uses
nothing else; documented at ``/docs``) and the page itself, served from the package's built
assets (no CDN, no build step at install)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.staticfiles import StaticFiles
from starlette.responses import FileResponse, Response

from conveyor import __version__
from conveyor.console.views import Console, safe, window_minutes
from conveyor.errors import ConveyorError
from conveyor.serving.bearer import BearerGuard
from conveyor.serving.http import JsonResponse, error_response, parse_json, read_body
from conveyor.serving.inputs import bad_request

if TYPE_CHECKING:
    from conveyor.settings import Settings

STATIC = Path(__file__).parent / "static"
COMMANDS = ("pause", "resume", "promote", "rollback", "abort")
MAX_BODY = 16 * 1024


def create_console(settings: Settings, console: Console | None = None) -> FastAPI:
    """The console's app; ``console`` (the store, registry and controller) is built from
    ``settings`` on first use unless given."""
    holder: list[Console] = [console] if console is not None else []

    def get() -> Console:
        if not holder:
            holder.append(_build(settings))
        return holder[0]

    app = FastAPI(
        title="Conveyor console",
        version=__version__,
        description="Models, rollouts and what production is doing, read from Conveyor's store "
        "and the MLflow registry.",
    )
    app.include_router(_api(settings, get))

    @app.exception_handler(ConveyorError)
    async def conveyor_error(request: Request, exc: ConveyorError) -> Response:
        return error_response(exc, "", v2=False)

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def _api(settings: Settings, get: Any) -> APIRouter:
    api = APIRouter(prefix="/api", tags=["console"])
    guard = BearerGuard(settings, "console actions are off")

    async def read(fn: Any, *args: Any) -> Response:
        answer = await asyncio.to_thread(safe, fn, *args)
        status = 200
        if "error" in answer:
            status = 404 if answer.get("kind") == "not_found" else 503
        return JsonResponse(answer, status_code=status)

    @api.get("/meta")
    async def meta() -> Response:
        """What the page needs to know about this console: version, whether actions are on."""
        return JsonResponse(
            {
                "version": __version__,
                "actions": settings.admin_token is not None,
                "mlflow_ui": settings.mlflow_ui_url or None,
            }
        )

    @api.get("/models")
    async def models() -> Response:
        """Every registered model: latest version, production and staging, a running rollout,
        firing alerts."""
        return await read(lambda: get().models())

    @api.get("/models/{name}")
    async def model(name: str) -> Response:
        """One model: versions (stage, semver, metrics, gates, lineage, approval), its
        registry history and its rollouts."""
        return await read(lambda: get().model(name))

    @api.get("/models/{name}/rollout")
    async def rollout(name: str, id: int | None = Query(default=None, ge=1)) -> Response:
        """The running rollout (else the latest; ``id`` picks one): plan, traffic over time,
        each check's verdicts, the timeline and the decision's reason."""
        return await read(lambda: get().rollout(name, id))

    @api.get("/models/{name}/monitoring")
    async def monitoring(
        name: str, window: float | None = Query(default=None, gt=0, le=10080)
    ) -> Response:
        """Per served version over ``window`` minutes: drift per feature, moved distributions,
        prediction drift, online accuracy and coverage, latency and errors, and alerts."""
        minutes = window_minutes(str(window) if window else None)
        return await read(lambda: get().monitoring(name, minutes))

    @api.post("/models/{name}/rollout/{command}")
    async def command(name: str, command: str, request: Request) -> Response:
        """``pause``, ``resume``, ``promote``, ``rollback`` or ``abort`` the model's rollout:
        bearer ``CONVEYOR_ADMIN_TOKEN`` and ``{"reason": "...", "by": "..."}`` (both
        required; kept in the rollout's events and the audit trail)."""
        guard.check(request)
        if command not in COMMANDS:
            raise bad_request("command", f"one of {', '.join(COMMANDS)}")
        raw = await read_body(request, MAX_BODY)
        body = parse_json(raw) if raw.strip() else {}
        if not isinstance(body, dict):
            raise bad_request("body", "must be a JSON object")
        reason, by = body.get("reason"), body.get("by", "console")
        if not isinstance(reason, str) or not reason.strip():
            raise bad_request("reason", "required: why (kept in the audit trail)")
        if not isinstance(by, str) or not by.strip() or len(by) > 100:
            raise bad_request("by", "who acts: a name of up to 100 characters")
        answer = await asyncio.to_thread(get().command, name, command, f"console:{by}", reason)
        return JsonResponse(answer)

    return api


def _build(settings: Settings) -> Console:
    from conveyor.registry.client import connect
    from conveyor.registry.stages import ModelRegistry
    from conveyor.rollout.wiring import controller_for
    from conveyor.store.engine import Store

    settings.home.mkdir(parents=True, exist_ok=True)
    store = Store(settings.store_url).create()
    registry = ModelRegistry(connect(settings), store)
    return Console(settings, store, registry, controller_for(settings, store, holder="console"))
