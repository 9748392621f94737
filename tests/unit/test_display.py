from __future__ import annotations

import logging

import pytest

from conveyor.display import clip, listed, mask_urls, safe_url, shown
from conveyor.logs import JsonFormatter, MaskSecrets


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://alice:s3cret@mlflow:5000", "http://alice:***@mlflow:5000"),
        ("https://alice:s3cret@mlflow:5000/", "https://alice:***@mlflow:5000/"),
        # an unescaped "@" in the password is masked whole
        (
            "postgresql+psycopg://app:p@ss@db:5432/conveyor",
            "postgresql+psycopg://app:***@db:5432/conveyor",
        ),
        (
            "postgresql://db/x?password=s3cret&sslmode=require",
            "postgresql://db/x?password=***&sslmode=require",
        ),
        ("https://hooks.example/x?token=abc&b=1", "https://hooks.example/x?token=***&b=1"),
        # nothing secret: kept exactly as written (a parse-and-rebuild would drop slashes)
        ("sqlite:////abs/path/mlflow.db", "sqlite:////abs/path/mlflow.db"),
        ("http://mlflow:5000", "http://mlflow:5000"),
        ("postgresql://postgres@127.0.0.1/test", "postgresql://postgres@127.0.0.1/test"),
    ],
)
def test_safe_url_masks_only_the_secret(url: str, expected: str) -> None:
    assert safe_url(url) == expected


def test_urls_inside_text_are_masked() -> None:
    text = "API request to http://bob:pw1@h:5000/api failed; retry https://x:pw2@y/q later"
    masked = mask_urls(text)
    assert "pw1" not in masked and "pw2" not in masked
    assert (
        masked == "API request to http://bob:***@h:5000/api failed; retry https://x:***@y/q later"
    )


def test_long_values_are_clipped_and_counted() -> None:
    huge = "X" * 10_000_000
    text = shown(huge)
    assert len(text) < 100
    assert text.startswith("'XXXX") and text.endswith("… (10,000,000 characters)")
    assert shown("oops") == "'oops'"
    assert shown(b"\x00" * 1000).startswith("b'\\x00")
    assert clip("y" * 100, 10) == "yyyyyyyyyy… (100 characters)"
    assert clip("short") == "short"


def test_lists_are_cut_after_a_few_items() -> None:
    assert listed(["a", "b"]) == "'a', 'b'"
    assert listed(range(1000), limit=3) == "0, 1, 2, … (+997 more)"


def test_log_records_are_masked_message_and_traceback() -> None:
    try:
        raise ConnectionError("cannot reach postgresql://app:s3cret@db/x")
    except ConnectionError:
        import sys

        exc_info = sys.exc_info()
    record = logging.LogRecord(
        "mlflow", logging.ERROR, __file__, 1, "GET %s failed", ("http://u:s3cret@h/api",), exc_info
    )
    assert MaskSecrets().filter(record)
    line = JsonFormatter().format(record)
    assert "s3cret" not in line
    assert "http://u:***@h/api" in line and "postgresql://app:***@db/x" in line
    text = logging.Formatter("%(message)s").format(record)
    assert "s3cret" not in text and "ConnectionError" in text
