"""Silences: a drift alert opened under a silence is recorded and listed but sends no webhook;
lifted while it still fires, it is sent then. Every alert says where its runbook is."""

from __future__ import annotations

import json
from dataclasses import replace

import httpx

from conveyor.monitoring.alerts import AlertBook
from conveyor.monitoring.watch import Watcher
from conveyor.serving.metrics import ServerMetrics
from conveyor.spec.models import MonitoringSpec
from tests.conftest import WebhookReceiver
from tests.serving.conftest import Registered
from tests.serving.test_monitoring import ROWS, cli, send, wine_rows


async def test_a_silenced_alert_is_kept_quiet_until_lifted(
    wine_client: httpx.AsyncClient,
    wine_registered: Registered,
    webhook_receiver: WebhookReceiver,
) -> None:
    state = wine_client.app.state.conveyor  # type: ignore[attr-defined]
    store_url = state.settings.store_url
    silenced = cli(
        wine_registered, store_url, "alerts", "silence", "wine", "--rule", "data_drift",
        "--for", "1h", "--reason", "supplier migration, expected", "--by", "alice", "--json",
    )  # fmt: skip
    assert silenced.returncode == 0, silenced.stderr
    silence = json.loads(silenced.stdout)
    assert silence["rule"] == "data_drift" and silence["by"] == "alice"

    await send(wine_client, wine_rows(ROWS, 2, shifted=True))
    state.log_writer.stop()
    state.watcher.live.flush()
    bundle = state.manager.current().bundle
    hooked = replace(bundle, monitoring=MonitoringSpec(webhooks=[webhook_receiver.url]))
    watcher = Watcher(
        state.store, ServerMetrics(), lambda: [hooked], webhook_policy=webhook_receiver.policy
    )
    watcher.round()
    sent = [json.loads(body)["alert"]["rule"] for _, body in webhook_receiver.received]
    assert "data_drift" not in sent  # silenced: no webhook
    [drift] = [a for a in AlertBook(state.store).list("wine") if a["rule"] == "data_drift"]
    assert drift["state"] == "firing" and drift["details"]["silenced"] is True
    assert drift["details"]["runbook_url"] == "docs/runbooks.md#data-drift"
    listed = cli(wine_registered, store_url, "alerts", "list", "--model", "wine")
    assert "silenced" in listed.stdout

    shown = cli(wine_registered, store_url, "alerts", "silences", "--json")
    assert [s["id"] for s in json.loads(shown.stdout)["silences"]] == [silence["id"]]
    lifted = cli(wine_registered, store_url, "alerts", "unsilence", str(silence["id"]))
    assert lifted.returncode == 0, lifted.stderr
    watcher.round()  # still firing, no longer silenced: sent now, once
    watcher.round()
    bodies = [json.loads(body) for _, body in webhook_receiver.received]
    drift_events = [b for b in bodies if b["alert"]["rule"] == "data_drift"]
    assert len(drift_events) == 1
    assert drift_events[0]["event"] == "alert.firing"
    assert drift_events[0]["alert"]["details"]["runbook_url"] == "docs/runbooks.md#data-drift"
    assert "silenced" not in drift_events[0]["alert"]["details"]
    again = cli(wine_registered, store_url, "alerts", "unsilence", str(silence["id"]))
    assert again.returncode == 2 and "no active silence" in again.stderr


def test_a_silence_needs_a_reason_and_a_future(wine_registered: Registered) -> None:
    url = f"sqlite:///{wine_registered.home / 'conveyor.db'}"
    no_reason = cli(wine_registered, url, "alerts", "silence", "wine")
    assert no_reason.returncode == 2 and "needs a reason" in no_reason.stderr
    bad = cli(wine_registered, url, "alerts", "silence", "wine", "--for", "soon", "--reason", "x")
    assert bad.returncode == 2 and "--for" in bad.stderr
