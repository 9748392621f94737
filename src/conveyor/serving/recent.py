"""The request ids a server process answered lately, so feedback can tell a real prediction
from an invented one before the prediction's log row reaches the store."""

from __future__ import annotations

import collections


class RecentPredictions:
    """A bounded first-in-first-out map of request id → rows predicted.

    ``add`` runs on the event loop for every logged answer (a dict insert, and an O(1) pop of
    the oldest id once full); feedback threads read it with ``rows``. Each is one C-level
    dict operation, atomic under the GIL, so no lock is needed. About 170 bytes an id.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._rows: collections.OrderedDict[str, int] = collections.OrderedDict()

    def add(self, request_id: str, rows: int) -> None:
        """Remember an answer of ``rows`` rows (a reused id keeps its largest answer)."""
        if self.capacity <= 0:
            return
        seen = self._rows.get(request_id)
        if seen is None:
            self._rows[request_id] = rows
            if len(self._rows) > self.capacity:
                self._rows.popitem(last=False)
        elif rows > seen:
            self._rows[request_id] = rows

    def rows(self, request_id: str) -> int | None:
        """Rows answered under ``request_id``, or None when it is not (or no longer) known."""
        return self._rows.get(request_id)

    def __len__(self) -> int:
        return len(self._rows)
