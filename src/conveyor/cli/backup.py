"""`conveyor backup` and `conveyor restore`: the embedded store, registry and artifacts."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from conveyor.cli.context import CliContext
from conveyor.cli.output import JsonOpt, emit_json, out


def register(app: typer.Typer) -> None:
    app.command("backup")(backup)
    app.command("restore")(restore)


def backup(
    ctx: typer.Context,
    out_dir: Annotated[Path, typer.Option("--out", help="A new (or empty) directory.")],
    json_out: JsonOpt = False,
) -> None:
    """Copy the Conveyor store and the MLflow registry (SQLite, consistent while servers
    write), the artifacts and the inference-log spool into --out, with a manifest."""
    from conveyor.store.backup import backup as run_backup

    cli: CliContext = ctx.obj
    done = run_backup(cli.settings, out_dir)
    if json_out:
        emit_json(done.to_dict())
        return
    rows = ", ".join(f"{k} {v:,}" for k, v in done.manifest["rows"].items())
    out().print(f"[green]backed up[/] {cli.settings.home} to {out_dir} ({rows})")


def restore(
    ctx: typer.Context,
    source: Annotated[Path, typer.Argument(help="A directory `conveyor backup` wrote.")],
    force: Annotated[
        bool, typer.Option(help="Replace an existing store, registry and artifacts.")
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Put a backup back under CONVEYOR_HOME (stop the servers first); checksums are checked
    and artifact locations follow a home that moved."""
    from conveyor.store.backup import restore as run_restore

    cli: CliContext = ctx.obj
    done = run_restore(cli.settings, source, force)
    if json_out:
        emit_json(done.to_dict())
        return
    out().print(f"[green]restored[/] {source} into {cli.settings.home}")
