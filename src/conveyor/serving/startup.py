"""A start-up failure reported in one line.

When the app cannot start (the model will not load, the registry does not answer), Starlette
hands the server the whole traceback as the failure's message, and uvicorn prints it. The
lifespan writes Conveyor's own error into a ``StartupNote``; this ASGI middleware puts that
error's one-line message in the traceback's place. Anything else keeps its traceback: an
unexpected failure needs it.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send


@dataclass
class StartupNote:
    error: str | None = None


class OneLineStartupFailure:
    def __init__(self, app: ASGIApp, note: StartupNote) -> None:
        self.app = app
        self.note = note

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return

        async def send_one_line(message: Message) -> None:
            if message["type"] == "lifespan.startup.failed" and self.note.error is not None:
                message = {**message, "message": f"cannot start: {self.note.error}"}
            await send(message)

        await self.app(scope, receive, send_one_line)
