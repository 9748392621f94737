"""The one place where the store's database errors become Conveyor errors.

ServiceUnavailableError
└── StoreUnavailableError   the store cannot be reached or used right now (HTTP 503 with
                            Retry-After, CLI exit 1); retrying later may succeed

Every module that touches the store outside a transaction it was handed wraps the access in
``store_errors(what)``. Connection and operational failures (refused, reset, timed out, a
locked, read-only, missing or corrupt SQLite file, an exhausted pool) become
``StoreUnavailableError``, so "the store is down" can never read as "no such row" or as a
500. Errors that carry meaning for the caller pass through unchanged: ``IntegrityError``
(a unique key lost a race, which callers catch and decide on) and programming errors (bugs,
reported as such).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from conveyor.errors import ServiceUnavailableError

RETRY_AFTER_S = 5  # a pre-pinged pool reconnects on the next use; a few seconds is enough


class StoreUnavailableError(ServiceUnavailableError):
    """The Conveyor store could not be reached or used; nothing was changed by the failed
    transaction (or, failing at commit, its outcome is unknown). Retry after
    ``retry_after`` seconds."""

    retry_after = RETRY_AFTER_S

    def __init__(self, what: str, detail: str) -> None:
        self.what = what
        self.detail = detail
        super().__init__(f"{what}: the store is unreachable ({detail})")


@contextlib.contextmanager
def store_errors(what: str) -> Iterator[None]:
    """Database failures inside the block become ``StoreUnavailableError`` naming ``what``.

    An interrupted transaction did not commit (or, failing at commit, its outcome is
    unknown): writers that must not apply twice make their writes idempotent (upserts,
    compare-and-set revisions), so retrying either case is safe.
    """
    import sqlalchemy as sa

    try:
        yield
    except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
        raise StoreUnavailableError(what, _detail(exc)) from None
    except sa.exc.DatabaseError as exc:
        # the bare class (a file that is not a database); its meaningful subclasses
        # (IntegrityError, ProgrammingError, DataError, ...) are left to the caller
        if type(exc) is not sa.exc.DatabaseError:
            raise
        raise StoreUnavailableError(what, _detail(exc)) from None
    except (sa.exc.TimeoutError, sa.exc.DisconnectionError) as exc:  # pool timeout, lost link
        raise StoreUnavailableError(what, _detail(exc)) from None


def _detail(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
