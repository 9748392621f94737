"""Rollout commands: ``rollout start|status|pause|resume|promote|rollback|abort|history``, and
``controller``, the rollouts' leader loop in a process of its own.

Every command is one call to ``conveyor.rollout.controller.Controller`` (or its records); the
state lives in the store, so these commands work from any machine that reaches it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from conveyor.cli.context import CliContext
from conveyor.cli.output import JsonOpt, emit_json, err, out, table
from conveyor.cli.rollout_view import (
    _at,
    _payload,
    _print_analysis,
    _print_events,
    _print_rollout,
    _state,
    _where,
)
from conveyor.errors import NotFoundError, ServiceUnavailableError, UserError

if TYPE_CHECKING:
    from conveyor.rollout.controller import Controller
    from conveyor.rollout.state import Rollout
    from conveyor.spec.models import RolloutSpec

# `rollout status --wait` ends with 0 when the candidate reached production, ROLLED_BACK when
# it did not (rolled back or aborted), TIMED_OUT when --timeout ran out first; apart from
# 1 (failure), 2 (bad input), 3 (quality gates failed) and 4 (drift).
ROLLED_BACK_EXIT_CODE = 5
TIMED_OUT_EXIT_CODE = 6
WAIT_POLL_SECONDS = 1.0

ModelArg = Annotated[str, typer.Argument(help="Registered model name.")]
ReasonOpt = Annotated[str, typer.Option(help="Why, for the audit trail.")]
ByOpt = Annotated[
    str | None, typer.Option("--by", help="Who, for the audit trail; default your login name.")
]


def register(app: typer.Typer) -> None:
    group = typer.Typer(
        help="Progressive delivery of a version: canary, blue-green, shadow, A/B.",
        no_args_is_help=True,
    )
    group.command("start")(start)
    group.command("status")(status)
    for command in COMMANDS:
        group.command(command)(_person_command(command))
    group.command("history")(history)
    app.add_typer(group, name="rollout")
    from conveyor.cli.controller import controller

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
    base, source = _project_rollout(name, spec)
    rollout_spec = _with_flags(base, strategy, steps, step_seconds, initial_percent)
    control = make_controller(_cli(ctx))
    rollout = control.start(name, version, rollout_spec, actor=_actor(by), reason=reason)
    if json_out:
        emit_json(_payload(control, rollout) | {"spec_source": source})
        return
    _print_rollout(control, rollout)
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
    base: RolloutSpec,
    strategy: str | None,
    steps: str | None,
    step_seconds: float | None,
    initial_percent: float | None,
) -> RolloutSpec:
    """The spec with the flags applied; a bad flag is a one-line ``UserError`` naming it."""
    from pydantic import ValidationError

    from conveyor.rollout.strategies import default_strategies
    from conveyor.spec.models import RolloutSpec

    values = base.model_dump()
    if strategy is not None:
        values["strategy"] = default_strategies().get(strategy).name
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
        return RolloutSpec.model_validate(values)
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
    from conveyor.rollout.state import State

    control = make_controller(_cli(ctx))
    rollout = getattr(control, command)(name, actor=_actor(by), reason=reason)
    if command == "promote" and rollout.state is State.PAUSED:  # the registry refused
        raise UserError(
            f"{rollout.reason}; the rollout of {name!r} is paused: fix that, then promote again"
        )
    if json_out:
        emit_json(_payload(control, rollout))
        return
    _print_rollout(control, rollout)


# -- status -----------------------------------------------------------------------------------
def status(
    ctx: typer.Context,
    name: ModelArg,
    wait: Annotated[
        bool, typer.Option("--wait", help="Poll until the rollout ends (see the exit codes).")
    ] = False,
    timeout: Annotated[
        float | None, typer.Option(help="With --wait: give up after this many seconds.")
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """The model's rollout (the active one, else the latest): state, step and weights, the
    last analysis with every check, and the registry's outcome.

    With --wait (a paused rollout waits for a person), exit 0: succeeded; 5: rolled back or
    aborted; 6: --timeout ran out first.
    """
    if timeout is not None and (not wait or timeout <= 0):
        raise UserError(f"--timeout {timeout:g}: a positive number of seconds, with --wait")
    cli = _cli(ctx)
    control = make_controller(cli)
    rollout = control.status(name)
    if rollout is None:
        raise NotFoundError(f"no rollout of {name!r}: start one with conveyor rollout start")
    if wait:
        rollout = _wait(control, rollout, timeout, quiet=json_out)
    analysis = _last_analysis(control, rollout)
    outcome = _registry_outcome(cli, rollout)
    if json_out:
        emit_json(_payload(control, rollout) | {"analysis": analysis, "registry": outcome})
    else:
        _print_rollout(control, rollout)
        _print_analysis(analysis)
        out().print(f"registry: {escape(outcome['summary'])}", soft_wrap=True)
    if wait:
        _wait_exit(rollout)


def _wait(control: Controller, rollout: Rollout, timeout: float | None, quiet: bool) -> Rollout:
    deadline = None if timeout is None else time.monotonic() + timeout
    left_in_plan = _plan_left_seconds(control, rollout)
    if timeout is not None and left_in_plan > timeout:
        err().print(
            f"warning: the rollout's plan needs about {left_in_plan:.0f} s more "
            f"({len(control.plan(rollout)) - max(rollout.step, 0)} step(s) of "
            f"{rollout.spec.step_seconds:g} s) but --timeout is {timeout:g} s: the wait will "
            "time out before the rollout can end unless someone promotes it",
            soft_wrap=True,
        )
    shown: tuple[str, int] | None = None
    while not rollout.state.terminal:
        if not quiet and shown != (rollout.state.value, rollout.step):
            shown = (rollout.state.value, rollout.step)
            err().print(f"waiting: {_where(control, rollout)}", soft_wrap=True)
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            break
        time.sleep(WAIT_POLL_SECONDS if left is None else min(WAIT_POLL_SECONDS, left))
        try:
            rollout = control.records.get(rollout.id)
        except ServiceUnavailableError as exc:  # a blip of the store ends no wait
            if not quiet:
                err().print(f"waiting: {exc.message}; retrying", soft_wrap=True)
    return rollout


def _plan_left_seconds(control: Controller, rollout: Rollout) -> float:
    """The least time the plan still needs: the rest of this step and every later one."""
    from datetime import UTC, datetime

    from conveyor.rollout.state import State

    if rollout.state.terminal:
        return 0.0
    steps_left = len(control.plan(rollout)) - max(rollout.step, 0)
    since = rollout.step_started_at if rollout.state is not State.PENDING else None
    spent = (datetime.now(UTC) - since).total_seconds() if since is not None else 0.0
    return max(0.0, steps_left * rollout.spec.step_seconds - spent)


def _wait_exit(rollout: Rollout) -> None:
    from conveyor.rollout.state import State

    if rollout.state is State.SUCCEEDED:
        return
    if rollout.state.terminal:
        raise typer.Exit(ROLLED_BACK_EXIT_CODE)
    err().print(f"timed out: the rollout of {escape(rollout.model)} is {rollout.state.value}")
    raise typer.Exit(TIMED_OUT_EXIT_CODE)


def _last_analysis(control: Controller, rollout: Rollout) -> dict[str, Any] | None:
    analyses = [e for e in control.records.events(rollout.id) if e.kind == "analysis"]
    return analyses[-1].to_dict() if analyses else None


def _registry_outcome(cli: CliContext, rollout: Rollout) -> dict[str, Any]:
    """Where the registry stands: production's version and the candidate's stage. MLflow being
    unreachable does not hide the rollout's own state, which comes from the store."""
    from conveyor.errors import ConveyorError
    from conveyor.registry import tags as T
    from conveyor.rollout.outcome import REJECTED_REASON

    try:
        registry = cli.registry()
        production = registry.by_alias(rollout.model, T.PRODUCTION)
        candidate = registry.get(rollout.model, rollout.candidate)
    except ConveyorError as exc:
        return {"summary": f"unavailable ({exc.message})", "error": exc.message}
    prod = production.version if production else None
    summary = f"production is version {prod}; candidate {rollout.candidate} is {candidate.stage}"
    rejected = candidate.tags.get(REJECTED_REASON)
    if rejected:
        summary += f" ({rejected})"
    if rollout.pending == "reject":
        summary += "; tagging it rejected is still owed (the controller retries)"
    return {
        "summary": summary,
        "production": prod,
        "candidate_stage": candidate.stage,
        "rejected_reason": rejected,
        "owed": rollout.pending,
    }


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
    control = make_controller(_cli(ctx))
    if events is not None:
        rollout = control.records.get(events)
        if rollout.model != name:
            raise NotFoundError(f"rollout {events} is of {rollout.model!r}, not {name!r}")
        found = control.records.events(events)
        if json_out:
            emit_json({"rollout": rollout.to_dict(), "events": [e.to_dict() for e in found]})
        else:
            _print_events(rollout, found)
        return
    rollouts = _rollouts_of(control, name, limit)
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
            _state(r),
            _at(r.started_at),
            _at(r.ended_at),
            escape(r.reason),
        ]
        for r in rollouts
    ]
    columns = ["id", "versions", "strategy", "state", "started", "ended", "reason"]
    out().print(table(f"{escape(name)} rollouts", columns, rows))


def _rollouts_of(control: Controller, name: str, limit: int) -> list[Rollout]:
    return control.records.for_model(name, limit)


# -- shared -----------------------------------------------------------------------------------
def make_controller(cli: CliContext) -> Controller:
    """The controller of this process (``hostname:pid`` in the lease), posting the rollouts'
    webhooks; MLflow is opened only when a command reaches the registry."""
    from conveyor.rollout.wiring import controller_for

    return controller_for(cli.settings, cli.store())


def _actor(by: str | None) -> str:
    if by:
        return by
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name (a container's anonymous uid)
        return "conveyor"


def _cli(ctx: typer.Context) -> CliContext:
    obj: CliContext = ctx.obj
    return obj
