"""`conveyor serve`: start the model server (uvicorn, one or more workers)."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from conveyor.cli.context import CliContext
from conveyor.cli.output import err
from conveyor.errors import ConveyorError, UserError
from conveyor.settings import export_to_workers

if TYPE_CHECKING:
    import uvicorn

    from conveyor.bundle.model import ModelIdentity
    from conveyor.settings import Settings


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
    backend: Annotated[
        list[str] | None,
        typer.Option(
            help="[VERSION=]v2://HOST:PORT[/MODEL]: forward inference to this Open Inference "
            "Protocol server, for every version or only VERSION; repeatable (default "
            "CONVEYOR_BACKEND, else in-process)."
        ),
    ] = None,
    version: Annotated[
        str | None,
        typer.Option(
            help="Serve this version whatever the alias says (default CONVEYOR_MODEL_VERSION, "
            "else the alias)."
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

    from conveyor.bundle.sources import PINNED
    from conveyor.serving.app import create_app, source_from_settings

    cli: CliContext = ctx.obj
    if model_path is not None and not model_path.exists():
        raise UserError(f"--model-path {model_path}: no such directory")
    given: dict[str, object] = {
        "model_stage": stage,
        "model_name": name,
        "model_version": version,
        "backend": ",".join(backend) if backend else None,
        "model_path": model_path.resolve() if model_path is not None else None,
        "refresh_seconds": refresh_seconds,
    }
    update = {key: value for key, value in given.items() if value is not None}
    settings = cli.settings.model_copy(update=update)
    identity = _check_servable(settings)
    log_level = settings.log_level.lower()
    from conveyor.serving.protocol import GuardedHttp

    GuardedHttp.configure(settings.max_header_bytes, settings.header_timeout_seconds)
    common: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_level": log_level,
        "access_log": False,
        "timeout_graceful_shutdown": 30,
        "http": GuardedHttp,
        "limit_concurrency": settings.max_connections,
    }
    follows = (
        "pinned by CONVEYOR_MODEL_VERSION / --version: the alias is not followed"
        if identity.stage == PINNED
        else identity.stage
    )
    banner = (
        f"serving {identity.name} version {identity.version} ({follows}) "
        f"on http://{host}:{port} with {workers} worker(s)"
    )
    if workers == 1:
        app = create_app(settings, source_from_settings(settings), on_ready=lambda: _say(banner))
        _run(uvicorn.Config(app, **common))
        return
    # workers are separate processes: they read the same settings from CONVEYOR_* variables
    metrics_dir = tempfile.mkdtemp(prefix="conveyor-metrics-")
    export_to_workers(settings, PROMETHEUS_MULTIPROC_DIR=metrics_dir)
    _say(banner)  # the model loaded here once; each worker loads it again
    try:
        uvicorn.run("conveyor.serving.app:app_from_env", factory=True, workers=workers, **common)
    finally:
        # the workers have exited: their metric files are no longer read by anyone
        shutil.rmtree(metrics_dir, ignore_errors=True)


def _check_servable(settings: Settings) -> ModelIdentity:
    """Resolve, download and open the model once before anything listens, so a bad model path,
    an unreachable registry or a directory that is not a model ends the command with one line
    (exit 2 for bad input, 1 otherwise) and no "serving ..." banner. Workers then start from
    the local cache."""
    from conveyor.bundle.model import read_bundle
    from conveyor.serving.app import source_from_settings
    from conveyor.serving.remote import Backend, open_served

    if settings.backend:
        Backend.table(settings.backend)  # every entry, not only the version served now
    source = source_from_settings(settings)
    identity = source.current()
    bundle = read_bundle(source.fetch(identity), identity)
    open_served(bundle, 1, settings.backend)  # refuses a model its runtime cannot load
    return bundle.identity


def _run(config: uvicorn.Config) -> None:
    """uvicorn's server without uvicorn's exit code 3 (documented here as "gates failed") when
    the app fails to start: the lifespan has logged why in one line; the command exits 1."""
    import uvicorn

    server = uvicorn.Server(config)
    with contextlib.suppress(KeyboardInterrupt):
        server.run()
    if not server.started:
        raise ConveyorError("the server did not start (the reason is above)")


def _say(line: str) -> None:
    err().print(line, highlight=False)
