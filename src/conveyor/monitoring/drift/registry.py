"""The drift statistics by name: an explicit registry, filled by ``default_statistics``."""

from __future__ import annotations

from collections.abc import Iterator

from conveyor.errors import UserError
from conveyor.monitoring.drift.chi_square import ChiSquare
from conveyor.monitoring.drift.distance import Distance
from conveyor.monitoring.drift.hellinger import Hellinger
from conveyor.monitoring.drift.ks import KolmogorovSmirnov
from conveyor.monitoring.drift.missing import MissingShare
from conveyor.monitoring.drift.psi import PopulationStability
from conveyor.monitoring.drift.statistic import DriftStatistic
from conveyor.monitoring.drift.unseen import UnseenShare


class DriftStatistics:
    """An explicit registry of drift statistics by name: duplicates are refused, unknown names
    answered with the valid ones. Iterates in registration order (the order of the evidence)."""

    def __init__(self) -> None:
        self._by_name: dict[str, DriftStatistic] = {}

    def register(self, statistic: DriftStatistic) -> None:
        if statistic.name in self._by_name:
            raise ValueError(f"a drift statistic named {statistic.name!r} is registered already")
        self._by_name[statistic.name] = statistic

    def get(self, name: str) -> DriftStatistic:
        try:
            return self._by_name[name]
        except KeyError:
            valid = ", ".join(sorted(self._by_name))
            raise UserError(f"unknown drift statistic {name!r}; use one of {valid}") from None

    def names(self) -> list[str]:
        return sorted(self._by_name)

    def __iter__(self) -> Iterator[DriftStatistic]:
        return iter(self._by_name.values())


def default_statistics() -> DriftStatistics:
    """Every statistic Conveyor computes, built when asked (nothing registers on import)."""
    statistics = DriftStatistics()
    for statistic in (
        KolmogorovSmirnov(),
        ChiSquare(),
        PopulationStability(),
        Distance(),
        MissingShare(),
        UnseenShare(),
        Hellinger(),
    ):
        statistics.register(statistic)
    return statistics
