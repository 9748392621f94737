"""The drift statistics by name: an explicit registry, filled by ``default_statistics``."""

from __future__ import annotations

from conveyor.monitoring.drift.chi_square import ChiSquare
from conveyor.monitoring.drift.distance import Distance
from conveyor.monitoring.drift.hellinger import Hellinger
from conveyor.monitoring.drift.ks import KolmogorovSmirnov
from conveyor.monitoring.drift.missing import MissingShare
from conveyor.monitoring.drift.psi import PopulationStability
from conveyor.monitoring.drift.statistic import DriftStatistic
from conveyor.monitoring.drift.unseen import UnseenShare
from conveyor.plugins import Registry


class DriftStatistics(Registry[DriftStatistic]):
    """An explicit registry of drift statistics by name: duplicates are refused, unknown names
    answered with the valid ones. Iterates in registration order (the order of the evidence)."""

    def __init__(self) -> None:
        super().__init__("drift statistic")


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
