"""What several commands declare alike, written once so their flags and help cannot drift
apart: the arguments and options they share, and the command group (``conveyor dvc ...``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

ProjectOpt = Annotated[
    Path, typer.Option("--project", "-p", help="Project directory or conveyor.yaml.")
]
ModelArg = Annotated[str, typer.Argument(help="Registered model name.")]
VersionOpt = Annotated[
    str | None, typer.Option(help="Version to look at; default the one behind --stage.")
]
StageOpt = Annotated[str, typer.Option(help="Alias naming the version.")]
WindowOpt = Annotated[
    str | None,
    typer.Option(help="How far back: 30m, 1h, 7d; default the version's monitoring window."),
]
ReasonOpt = Annotated[str, typer.Option(help="Why, for the audit trail.")]
SparkMasterOpt = Annotated[
    str | None, typer.Option(help="spark: the master URL; default the session's or local[*].")
]


def command_group(app: typer.Typer, name: str, help: str) -> typer.Typer:
    """A group of subcommands under ``app`` (``conveyor NAME ...``) that prints its help when
    called alone; the caller adds the commands."""
    group = typer.Typer(help=help, no_args_is_help=True)
    app.add_typer(group, name=name)
    return group
