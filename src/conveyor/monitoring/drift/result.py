"""What a drift check reports: each feature's numbers and status, and the report's status."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from conveyor.monitoring.drift.config import DriftConfig


class Status(StrEnum):
    OK = "ok"
    WARN = "warn"
    DRIFT = "drift"
    INSUFFICIENT_DATA = "insufficient_data"


@dataclass(frozen=True)
class FeatureDrift:
    """The drift of one feature (or of the predictions) between reference and current.

    The fixed fields are what the verdict reads; ``evidence`` holds the value of every other
    statistic measured on the feature, by its registered name (``hellinger``): it informs and
    never changes the status."""

    name: str
    kind: str  # numeric | categorical | boolean
    test: str | None  # ks | chi2; None when no test could run
    statistic: float | None
    p_value: float | None
    p_adjusted: float | None  # None: not part of the corrected family (too few rows)
    psi: float | None
    distance: float | None  # Wasserstein / reference std, or Jensen-Shannon distance
    missing_share_ref: float
    missing_share_cur: float
    missing_p_adjusted: float | None
    unseen_share: float | None  # categoricals: share of values in unseen categories
    unseen_p_adjusted: float | None
    rows_ref: int
    rows_cur: int
    status: Status = Status.OK
    reasons: tuple[str, ...] = ()
    evidence: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"] = self.status.value
        data["reasons"] = list(self.reasons)
        return data


@dataclass(frozen=True)
class DriftReport:
    """Every feature's drift, the prediction drift, and the overall status."""

    features: tuple[FeatureDrift, ...]
    prediction: FeatureDrift | None
    config: DriftConfig
    tests: int  # size of the corrected family
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def all(self) -> tuple[FeatureDrift, ...]:
        return self.features + ((self.prediction,) if self.prediction else ())

    @property
    def drifted(self) -> list[str]:
        return [f.name for f in self.all if f.status is Status.DRIFT]

    @property
    def warned(self) -> list[str]:
        return [f.name for f in self.all if f.status is Status.WARN]

    @property
    def status(self) -> Status:
        statuses = {f.status for f in self.all}
        if Status.DRIFT in statuses:
            return Status.DRIFT
        if Status.WARN in statuses:
            return Status.WARN
        if not statuses or statuses == {Status.INSUFFICIENT_DATA}:
            return Status.INSUFFICIENT_DATA
        return Status.OK

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "drifted": self.drifted,
            "warned": self.warned,
            "rows_reference": max((f.rows_ref for f in self.all), default=0),
            "rows_current": max((f.rows_cur for f in self.all), default=0),
            "tests": self.tests,
            "config": self.config.to_dict(),
            "features": [f.to_dict() for f in self.features],
            "prediction": self.prediction.to_dict() if self.prediction else None,
            "skipped": dict(self.skipped),
        }


def evidence_names(report: DriftReport) -> list[str]:
    """The informing statistics measured on any of the report's features, in name order."""
    return sorted({name for f in report.all for name in f.evidence})
