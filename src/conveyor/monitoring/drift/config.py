"""``DriftConfig``: the thresholds of a drift check.

The thresholds are the project file's ``monitoring.drift`` section (``DriftSpec``): declared,
defaulted and validated once, there. ``DriftConfig`` is that model plus the one knob the
project file does not set (the quantile bins of a raw numeric reference), and turns a bad
value given by a command or a caller into a ``UserError`` rather than a validation trace.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, ValidationError

from conveyor.data.profile import DEFAULT_BINS
from conveyor.errors import UserError
from conveyor.spec.monitoring import DriftSpec


class DriftConfig(DriftSpec):
    """Thresholds of a drift check. Shares are fractions of rows (missing) or values (unseen)."""

    bins: int = Field(default=DEFAULT_BINS, ge=1, description="Quantile bins of a raw reference.")

    def __init__(self, **values: Any) -> None:
        from conveyor.monitoring.corrections import correction

        correction(str(values.get("correction", "bh")))  # an unknown one: the valid names
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise UserError(f"drift thresholds: {_problems(exc)}") from None

    @classmethod
    def from_spec(cls, spec: DriftSpec, **overrides: Any) -> DriftConfig:
        """The thresholds of a project's ``monitoring.drift`` (``overrides`` win)."""
        return cls(**(spec.model_dump() | overrides))

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump()


def _problems(exc: ValidationError) -> str:
    said = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        given = f" (got {error['input']!r})" if where else ""
        said.append(f"{where}: {message}{given}" if where else message)
    return "; ".join(said)
