"""How values from outside appear in messages and logs: clipped to a few dozen characters,
with credentials masked. Every error message that quotes data or a URL goes through here, so a
10 MB CSV field or a password in ``CONVEYOR_TRACKING_URI`` is never echoed."""

from __future__ import annotations

import re
from collections.abc import Iterable

LIMIT = 60
"""Characters of a quoted value shown in a message."""

MASK = "***"

# scheme://user:password@ — the password may hold an unescaped "@"; it ends before a "/" or space
_USERINFO = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.\-]*://[^\s:/@]*):(?P<pw>[^\s/]*)@")
# ?password=..., &token=..., &X-Amz-Signature=...: query values that carry a credential
_QUERY_SECRET = re.compile(
    r"(?P<head>[?&][^=&\s]*(?:pass|pwd|secret|token|key|signature|credential|auth)[^=&\s]*=)"
    r"[^&\s#]*",
    re.IGNORECASE,
)


def clip(text: str, limit: int = LIMIT) -> str:
    """``text`` cut to ``limit`` characters, saying how long it was."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text):,} characters)"


def shown(value: object, limit: int = LIMIT) -> str:
    """``repr(value)`` for a message, cut to about ``limit`` characters.

    A long string is cut before ``repr`` (a 10 MB value is never copied whole) and its quotes
    stay balanced, so the reader still sees where the value starts.
    """
    if isinstance(value, str | bytes) and len(value) > limit:
        return f"{value[:limit]!r}… ({len(value):,} characters)"
    return clip(repr(value), limit)


def listed(values: Iterable[object], limit: int = 10) -> str:
    """``'a', 'b', … (+990 more)``: the first ``limit`` values, each ``shown``."""
    items = list(values)
    head = ", ".join(shown(v) for v in items[:limit])
    return f"{head}, … (+{len(items) - limit:,} more)" if len(items) > limit else head


def safe_url(url: str) -> str:
    """``url`` with its password and credential-like query values replaced by ``***``."""
    return mask_urls(url)


def mask_urls(text: str) -> str:
    """Mask the password and credential-like query values of every URL inside ``text``.

    Only the secret is replaced, in place: the rest of the text (and of each URL, which a
    parse-and-rebuild could alter, e.g. ``sqlite:////abs/path``) is kept as written.
    """
    if "://" in text:
        text = _USERINFO.sub(rf"\g<head>:{MASK}@", text)
    if "=" in text:
        text = _QUERY_SECRET.sub(rf"\g<head>{MASK}", text)
    return text
