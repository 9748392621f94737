"""Webhook bodies: Conveyor's signed JSON event, or a Slack message, posted to a real local
HTTP receiver; the spec accepts both forms of entry."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conveyor.notify import RefusedDestination, WebhookPolicy, post_event, verify
from conveyor.spec.models import MonitoringSpec, RolloutSpec, WebhookSpec
from tests.conftest import WebhookReceiver

ALERT = {
    "rule": "accuracy_below_floor",
    "model": "wine",
    "version": "3",
    "severity": "critical",
    "message": "online accuracy 0.660 over 500 labels (alert below 0.7)",
    "details": {"runbook_url": "docs/runbooks.md#online-accuracy-below-the-floor"},
}


def test_json_and_slack_receivers_each_get_their_shape(webhook_receiver: WebhookReceiver) -> None:
    hooks = [webhook_receiver.url, WebhookSpec(url=webhook_receiver.url, format="slack")]
    delivered = post_event(
        hooks, "alert.firing", {"alert": ALERT}, secret="hmac-key", policy=webhook_receiver.policy
    )
    assert len(delivered) == 2
    (json_headers, json_body), (slack_headers, slack_body) = webhook_receiver.received
    assert json.loads(json_body) == {"event": "alert.firing", "alert": ALERT}
    assert verify("hmac-key", json_headers, json_body)
    message = json.loads(slack_body)
    assert set(message) == {"text"}
    assert message["text"] == (
        ":red_circle: *accuracy_below_floor* firing on wine version 3 (critical): online "
        "accuracy 0.660 over 500 labels (alert below 0.7) "
        "<docs/runbooks.md#online-accuracy-below-the-floor|runbook>"
    )
    assert verify("hmac-key", slack_headers, slack_body)  # signed all the same


def test_a_rollout_event_as_a_slack_message(webhook_receiver: WebhookReceiver) -> None:
    event = {"model": "wine", "rollout": 4, "candidate": "3", "champion": "2",
             "strategy": "canary", "state": "rolled_back", "step": 1,
             "weights": {"production": 100, "candidate": 0},
             "reason": "online_accuracy: 0.61 vs 0.93",
             "runbook_url": "docs/runbooks.md#rollout-rolled-back"}  # fmt: skip
    post_event(
        [WebhookSpec(url=webhook_receiver.url, format="slack")],
        "rollout.rolled_back",
        event,
        policy=webhook_receiver.policy,
    )
    ((_, body),) = webhook_receiver.received
    assert json.loads(body)["text"] == (
        ":arrows_counterclockwise: *rollout.rolled_back* wine: version 2 → 3 (canary, step 2, "
        "rolled_back): online_accuracy: 0.61 vs 0.93 <docs/runbooks.md#rollout-rolled-back|runbook>"
    )


def test_the_spec_takes_urls_and_formatted_hooks(tmp_path: Path) -> None:
    spec = MonitoringSpec.model_validate(
        {
            "webhooks": [
                "https://a.example/x",
                {"url": "https://hooks.slack.com/T/B/X", "format": "slack"},
            ]
        }
    )
    plain, slack = spec.webhooks
    assert plain == "https://a.example/x"
    assert isinstance(slack, WebhookSpec) and slack.format == "slack"
    # a rollout's spec is stored as JSON and read back with its hooks intact
    rollout = RolloutSpec.model_validate(
        {"webhooks": [{"url": "https://h.example/y", "format": "slack"}]}
    )
    again = RolloutSpec.model_validate(json.loads(rollout.model_dump_json()))
    assert again.webhooks == rollout.webhooks
    for bad, says in (
        ({"url": "ftp://x", "format": "slack"}, r"must be http\(s\) URLs"),
        ({"url": "https://x", "format": "teams"}, "format"),
    ):
        with pytest.raises(ValueError, match=says):
            MonitoringSpec.model_validate({"webhooks": [bad]})


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://127.0.0.1:9093/api",
        "http://10.1.2.3/hook",
        "http://192.168.0.5/hook",
        "http://[::1]:8080/hook",
        "http://[fe80::1]/hook",
        "http://[::ffff:10.0.0.1]/hook",
        "http://0.0.0.0/hook",
        "http://100.64.0.1/hook",  # carrier-grade NAT, shared address space
    ],
)
def test_internal_addresses_are_refused(url: str) -> None:
    with pytest.raises(RefusedDestination, match="webhooks reach only public hosts"):
        WebhookPolicy().check_url(url)


def test_allowed_hosts_and_networks_pass() -> None:
    policy = WebhookPolicy.parse(" alertmanager.monitoring.svc , 10.0.0.0/8")
    policy.check_url("http://10.1.2.3/hook")
    policy.check_url("http://alertmanager.monitoring.svc:9093/api")  # names: checked at send
    WebhookPolicy().check_url("https://hooks.slack.com/services/T/B/x")
    with pytest.raises(RefusedDestination):
        policy.check_url("http://192.168.0.5/hook")
    with pytest.raises(ValueError):
        WebhookPolicy.parse("10.0.0.0/33")


def test_a_name_is_resolved_checked_and_pinned_at_send(
    webhook_receiver: WebhookReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    """``localhost`` is a name: refused once resolved, unless allowed by name; the request then
    goes to the address that was checked, with the name kept in the Host header."""
    url = webhook_receiver.url.replace("127.0.0.1", "localhost")
    assert post_event([url], "alert.resolved", {}) == []
    assert webhook_receiver.received == []
    assert "localhost (127.0.0.1) is a loopback address" in caplog.text
    assert "token=abc" not in caplog.text
    assert post_event([url], "alert.resolved", {}, policy=WebhookPolicy(("localhost",))) == [url]
    ((headers, _),) = webhook_receiver.received
    assert headers["Host"] == url.split("/")[2]
