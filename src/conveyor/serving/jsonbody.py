"""Request bodies as JSON: orjson, and pandas' bare ``NaN`` read as a missing value.

``json.dumps(df.to_dict("records"))`` writes ``NaN`` for a missing value; strict JSON (and
orjson) refuses it. Only when orjson fails on a body that holds such a token is the body read
again by Python's parser, which takes ``NaN`` as a float NaN — a missing value for the
feature checks — so well-formed bodies keep the fast path. ``Infinity`` is refused by name.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

from conveyor.errors import Problem
from conveyor.serving.inputs import RequestError

_CONSTANTS = (b"NaN", b"Infinity")


class _NotANumber(ValueError):
    pass


def _constant(token: str) -> float:
    if token == "NaN":
        return float("nan")
    raise _NotANumber(f"{token} is not a number a feature can take; send null for a missing value")


def parse_json(body: bytes) -> Any:
    """The parsed body, or a 400 ``RequestError`` on ``body`` saying what is wrong."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        error = f"malformed JSON: {exc}" if body else "empty; expected a JSON object"
    if any(token in body for token in _CONSTANTS):
        try:
            return json.loads(body, parse_constant=_constant)
        except _NotANumber as exc:
            error = str(exc)
        except (ValueError, RecursionError):
            pass  # malformed elsewhere too: orjson's reading says where
    raise RequestError([Problem("body", error)], status=400)
