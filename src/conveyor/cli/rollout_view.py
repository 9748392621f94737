"""How rollouts read on a terminal: the rollout and where it stands, its plan, the last
analysis with each check's key numbers, and the event history."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from rich.markup import escape

from conveyor.cli.output import out, table

if TYPE_CHECKING:
    from conveyor.rollout.controller import Controller
    from conveyor.rollout.records import RolloutEvent
    from conveyor.rollout.state import Rollout

VERDICT_STYLE = {"pass": "green", "marginal": "yellow", "fail": "red", "inconclusive": "dim"}
STATE_STYLE = {"succeeded": "green", "rolled_back": "red", "aborted": "yellow", "paused": "yellow"}


def print_events(rollout: Rollout, found: list[RolloutEvent]) -> None:
    console = out()
    console.print(
        f"[bold]{escape(rollout.model)}[/] rollout #{rollout.id}: version {rollout.champion} → "
        f"{rollout.candidate} ({rollout.strategy}), {styled_state(rollout)}"
    )
    for e, repeats in _collapsed(found):
        head = f"{timestamp(e.at)}  step {e.step + 1}  "
        if e.kind == "transition":
            move = f"{e.from_state or 'new'} → {e.to_state}"
            console.print(f"{head}{move} by {escape(e.actor)}: {escape(e.reason)}", soft_wrap=True)
            continue
        again = f" (the same {repeats} times)" if repeats > 1 else ""
        console.print(
            f"{head}analysis {_verdict(e.verdict or '')}{again}: {escape(e.reason)}",
            soft_wrap=True,
        )
        for check in e.evidence.get("checks", []):
            console.print(
                f"    {check['name']}: {_verdict(check['verdict'])} — {_numbers(check)}",
                soft_wrap=True,
            )


def _collapsed(found: list[RolloutEvent]) -> list[tuple[RolloutEvent, int]]:
    """Consecutive analyses with the same verdict and reason (a step waiting for evidence is
    analysed every round) as the last of them and their count."""
    runs: list[tuple[RolloutEvent, int]] = []
    for e in found:
        if runs and e.kind == "analysis":
            last, count = runs[-1]
            same = (last.kind, last.step, last.verdict, last.reason)
            if same == (e.kind, e.step, e.verdict, e.reason):
                runs[-1] = (e, count + 1)
                continue
        runs.append((e, 1))
    return runs


def rollout_payload(control: Controller, rollout: Rollout) -> dict[str, Any]:
    plan = control.plan(rollout)
    return {
        "rollout": rollout.to_dict() | {"owed": rollout.pending},
        "plan": [
            {
                "step": i + 1,
                "label": s.label,
                "candidate": s.weight,
                "production": 100 - s.weight,
                "mirror": s.mirror,
                "assign_by": s.assign_by,
            }
            for i, s in enumerate(plan)
        ],
    }


def print_rollout(control: Controller, rollout: Rollout) -> None:
    from conveyor.rollout.state import RolloutState

    console = out()
    console.print(
        f"[bold]{escape(rollout.model)}[/] rollout #{rollout.id} ({rollout.strategy}): "
        f"version {rollout.champion} → {rollout.candidate}, {styled_state(rollout)}"
    )
    console.print(where_it_stands(control, rollout), soft_wrap=True)
    if rollout.reason:
        console.print(f"reason: {escape(rollout.reason)}", soft_wrap=True)
    plan = control.plan(rollout)
    current = (
        rollout.step if rollout.state in (RolloutState.PROGRESSING, RolloutState.PAUSED) else None
    )
    rows = [
        [
            f"▶ {i + 1}" if i == current else i + 1,
            s.label,
            f"{s.weight:g}%",
            f"{100 - s.weight:g}%",
            "yes" if s.mirror else "",
            s.assign_by,
        ]
        for i, s in enumerate(plan)
    ]
    columns = ["step", "label", "candidate", "production", "mirrored", "assigned by"]
    console.print(table("plan", columns, rows))


def where_it_stands(control: Controller, rollout: Rollout) -> str:
    """``state``, step i/n with the weights in force and the time in the step."""
    from conveyor.rollout.state import RolloutState

    n = len(control.plan(rollout))
    weights = (
        f"candidate {rollout.weights.get('candidate', 0):g}% / "
        f"production {rollout.weights.get('production', 100):g}%"
    )
    if rollout.state is RolloutState.PENDING:
        return f"pending: waiting for the controller to begin step 1 of {n}; {weights}"
    if rollout.state.terminal:
        return f"{rollout.state.value} at step {rollout.step + 1} of {n}; {weights}"
    since = rollout.step_started_at or rollout.updated_at
    spent = (datetime.now(UTC) - since).total_seconds()
    length = rollout.spec.step_seconds
    clock = f"{_duration(spent)} into the step of {_duration(length)}"
    if rollout.state is RolloutState.PAUSED:
        paused = (datetime.now(UTC) - rollout.updated_at).total_seconds()
        clock = f"paused {_duration(paused)} ago; resuming restarts the step's clock"
    elif rollout.state is RolloutState.PROMOTING:
        clock = "the registry is moving production to the candidate"
    elif spent > length:
        clock = f"the step ended {_duration(spent - length)} ago; its analysis decides"
    return f"{rollout.state.value}: step {rollout.step + 1} of {n}; {weights}; {clock}"


def print_analysis(analysis: dict[str, Any] | None) -> None:
    console = out()
    if analysis is None:
        console.print("analysis: [dim]none yet[/]")
        return
    evidence = analysis["evidence"]
    console.print(
        f"last analysis ({timestamp(datetime.fromisoformat(analysis['at']))}, step "
        f"{analysis['step'] + 1}): {_verdict(evidence['decision'])} — "
        f"{escape(evidence['reason'])}",
        soft_wrap=True,
    )
    rows = [
        [c["name"], _verdict(c["verdict"]), _numbers(c), escape(c["reason"])]
        for c in evidence["checks"]
    ]
    console.print(table("checks", ["check", "verdict", "key numbers", "reason"], rows))


# the numbers a person reads first, per check; the rest are in --json
KEY_NUMBERS = {
    "error_rate": [
        "candidate_rate",
        "champion_rate",
        "p_beyond_limit",
        "candidate_requests",
        "champion_requests",
    ],
    "latency": [
        "candidate_p99_ms",
        "champion_p99_ms",
        "p99_ratio",
        "candidate_samples",
        "champion_samples",
    ],
    "agreement": ["agreement", "upper_bound", "pairs"],
    "prediction_shift": ["psi", "p_value", "candidate_rows", "champion_rows"],
    "online_accuracy": [
        "candidate_accuracy",
        "champion_accuracy",
        "candidate_rmse",
        "champion_rmse",
        "p_beyond_limit",
        "candidate_labels",
        "champion_labels",
    ],
    "input_drift": ["candidate_rows", "champion_rows"],
}


def _numbers(check: dict[str, Any]) -> str:
    numbers = check.get("numbers", {})
    keys = KEY_NUMBERS.get(check["name"]) or [
        k for k, v in numbers.items() if isinstance(v, int | float)
    ]
    shown = [f"{k}={_num(numbers[k])}" for k in keys if k in numbers]
    features = numbers.get("features")
    if isinstance(features, dict) and features:
        worst = max(features, key=lambda f: features[f]["psi"])
        shown.append(f"max psi={_num(features[worst]['psi'])} ({escape(worst)})")
    return ", ".join(shown)


def _num(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _verdict(value: str) -> str:
    style = VERDICT_STYLE.get(value)
    return f"[{style}]{value}[/]" if style else value


def styled_state(rollout: Rollout) -> str:
    style = STATE_STYLE.get(rollout.state.value)
    return f"[{style}]{rollout.state.value}[/]" if style else rollout.state.value


def _duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    return f"{minutes // 60}h {minutes % 60:02d}m"


def timestamp(at: datetime | None) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if at else ""
