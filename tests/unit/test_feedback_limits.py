"""The feedback desk's own seams: the label budget (a token bucket on a fake clock) and the
bounded set of recently answered request ids."""

from __future__ import annotations

from conveyor.serving.feedback import REPORTED, Label, LabelBudget, Receipt
from conveyor.serving.recent import RecentPredictions


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_budget_spends_a_burst_then_refills_at_the_rate() -> None:
    clock = Clock()
    budget = LabelBudget(rate=10, burst=50, clock=clock)
    assert budget.take(50) == 0
    assert budget.take(5) == 0.5  # five labels at ten a second
    clock.now += 0.5
    assert budget.take(5) == 0
    clock.now += 1000
    assert budget.take(51) > 0  # never more than the burst saved
    assert budget.take(50) == 0


def test_a_zero_rate_is_no_limit() -> None:
    assert LabelBudget(rate=0, burst=0).take(10**9) == 0


def test_recent_predictions_forget_the_oldest_first() -> None:
    recent = RecentPredictions(3)
    for i, rid in enumerate("abcd"):
        recent.add(rid, i + 1)
    assert [recent.rows(r) for r in "abcd"] == [None, 2, 3, 4]
    recent.add("b", 1)  # a reused id keeps its largest answer
    assert recent.rows("b") == 2 and len(recent) == 3


def test_a_recent_capacity_of_zero_remembers_nothing() -> None:
    recent = RecentPredictions(0)
    recent.add("a", 1)
    assert recent.rows("a") is None


def test_the_receipt_lists_a_bounded_number_of_labels() -> None:
    receipt = Receipt(joined=3)
    for i in range(REPORTED + 7):
        receipt.note(Label(i, f"r{i}", 0, 1), "rejected", "no logged prediction")
    answer = receipt.to_dict()
    assert answer["accepted"] == 3 and answer["rejected"] == REPORTED + 7
    assert len(answer["unmatched"]) == REPORTED and answer["unmatched_omitted"] == 7
