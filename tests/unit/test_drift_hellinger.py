"""The Hellinger distance: on PSI's pooled cells, bounded, reported as evidence only."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest

from conveyor.data.profile import build_profile
from conveyor.data.schema import infer_schema
from conveyor.monitoring import WindowCounts, compare_arrays, compare_window
from conveyor.monitoring import stats as S
from conveyor.monitoring.drift import (
    DriftConfig,
    DriftStatistics,
    conclude,
    current_sample,
    default_statistics,
    infer_kind,
    measure_feature,
    reference_sample,
)
from conveyor.monitoring.drift.columns import CategoricalColumn, column_of
from conveyor.monitoring.drift.hellinger import Hellinger
from conveyor.monitoring.samples import CategoryCounts


def bhattacharyya_form(ref: np.ndarray, cur: np.ndarray) -> float:
    """The textbook form, sqrt(1 - sum sqrt(p q)), to check the one the module computes."""
    p, q = ref / ref.sum(), cur / cur.sum()
    return float(np.sqrt(max(0.0, 1.0 - np.sum(np.sqrt(p * q)))))


def categorical(ref: dict[str, int], cur: dict[str, int], unseen: int = 0) -> CategoricalColumn:
    current = CategoryCounts(cur, sum(cur.values()) + unseen, 0, unseen)
    column = column_of("c", CategoryCounts(ref, sum(ref.values()), 0), current)
    assert isinstance(column, CategoricalColumn)
    return column


def test_equal_is_zero_disjoint_is_one() -> None:
    same = Hellinger().measure(categorical({"a": 30, "b": 70}, {"a": 60, "b": 140}))
    apart = Hellinger().measure(categorical({"a": 100}, {"b": 100}))
    assert same is not None and same.value == pytest.approx(0.0, abs=1e-12)
    assert apart is not None and apart.value == pytest.approx(1.0)
    assert same.p_value is None  # a distance, not a test


def test_it_reads_the_cells_psi_reads() -> None:
    # sparse categories get pooled: Hellinger must be computed after the pooling, like PSI
    ref = {"a": 500, "b": 400, "c": 3, "d": 2, "e": 1}
    cur = {"a": 300, "b": 500, "c": 1, "d": 6, "e": 2}
    column = categorical(ref, cur, unseen=4)
    pooled_ref, pooled_cur = column.pooled
    assert pooled_ref.size < column.counts[0].size  # the case does pool
    found = Hellinger().measure(column)
    assert found is not None
    assert found.value == pytest.approx(bhattacharyya_form(pooled_ref, pooled_cur), rel=1e-9)
    assert found.value != pytest.approx(bhattacharyya_form(*column.counts), rel=1e-6)
    assert column.pooled[0] is pooled_ref  # computed once: the arrays chi2 and PSI see
    assert S.psi(pooled_ref, pooled_cur) > 0


def test_it_is_registered_by_default() -> None:
    assert "hellinger" in default_statistics().names()


def test_each_feature_reports_it_raw_and_binned() -> None:
    rng = np.random.default_rng(8)
    reference = {"x": rng.normal(size=4000), "c": rng.choice(["a", "b", "c"], 4000)}
    current = {"x": rng.normal(1.0, 1, 2000), "c": rng.choice(["a", "b", "c"], 2000)}
    report = compare_arrays(reference, current)
    by_name = {f.name: f for f in report.features}
    assert by_name["x"].evidence["hellinger"] > 0.3  # a one-std shift
    assert by_name["c"].evidence["hellinger"] < 0.05  # the same mix
    payload = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert payload["features"][0]["evidence"]["hellinger"] == by_name["x"].evidence["hellinger"]

    frame = pd.DataFrame(reference)
    frame["y"] = np.arange(len(frame)) % 2
    schema = infer_schema(frame, ["x", "c"], "y", classification=True)
    profile: dict[str, Any] = build_profile(frame, schema, frame["y"].to_numpy(), True)
    window = WindowCounts.from_profile(profile)
    window.update(current)
    binned = {f.name: f for f in compare_window(profile, window).features}
    assert binned["x"].evidence["hellinger"] == pytest.approx(
        by_name["x"].evidence["hellinger"], abs=0.05
    )


def test_it_informs_and_never_changes_a_verdict() -> None:
    rng = np.random.default_rng(9)
    reference = {"x": rng.normal(size=3000), "c": rng.choice(["a", "b"], 3000, p=[0.5, 0.5])}
    current = {"x": rng.normal(0.6, 1, 1500), "c": rng.choice(["a", "b"], 1500, p=[0.8, 0.2])}
    with_it = compare_arrays(reference, current).to_dict()
    without = DriftStatistics()
    for statistic in default_statistics():
        if statistic.name != "hellinger":
            without.register(statistic)
    config = DriftConfig()
    evidence = []
    for name in reference:
        kind = infer_kind(np.asarray(reference[name]))
        ref = reference_sample(reference[name], kind, config)
        evidence.append(
            measure_feature(name, kind, ref, current_sample(current[name], kind), config, without)
        )
    plain = conclude(evidence, config).to_dict()
    assert with_it["drifted"] == plain["drifted"] == ["x", "c"]
    for feature in with_it["features"]:
        assert set(feature.pop("evidence")) == {"hellinger"}
    for feature in plain["features"]:
        assert feature.pop("evidence") == {}
    assert with_it == plain
