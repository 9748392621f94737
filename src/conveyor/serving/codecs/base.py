"""What a request format is to the server.

A ``Codec`` reads one format a prediction route accepts: it names the Content-Type it reads
and, for a JSON format, the member of the body's object that holds it (its body shape:
``instances``, ``dataframe_split``...). It turns that value into what the data plane takes —
checked columns, or ``Named`` rows of ``{feature: value}`` still to check, because a row of a
model trained on a feature store may give entity keys in place of its features. An
``Envelope`` is what a route's JSON object holds around its format (``/predict``'s
``model_version``, ``/invocations``' ``params``) and which member holds the format.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias

if TYPE_CHECKING:
    from conveyor.bundle.runtime import Columns
    from conveyor.data.schema import Schema
    from conveyor.serving.inputs import UnseenPolicy

JSON = "application/json"


@dataclass(frozen=True, slots=True)
class Named:
    """Rows of ``{feature: value}`` (or one such object), checked after any entity-key lookup;
    problems are located as ``label[row].feature``."""

    rows: Any
    label: str


Decoded: TypeAlias = "tuple[Columns, int] | Named"


class Codec(Protocol):
    """One request format. ``name`` identifies it in its route's registry (and, for a JSON
    format, is the body member holding it); ``media_type`` is the Content-Type it reads."""

    name: str
    media_type: str

    def decode(self, value: Any, schema: Schema, policy: UnseenPolicy, max_rows: int) -> Decoded:
        """The columns (and row count) of ``value`` — the body's bytes, or for a JSON format
        the parsed value of its member — or its named rows; a ``RequestError`` locates each
        problem in the format's own terms."""
        ...


@dataclass(frozen=True, slots=True)
class Opened:
    """A JSON body opened by its route's envelope: the format it holds, that format's value,
    and the model version it pins (``None``: the one routing picks)."""

    name: str
    value: Any
    version: str | None = None


class Envelope(Protocol):
    """What a route's JSON body holds around its format."""

    # a Content-Type no codec reads is refused (415) rather than read as JSON
    strict_media: bool
    # the body may pin a model version, so the model is known only once it is opened
    pins_version: bool

    def open(self, parsed: Any, names: Sequence[str]) -> Opened:
        """Which of the JSON formats ``names`` (in the route's order) the body holds, or a
        400 ``RequestError`` naming what is wrong with the body."""
        ...
