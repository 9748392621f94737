"""One JSON encoder for responses and stored records: orjson, numpy arrays included."""

from __future__ import annotations

from typing import Any

import orjson


def dumps(value: Any) -> bytes:
    """orjson with numpy arrays; object or strided arrays go through ``tolist``."""
    return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY, default=_fallback)


def _fallback(value: Any) -> Any:
    tolist = getattr(value, "tolist", None)
    if callable(tolist):
        return tolist()
    raise TypeError(f"cannot serialise {type(value).__name__} as JSON")
