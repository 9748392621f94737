from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from conveyor.data.profile import PROFILE_VERSION, build_profile, fingerprint, numeric_bins
from conveyor.data.schema import infer_schema


def sample() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "x": [1.5, 2.0, np.nan, 4.25],
            "n": [1, 2, 3, 4],
            "city": ["paris", "lyon", None, "lyon"],
            "y": [0, 1, 0, 1],
        }
    )


# -- fingerprint -------------------------------------------------------------------------


def test_fingerprint_is_32_hex_characters() -> None:
    value = fingerprint(sample())
    assert len(value) == 32
    int(value, 16)


def test_fingerprint_is_the_same_in_a_fresh_process() -> None:
    code = (
        "import numpy as np, pandas as pd\n"
        "from conveyor.data.profile import fingerprint\n"
        "frame = pd.DataFrame({'x': [1.5, 2.0, np.nan, 4.25], 'n': [1, 2, 3, 4],\n"
        "    'city': ['paris', 'lyon', None, 'lyon'], 'y': [0, 1, 0, 1]})\n"
        "print(fingerprint(frame))\n"
    )
    env = os.environ | {"PYTHONHASHSEED": "12345"}  # str hashes differ from this process
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == fingerprint(sample())


def test_fingerprint_ignores_the_index() -> None:
    shifted = sample().set_axis([10, 11, 12, 13])
    named = sample().rename_axis("row")
    assert fingerprint(shifted) == fingerprint(sample()) == fingerprint(named)


def test_fingerprint_depends_on_row_order() -> None:
    reordered = sample().iloc[[1, 0, 2, 3]]
    assert fingerprint(reordered) != fingerprint(sample())
    assert fingerprint(reordered.reset_index(drop=True)) == fingerprint(reordered)


@pytest.mark.parametrize(
    ("column", "row", "value"),
    [("x", 0, 1.5000001), ("n", 3, 5), ("city", 1, "nice"), ("x", 2, 0.0), ("city", 2, "")],
)
def test_one_changed_value_changes_the_fingerprint(column: str, row: int, value: object) -> None:
    changed = sample()
    changed.loc[row, column] = value
    assert fingerprint(changed) != fingerprint(sample())


def test_column_names_and_dtypes_change_the_fingerprint() -> None:
    base = fingerprint(sample())
    assert fingerprint(sample().rename(columns={"x": "z"})) != base
    assert fingerprint(sample().astype({"n": "float64"})) != base
    assert fingerprint(sample()[["n", "x", "city", "y"]]) != base


# -- numeric_bins ------------------------------------------------------------------------


def test_bins_of_a_small_range() -> None:
    edges, counts = numeric_bins(np.array([1.0, 2.0, 3.0, 4.0, 5.0]), bins=4)
    assert edges == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert counts == [1, 1, 1, 2]  # the last bin includes its upper edge


def test_bins_ignore_nan_and_counts_sum_to_n() -> None:
    rng = np.random.default_rng(0)
    values = rng.normal(size=1000)
    values[::7] = np.nan
    n = int((~np.isnan(values)).sum())
    edges, counts = numeric_bins(values)
    assert len(edges) == 11 and len(counts) == 10
    assert sum(counts) == n
    assert edges == sorted(edges)
    assert edges[0] == np.nanmin(values) and edges[-1] == np.nanmax(values)
    assert all(abs(c - n / 10) <= 1 for c in counts)  # quantile bins hold equal shares


def test_bins_deduplicate_edges_of_repeated_values() -> None:
    edges, counts = numeric_bins(np.array([0.0] * 8 + [1.0, 2.0]))
    assert len(edges) == len(set(edges)) == len(counts) + 1
    assert sum(counts) == 10


def test_bins_of_a_constant_and_of_nothing() -> None:
    assert numeric_bins(np.array([3.0, 3.0, np.nan, 3.0])) == ([3.0, 3.0], [3])
    assert numeric_bins(np.array([np.nan, np.nan])) == ([], [])
    assert numeric_bins(np.array([], dtype=float)) == ([], [])


# -- build_profile -----------------------------------------------------------------------


def test_classification_profile() -> None:
    frame = sample()
    schema = infer_schema(frame, ["x", "n", "city"], "y", True, categorical=["n"])
    profile = build_profile(frame, schema, np.array([0, 1, 1, 1, 2]), classification=True)
    assert profile["version"] == PROFILE_VERSION
    assert profile["rows"] == 4
    x, n, city = (profile["features"][k] for k in ("x", "n", "city"))
    assert x["kind"] == "numeric"
    assert x["missing_share"] == 0.25
    assert sum(x["bin_counts"]) == 3
    assert x["mean"] == pytest.approx((1.5 + 2.0 + 4.25) / 3)
    assert x["std"] == pytest.approx(np.std([1.5, 2.0, 4.25]))
    assert n == {
        "kind": "categorical",
        "missing_share": 0.0,
        "category_counts": {"1": 1, "2": 1, "3": 1, "4": 1},
    }
    assert city["missing_share"] == 0.25
    assert city["category_counts"] == {"lyon": 2, "paris": 1}
    assert profile["prediction"] == {
        "kind": "categorical",
        "category_counts": {"0": 1, "1": 3, "2": 1},
    }


def test_regression_profile_bins_the_predictions() -> None:
    frame = sample()
    schema = infer_schema(frame, ["x", "city"], "n", classification=False)
    predictions = np.linspace(0.0, 100.0, 41)
    profile = build_profile(frame, schema, predictions, classification=False)
    prediction = profile["prediction"]
    assert prediction["kind"] == "numeric"
    assert prediction["bin_edges"][0] == 0.0 and prediction["bin_edges"][-1] == 100.0
    assert sum(prediction["bin_counts"]) == 41
    assert set(profile["features"]) == {"x", "city"}


def test_all_missing_numeric_feature_has_no_bins_or_moments() -> None:
    frame = sample().assign(x=np.nan)
    schema = infer_schema(frame, ["x"], "y", classification=True)
    entry = build_profile(frame, schema, np.array([0, 1]), True)["features"]["x"]
    assert entry == {"kind": "numeric", "missing_share": 1.0, "bin_edges": [], "bin_counts": []}


def test_profile_is_json_serialisable() -> None:
    import json

    frame = sample()
    schema = infer_schema(frame, ["x", "n", "city"], "y", True)
    profile = build_profile(frame, schema, np.array([0, 1, 0, 1]), True)
    assert json.loads(json.dumps(profile)) == profile
