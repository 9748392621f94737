"""`conveyor ui`: the web console."""

from __future__ import annotations

from typing import Annotated

import typer

from conveyor.cli.context import CliContext
from conveyor.cli.output import err


def register(app: typer.Typer) -> None:
    app.command("ui")(ui)


def ui(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[
        int | None, typer.Option(help="Port; default CONVEYOR_CONSOLE_PORT (8100).")
    ] = None,
) -> None:
    """Serve the web console: models and versions, rollouts live (with pause, resume, promote,
    rollback and abort behind CONVEYOR_ADMIN_TOKEN), and what production is doing."""
    import uvicorn

    from conveyor.console.app import create_console

    cli: CliContext = ctx.obj
    settings = cli.settings
    chosen = port or settings.console_port
    app = create_console(settings)
    err().print(f"console on http://{host}:{chosen}/ (Ctrl-C stops it)")
    uvicorn.run(app, host=host, port=chosen, log_level="warning", access_log=False)
