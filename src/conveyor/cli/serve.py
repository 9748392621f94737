"""`conveyor serve`: start the model server (uvicorn, one or more workers)."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from conveyor.cli.context import CliContext
from conveyor.cli.output import err


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)


def serve(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Argument(help="Registered model to serve.")] = None,
    stage: Annotated[
        str | None,
        typer.Option(
            help="Alias to follow: production or staging "
            "(default CONVEYOR_MODEL_STAGE, else production)."
        ),
    ] = None,
    model_path: Annotated[
        Path | None, typer.Option(help="Serve a local model directory instead.")
    ] = None,
    host: Annotated[
        str, typer.Option(help="Interface to bind; 0.0.0.0 in containers.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    refresh_seconds: Annotated[
        float | None, typer.Option(help="Alias poll interval; 0 disables.")
    ] = None,
) -> None:
    """Serve a model over /predict and the Open Inference Protocol, with /metrics."""
    import uvicorn

    from conveyor.errors import UserError
    from conveyor.serving.app import create_app, source_from_settings

    cli: CliContext = ctx.obj
    if model_path is not None and not model_path.exists():
        raise UserError(f"--model-path {model_path}: no such directory")
    update: dict[str, object] = {}
    if stage is not None:
        update["model_stage"] = stage
    if name is not None:
        update["model_name"] = name
    if model_path is not None:
        update["model_path"] = model_path.resolve()
    if refresh_seconds is not None:
        update["refresh_seconds"] = refresh_seconds
    settings = cli.settings.model_copy(update=update)
    source = source_from_settings(settings)
    # resolve and download once here, so workers start from the local cache
    source.fetch(source.current())
    where = settings.model_path or f"{settings.model_name}@{settings.model_stage}"
    err().print(f"serving {where} on http://{host}:{port} with {workers} worker(s)")
    log_level = settings.log_level.lower()
    if workers == 1:
        uvicorn.run(
            create_app(settings, source),
            host=host,
            port=port,
            log_level=log_level,
            access_log=False,
            timeout_graceful_shutdown=30,
        )
        return
    # workers are separate processes: they read the same settings from CONVEYOR_* variables
    metrics_dir = tempfile.mkdtemp(prefix="conveyor-metrics-")
    env = {
        "CONVEYOR_HOME": str(settings.home),
        "CONVEYOR_TRACKING_URI": settings.tracking_uri,
        "CONVEYOR_STORE_URL": settings.store_url,
        "CONVEYOR_MODEL_STAGE": settings.model_stage,
        "CONVEYOR_REFRESH_SECONDS": str(settings.refresh_seconds),
        "PROMETHEUS_MULTIPROC_DIR": metrics_dir,
    }
    if settings.model_name:
        env["CONVEYOR_MODEL_NAME"] = settings.model_name
    if settings.model_path is not None:
        env["CONVEYOR_MODEL_PATH"] = str(settings.model_path)
    os.environ.update(env)
    try:
        uvicorn.run(
            "conveyor.serving.app:app_from_env",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level=log_level,
            access_log=False,
            timeout_graceful_shutdown=30,
        )
    finally:
        # the workers have exited: their metric files are no longer read by anyone
        shutil.rmtree(metrics_dir, ignore_errors=True)
