"""`conveyor alerts silence|unsilence|silences`: hold an alert's notifications, with a reason."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer
from rich.markup import escape

from conveyor.cli.context import CliContext
from conveyor.cli.output import JsonOpt, emit_json, out, table
from conveyor.errors import UserError


def register(alerts_app: typer.Typer) -> None:
    alerts_app.command("silence")(silence)
    alerts_app.command("unsilence")(unsilence)
    alerts_app.command("silences")(list_silences)


def silence(
    ctx: typer.Context,
    model: Annotated[str, typer.Argument(help="The model whose alerts to silence.")],
    rule: Annotated[
        str | None,
        typer.Option(help="One rule (data_drift, error_rate, ...); default every rule."),
    ] = None,
    duration: Annotated[str, typer.Option("--for", help="How long: 30m, 2h, 1d.")] = "2h",
    reason: Annotated[str, typer.Option(help="Why (kept with the silence).")] = "",
    by: Annotated[str, typer.Option(help="Who silences.")] = "conveyor",
    json_out: JsonOpt = False,
) -> None:
    """Hold the webhooks of MODEL's alerts (one rule or all) for a while; alerts still open,
    resolve and show in `conveyor alerts list`, and one still firing when the silence ends is
    sent then."""
    from conveyor.cli.monitor import parse_window
    from conveyor.monitoring.silences import Silences

    try:
        minutes = parse_window(duration)
    except UserError:
        raise UserError(f"--for: {duration!r} is not a duration like 30m, 2h or 1d") from None
    cli: CliContext = ctx.obj
    now = datetime.now(UTC)
    made = Silences(cli.store()).add(model, rule, now + timedelta(minutes=minutes), reason, by, now)
    if json_out:
        emit_json(made.to_dict())
        return
    out().print(
        f"silenced {escape(model)} {escape(rule or 'every rule')} until "
        f"{made.until.isoformat(timespec='minutes')} (silence {made.id})"
    )


def unsilence(
    ctx: typer.Context,
    silence_id: Annotated[int, typer.Argument(help="The silence's id (conveyor alerts silences).")],
    json_out: JsonOpt = False,
) -> None:
    """End a silence now."""
    from conveyor.monitoring.silences import Silences

    cli: CliContext = ctx.obj
    lifted = Silences(cli.store()).lift(silence_id)
    if json_out:
        emit_json(lifted.to_dict())
        return
    out().print(f"silence {lifted.id} on {escape(lifted.model)} lifted")


def list_silences(
    ctx: typer.Context,
    model: Annotated[str | None, typer.Option(help="Only this model's silences.")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Silences in force: model, rule, until when, who, why."""
    from conveyor.monitoring.silences import Silences

    cli: CliContext = ctx.obj
    found = Silences(cli.store()).active(model)
    if json_out:
        emit_json({"silences": [s.to_dict() for s in found]})
        return
    if not found:
        out().print("no silences")
        return
    rows = [
        [s.id, escape(s.model), s.rule or "*", s.until.isoformat(timespec="minutes"),
         escape(s.created_by), escape(s.reason)]
        for s in found
    ]  # fmt: skip
    out().print(table("silences", ["id", "model", "rule", "until", "by", "reason"], rows))
