"""Admin endpoints behind a bearer token (``CONVEYOR_ADMIN_TOKEN``): reload, and the controls
of the served model's rollout (the same commands as ``conveyor rollout``), given to the
server's one rollout controller (``ServerParts.rollouts``, built by ``create_app``)."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from conveyor.notify import RefusedDestination
from conveyor.serving.bearer import BearerGuard
from conveyor.serving.http import JsonResponse, parse_json, read_body
from conveyor.serving.inputs import bad_request
from conveyor.serving.parts import ServerParts

COMMANDS = ("pause", "resume", "promote", "rollback", "abort")


def router(state: ServerParts) -> APIRouter:
    api = APIRouter(prefix="/admin", tags=["admin"])
    guard = BearerGuard(state.settings, "admin endpoints are disabled")

    @api.post("/reload")
    async def reload(request: Request) -> Response:
        """Load the version the alias points at now, if it moved; swaps atomically."""
        guard.check(request)
        swapped, ident = await state.manager.reload()
        return JsonResponse({"swapped": swapped, "name": ident.name, "version": ident.version})

    async def body_of(request: Request) -> dict[str, Any]:
        raw = await read_body(
            request, state.settings.max_body_bytes, state.settings.body_timeout_seconds
        )
        body = parse_json(raw) if raw.strip() else {}
        if not isinstance(body, dict):
            raise bad_request("body", "must be a JSON object")
        reason = body.get("reason", "")
        if not isinstance(reason, str):
            raise bad_request("reason", "must be a string")
        return body

    def rollout_view(model: str) -> dict[str, Any]:
        c = state.rollouts
        rollout = c.status(model)
        if rollout is None:
            return {"model": model, "rollout": None}
        steps = [
            {"label": s.label, "weight": s.weight, "mirror": s.mirror} for s in c.plan(rollout)
        ]
        events = [e.to_dict() for e in c.records.events(rollout.id)][-20:]
        return {"model": model, "rollout": rollout.to_dict(), "plan": steps, "events": events}

    @api.get("/rollout")
    async def rollout_status(request: Request) -> Response:
        """The served model's rollout (the running one, else the latest): state, step, weights,
        plan and its recent events with the analysis behind each verdict."""
        guard.check(request)
        model = state.manager.current().identity.name
        return JsonResponse(await asyncio.to_thread(rollout_view, model))

    @api.post("/rollout/start")
    async def rollout_start(request: Request) -> Response:
        """Start rolling out ``version``: ``{"version": "3", "strategy": "canary", "steps":
        [5, 25, 50, 100], "step_seconds": 300, "reason": "..."}``; the rest of the rollout
        settings are the defaults of the spec's ``rollout:`` section."""
        from pydantic import ValidationError

        from conveyor.spec.models import RolloutSpec

        guard.check(request)
        body = await body_of(request)
        version = body.pop("version", None)
        if not isinstance(version, str | int) or isinstance(version, bool) or version == "":
            raise bad_request("version", "required: the version to roll out")
        reason = body.pop("reason", "")
        try:
            # the server's strategy registry decides which strategy names are valid
            spec = RolloutSpec.model_validate(
                body, context={"strategies": state.rollouts.strategies}
            )
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"]) or "body"
            raise bad_request(field, first["msg"]) from None
        policy = state.settings.webhook_policy
        for i, hook in enumerate(spec.webhooks):
            try:
                policy.check_url(hook if isinstance(hook, str) else hook.url)
            except RefusedDestination as exc:  # a host name is checked again at every send
                raise bad_request(f"webhooks.{i}", str(exc)) from None
        model = state.manager.current().identity.name

        def start() -> dict[str, Any]:
            state.rollouts.start(model, str(version), spec, actor="admin-api", reason=reason)
            return rollout_view(model)

        return JsonResponse(await asyncio.to_thread(start), status_code=201)

    @api.post("/rollout/{command}")
    async def rollout_command(command: str, request: Request) -> Response:
        """``pause``, ``resume``, ``promote``, ``rollback`` or ``abort`` the served model's
        rollout, with an optional ``{"reason": "..."}``."""
        guard.check(request)
        if command not in COMMANDS:
            raise bad_request("command", f"one of {', '.join(COMMANDS)}")
        reason = (await body_of(request)).get("reason", "")
        model = state.manager.current().identity.name

        def run() -> dict[str, Any]:
            getattr(state.rollouts, command)(model, actor="admin-api", reason=reason)
            return rollout_view(model)

        return JsonResponse(await asyncio.to_thread(run))

    return api
