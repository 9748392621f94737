"""`conveyor drift` through the real entry point on files in tmp_path: the table and --json,
exit 0 / 4 / 2, and one clear line for bad input, never a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conveyor.data.profile import build_profile
from conveyor.data.schema import infer_schema
from tests.conftest import CliResult

pytestmark = pytest.mark.integration

Cli = Callable[..., CliResult]


def frame(n: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "age": rng.normal(40 + 12 * shift, 12, n),
            "income": rng.lognormal(10, 0.5, n),
            "city": rng.choice(["paris", "lyon", "nice"], n, p=[0.5, 0.3, 0.2]),
            "member": rng.random(n) < 0.3,
            "score": rng.normal(size=n),
        }
    )


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    paths = {
        "ref": tmp_path / "train.parquet",
        "same": tmp_path / "same.csv",
        "shifted": tmp_path / "last_week.csv",
        "tiny": tmp_path / "tiny.csv",
    }
    frame(4000, 1).to_parquet(paths["ref"])
    frame(1500, 2).to_csv(paths["same"], index=False)
    frame(1500, 3, shift=1.0).to_csv(paths["shifted"], index=False)
    frame(40, 4, shift=2.0).to_csv(paths["tiny"], index=False)
    return paths


def test_drift_is_exit_4_with_a_table(cli: Cli, files: dict[str, Path]) -> None:
    done = cli("drift", "--reference", str(files["ref"]), "--current", str(files["shifted"]))
    assert done.exit_code == 4, done.stderr
    lines = done.stdout.splitlines()
    assert any("age" in line and "ks" in line and "drift" in line for line in lines)
    assert any("city" in line and "chi2" in line and "ok" in line for line in lines)
    assert "drift in 1 of 5: age" in done.stdout
    assert "age: ks p_adj" in done.stdout  # the reason, under the table


def test_no_drift_is_exit_0(cli: Cli, files: dict[str, Path]) -> None:
    done = cli("drift", "--reference", str(files["ref"]), "--current", str(files["same"]))
    assert done.exit_code == 0, done.stdout + done.stderr
    assert "no drift" in done.stdout


def test_json_report(cli: Cli, files: dict[str, Path]) -> None:
    done = cli(
        "drift",
        "--reference",
        str(files["ref"]),
        "--current",
        str(files["shifted"]),
        "--json",
        "--columns",
        "age,city",
        "--prediction",
        "score",
    )
    assert done.exit_code == 4
    report = done.json()
    assert report["status"] == "drift" and report["drifted"] == ["age"]
    assert [f["name"] for f in report["features"]] == ["age", "city"]
    assert report["prediction"]["name"] == "score" and report["prediction"]["status"] == "ok"
    age = report["features"][0]
    assert age["test"] == "ks" and age["p_adjusted"] < 0.05 and age["psi"] >= 0.3
    assert report["rows_current"] == 1500 and report["tests"] == 3
    assert report["current"] == str(files["shifted"]) and "read" in report["timings_s"]


def test_threshold_options(cli: Cli, files: dict[str, Path]) -> None:
    high = cli(
        "drift",
        "--reference",
        str(files["ref"]),
        "--current",
        str(files["shifted"]),
        "--threshold",
        "50",
        "--json",
    )
    assert high.exit_code == 0  # significant, but under a PSI of 50: a warning at most
    assert high.json()["warned"] == ["age"] and high.json()["config"]["psi_alert"] == 50


def test_tiny_window_is_insufficient_data(cli: Cli, files: dict[str, Path]) -> None:
    done = cli("drift", "--reference", str(files["ref"]), "--current", str(files["tiny"]))
    assert done.exit_code == 0
    assert "insufficient data" in done.stdout and "drift in" not in done.stdout


def test_a_profile_json_as_the_reference(cli: Cli, files: dict[str, Path], tmp_path: Path) -> None:
    train = frame(4000, 1)
    train["y"] = np.arange(4000) % 2
    features = ["age", "income", "city", "member"]
    schema = infer_schema(train, features, "y", classification=True)
    profile = build_profile(train, schema, train["y"].to_numpy(), classification=True)
    path = tmp_path / "profile.json"
    path.write_text(json.dumps(profile))
    done = cli("drift", "--reference", str(path), "--current", str(files["shifted"]), "--json")
    assert done.exit_code == 4
    report = done.json()
    assert report["drifted"] == ["age"]
    assert {f["name"]: f["test"] for f in report["features"]}["age"] == "chi2"  # binned path


def test_all_missing_column_is_drift(cli: Cli, files: dict[str, Path], tmp_path: Path) -> None:
    current = frame(1500, 5)
    current["income"] = np.nan
    path = tmp_path / "broken.csv"
    current.to_csv(path, index=False)
    done = cli("drift", "--reference", str(files["ref"]), "--current", str(path))
    assert done.exit_code == 4
    assert "income: missing share 0.0% -> 100.0% (all values missing)" in done.stdout


# name: (arguments after `drift`, text the one-line message must contain); {ref}, {cur},
# {bad} and {tmp} stand for the paths
BAD_INPUT: dict[str, tuple[list[str], list[str]]] = {
    "missing_file": (
        ["--reference", "{tmp}/nope.parquet", "--current", "{cur}"],
        ["{tmp}/nope.parquet", "file not found"],
    ),
    "unreadable_parquet": (
        ["--reference", "{bad}", "--current", "{cur}"],
        ["{bad}", "cannot read as Parquet"],
    ),
    "no_common_columns": (
        ["--reference", "{ref}", "--current", "{tmp}/other.csv"],
        ["no column in common", "{tmp}/other.csv"],
    ),
    "unknown_column": (
        ["--reference", "{ref}", "--current", "{cur}", "--columns", "age,salary"],
        ["{ref}", "no column 'salary'"],
    ),
    "unknown_prediction": (
        ["--reference", "{ref}", "--current", "{cur}", "--prediction", "proba"],
        ["no column 'proba'"],
    ),
    "text_in_a_numeric_column": (
        ["--reference", "{ref}", "--current", "{tmp}/words.csv"],
        ["{tmp}/words.csv", "column 'age'", "numeric in the reference"],
    ),
    "unsupported_type": (
        ["--reference", "{ref}", "--current", "{tmp}/data.xlsx"],
        ["{tmp}/data.xlsx", "unsupported file type"],
    ),
    "bad_correction": (
        ["--reference", "{ref}", "--current", "{cur}", "--correction", "holm"],
        ["holm", "bh, bonferroni, none"],
    ),
    "bad_thresholds": (
        ["--reference", "{ref}", "--current", "{cur}", "--warn", "0.5", "--threshold", "0.3"],
        ["psi thresholds"],
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUT))
@pytest.mark.parametrize("json_mode", [False, True])
def test_bad_input_is_one_line_and_exit_2(
    cli: Cli, files: dict[str, Path], tmp_path: Path, case: str, json_mode: bool
) -> None:
    bad = tmp_path / "garbage.parquet"
    bad.write_bytes(b"not a parquet file at all")
    pd.DataFrame({"x": [1, 2], "z": ["a", "b"]}).to_csv(tmp_path / "other.csv", index=False)
    words = frame(200, 6).astype({"age": object})
    words.loc[7, "age"] = "forty"
    words.to_csv(tmp_path / "words.csv", index=False)
    (tmp_path / "data.xlsx").write_bytes(b"PK")
    subs = {
        "{ref}": str(files["ref"]),
        "{cur}": str(files["same"]),
        "{bad}": str(bad),
        "{tmp}": str(tmp_path),
    }

    def fill(text: str) -> str:
        for key, value in subs.items():
            text = text.replace(key, value)
        return text

    args, expected = BAD_INPUT[case]
    done = cli("drift", *[fill(a) for a in args], *(["--json"] if json_mode else []))
    assert done.exit_code == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    if json_mode:
        message = done.json()["error"]
        assert done.json()["exit_code"] == 2
    else:
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
        message = lines[0]
    for text in expected:
        assert fill(text) in message, message


def test_the_console_script_exits_4(files: dict[str, Path], home: Path) -> None:
    """The installed `conveyor` (entry() and its os._exit) keeps the exit code and the JSON."""
    script = Path(sys.executable).parent / "conveyor"
    done = subprocess.run(
        [
            str(script),
            "drift",
            "--reference",
            str(files["ref"]),
            "--current",
            str(files["shifted"]),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 4, done.stderr
    assert json.loads(done.stdout)["drifted"] == ["age"]
