"""Rollout events for webhooks: their names, payloads, and a notifier over ``post_event``."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from conveyor.notify import WebhookPolicy
    from conveyor.rollout.state import Rollout

# a notifier gets the rollout's webhooks (URLs or WebhookSpecs), the event name and its payload
Notifier = Callable[[Sequence[Any], str, Mapping[str, Any]], object]

# the event each controller command sends
EVENTS = {
    "start": "rollout.started",
    "begin": "rollout.progressing",
    "advance": "rollout.step",
    "pause": "rollout.paused",
    "resume": "rollout.resumed",
    "promote": "rollout.promoting",
    "refuse": "rollout.paused",
    "succeed": "rollout.succeeded",
    "rollback": "rollout.rolled_back",
    "abort": "rollout.aborted",
}


def payload(rollout: Rollout, reason: str) -> dict[str, Any]:
    return {
        "model": rollout.model,
        "rollout": rollout.id,
        "candidate": rollout.candidate,
        "champion": rollout.champion,
        "strategy": rollout.strategy,
        "state": rollout.state.value,
        "step": rollout.step,
        "weights": rollout.weights,
        "reason": reason,
    }


def webhook_notifier(secret: str | None, policy: WebhookPolicy | None = None) -> Notifier:
    """Post events with ``conveyor.notify.post_event``, signed when ``secret`` is set, to the
    destinations ``policy`` allows (default: public hosts only)."""
    from conveyor.notify import post_event
    from conveyor.runbooks import SECTIONS, runbook_url

    def notify(urls: Sequence[Any], event: str, body: Mapping[str, Any]) -> object:
        if event in SECTIONS:  # an event that asks for a person says where its runbook is
            body = {**body, "runbook_url": runbook_url(event)}
        return post_event(urls, event, body, secret=secret, policy=policy)

    return notify
