"""Rollout commands: ``rollout start|status|pause|resume|promote|rollback|abort|history``, and
``controller``, the rollouts' leader loop in a process of its own.

Every command is one call to ``conveyor.rollout.controller.Controller`` (or its records); the
state lives in the store, so these commands work from any machine that reaches it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from conveyor.cli.context import cli_context
from conveyor.cli.controller import controller
from conveyor.cli.options import ModelArg, ReasonOpt, command_group
from conveyor.cli.output import JsonOpt, emit_json, out, table
from conveyor.cli.rollout_status import status
from conveyor.cli.rollout_view import (
    print_events,
    print_rollout,
    rollout_payload,
    styled_state,
    timestamp,
)
from conveyor.errors import NotFoundError, UserError

if TYPE_CHECKING:
    from conveyor.rollout.strategies import Strategies
    from conveyor.spec.models import RolloutSpec

ByOpt = Annotated[
    str | None, typer.Option("--by", help="Who, for the audit trail; default your login name.")
]


def register(app: typer.Typer) -> None:
    group = command_group(
        app, "rollout", "Progressive delivery of a version: canary, blue-green, shadow, A/B."
    )
    group.command("start")(start)
    group.command("status")(status)
    for command in COMMANDS:
        group.command(command)(_person_command(command))
    group.command("history")(history)
    app.command("controller")(controller)


# -- start ------------------------------------------------------------------------------------
def start(
    ctx: typer.Context,
    name: ModelArg,
    version: Annotated[str, typer.Argument(help="The candidate version.")],
    strategy: Annotated[
        str | None, typer.Option(help="canary, blue_green, shadow or ab; default the spec's.")
    ] = None,
    steps: Annotated[
        str | None, typer.Option(help="Canary: candidate percent per step, e.g. 5,25,50,100.")
    ] = None,
    step_seconds: Annotated[
        float | None, typer.Option(help="How long each step runs before its analysis.")
    ] = None,
    initial_percent: Annotated[
        float | None, typer.Option(help="Canary: the first step's percent (replaces it).")
    ] = None,
    spec: Annotated[
        Path | None,
        typer.Option(help="Project directory or conveyor.yaml; default ./conveyor.yaml if any."),
    ] = None,
    reason: ReasonOpt = "",
    by: ByOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Start rolling VERSION out against the production version.

    The rollout settings are the project's `rollout:` section (its conveyor.yaml, when it is
    the project of NAME), then these flags. The rollout is pending until the controller (in
    every server, or `conveyor controller`) begins its first step.
    """
    cli = cli_context(ctx)
    base, source = _project_rollout(name, spec)
    flags = (strategy, steps, step_seconds, initial_percent)
    rollout_spec = _with_flags(cli.strategies(), base, *flags)
    control = cli.controller()
    rollout = control.start(name, version, rollout_spec, actor=_actor(by), reason=reason)
    if json_out:
        emit_json(rollout_payload(control, rollout) | {"spec_source": source})
        return
    print_rollout(control, rollout)
    out().print(
        f"rollout settings from {escape(source)}; the controller begins step 1 at its next "
        "round (servers run one, or `conveyor controller`)"
    )


def _project_rollout(name: str, path: Path | None) -> tuple[RolloutSpec, str]:
    """The rollout section of the project of ``name``: --spec, else ./conveyor.yaml when it
    is that model's project, else the defaults."""
    from conveyor.spec import load_spec
    from conveyor.spec.loader import SPEC_FILE
    from conveyor.spec.models import RolloutSpec

    given = path is not None
    if path is None:
        path = Path.cwd() / SPEC_FILE
        if not path.is_file():
            return RolloutSpec(), "the defaults"
    project = load_spec(path)
    if project.name == name:
        return project.rollout, project.source_file
    if not given:  # the directory holds another model's project
        return RolloutSpec(), "the defaults"
    raise UserError(f"--spec {path}: the project of {project.name!r}, not of {name!r}")


def _with_flags(
    strategies: Strategies,
    base: RolloutSpec,
    strategy: str | None,
    steps: str | None,
    step_seconds: float | None,
    initial_percent: float | None,
) -> RolloutSpec:
    """The spec with the flags applied; a bad flag is a one-line ``UserError`` naming it.
    ``strategies`` (the process's registry) decides which strategy names are valid."""
    from pydantic import ValidationError

    from conveyor.spec.models import RolloutSpec

    values = base.model_dump()
    if strategy is not None:
        values["strategy"] = strategies.get(strategy).name
    canary = values["strategy"] == "canary"
    for flag, given in (("--steps", steps), ("--initial-percent", initial_percent)):
        if given is not None and not canary:
            raise UserError(f"{flag} applies to the canary strategy, not {values['strategy']}")
    if steps is not None:
        values["steps"] = _percents(steps)
    if initial_percent is not None:
        if not 0 < initial_percent <= 100:
            raise UserError(
                f"--initial-percent {initial_percent:g}: a percent above 0 and at most 100"
            )
        values["steps"] = [initial_percent, *values["steps"][1:]]
    if step_seconds is not None:
        values["step_seconds"] = step_seconds
    try:
        return RolloutSpec.model_validate(values, context={"strategies": strategies})
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else ""
        flag = {"steps": "--steps", "step_seconds": "--step-seconds"}.get(field, field)
        if field == "steps" and initial_percent is not None:
            flag = "--initial-percent" if steps is None else "--steps/--initial-percent"
        message = str(first["msg"]).removeprefix("Value error, ")
        raise UserError(f"{flag}: {message}") from None


def _percents(text: str) -> list[float]:
    try:
        percents = [float(p) for p in text.split(",") if p.strip()]
    except ValueError:
        percents = []
    if not percents:
        raise UserError(f"--steps {text!r}: comma-separated percents, e.g. 5,25,50,100")
    return percents


# -- pause, resume, promote, rollback, abort --------------------------------------------------
COMMANDS = {
    "pause": "Hold the rollout at its current weights; nothing is judged until resumed.",
    "resume": "Continue a paused rollout; its step's clock and evidence window start again.",
    "promote": "Promote the candidate to production now, skipping the remaining steps.",
    "rollback": "Stop, put all traffic back on production and tag the candidate rejected.",
    "abort": "Stop without judging the candidate: all traffic back on production.",
}


def _person_command(command: str) -> Callable[..., None]:
    def run(
        ctx: typer.Context,
        name: ModelArg,
        reason: ReasonOpt = "",
        by: ByOpt = None,
        json_out: JsonOpt = False,
    ) -> None:
        _command(ctx, command, name, reason, by, json_out)

    run.__doc__ = COMMANDS[command]
    return run


def _command(
    ctx: typer.Context, command: str, name: str, reason: str, by: str | None, json_out: bool
) -> None:
    from conveyor.rollout.state import RolloutState

    control = cli_context(ctx).controller()
    rollout = getattr(control, command)(name, actor=_actor(by), reason=reason)
    if command == "promote" and rollout.state is RolloutState.PAUSED:  # the registry refused
        raise UserError(
            f"{rollout.reason}; the rollout of {name!r} is paused: fix that, then promote again"
        )
    if json_out:
        emit_json(rollout_payload(control, rollout))
        return
    print_rollout(control, rollout)


# -- history ----------------------------------------------------------------------------------
def history(
    ctx: typer.Context,
    name: ModelArg,
    limit: Annotated[int, typer.Option(help="At most this many, newest first.")] = 20,
    events: Annotated[
        int | None, typer.Option("--events", help="The events of this rollout id instead.")
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Past rollouts of the model; with --events ID, one rollout's transitions and analyses."""
    if limit < 1:
        raise UserError(f"--limit {limit}: at least 1")
    control = cli_context(ctx).controller()
    if events is not None:
        rollout = control.records.get(events)
        if rollout.model != name:
            raise NotFoundError(f"rollout {events} is of {rollout.model!r}, not {name!r}")
        found = control.records.events(events)
        if json_out:
            emit_json({"rollout": rollout.to_dict(), "events": [e.to_dict() for e in found]})
        else:
            print_events(rollout, found)
        return
    rollouts = control.records.for_model(name, limit)
    if json_out:
        emit_json({"rollouts": [r.to_dict() for r in rollouts]})
        return
    if not rollouts:
        out().print(f"no rollouts of {escape(name)}")
        return
    rows = [
        [
            r.id,
            f"{r.champion} → {r.candidate}",
            r.strategy,
            styled_state(r),
            timestamp(r.started_at),
            timestamp(r.ended_at),
            escape(r.reason),
        ]
        for r in rollouts
    ]
    columns = ["id", "versions", "strategy", "state", "started", "ended", "reason"]
    out().print(table(f"{escape(name)} rollouts", columns, rows))


# -- shared -----------------------------------------------------------------------------------
def _actor(by: str | None) -> str:
    if by:
        return by
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name (a container's anonymous uid)
        return "conveyor"
