"""The seam of drift evidence: the registry of statistics, each statistic on its own, the
evidence mapping, and the one threshold model shared with the project file."""

from __future__ import annotations

import numpy as np
import pytest

from conveyor.data.schema import Kind
from conveyor.errors import UserError
from conveyor.monitoring import stats as S
from conveyor.monitoring.drift import (
    DriftConfig,
    DriftStatistics,
    Measure,
    compare_arrays,
    current_sample,
    default_statistics,
    measure_feature,
    reference_sample,
)
from conveyor.monitoring.drift.columns import (
    CategoricalColumn,
    Column,
    NumericColumn,
    column_of,
    fold,
)
from conveyor.monitoring.samples import CategoryCounts, NumericBins
from conveyor.spec.monitoring import DriftSpec

CORE = ["chi2", "distance", "ks", "missing", "psi", "unseen"]


def numeric(ref: np.ndarray, cur: np.ndarray) -> NumericColumn:
    config = DriftConfig()
    column = column_of(
        "x", reference_sample(ref, Kind.NUMERIC, config), current_sample(cur, Kind.NUMERIC)
    )
    assert isinstance(column, NumericColumn)
    return column


def categorical(ref: dict[str, int], cur: dict[str, int], unseen: int = 0) -> CategoricalColumn:
    reference = CategoryCounts(ref, sum(ref.values()), 0)
    current = CategoryCounts(cur, sum(cur.values()) + unseen, 0, unseen)
    column = column_of("c", reference, current)
    assert isinstance(column, CategoricalColumn)
    return column


# -- the registry ---------------------------------------------------------------------------


def test_default_statistics_are_built_when_asked_not_on_import() -> None:
    assert DriftStatistics().names() == []
    assert set(CORE) <= set(default_statistics().names())
    assert default_statistics() is not default_statistics()  # no shared, mutable registry


def test_the_registry_refuses_duplicates_and_lists_valid_names() -> None:
    statistics = default_statistics()
    with pytest.raises(ValueError, match="'psi' is registered already"):
        statistics.register(statistics.get("psi"))
    with pytest.raises(UserError) as caught:
        statistics.get("energy")
    assert "'energy'" in str(caught.value)
    assert ", ".join(statistics.names()) in str(caught.value)


class Spread:
    """A statistic written in a test: the ratio of the current std to the reference's."""

    name = "spread"

    def measure(self, column: Column) -> Measure | None:
        if not isinstance(column, NumericColumn) or column.values is None:
            return None
        ref, cur = column.values
        return Measure(float(cur.std() / ref.std()))


def test_a_registered_statistic_reaches_the_evidence_and_not_the_verdict() -> None:
    rng = np.random.default_rng(3)
    ref, cur = rng.normal(size=3000), rng.normal(0, 3, 1000)
    statistics = default_statistics()
    statistics.register(Spread())
    config = DriftConfig()
    plain = measure_feature(
        "x",
        Kind.NUMERIC,
        reference_sample(ref, Kind.NUMERIC, config),
        current_sample(cur, Kind.NUMERIC),
        config,
    )
    item = measure_feature(
        "x",
        Kind.NUMERIC,
        reference_sample(ref, Kind.NUMERIC, config),
        current_sample(cur, Kind.NUMERIC),
        config,
        statistics,
    )
    assert item.drift.evidence["spread"] == pytest.approx(3.0, rel=0.05)
    assert "spread" not in plain.drift.evidence
    assert {**item.drift.__dict__, "evidence": {}} == {**plain.drift.__dict__, "evidence": {}}
    colour = measure_feature(
        "c",
        Kind.CATEGORICAL,
        CategoryCounts({"a": 50, "b": 50}, 100, 0),
        CategoryCounts({"a": 60, "b": 40}, 100, 0),
        config,
        statistics,
    )
    assert "spread" not in colour.drift.evidence  # None: it does not apply to categories


def test_evidence_is_a_mapping_in_the_json() -> None:
    rng = np.random.default_rng(4)
    report = compare_arrays({"x": rng.normal(size=500)}, {"x": rng.normal(size=500)})
    feature = report.to_dict()["features"][0]
    assert isinstance(feature["evidence"], dict)
    assert feature["psi"] == report.features[0].psi  # the fixed keys stay


# -- each statistic on its own --------------------------------------------------------------


def test_ks_applies_to_raw_numerics_only() -> None:
    rng = np.random.default_rng(5)
    ref, cur = rng.normal(size=800), rng.normal(0.3, 1, 600)
    ks = default_statistics().get("ks")
    found = ks.measure(numeric(ref, cur))
    assert found is not None
    assert (found.value, found.p_value) == S.ks_test(np.sort(ref), np.sort(cur))
    edges = np.linspace(-3, 3, 5)
    binned = NumericColumn(
        numeric(ref, cur).reference, NumericBins(edges, np.ones(6, dtype=np.int64), 6, 0)
    )
    assert ks.measure(binned) is None
    assert ks.measure(categorical({"a": 5}, {"a": 5})) is None


def test_chi_square_and_psi_read_the_same_pooled_cells() -> None:
    column = categorical({"a": 400, "b": 300, "c": 300}, {"a": 200, "b": 400, "c": 300}, 100)
    ref, cur = column.counts
    assert list(ref) == [400, 300, 300, 0] and list(cur) == [200, 400, 300, 100]
    statistics = default_statistics()
    chi2 = statistics.get("chi2").measure(column)
    psi = statistics.get("psi").measure(column)
    assert chi2 is not None and psi is not None
    assert (chi2.value, chi2.p_value) == S.chi_square(*S.pool_sparse(ref, cur))
    assert psi.value == S.psi(*S.pool_sparse(ref, cur)) and psi.p_value is None


def test_distance_is_wasserstein_over_std_or_jensen_shannon() -> None:
    rng = np.random.default_rng(6)
    ref, cur = rng.normal(0, 2, 1000), rng.normal(1, 2, 1000)
    distance = default_statistics().get("distance")
    found = distance.measure(numeric(ref, cur))
    assert found is not None
    assert found.value == pytest.approx(0.5, abs=0.1)  # a shift of one std of 2
    cats = distance.measure(categorical({"a": 10}, {"b": 10}))
    assert cats is not None and cats.value == pytest.approx(1.0)  # disjoint


def test_missing_share_is_measured_on_every_column() -> None:
    values = np.r_[np.full(10, np.nan), np.ones(90)]
    column = numeric(np.ones(100), values)
    found = default_statistics().get("missing").measure(column)
    assert found is not None
    assert (found.reference, found.value) == (0.0, 0.1)
    assert found.p_value == S.missing_test(0, 100, 10, 100)
    clean = default_statistics().get("missing").measure(numeric(np.ones(50), np.ones(50)))
    assert clean is not None and clean.p_value is None  # nothing missing: nothing to test


def test_unseen_share_names_the_most_frequent_new_categories() -> None:
    column = categorical({"a": 50, "b": 50}, {"a": 40, "x": 30, "y": 20, "z": 5, "w": 1}, 4)
    found = default_statistics().get("unseen").measure(column)
    assert found is not None
    assert found.value == 60 / 100 and found.examples == ("x", "y", "z")
    assert found.p_value is not None and found.p_value < 1e-6
    assert default_statistics().get("unseen").measure(numeric(np.ones(9), np.ones(9))) is None


def test_fold_opens_the_outer_bins() -> None:
    assert list(fold(np.array([1, 2, 3, 4, 5]))) == [3, 3, 9]
    assert list(fold(np.array([1, 2, 3]))) == [1, 2, 3]  # a constant reference keeps 3 cells


def test_a_column_whose_kind_changed_is_refused() -> None:
    config = DriftConfig()
    with pytest.raises(UserError, match="numeric in the reference"):
        column_of(
            "x",
            reference_sample(np.ones(5), Kind.NUMERIC, config),
            CategoryCounts({"a": 1}, 1, 0),
        )


# -- one threshold model --------------------------------------------------------------------


def test_drift_config_is_the_spec_plus_bins() -> None:
    assert issubclass(DriftConfig, DriftSpec)
    assert set(DriftConfig.model_fields) - set(DriftSpec.model_fields) == {"bins"}
    spec = DriftSpec(alpha=0.01, psi_warn=0.1, psi_alert=0.5, min_rows=7)
    config = DriftConfig.from_spec(spec)
    assert config.model_dump(exclude={"bins"}) == spec.model_dump()
    assert DriftConfig.from_spec(spec, bins=4).bins == 4
    assert list(config.to_dict()) == [*DriftSpec.model_fields, "bins"]


@pytest.mark.parametrize(
    ("bad", "said"),
    [
        ({"alpha": 2.0}, "alpha"),
        ({"psi_warn": 0.5, "psi_alert": 0.3}, "psi thresholds need psi_warn <= psi_alert"),
        ({"correction": "holm"}, "bh, bonferroni, none"),
        ({"bins": 0}, "bins"),
        ({"missing_warn": 1.5}, "missing_warn"),
    ],
)
def test_bad_thresholds_are_one_user_error(bad: dict[str, object], said: str) -> None:
    with pytest.raises(UserError) as caught:
        DriftConfig(**bad)
    assert said in str(caught.value) and "\n" not in str(caught.value)
