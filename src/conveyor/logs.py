"""Log setup for a process: human-readable text or one JSON object per line."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from conveyor.display import mask_urls
from conveyor.settings import LogFormat, Settings

# Characters that end a line in some reader (a terminal, `less`, journald, a log shipper) or
# steer a terminal, with the escapes JSON would use: a value from a request can then never
# start a line of its own and pass for a record.
_ESCAPES = {c: f"\\u{c:04x}" for c in [*range(0x20), 0x7F, 0x85, 0x2028, 0x2029]} | {
    ord("\n"): "\\n",
    ord("\r"): "\\r",
    ord("\t"): "\\t",
    ord("\b"): "\\b",
    ord("\f"): "\\f",
}


class TextFormatter(logging.Formatter):
    """``time level logger: message``, one line per record. The message's control characters
    are escaped as in JSON; a traceback's lines follow indented, so every line that starts at
    column 0 is a record Conveyor wrote."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = record.message.translate(_ESCAPES)
        return super().formatMessage(record)

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        first, _, rest = text.partition("\n")
        if not rest:
            return first
        return first + "".join(f"\n    {line.translate(_ESCAPES)}" for line in rest.split("\n"))


class JsonFormatter(logging.Formatter):
    """One JSON object per record, safe for any message text."""

    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "at": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):  # structured records (a prediction line) add their keys
            payload |= {k: v for k, v in fields.items() if k not in payload}
        if record.exc_text:
            payload["exception"] = record.exc_text
        elif record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str)


class MaskSecrets(logging.Filter):
    """Mask URL credentials in every record the process logs (Conveyor's, MLflow's, uvicorn's):
    an error quoting ``postgresql://user:password@...`` must not put the password in a log."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_urls(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            # formatters reuse exc_text, so the traceback is masked once, here
            record.exc_text = mask_urls(logging.Formatter().formatException(record.exc_info))
        return True


def configure_logging(settings: Settings) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if settings.log_format is LogFormat.JSON:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter())
    handler.addFilter(MaskSecrets())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level.upper())
