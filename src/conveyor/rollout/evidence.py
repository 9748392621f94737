"""The evidence a step is judged on: plain per-arm data, gathered by an injected provider.

The controller asks an ``EvidenceProvider`` for the data of the current step's window and
hands it to ``conveyor.rollout.analysis``; where the data comes from (the inference log and
feedback in the store, the live monitor's buckets, a test's arrays) is the provider's business.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from conveyor.rollout.state import Rollout

TaskName = Literal["classification", "regression"]


@dataclass(frozen=True)
class ArmEvidence:
    """What one arm (one version) did in the window.

    ``requests``/``errors``: calls it served (answered or mirrored) and how many failed (5xx);
    ``shed``: calls the server refused under load (503), counted in neither.
    ``latencies_ms``: one per successful call. ``predictions``: one per row. ``labels`` and
    ``labelled_predictions``: the feedback that arrived for its rows and its own predictions on
    those rows, aligned. ``inputs``: feature column -> values of the rows it saw.
    """

    version: str
    requests: int = 0
    errors: int = 0
    latencies_ms: Sequence[float] = ()
    predictions: Sequence[Any] = ()
    labels: Sequence[Any] = ()
    labelled_predictions: Sequence[Any] = ()
    inputs: Mapping[str, Sequence[Any]] = field(default_factory=dict)
    shed: int = 0


@dataclass(frozen=True)
class Pairs:
    """Both arms' predictions on the same rows of the same requests (mirrored traffic)."""

    champion: Sequence[Any]
    candidate: Sequence[Any]

    def __len__(self) -> int:
        return len(self.champion)


@dataclass(frozen=True)
class Evidence:
    task: TaskName
    champion: ArmEvidence
    candidate: ArmEvidence
    pairs: Pairs | None = None  # None: no mirrored traffic in this step


class EvidenceProvider(Protocol):
    """Gathers the evidence of ``rollout``'s current step between ``since`` and ``until``."""

    def __call__(self, rollout: Rollout, since: datetime, until: datetime) -> Evidence: ...
