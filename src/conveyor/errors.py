"""Conveyor's one error tree. Each error builds its own message; edges map classes to exits.

Defined here unless a module is named; every boundary to a dependency (``registry.client.
mlflow_errors`` for MLflow, ``store.errors.store_errors`` for the store's database,
``bundle.runtime`` for ONNX Runtime and pyfunc) turns that dependency's errors into these, so
"not found" and "unavailable" are never confused.

ConveyorError
├── UserError                     bad input or usage (CLI exit 2, HTTP 4xx)
│   ├── SpecError                 conveyor.yaml is malformed or invalid
│   ├── DataError                 a dataset cannot be loaded or breaks the schema
│   ├── NotFoundError             a model or version that does not exist (404)
│   │   └── NoActiveRolloutError  rollout.errors: no rollout to act on
│   ├── Unauthorized              a guarded endpoint called without a token (401)
│   ├── Forbidden                 a wrong token, or the endpoint is turned off (403)
│   ├── ApprovalRequiredError     promotion without a required approval (409)
│   ├── RateLimitedError          too many of a kind of request (429, Retry-After)
│   ├── ModelInputError           the model runtime refused a request's values (422)
│   ├── RolloutConflictError      rollout.errors: another rollout is active (409)
│   ├── IllegalTransitionError    rollout.errors: a command the rollout's state forbids (409)
│   └── RequestError              serving.inputs: a request's problems, each located
│       ├── TooManyRows           serving.inputs: more rows than allowed (413)
│       ├── BodyTooLarge          serving.http: a body over the limit (413)
│       ├── BodyTooSlow           serving.http: a body not received in time (408)
│       └── UnsupportedMediaType  serving.codecs.registry: a Content-Type no codec reads (415)
├── GateFailedError               the candidate failed its quality gates (CLI exit 3)
├── ServiceUnavailableError       MLflow, the store or another service cannot be reached (503)
│   ├── StoreUnavailableError     store.errors: the store's database
│   ├── LogUnavailableError       serving.inference_log: the inference log cannot take a row
│   └── Overloaded                serving.batcher: the model's queue is full (Retry-After)
└── RuntimeFailure                the model runtime failed to load a model or to run it
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class ConveyorError(Exception):
    """Base of every error Conveyor raises on purpose."""

    exit_code = 1
    http_status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_dict(self) -> dict[str, object]:
        return {"error": self.message, "type": type(self).__name__}


class UserError(ConveyorError):
    """The caller asked for something invalid; nothing was changed."""

    exit_code = 2
    http_status = 400


@dataclass(frozen=True)
class Problem:
    """One located problem: where (``gates.min.accuracy``, a column, a row) and what."""

    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}" if self.where else self.message


class SpecError(UserError):
    """The project file is malformed or invalid; lists every problem with its YAML path."""

    def __init__(self, path: str, problems: Sequence[Problem]) -> None:
        self.path = path
        self.problems = list(problems)
        lines = "\n".join(f"  {p}" for p in self.problems)
        super().__init__(f"{path}: invalid project spec\n{lines}")

    def to_dict(self) -> dict[str, object]:
        return {
            "error": self.message,
            "type": type(self).__name__,
            "file": self.path,
            "problems": [{"where": p.where, "message": p.message} for p in self.problems],
        }


class DataError(UserError):
    """A dataset could not be loaded or does not satisfy the spec or schema."""

    def __init__(self, source: str, problems: Sequence[Problem]) -> None:
        self.source = source
        self.problems = list(problems)
        lines = "\n".join(f"  {p}" for p in self.problems)
        noun = "problem" if len(self.problems) == 1 else "problems"
        super().__init__(f"{source}: {len(self.problems)} data {noun}\n{lines}")

    def to_dict(self) -> dict[str, object]:
        return {
            "error": self.message,
            "type": type(self).__name__,
            "source": self.source,
            "problems": [{"where": p.where, "message": p.message} for p in self.problems],
        }


class NotFoundError(UserError):
    """A registered model, version or alias does not exist."""

    http_status = 404


class Unauthorized(UserError):
    """A guarded endpoint was called without credentials (HTTP 401)."""

    http_status = 401


class Forbidden(UserError):
    """The credentials are wrong, or the endpoint is turned off (HTTP 403)."""

    http_status = 403


class ApprovalRequiredError(UserError):
    """The spec requires approval before production and the version has none."""

    http_status = 409


class GateFailedError(ConveyorError):
    """The candidate failed one or more quality gates (`conveyor run` registers nothing)."""

    exit_code = 3
    http_status = 422

    def __init__(self, failed: Sequence[str], report: dict[str, object] | None = None) -> None:
        self.failed = list(failed)
        self.report = report or {}
        super().__init__("quality gates failed: " + "; ".join(self.failed))


class ServiceUnavailableError(ConveyorError):
    """A service Conveyor depends on (MLflow tracking, the store) cannot be reached."""

    exit_code = 1
    http_status = 503


class RateLimitedError(UserError):
    """More requests of a kind than a configured rate allows; retry after ``retry_after``
    seconds (HTTP 429 with Retry-After)."""

    http_status = 429

    def __init__(self, message: str, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(message)


class ModelInputError(UserError):
    """The model runtime refused values that passed the schema (an index out of a table's
    range, NaN where an estimator allows none): the request, not the server, must change."""

    http_status = 422


class RuntimeFailure(ConveyorError):
    """The model runtime failed to load a model or to run it, for reasons not in the request."""

    exit_code = 1
    http_status = 500
