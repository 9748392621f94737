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
