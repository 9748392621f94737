"""Webhooks: events POSTed as JSON, signed with HMAC-SHA256 when a secret is set.

The receiver recomputes ``hmac_sha256(secret, timestamp + "." + body)`` and compares it with
``X-Conveyor-Signature: sha256=<hex>``; the timestamp (``X-Conveyor-Timestamp``, Unix seconds)
is part of the signed text so a captured request cannot be replayed later. A webhook that
fails is logged and skipped: notifications never block the work that raised them.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import socket
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from conveyor.jsonio import dumps

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Conveyor-Signature"
TIMESTAMP_HEADER = "X-Conveyor-Timestamp"
EVENT_HEADER = "X-Conveyor-Event"


def sign(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def verify(secret: str, headers: Mapping[str, str], body: bytes, max_age: float = 300) -> bool:
    """True when ``headers`` carry a valid, fresh signature of ``body`` (for receivers)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    timestamp = lowered.get(TIMESTAMP_HEADER.lower(), "")
    given = lowered.get(SIGNATURE_HEADER.lower(), "")
    try:
        fresh = abs(time.time() - float(timestamp)) <= max_age
    except ValueError:
        return False
    return fresh and hmac.compare_digest(given, sign(secret, timestamp, body))


class RefusedDestination(ValueError):
    """A webhook URL whose host is (or resolves to) an address webhooks may not reach."""


@dataclass(frozen=True)
class WebhookPolicy:
    """Where webhooks may go. Loopback, private, link-local (cloud metadata at 169.254.169.254),
    shared, multicast, reserved and unspecified addresses are refused, so a webhook URL (set in
    a spec or through the admin API) cannot make the server call into its own network; hosts
    and networks named in ``allow`` (``CONVEYOR_WEBHOOK_ALLOW``: names or CIDR networks, comma
    separated) are let through for internal receivers such as an in-cluster Alertmanager.

    Checked when a URL is given (a literal address) and again at every send, after resolving
    the name; the request then goes to the address that was checked (Host header and TLS
    name kept), so a name that re-resolves elsewhere meanwhile cannot slip past."""

    allow: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str) -> WebhookPolicy:
        entries = tuple(e.strip().lower() for e in text.split(",") if e.strip())
        for entry in entries:
            if "/" in entry:
                ipaddress.ip_network(entry, strict=False)  # ValueError names a bad network
        return cls(entries)

    def check_url(self, url: str) -> None:
        """Refuse a URL whose host is a forbidden literal address (names are checked at send)."""
        host = _url_host(url)
        if host in self.allow:
            return
        try:
            address = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            return  # a name
        self._check_address(host, address)

    def resolve(self, url: str) -> str:
        """The checked address to send ``url``'s request to; raises ``RefusedDestination``."""
        host = _url_host(url)
        try:
            infos = socket.getaddrinfo(host.strip("[]"), None, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise RefusedDestination(f"{host} does not resolve ({exc})") from None
        addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
        if host not in self.allow:
            for address in addresses:
                self._check_address(host, address)
        return str(addresses[0])

    def _check_address(self, host: str, address: IPAddress) -> None:
        if not _forbidden(address):
            return
        if any("/" in e and address in ipaddress.ip_network(e, strict=False) for e in self.allow):
            return
        shown = host if host == str(address) else f"{host} ({address})"
        raise RefusedDestination(
            f"{shown} is a {_kind(address)} address; webhooks reach only public hosts unless "
            "CONVEYOR_WEBHOOK_ALLOW names the host or its network"
        )


IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _forbidden(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return _forbidden(address.ipv4_mapped)
    return not address.is_global or address.is_multicast


def _kind(address: IPAddress) -> str:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return _kind(address.ipv4_mapped)
    for kind in ("loopback", "link_local", "private", "multicast", "unspecified", "reserved"):
        if getattr(address, f"is_{kind}"):
            return kind.replace("_", "-")
    return "non-public"


def _url_host(url: str) -> str:
    import httpx

    try:
        host = httpx.URL(url).host
    except httpx.InvalidURL as exc:
        raise RefusedDestination(f"not a URL ({exc})") from None
    if not host:
        raise RefusedDestination("the URL names no host")
    return host.lower()


def post_event(
    urls: Sequence[Any],
    event: str,
    payload: Mapping[str, Any],
    secret: str | None = None,
    timeout: float = 5.0,
    policy: WebhookPolicy | None = None,
) -> list[str]:
    """POST ``{"event": event, **payload}`` to each URL; returns the URLs that took it (2xx).

    An entry is a URL, or has ``url`` and ``format`` (``WebhookSpec``): ``slack`` posts
    ``{"text": ...}`` (a one-line summary with the runbook link) instead of the event. A URL
    the ``policy`` refuses (by default: any non-public address) is skipped with a warning."""
    if not urls:
        return []
    import httpx

    policy = policy or WebhookPolicy()

    bodies = {"json": dumps({"event": event, **payload})}
    timestamp = str(int(time.time()))
    delivered = []
    with httpx.Client(timeout=timeout) as client:
        for hook in urls:
            url, kind = (hook, "json") if isinstance(hook, str) else (hook.url, hook.format)
            if kind not in bodies:
                bodies[kind] = dumps({"text": slack_text(event, payload)})
            body = bodies[kind]
            headers = {"Content-Type": "application/json", EVENT_HEADER: event}
            if secret:
                headers[TIMESTAMP_HEADER] = timestamp
                headers[SIGNATURE_HEADER] = sign(secret, timestamp, body)
            try:
                address = policy.resolve(url)
            except RefusedDestination as exc:
                log.warning("webhook %s: %s refused: %s", event, _host(url), exc)
                continue
            pinned = httpx.URL(url)
            headers["Host"] = pinned.netloc.decode("ascii")
            extensions = {"sni_hostname": pinned.host} if pinned.scheme == "https" else {}
            try:
                response = client.post(
                    pinned.copy_with(host=address),
                    content=body,
                    headers=headers,
                    extensions=extensions,
                )
            except httpx.HTTPError as exc:
                log.warning("webhook %s: %s failed: %s", event, _host(url), exc)
                continue
            if response.is_success:
                delivered.append(url)
            else:
                log.warning("webhook %s: %s answered %d", event, _host(url), response.status_code)
    return delivered


def slack_text(event: str, payload: Mapping[str, Any]) -> str:
    """One Slack message line for an alert or rollout event (mrkdwn: *bold*, <url|label>)."""
    alert = payload.get("alert")
    if isinstance(alert, Mapping):  # alert.firing / alert.resolved
        icon = ":red_circle:" if event == "alert.firing" else ":white_check_mark:"
        state = "firing" if event == "alert.firing" else "resolved"
        text = (
            f"{icon} *{alert.get('rule')}* {state} on {alert.get('model')} version "
            f"{alert.get('version')} ({alert.get('severity')}): {alert.get('message')}"
        )
        runbook = (alert.get("details") or {}).get("runbook_url")
    else:  # rollout.*
        text = (
            f":arrows_counterclockwise: *{event}* {payload.get('model')}: version "
            f"{payload.get('champion')} → {payload.get('candidate')} ({payload.get('strategy')}, "
            f"step {int(payload.get('step', 0)) + 1}, {payload.get('state')})"
        )
        if payload.get("reason"):
            text += f": {payload.get('reason')}"
        runbook = payload.get("runbook_url")
    if runbook:
        text += f" <{runbook}|runbook>"
    return text


def _host(url: str) -> str:
    """The URL without path or query: webhook paths often carry tokens, never log them."""
    import httpx

    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        return "<invalid url>"
    host = f"[{parsed.host}]" if ":" in parsed.host else parsed.host
    return f"{parsed.scheme}://{host}" + (f":{parsed.port}" if parsed.port else "")
