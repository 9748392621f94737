from __future__ import annotations

import json
import logging

from conveyor.logs import JsonFormatter


def test_json_lines_survive_quotes_and_newlines() -> None:
    record = logging.LogRecord(
        "conveyor.x", logging.WARNING, __file__, 1, 'bad "value"\nnext', None, None
    )
    line = JsonFormatter().format(record)
    payload = json.loads(line)
    assert payload["message"] == 'bad "value"\nnext'
    assert payload["level"] == "WARNING"
    assert payload["logger"] == "conveyor.x"
    assert "\n" not in line


def test_text_lines_escape_what_a_request_could_inject() -> None:
    from conveyor.logs import TextFormatter

    forged = "2099-01-01 00:00:00,000 CRITICAL conveyor.x: forged"
    for breaker in ("\n", "\r", "\r\n", "\x0b", "\x0c", "\x1c", "\x85", "\u2028", "\u2029"):
        record = logging.LogRecord(
            "conveyor.access", logging.INFO, __file__, 1, "GET %s", (f"/a{breaker}{forged}",), None
        )
        line = TextFormatter().format(record)
        assert len(line.splitlines()) == 1, repr(line)
        assert line.endswith(f"conveyor.access: GET /a{json.dumps(breaker)[1:-1]}{forged}")
    record = logging.LogRecord("conveyor.x", logging.ERROR, __file__, 1, "\x1b[2Jboom", None, None)
    assert "\\u001b[2Jboom" in TextFormatter().format(record)


def test_text_tracebacks_are_indented_under_their_record() -> None:
    from conveyor.logs import TextFormatter

    try:
        raise ValueError("bad value\n2099-01-01 00:00:00,000 CRITICAL conveyor.x: forged")
    except ValueError:
        import sys

        record = logging.LogRecord(
            "conveyor.x", logging.ERROR, __file__, 1, "failed", None, sys.exc_info()
        )
    first, *rest = TextFormatter().format(record).split("\n")
    assert first.endswith("ERROR conveyor.x: failed")
    assert rest and all(line.startswith("    ") for line in rest)
    assert any("ValueError: bad value" in line for line in rest)
