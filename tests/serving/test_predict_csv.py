"""`POST /predict` with a `text/csv` body: answered as the same rows sent as JSON `instances`,
on a real `conveyor serve` and in process; a bad CSV gets a 4xx JSON error naming the row
and column."""

from __future__ import annotations

from typing import Any

import httpx
import pandas as pd
import pytest

from tests.serving.server import Server

CSV = {"Content-Type": "text/csv"}


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    from sklearn.datasets import load_wine

    frame = load_wine(as_frame=True).frame.drop(columns="target")
    return frame.iloc[::30].reset_index(drop=True)  # 6 rows across the classes


def instances(rows: pd.DataFrame) -> dict[str, Any]:
    return {"instances": [{k: float(v) for k, v in r.items()} for _, r in rows.iterrows()]}


def same_answer(csv: dict[str, Any], json: dict[str, Any]) -> None:
    for key in ("predictions", "probabilities", "classes", "model"):
        assert csv[key] == json[key], key
    assert len(set(csv["predictions"])) > 1  # the rows span classes: not a constant answer


def bad_csvs(rows: pd.DataFrame) -> dict[str, tuple[bytes, int, str, str]]:
    """body, status, a problem's location and a part of its message"""
    typo = rows.head(2).astype(object)
    typo.loc[1, "alcohol"] = "thirteen"
    short = rows.head(2).to_csv(index=False).encode() + b"1.0,2.0\n"
    return {
        "missing column": (
            rows.drop(columns="magnesium").head(2).to_csv(index=False).encode(),
            422, "csv[0].magnesium", "missing feature",
        ),
        "unparseable value": (typo.to_csv(index=False).encode(), 422, "csv[1].alcohol",
                              "must be a number, got str 'thirteen'"),
        "empty body": (b"", 400, "csv", "needs a header row naming the features"),
        "wrong header": (
            rows.rename(columns={"alcohol": "alcohl"}).head(1).to_csv(index=False).encode(),
            422, "csv[0].alcohl", "unknown feature; did you mean 'alcohol'?",
        ),
        "header only": (",".join(rows.columns).encode() + b"\n", 400, "csv", "non-empty"),
        "short row": (short, 400, "csv[2]", "has 2 values, the header 13"),
        "not UTF-8": (b"alcohol\n\xff\n", 400, "body", "UTF-8"),
    }  # fmt: skip


def check_bad(r: httpx.Response, status: int, where: str, message: str) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/json"
    answer = r.json()
    assert answer["error"] and answer["request_id"]
    assert any(p["loc"] == where and message in p["msg"] for p in answer["problems"]), answer


@pytest.mark.integration
def test_a_csv_answers_as_json_instances_on_a_real_server(
    wine_server: Server, rows: pd.DataFrame
) -> None:
    url = f"{wine_server.url}/predict"
    as_json = httpx.post(url, json=instances(rows), timeout=30)
    as_csv = httpx.post(url, content=rows.to_csv(index=False).encode(), headers=CSV, timeout=30)
    assert as_json.status_code == 200, as_json.text
    assert as_csv.status_code == 200, as_csv.text
    same_answer(as_csv.json(), as_json.json())
    assert as_csv.json()["request_id"] == as_csv.headers["x-request-id"]


@pytest.mark.integration
def test_bad_csvs_name_the_row_and_column_on_a_real_server(
    wine_server: Server, rows: pd.DataFrame
) -> None:
    for case, (body, status, where, message) in bad_csvs(rows).items():
        r = httpx.post(f"{wine_server.url}/predict", content=body, headers=CSV, timeout=30)
        try:
            check_bad(r, status, where, message)
        except AssertionError as exc:
            raise AssertionError(f"{case}: {exc}") from exc


async def test_a_csv_answers_as_json_instances_in_process(
    wine_client: httpx.AsyncClient, rows: pd.DataFrame
) -> None:
    as_json = await wine_client.post("/predict", json=instances(rows))
    # columns in another order, the Content-Type with a charset, loose spellings of names
    shuffled = rows[list(reversed(rows.columns))].rename(
        columns={"od280/od315_of_diluted_wines": "OD280_OD315_of_diluted_wines"}
    )
    as_csv = await wine_client.post(
        "/predict",
        content=shuffled.to_csv(index=False).encode(),
        headers={"Content-Type": "text/csv; charset=utf-8"},
    )
    assert as_csv.status_code == 200, as_csv.text
    same_answer(as_csv.json(), as_json.json())


async def test_bad_csvs_name_the_row_and_column_in_process(
    wine_client: httpx.AsyncClient, rows: pd.DataFrame
) -> None:
    for case, (body, status, where, message) in bad_csvs(rows).items():
        r = await wine_client.post("/predict", content=body, headers=CSV)
        try:
            check_bad(r, status, where, message)
        except AssertionError as exc:
            raise AssertionError(f"{case}: {exc}") from exc


async def test_a_csv_over_the_row_limit_is_refused(
    wine_client: httpx.AsyncClient, rows: pd.DataFrame
) -> None:
    limit = wine_client.app.state.conveyor.settings.max_request_rows  # type: ignore[attr-defined]
    many = pd.concat([rows] * (limit // len(rows) + 1)).head(limit + 1)
    r = await wine_client.post("/predict", content=many.to_csv(index=False).encode(), headers=CSV)
    check_bad(r, 413, "csv", f"at most {limit} per request")
