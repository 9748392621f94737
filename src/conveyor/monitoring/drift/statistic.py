"""The seam of drift evidence: a ``DriftStatistic`` measures one column, reference against
current, and says nothing about verdicts.

A new statistic is a class with a ``name`` and a ``measure`` in a module of its own, added to
``registry.default_statistics``. The statistics the verdict reads (a distribution test, PSI,
missing and unseen shares) fill the fixed fields of ``FeatureDrift``; every other one is
reported as it is, by name, in ``FeatureDrift.evidence``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from conveyor.monitoring.drift.columns import Column


@dataclass(frozen=True)
class Measure:
    """What a statistic found on one column."""

    value: float  # the headline number: a test statistic, an effect size, a distance, a share
    p_value: float | None = None  # a test's raw p-value, before the family's correction
    reference: float | None = None  # the same quantity in the reference, where it has one
    examples: tuple[str, ...] = ()  # values behind the number (new categories), for reasons


class DriftStatistic(Protocol):
    """One statistic of drift: ``measure`` returns ``None`` where it does not apply (a kind it
    does not read, or KS without raw values). It is only called when both sides hold values,
    except ``missing``, which is measured on every column."""

    name: str

    def measure(self, column: Column) -> Measure | None: ...
