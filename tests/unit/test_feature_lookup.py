"""`FeatureLookup.fill`, the seam between a request's rows and a feature store, against a fake
store (the real Feast stores are in tests/integration/test_feast_serving.py): which rows are
looked up, what wins, how unknown entities and bad keys are named, what is logged as keys."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from conveyor.bundle.model import Bundle, ModelIdentity
from conveyor.data.feast import OnlineFeatures
from conveyor.data.schema import Column, Kind, Schema
from conveyor.serving.features import FeatureLookup
from conveyor.serving.inputs import RequestError
from conveyor.serving.metrics import ServerMetrics
from conveyor.settings import Settings
from conveyor.spec.models import FeastSpec

REFS = ["stats:conv_rate", "stats:trips"]


class FakeStore:
    def __init__(self, known: dict[int, dict[str, Any]], seconds: float = 0.0) -> None:
        self.known = known
        self.seconds = seconds
        self.calls: list[list[dict[str, Any]]] = []

    def lookup(self, features: list[str], rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
        self.calls.append(rows)
        time.sleep(self.seconds)
        names = [ref.partition(":")[2] for ref in features]
        return {n: [self.known.get(r["driver_id"], {}).get(n) for r in rows] for n in names}


def lookup_for(
    tmp_path: Path, defaults: dict[str, float | str] | None = None
) -> tuple[FeatureLookup, FakeStore, Bundle]:
    online = OnlineFeatures(
        repo=str(tmp_path), features=REFS, keys={"driver_id": "int"}, defaults=defaults
    )
    schema = Schema(
        features=[Column("conv_rate", Kind.NUMERIC), Column("trips", Kind.NUMERIC)],
        target="y",
        target_kind=Kind.CATEGORICAL,
        classes=[0, 1],
    )
    bundle = Bundle(
        path=tmp_path,
        schema=schema,
        onnx_path=None,
        onnx_inputs=[],
        identity=ModelIdentity("drivers", "1"),
        online_features=online,
    )
    lookup = FeatureLookup(Settings(home=tmp_path), ServerMetrics())
    store = FakeStore({1001: {"conv_rate": 0.5, "trips": 12}, 1002: {"conv_rate": 0.1, "trips": 3}})
    lookup._stores[tmp_path.resolve()] = store  # type: ignore[assignment]
    return lookup, store, bundle


async def fill(
    lookup: FeatureLookup, bundle: Bundle, instances: list[Any], label: str
) -> tuple[list[Any], dict[str, list[Any]]]:
    wanted = lookup.prepare(bundle, instances, label)
    return await lookup.fill(wanted), wanted.keys


async def test_rows_with_keys_get_the_store_values_and_their_own_win(tmp_path: Path) -> None:
    lookup, store, bundle = lookup_for(tmp_path)
    rows, keys = await fill(
        lookup,
        bundle,
        [{"driver_id": 1001}, {"driver_id": 1002, "trips": 99}, {"conv_rate": 1.0, "trips": 2}],
        "instances",
    )
    assert rows == [
        {"conv_rate": 0.5, "trips": 12},
        {"conv_rate": 0.1, "trips": 99},
        {"conv_rate": 1.0, "trips": 2},
    ]
    assert keys == {"driver_id": [1001, 1002, None]}
    assert store.calls == [[{"driver_id": 1001}, {"driver_id": 1002}]]  # one lookup, two rows


async def test_rows_that_carry_every_feature_are_not_looked_up(tmp_path: Path) -> None:
    lookup, store, bundle = lookup_for(tmp_path)
    rows, keys = await fill(lookup, bundle, [{"driver_id": 7, "conv_rate": 1.0, "trips": 2}], "i")
    assert rows == [{"conv_rate": 1.0, "trips": 2}] and keys == {"driver_id": [7]}
    assert store.calls == []


async def test_unknown_entities_and_bad_keys_are_named_per_row(tmp_path: Path) -> None:
    lookup, _, bundle = lookup_for(tmp_path)
    with pytest.raises(RequestError) as caught:
        await fill(
            lookup, bundle, [{"driver_id": True}, {"driver_id": 1.5}, {"trips": 1}], "instances"
        )
    problems = {p.where: p.message for p in caught.value.problems}
    assert problems == {
        "instances[0].driver_id": "must be an integer, got True",
        "instances[1].driver_id": "must be an integer, got 1.5",
        "instances[2].driver_id": "missing entity key (or give the features: conv_rate)",
    }
    with pytest.raises(RequestError) as caught:
        await fill(lookup, bundle, [{"driver_id": 1001}, {"driver_id": 404}], "instances")
    assert [(p.where, p.message) for p in caught.value.problems] == [
        ("instances[1].driver_id", "no features in the online store for driver_id=404")
    ]


async def test_defaults_stand_in_for_an_unknown_entity(tmp_path: Path) -> None:
    lookup, _, bundle = lookup_for(tmp_path, defaults={"conv_rate": 0.3, "trips": 5})
    rows, _ = await fill(lookup, bundle, [{"driver_id": 404}, {"driver_id": 404, "trips": 1}], "i")
    assert rows == [{"conv_rate": 0.3, "trips": 5}, {"conv_rate": 0.3, "trips": 1}]
    text = lookup.metrics.exposition().decode()
    assert 'conveyor_feature_unknown_entities_total{model="drivers"} 2.0' in text


def test_the_spec_wants_a_default_for_every_feature_and_no_other() -> None:
    with pytest.raises(ValueError, match="no default for trips; not a feature: trip"):
        FeastSpec(repo="r", features=REFS, defaults={"conv_rate": 0.1, "trip": 1})
    assert FeastSpec(repo="r", features=REFS, defaults={"conv_rate": 0.1, "trips": 1}).defaults


async def test_requests_waiting_together_share_one_lookup(tmp_path: Path) -> None:
    """Requests that arrive together share one lookup; those that arrive while it is in
    flight wait together and share the next; each gets its own rows back."""
    lookup, store, bundle = lookup_for(tmp_path)
    store.seconds = 0.1

    async def later(driver: int) -> tuple[list[Any], dict[str, list[Any]]]:
        await asyncio.sleep(0.03)  # the first lookup is in flight by then
        return await fill(lookup, bundle, [{"driver_id": driver}], "instances")

    first = [fill(lookup, bundle, [{"driver_id": d}], "instances") for d in (1001, 1002)]
    drivers = [1001, 1002] * 5
    answers = await asyncio.gather(*first, *(later(d) for d in drivers))
    assert [rows[0]["trips"] for rows, _ in answers] == [12, 3] * 6
    assert [len(rows) for rows in store.calls] == [2, 10]
