"""What every request decoder shares: the decoded request (``PredictInput``), the policy for
unseen categories, and the errors that locate each problem (``instances[3].alcohol``), so a
client fixes its request in one go — up to ``MAX_PROBLEMS``: checking stops there, so a
hostile body costs no more than a short list. Requests carry at most ``max_rows`` rows (413
beyond). How values become checked columns is ``serving.columns``; how each request format
reads its body is ``serving.codecs``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from conveyor.errors import Problem, UserError

if TYPE_CHECKING:
    from conveyor.bundle.runtime import Columns
    from conveyor.serving.features import Wanted
    from conveyor.serving.manager import LoadedModel

MAX_PROBLEMS = 50
ROWS_SETTING = "CONVEYOR_MAX_REQUEST_ROWS"


class UnseenPolicy(StrEnum):
    ALLOW = "allow"
    REJECT = "reject"


class RequestError(UserError):
    """A request that does not fit the model; ``problems`` says where and why.

    ``truncated`` means checking stopped at ``MAX_PROBLEMS``: there may be more."""

    http_status = 422

    def __init__(
        self, problems: Sequence[Problem], status: int = 422, truncated: bool = False
    ) -> None:
        self.problems = list(problems)[:MAX_PROBLEMS]
        self.truncated = truncated or len(problems) > MAX_PROBLEMS
        self.http_status = status
        head = "; ".join(str(p) for p in self.problems[:5])
        more = f" (+{len(self.problems) - 5} more)" if len(self.problems) > 5 else ""
        if self.truncated:
            more += f" (checking stopped after {MAX_PROBLEMS} problems)"
        super().__init__(f"invalid request: {head}{more}")

    def to_dict(self) -> dict[str, object]:
        body: dict[str, object] = {
            "error": self.message,
            "problems": [{"loc": p.where, "msg": p.message} for p in self.problems],
        }
        if self.truncated:
            body["truncated"] = True
        return body


class TooManyRows(RequestError):
    """More rows in one request than ``CONVEYOR_MAX_REQUEST_ROWS`` allows (413)."""

    def __init__(self, where: str, rows: int, limit: int) -> None:
        message = f"{rows} rows; at most {limit} per request ({ROWS_SETTING})"
        super().__init__([Problem(where, message)], status=413)


class Problems:
    """The problems of one request. Reaching ``MAX_PROBLEMS`` raises at once: the work spent
    on a bad request stays bounded however many rows are wrong."""

    def __init__(self, status: int = 422) -> None:
        self.items: list[Problem] = []
        self.status = status

    def add(self, where: str, message: str) -> None:
        self.items.append(Problem(where, message))
        if len(self.items) >= MAX_PROBLEMS:
            raise RequestError(self.items, self.status, truncated=True)

    def check(self) -> None:
        if self.items:
            raise RequestError(self.items, self.status)


def bad_request(where: str, message: str) -> RequestError:
    return RequestError([Problem(where, message)], status=400)


def check_rows(where: str, rows: int, limit: int | None) -> None:
    if limit is not None and rows > limit:
        raise TooManyRows(where, rows, limit)


@dataclass(frozen=True)
class PredictInput:
    """A decoded prediction request (``/predict``, ``/invocations``): the model it asked for
    and its columns."""

    model: LoadedModel
    version: str | None
    columns: Columns
    rows: int
    keys: dict[str, list[Any]] | None = None  # entity keys features were looked up by
    wanted: Wanted | None = None  # rows still to fill from a feature store, then to check
