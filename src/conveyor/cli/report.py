"""`conveyor report`: a served version's monitoring report as one self-contained HTML file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from conveyor.cli.context import CliContext
from conveyor.cli.monitor import parse_window
from conveyor.cli.options import ModelArg, StageOpt, VersionOpt, WindowOpt
from conveyor.cli.output import JsonOpt, emit_json, out


def register(app: typer.Typer) -> None:
    app.command("report")(report)


def report(
    ctx: typer.Context,
    name: ModelArg,
    version: VersionOpt = None,
    stage: StageOpt = "production",
    window: WindowOpt = None,
    out_path: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="The HTML file (or a directory for it); missing directories are created. "
            "Default: report-NAME-vVERSION.html here.",
        ),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Write an HTML report of a served version: drift per feature with the distributions
    that moved, traffic, latency, errors and online accuracy over the window, firing alerts.

    One file with inline plots: it opens anywhere without a network. Exit 2: bad input.
    """
    from conveyor.monitoring.report import write_report

    minutes = parse_window(window) if window is not None else None
    cli: CliContext = ctx.obj
    written = write_report(cli.settings, cli.store(), name, version, stage, minutes, out_path)
    if json_out:
        emit_json(written.to_dict())
        return
    summary = written.to_dict()
    firing = len(written.alerts)
    out().print(
        f"report of {escape(name)} version {escape(written.assessment.version)}: "
        f"drift status {summary['drift_status']}, {firing} alert(s) firing",
        soft_wrap=True,
    )
    out().print(f"written to {escape(str(written.path))}", soft_wrap=True)
