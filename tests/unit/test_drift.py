"""Drift statistics and verdicts: exact against scipy, calibrated on healthy windows, loud on
real shifts, quiet on negligible ones, honest about missing values and small windows."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from conveyor.data.profile import build_profile, numeric_bins
from conveyor.data.schema import Kind, infer_schema
from conveyor.errors import DataError, UserError
from conveyor.monitoring import (
    DriftConfig,
    DriftReport,
    Status,
    WindowCounts,
    compare_arrays,
    compare_window,
)
from conveyor.monitoring import stats as S
from conveyor.monitoring.corrections import benjamini_hochberg, bonferroni, correction
from conveyor.monitoring.drift import conclude, current_sample, measure_feature, reference_sample
from conveyor.monitoring.samples import (
    CategoryCounts,
    NumericBins,
    as_strings,
    bin_sorted,
    category_counts,
    missing_mask,
    numeric_sample,
)

CATS = np.array(["red", "green", "blue", "grey"])
MIX = [0.4, 0.3, 0.2, 0.1]


def data(
    n: int,
    seed: int,
    shift: float = 0.0,
    scale: float = 1.0,
    mix: list[float] | None = None,
) -> dict[str, np.ndarray]:
    """Two numerics (``a`` may shift), an integer one with ties, a categorical, 10% missing."""
    rng = np.random.default_rng(seed)
    sparse = rng.normal(size=n)
    sparse[rng.random(n) < 0.1] = np.nan
    return {
        "a": rng.normal(shift, scale, n),
        "b": rng.exponential(2.0, n),
        "count": rng.poisson(3, n).astype(float),
        "sparse": sparse,
        "colour": rng.choice(CATS, n, p=mix or MIX),
    }


def by_name(report: DriftReport) -> dict[str, Any]:
    return {f.name: f for f in report.all}


# -- statistics, exact against scipy ----------------------------------------------------


@pytest.mark.parametrize("seed", range(20))
def test_ks_and_wasserstein_equal_scipy_with_ties(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_ref, n_cur = rng.integers(1, 300, 2)
    ref = np.sort(np.round(rng.normal(size=n_ref), seed % 3))  # rounding makes ties
    cur = np.sort(np.round(rng.normal(rng.normal(), rng.uniform(0.5, 2), n_cur), seed % 3))
    assert S.ks_statistic(ref, cur) == pytest.approx(sps.ks_2samp(ref, cur).statistic, abs=1e-12)
    assert S.wasserstein(ref, cur) == pytest.approx(sps.wasserstein_distance(ref, cur), rel=1e-9)


def test_ks_test_matches_scipy_on_the_asymptotic_path() -> None:
    rng = np.random.default_rng(0)
    ref, cur = np.sort(rng.normal(size=12_000)), np.sort(rng.normal(0.03, 1, 50_000))
    expected = sps.ks_2samp(ref, cur)
    statistic, p_value = S.ks_test(ref, cur)
    assert statistic == pytest.approx(expected.statistic, abs=1e-12)
    assert p_value == pytest.approx(expected.pvalue, rel=1e-9)


def test_chi_square_is_the_contingency_test() -> None:
    ref, cur = np.array([50.0, 30, 20]), np.array([40.0, 30, 35])
    expected = sps.chi2_contingency(np.vstack((ref, cur)), correction=False)
    assert S.chi_square(ref, cur) == pytest.approx((expected.statistic, expected.pvalue))


def test_psi_by_hand() -> None:
    ref, cur = np.array([500.0, 500.0]), np.array([250.0, 750.0])
    p = np.array([500.5, 500.5]) / 1001
    q = np.array([250.5, 750.5]) / 1001
    assert S.psi(ref, cur) == pytest.approx(float(np.sum((q - p) * np.log(q / p))))
    assert S.psi(ref, ref) == 0.0


def test_pooling_keeps_totals_and_leaves_no_sparse_cell() -> None:
    ref = np.array([5000, 4000, 900, 50, 30, 20, 1, 0])
    cur = np.array([50, 40, 9, 1, 0, 0, 0, 0])
    pooled_ref, pooled_cur = S.pool_sparse(ref, cur)
    assert pooled_ref.sum() == ref.sum() and pooled_cur.sum() == cur.sum()
    n_ref, n_cur = ref.sum(), cur.sum()
    expected = (pooled_ref + pooled_cur) * min(n_ref, n_cur) / (n_ref + n_cur)
    assert expected.min() >= S.MIN_EXPECTED


def test_binning_follows_the_profile_convention() -> None:
    rng = np.random.default_rng(1)
    values = np.round(rng.normal(size=5000), 1)  # ties on the edges
    edges, counts = numeric_bins(values)
    binned, below, above = bin_sorted(np.sort(values), np.asarray(edges))
    assert binned.tolist() == [0, *counts, 0] and below == above == 0
    outside = np.sort(np.array([edges[0] - 2.0, edges[-1] + 1.0, edges[-1] + 3.0]))
    binned, below, above = bin_sorted(outside, np.asarray(edges))
    assert (binned[0], binned[-1]) == (1, 2)
    assert below == pytest.approx(2.0) and above == pytest.approx(4.0)


# -- multiple-testing correction -----------------------------------------------------------


def test_benjamini_hochberg_by_hand() -> None:
    # sorted 0.01 0.03 0.04 0.20 -> x4/1 x4/2 x4/3 x4/4 = 0.04 0.06 0.0533 0.20, then the
    # running minimum from the largest: 0.04 0.0533 0.0533 0.20, back in the input order
    adjusted = benjamini_hochberg([0.01, 0.04, 0.03, 0.20])
    assert adjusted == pytest.approx([0.04, 0.16 / 3, 0.16 / 3, 0.20])
    assert benjamini_hochberg([0.6, 0.9]) == pytest.approx([0.9, 0.9])
    assert benjamini_hochberg([]) == []


def test_benjamini_hochberg_equals_scipy() -> None:
    p = np.random.default_rng(3).uniform(0, 0.2, 40)
    assert benjamini_hochberg(list(p)) == pytest.approx(sps.false_discovery_control(p))


def test_bonferroni_and_the_registry() -> None:
    assert bonferroni([0.01, 0.04, 0.5]) == pytest.approx([0.03, 0.12, 1.0])
    with pytest.raises(UserError, match="bh, bonferroni, none"):
        correction("holm")


def test_bonferroni_is_an_option_of_the_report() -> None:
    ref, cur = data(3000, 1), data(3000, 2, shift=0.2)
    bh = compare_arrays(ref, cur)
    bonf = compare_arrays(ref, cur, DriftConfig(correction="bonferroni"))
    a_bh, a_bonf = by_name(bh)["a"], by_name(bonf)["a"]
    assert a_bonf.p_adjusted == pytest.approx(min(1.0, a_bonf.p_value * bonf.tests))
    assert a_bh.p_adjusted <= a_bonf.p_adjusted


# -- verdicts --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "drifted"),
    [
        ({"shift": 1.0}, "a"),
        ({"scale": 2.0}, "a"),
        ({"mix": [0.1, 0.2, 0.3, 0.4]}, "colour"),
    ],
)
def test_known_shifts_are_drift_and_nothing_else_is(change: dict[str, Any], drifted: str) -> None:
    report = compare_arrays(data(5000, 1), data(2000, 2, **change))
    assert report.drifted == [drifted]
    assert report.status is Status.DRIFT
    feature = by_name(report)[drifted]
    assert feature.p_adjusted < 1e-6 and feature.psi >= 0.3
    assert feature.reasons and "PSI" in feature.reasons[0]
    assert all(f.status is Status.OK for f in report.features if f.name != drifted)


def test_a_moderate_shift_is_a_warning() -> None:
    report = compare_arrays(data(5000, 1), data(5000, 2, shift=0.5))
    a = by_name(report)["a"]
    assert 0.2 <= a.psi < 0.3, a.psi  # the case this test is about
    assert a.status is Status.WARN and report.status is Status.WARN
    assert report.warned == ["a"] and report.drifted == []


def _healthy_evidence(windows: int) -> list[list[Any]]:
    """Per healthy window (same distributions, new seeds) each feature's evidence.

    Each window gets its own reference draw: a p-value promises its rate over both samples,
    and against one fixed reference the rate depends on that draw (2-8 % at these sizes).
    """
    config = DriftConfig()
    kinds = {n: Kind.CATEGORICAL if n == "colour" else Kind.NUMERIC for n in data(1, 0)}
    out = []
    for seed in range(windows):
        reference, current = data(5000, 10_000 + seed), data(500, seed)
        out.append(
            [
                measure_feature(
                    n,
                    kinds[n],
                    reference_sample(reference[n], kinds[n], config),
                    current_sample(current[n], kinds[n]),
                    config,
                )
                for n in reference
            ]
        )
    return out


@pytest.fixture(scope="module")
def healthy() -> list[list[Any]]:
    return _healthy_evidence(200)


def test_false_alarm_rate_on_healthy_windows(healthy: list[list[Any]]) -> None:
    reports = [conclude(evidence, DriftConfig()) for evidence in healthy]
    alarms = sum(1 for r in reports if r.drifted or r.warned)
    assert alarms / len(reports) <= 0.05, alarms


def test_the_tests_alone_are_calibrated(healthy: list[list[Any]]) -> None:
    """Without correction or effect-size gate, each continuous feature's test rejects about
    alpha of healthy windows: the p-values are right, the quiet above is not luck."""
    raw = DriftConfig(correction="none", psi_warn=0.0, psi_alert=0.0)
    reports = [by_name(conclude(evidence, raw)) for evidence in healthy]
    for name in ("a", "b", "sparse", "colour"):
        rate = sum(1 for r in reports if r[name].p_adjusted < 0.05) / len(reports)
        assert 0.01 <= rate <= 0.10, (name, rate)
    # the integer feature's KS is conservative with ties, never liberal
    assert sum(1 for r in reports if r["count"].p_adjusted < 0.05) / len(reports) <= 0.10


def test_a_large_healthy_window_is_not_flagged() -> None:
    rng = np.random.default_rng(5)
    reference = {"x": rng.normal(size=20_000)}
    current = {"x": rng.normal(0.05, 1.0, 200_000)}  # real, and negligible
    report = compare_arrays(reference, current)
    x = by_name(report)["x"]
    assert x.p_adjusted < 1e-3  # the test does see it...
    assert x.psi < 0.05 and x.status is Status.OK  # ...and the effect size keeps it quiet
    gate_off = compare_arrays(reference, current, DriftConfig(psi_warn=0.0, psi_alert=0.0))
    assert gate_off.drifted == ["x"]


def test_tiny_windows_are_insufficient_data() -> None:
    report = compare_arrays(data(5000, 1), data(50, 2, shift=3.0))
    assert report.status is Status.INSUFFICIENT_DATA
    assert {f.status for f in report.features} == {Status.INSUFFICIENT_DATA}
    assert report.tests == 0 and report.drifted == []
    assert all(f.p_adjusted is None for f in report.features)
    assert "min_rows 100" in report.features[0].reasons[0]
    small = compare_arrays(data(5000, 1), data(50, 2), DriftConfig(min_rows=20))
    assert small.status is Status.OK


# -- missing values, unseen categories, constants -------------------------------------------


def test_an_all_nan_column_is_drift_never_ok() -> None:
    reference, current = data(5000, 1), data(1000, 2)
    current["a"] = np.full(1000, np.nan)
    current["colour"] = np.array([None] * 1000, dtype=object)
    report = by_name(compare_arrays(reference, current))
    for name in ("a", "colour"):
        assert report[name].status is Status.DRIFT
        assert report[name].missing_share_cur == 1.0
        assert "all values missing" in report[name].reasons[0]
        assert report[name].test is None  # no distribution test on no values


def test_a_column_missing_on_both_sides_is_not_ok() -> None:
    nothing = {"x": np.full(500, np.nan)}
    x = by_name(compare_arrays(nothing, {"x": np.full(500, np.nan)}))["x"]
    assert x.status is Status.INSUFFICIENT_DATA and "no values" in x.reasons[0]


@pytest.mark.parametrize(("share", "status"), [(0.08, Status.WARN), (0.3, Status.DRIFT)])
def test_missing_share_jumps(share: float, status: Status) -> None:
    reference, current = data(5000, 1), data(2000, 2)
    current["b"][: int(share * 2000)] = np.nan
    current["b"][-5:] = np.inf  # non-finite counts as missing
    b = by_name(compare_arrays(reference, current))["b"]
    assert b.status is status
    assert b.missing_share_cur == pytest.approx(share + 5 / 2000)
    assert b.missing_p_adjusted is not None and b.missing_p_adjusted < 0.05


def test_a_small_missing_change_is_ok() -> None:
    reference, current = data(5000, 1), data(2000, 2)
    current["a"][:10] = np.nan
    assert by_name(compare_arrays(reference, current))["a"].status is Status.OK


def test_unseen_categories_are_counted_and_flagged() -> None:
    reference, current = data(5000, 1), data(2000, 2)
    current["colour"] = current["colour"].astype(object)  # room for longer labels
    current["colour"][:600] = "purple"
    current["colour"][600:650] = "teal"
    colour = by_name(compare_arrays(reference, current))["colour"]
    assert colour.unseen_share == pytest.approx(650 / 2000)
    assert colour.status is Status.DRIFT
    assert any("unseen categories 32.5%" in r and "'purple'" in r for r in colour.reasons)


def test_rare_categories_in_healthy_data_are_not_flagged() -> None:
    rng = np.random.default_rng(4)
    labels = np.array([f"c{i}" for i in range(400)])
    weights = 1 / np.arange(1, 401)  # a long tail: singletons in the reference, new ones later
    p = weights / weights.sum()
    reference = {"city": rng.choice(labels, 5000, p=p)}
    current = {"city": rng.choice(labels, 500, p=p)}
    city = by_name(compare_arrays(reference, current))["city"]
    assert city.unseen_share is not None and city.unseen_share > 0
    assert city.status is Status.OK


def test_constant_columns_do_not_crash() -> None:
    same = compare_arrays({"k": np.full(1000, 3.0)}, {"k": np.full(500, 3.0)})
    k = by_name(same)["k"]
    assert k.status is Status.OK and k.psi == 0.0 and k.distance == 0.0
    moved = compare_arrays({"k": np.full(1000, 3.0)}, {"k": np.full(500, 4.0)})
    assert by_name(moved)["k"].status is Status.DRIFT
    spread = compare_arrays(
        {"k": np.full(1000, 3.0)}, {"k": np.random.default_rng(0).normal(3, 1, 500)}
    )
    assert by_name(spread)["k"].status is Status.DRIFT
    collapsed = compare_arrays(
        {"k": np.random.default_rng(0).normal(3, 1, 1000)}, {"k": np.full(500, 3.0)}
    )
    assert by_name(collapsed)["k"].status is Status.DRIFT


def test_booleans_and_prediction_drift() -> None:
    rng = np.random.default_rng(2)
    reference = {"flag": rng.random(4000) < 0.3, "score": rng.normal(size=4000)}
    current = {"flag": rng.random(2000) < 0.7, "score": rng.normal(2.0, 1, 2000)}
    report = compare_arrays(reference, current, prediction="score")
    assert [f.name for f in report.features] == ["flag"]
    assert report.features[0].kind == "boolean" and report.features[0].status is Status.DRIFT
    assert report.prediction is not None and report.prediction.status is Status.DRIFT
    assert report.drifted == ["flag", "score"]


def test_the_report_is_strict_json() -> None:
    reference, current = data(5000, 1), data(1000, 2, shift=1.0)
    current["b"] = np.full(1000, np.nan)
    payload = compare_arrays(reference, current).to_dict()
    text = json.dumps(payload, allow_nan=False)
    assert json.loads(text)["drifted"] == ["a", "b"]
    assert set(payload["features"][0]) >= {
        "name",
        "kind",
        "test",
        "statistic",
        "p_value",
        "p_adjusted",
        "psi",
        "distance",
        "missing_share_ref",
        "missing_share_cur",
        "unseen_share",
        "status",
    }


@pytest.mark.parametrize(
    "bad",
    [
        {"psi_warn": 0.4, "psi_alert": 0.3},
        {"alpha": 0.0},
        {"correction": "holm"},
        {"min_rows": 0},
    ],
)
def test_bad_config_is_a_user_error(bad: dict[str, Any]) -> None:
    with pytest.raises(UserError):
        DriftConfig(**bad)


# -- the binned path: profile vs window counts ---------------------------------------------


def profile_of(frame: dict[str, np.ndarray]) -> dict[str, Any]:
    df = pd.DataFrame(frame)
    df["y"] = np.arange(len(df)) % 2
    features = [c for c in frame if c != "y"]
    schema = infer_schema(df, features, "y", classification=True)
    predictions = np.random.default_rng(0).integers(0, 2, len(df))
    profile = build_profile(df, schema, predictions, classification=True)
    return dict(json.loads(json.dumps(profile)))  # as read back from profile.json


def window_of(
    profile: dict[str, Any], frame: dict[str, np.ndarray], batch: int = 700
) -> WindowCounts:
    window = WindowCounts.from_profile(profile)
    n = len(next(iter(frame.values())))
    for start in range(0, n, batch):
        window.update({k: v[start : start + batch] for k, v in frame.items()})
    return window


@pytest.mark.parametrize(
    "change", [{}, {"shift": 1.0}, {"scale": 2.0}, {"mix": [0.1, 0.2, 0.3, 0.4]}]
)
def test_binned_path_agrees_with_raw_path(change: dict[str, Any]) -> None:
    reference, current = data(5000, 1), data(3000, 2, **change)
    profile = profile_of(reference)
    binned = by_name(compare_window(profile, window_of(profile, current)))
    raw = by_name(compare_arrays(reference, current))
    assert {n: f.status for n, f in binned.items()} == {n: f.status for n, f in raw.items()}
    for name in reference:
        assert binned[name].psi == pytest.approx(raw[name].psi, abs=1e-12)  # same bins
        assert binned[name].missing_share_cur == raw[name].missing_share_cur
    assert binned["a"].test == "chi2" and raw["a"].test == "ks"
    assert binned["a"].distance == pytest.approx(raw["a"].distance, rel=0.35, abs=0.03)


def test_window_counts_update_merge_and_absent_columns() -> None:
    reference, current = data(5000, 1), data(2000, 2)
    profile = profile_of(reference)
    whole = window_of(profile, current, batch=2000)
    left = window_of(profile, {k: v[:800] for k, v in current.items()})
    right = window_of(profile, {k: v[800:] for k, v in current.items()})
    left.merge(right)
    merged = left.samples()
    for name, sample in whole.samples().items():
        if isinstance(sample, CategoryCounts):
            assert merged[name] == sample
        else:
            got = merged[name]
            assert isinstance(got, NumericBins)
            assert got.counts.tolist() == sample.counts.tolist()
            assert (got.rows, got.missing) == (sample.rows, sample.missing)
            assert got.below_excess == pytest.approx(sample.below_excess)
    assert left.rows == whole.rows == 2000
    colour = whole.samples()["colour"]
    assert colour.counts == {
        str(k): int(v)
        for k, v in zip(*np.unique(current["colour"], return_counts=True), strict=True)
    }
    dropped = WindowCounts.from_profile(profile)
    dropped.update({"a": current["a"]})  # every other feature absent: missing
    report = by_name(compare_window(profile, dropped))
    assert report["b"].missing_share_cur == 1.0 and report["b"].status is Status.DRIFT
    with pytest.raises(DataError, match="rows"):
        dropped.update({"a": current["a"], "b": current["b"][:10]})


def test_window_counts_unseen_and_none_values() -> None:
    profile = profile_of(data(5000, 1))
    window = WindowCounts.from_profile(profile)
    window.update({"colour": np.array(["red", "purple", None, "teal", "red"], dtype=object)})
    colour = window.samples()["colour"]
    assert isinstance(colour, CategoryCounts)
    assert (colour.counts["red"], colour.unseen, colour.missing, colour.rows) == (2, 2, 1, 5)


def test_prediction_drift_through_the_window() -> None:
    reference = data(5000, 1)
    profile = profile_of(reference)  # predictions: classes 0/1, evenly
    window = WindowCounts.from_profile(profile)
    current = data(2000, 2)
    window.update(current, predictions=np.ones(2000, dtype=int))  # every prediction is 1
    report = compare_window(profile, window)
    assert report.prediction is not None and report.prediction.status is Status.DRIFT
    assert report.drifted == ["prediction"]


def test_summaries_of_raw_values() -> None:
    sample = numeric_sample([3.0, np.nan, 1.0, np.inf, 2.0])
    assert sample.values.tolist() == [1.0, 2.0, 3.0] and sample.missing == 2
    counts = category_counts(np.array(["b", None, "a", "b", float("nan")], dtype=object))
    assert counts.counts == {"a": 1, "b": 2} and counts.missing == 2
    flags = category_counts(np.array([True, False, True]))
    assert flags.counts == {"False": 1, "True": 2}  # labels as the profile writes them


@pytest.mark.parametrize(
    "values",
    [
        ["b", None, "a", "b", float("nan"), "é", "", "a"],  # text as pandas holds it
        ["1", 1, 1.0, True, None],  # mixed objects keep one label per str(value)
        [3, 1, 3, None],
        [None, float("nan")],
        [],
    ],
)
def test_object_columns_are_counted_as_their_labels(values: list[Any]) -> None:
    # object columns of text take a hash count, not np.unique's sort: same labels, same order
    array = np.array(values, dtype=object)
    missing = missing_mask(array)
    labels, counts = np.unique(as_strings(array[~missing]), return_counts=True)
    got = category_counts(array)
    assert list(got.counts.items()) == list(zip(labels.tolist(), counts.tolist(), strict=True))
    assert (got.rows, got.missing) == (array.size, int(missing.sum()))


def test_a_pandas_string_column_with_na_is_counted() -> None:
    counts = category_counts(pd.Series(["a", None, "b", "a"], dtype="string"))
    assert counts.counts == {"a": 2, "b": 1} and (counts.rows, counts.missing) == (4, 1)


def test_a_small_reference_still_supports_a_test() -> None:
    """A holdout of a few dozen predictions is a small but fully known reference: the window
    needs min_rows values, the reference only MIN_REFERENCE."""
    from conveyor.monitoring.drift import MIN_REFERENCE

    rng = np.random.default_rng(3)
    reference = {"p": rng.choice(np.array(["0", "1", "2"]), 45, p=[0.3, 0.4, 0.3])}
    shifted = {"p": rng.choice(np.array(["0", "1", "2"]), 400, p=[0.65, 0.0, 0.35])}
    (drift,) = compare_arrays(reference, shifted).features
    assert drift.status is Status.DRIFT and drift.p_adjusted is not None
    tiny = {"p": reference["p"][: MIN_REFERENCE - 1]}
    (unsure,) = compare_arrays(tiny, shifted).features
    assert unsure.status is Status.INSUFFICIENT_DATA
    assert "in the reference" in unsure.reasons[0]
