"""`conveyor feast materialize`: keep the online store a model is served from fresh."""

from __future__ import annotations

import contextlib
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from conveyor.cli.options import ProjectOpt, command_group
from conveyor.cli.output import JsonOpt, emit_json, out
from conveyor.errors import UserError


def register(app: typer.Typer) -> None:
    group = command_group(app, "feast", "Serve features from a Feast feature store.")
    group.command("materialize")(materialize)


def materialize(
    project: ProjectOpt = Path("."),
    start: Annotated[
        str | None,
        typer.Option(
            help="ISO time to start from; default: where each view's last materialization "
            "ended (the beginning of its data the first time)."
        ),
    ] = None,
    end: Annotated[str | None, typer.Option(help="ISO time to end at; default: now.")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Copy the latest feature values of the project's views (data.feast) from the offline to
    the online store, so entity-key requests are answered with them."""
    from conveyor.data.feast import OnlineStore
    from conveyor.spec import load_spec

    spec = load_spec(project)
    if spec.data.feast is None:
        raise UserError(f"{project}: data.feast is not set: the project has no feature store")
    base = project if project.is_dir() else project.parent
    views = list(dict.fromkeys(ref.partition(":")[0] for ref in spec.data.feast.features))
    store = OnlineStore((base / spec.data.feast.repo).resolve(), "data.feast.repo")
    until = _time("--end", end) or datetime.now(UTC)
    with contextlib.redirect_stdout(sys.stderr):  # Feast's progress, kept off --json
        store.materialize(views, until, _time("--start", start))
    ages = store.ages(views)
    if json_out:
        emit_json({"views": views, "end": until.isoformat(), "age_seconds": ages})
        return
    for view, age in ages.items():
        said = "never" if age is None else f"{age:,.0f} s ago"
        out().print(f"{view}: materialized up to {until.isoformat()} (ended {said})")


def _time(option: str, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise UserError(f"{option} {value!r}: not an ISO time like 2026-01-06T00:00:00") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)
