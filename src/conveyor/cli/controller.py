"""``conveyor controller``: the rollouts' leader loop in a process of its own (servers run the
same loop; the store's lease lets one of them act)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from conveyor.cli.context import cli_context
from conveyor.cli.output import JsonOpt, emit_json, err, out
from conveyor.cli.rollout_view import rollout_payload, where_it_stands
from conveyor.errors import UserError
from conveyor.rollout.log_evidence import EvidenceByTask

if TYPE_CHECKING:
    from conveyor.rollout.controller import Controller


def controller(
    ctx: typer.Context,
    interval: Annotated[
        float | None,
        typer.Option(help="Seconds between rounds; default CONVEYOR_ROLLOUT_CONTROLLER_SECONDS."),
    ] = None,
    once: Annotated[bool, typer.Option("--once", help="One round, then exit (for cron).")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Run the rollout controller: begin, judge, advance, promote or roll back every rollout.

    Servers run one too; the store's lease lets one act at a time. Runs until SIGINT or
    SIGTERM, then gives up the lease so another controller takes over at once.
    """
    if interval is not None and interval <= 0:
        raise UserError(f"--interval {interval:g}: a positive number of seconds")
    cli = cli_context(ctx)
    control = cli.controller()
    evidence = EvidenceByTask(cli.settings, cli.store())
    if once:
        _once(control, evidence, json_out)
        return
    _run_until_signal(control, evidence, interval or cli.settings.rollout_controller_seconds)


def _once(control: Controller, evidence: EvidenceByTask, json_out: bool) -> None:
    try:
        changed = control.tick(None, evidence)
        lease = control.lease.current()
    finally:
        control.release()
    leader = lease is not None and lease.holder == control.lease.holder
    if json_out:
        emit_json(
            {
                "holder": control.lease.holder,
                "leader": leader,
                "lease_holder": lease.holder if lease else None,
                "changed": [rollout_payload(control, r) for r in changed],
            }
        )
        return
    console = out()
    if not leader:
        holder = lease.holder if lease else "another controller"
        console.print(f"not the leader: {escape(holder)} holds the lease; nothing done")
        return
    for rollout in changed:
        console.print(f"{escape(rollout.model)} #{rollout.id}: {where_it_stands(control, rollout)}")
    if not changed:
        console.print("nothing to do this round")


def _run_until_signal(control: Controller, evidence: EvidenceByTask, interval: float) -> None:
    import signal
    import threading

    from conveyor.rollout.loop import LeaderLoop, LoopState

    stop = threading.Event()
    previous = {
        sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)
    }
    loop = LeaderLoop(control, evidence, interval)
    try:
        loop.start()
        err().print(
            f"rollout controller {escape(control.lease.holder)}: a round every {interval:g} s; "
            "Ctrl-C stops"
        )
        stop.wait()
    finally:
        if loop.state is LoopState.RUNNING:
            loop.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    err().print("rollout controller stopped")
