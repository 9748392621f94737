"""``conveyor rollout status``: where the model's rollout stands, its last analysis and the
registry's outcome; with ``--wait``, polled until it ends, its end given as the exit code."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from conveyor.cli.context import CliContext, cli_context
from conveyor.cli.options import ModelArg
from conveyor.cli.output import JsonOpt, emit_json, err, out
from conveyor.cli.rollout_view import (
    print_analysis,
    print_rollout,
    rollout_payload,
    where_it_stands,
)
from conveyor.errors import NotFoundError, ServiceUnavailableError, UserError

if TYPE_CHECKING:
    from conveyor.rollout.controller import Controller
    from conveyor.rollout.state import Rollout

# `rollout status --wait` ends with 0 when the candidate reached production, ROLLED_BACK when
# it did not (rolled back or aborted), TIMED_OUT when --timeout ran out first; apart from
# 1 (failure), 2 (bad input), 3 (quality gates failed) and 4 (drift).
ROLLED_BACK_EXIT_CODE = 5
TIMED_OUT_EXIT_CODE = 6
WAIT_POLL_SECONDS = 1.0


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
    cli = cli_context(ctx)
    control = cli.controller()
    rollout = control.status(name)
    if rollout is None:
        raise NotFoundError(f"no rollout of {name!r}: start one with conveyor rollout start")
    if wait:
        rollout = _wait(control, rollout, timeout, quiet=json_out)
    analysis = _last_analysis(control, rollout)
    outcome = _registry_outcome(cli, rollout)
    if json_out:
        emit_json(rollout_payload(control, rollout) | {"analysis": analysis, "registry": outcome})
    else:
        print_rollout(control, rollout)
        print_analysis(analysis)
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
            err().print(f"waiting: {where_it_stands(control, rollout)}", soft_wrap=True)
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

    from conveyor.rollout.state import RolloutState

    if rollout.state.terminal:
        return 0.0
    steps_left = len(control.plan(rollout)) - max(rollout.step, 0)
    since = rollout.step_started_at if rollout.state is not RolloutState.PENDING else None
    spent = (datetime.now(UTC) - since).total_seconds() if since is not None else 0.0
    return max(0.0, steps_left * rollout.spec.step_seconds - spent)


def _wait_exit(rollout: Rollout) -> None:
    from conveyor.rollout.state import RolloutState

    if rollout.state is RolloutState.SUCCEEDED:
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
    from conveyor.rollout.registry_moves import REJECTED_REASON

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
