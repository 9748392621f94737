"""``/predict``'s JSON formats: ``instances`` (rows of ``{feature: value}``), ``features`` (rows
of values in schema order), or the body itself as one instance; ``model_version`` may pin a
loaded version. ``features`` wins when a body holds both; other members are ignored."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from conveyor.serving.codecs.base import JSON, Decoded, Named, Opened
from conveyor.serving.columns import columns_from_matrix
from conveyor.serving.inputs import bad_request

if TYPE_CHECKING:
    from conveyor.data.schema import Schema
    from conveyor.serving.inputs import UnseenPolicy


class PredictEnvelope:
    """``{"instances" | "features": ..., "model_version": ...}``, or one instance's object."""

    strict_media = False  # clients such as `curl -d` send JSON as form data
    pins_version = True

    def __init__(self, fallback: str) -> None:
        self.fallback = fallback  # the format a body holding none of them is: the body, one row

    def open(self, parsed: Any, names: Sequence[str]) -> Opened:
        if not isinstance(parsed, dict):
            raise bad_request("body", "must be a JSON object")
        version = parsed.pop("model_version", None)
        if version is not None and not isinstance(version, str | int):
            raise bad_request("model_version", "must be a string or integer")
        pinned = None if version is None else str(version)
        for name in names:
            if name in parsed:
                return Opened(name, parsed[name], pinned)
        return Opened(self.fallback, [parsed], pinned)


class Instances:
    """``[{feature: value}, ...]``: named rows, which may give entity keys for features."""

    name = "instances"
    media_type = JSON

    def decode(self, value: Any, schema: Schema, policy: UnseenPolicy, max_rows: int) -> Decoded:
        return Named(value, self.name)


class Features:
    """``[[v1, v2, ...], ...]`` (or one such row) in schema order."""

    name = "features"
    media_type = JSON

    def decode(self, value: Any, schema: Schema, policy: UnseenPolicy, max_rows: int) -> Decoded:
        return columns_from_matrix(value, schema, policy, max_rows, self.name)
