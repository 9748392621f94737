"""The server's live monitor: per-minute counts of what each model version saw, in the store.

Requests call ``observe`` (an append to a deque: no numpy, no lock). ``flush``, called by the
server's watcher thread every few seconds, folds what arrived into per-minute *buckets* — a
``WindowCounts`` over the version's reference profile, requests, 4xx and 5xx responses and a
latency histogram — with one vectorised update per feature per fold, and upserts this
process's buckets into ``monitor_buckets``. A window of any length is then the merge of a few
small rows from every worker and replica (``load_window``), never a rescan of the inference
log.
"""

from __future__ import annotations

import collections
import os
import secrets
import socket
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from conveyor.store.errors import store_errors
from conveyor.store.tables import monitor_buckets

if TYPE_CHECKING:
    from conveyor.monitoring.window import WindowCounts
    from conveyor.store.engine import Store

# upper bounds (ms) of the latency histogram; one more bucket holds everything slower
LATENCY_BOUNDS_MS = (1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0)


@dataclass
class Bucket:
    """What one version saw in one minute (in one process, or merged)."""

    window: WindowCounts
    requests: int = 0
    client_errors: int = 0
    server_errors: int = 0
    latency: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BOUNDS_MS) + 1))

    @classmethod
    def empty(cls, profile: Mapping[str, Any]) -> Bucket:
        from conveyor.monitoring.window import WindowCounts

        return cls(WindowCounts.from_profile(profile))

    def merge(self, other: Bucket) -> None:
        self.window.merge(other.window)
        self.requests += other.requests
        self.client_errors += other.client_errors
        self.server_errors += other.server_errors
        self.latency = [a + b for a, b in zip(self.latency, other.latency, strict=True)]

    def latency_quantile(self, q: float) -> float | None:
        """The q-quantile in ms, interpolated within its histogram bucket (the open last
        bucket reports its lower bound)."""
        total = sum(self.latency)
        if total == 0:
            return None
        rank = q * total
        lower_bounds = (0.0, *LATENCY_BOUNDS_MS)
        seen = 0
        for i, count in enumerate(self.latency):
            if count and seen + count >= rank:
                if i == len(LATENCY_BOUNDS_MS):
                    return LATENCY_BOUNDS_MS[-1]
                low, high = lower_bounds[i], LATENCY_BOUNDS_MS[i]
                return low + (high - low) * (rank - seen) / count
            seen += count
        return LATENCY_BOUNDS_MS[-1]

    def to_state(self) -> dict[str, Any]:
        features: dict[str, Any] = {}
        for name, counter in self.window.features.items():
            features[name] = _counter_state(counter)
        prediction = self.window.prediction
        return {
            "rows": self.window.rows,
            "features": features,
            "prediction": _counter_state(prediction) if prediction is not None else None,
            "requests": self.requests,
            "client_errors": self.client_errors,
            "server_errors": self.server_errors,
            "latency": self.latency,
        }

    @classmethod
    def from_state(cls, profile: Mapping[str, Any], state: Mapping[str, Any]) -> Bucket:
        bucket = cls.empty(profile)
        window = bucket.window
        for name, counter in window.features.items():
            if name in state["features"]:
                _load_counter(counter, state["features"][name])
        if window.prediction is not None and state.get("prediction"):
            _load_counter(window.prediction, state["prediction"])
        window.rows = int(state["rows"])
        bucket.requests = int(state["requests"])
        bucket.client_errors = int(state["client_errors"])
        bucket.server_errors = int(state["server_errors"])
        bucket.latency = [int(v) for v in state["latency"]]
        return bucket


def _counter_state(counter: Any) -> dict[str, Any]:
    state = {
        "counts": counter.counts.tolist(),
        "rows": counter.rows,
        "missing": counter.missing,
    }
    if hasattr(counter, "unseen"):
        state["unseen"] = counter.unseen
    else:
        state["below_excess"] = counter.below_excess
        state["above_excess"] = counter.above_excess
    return state


def _load_counter(counter: Any, state: Mapping[str, Any]) -> None:
    import numpy as np

    counts = np.asarray(state["counts"], dtype=np.int64)
    if counts.shape != counter.counts.shape:
        raise ValueError("stored counts do not fit this profile")
    counter.counts = counts
    counter.rows = int(state["rows"])
    counter.missing = int(state["missing"])
    if hasattr(counter, "unseen"):
        counter.unseen = int(state.get("unseen", 0))
    else:
        counter.below_excess = float(state.get("below_excess", 0.0))
        counter.above_excess = float(state.get("above_excess", 0.0))


Key = tuple[str, str, int]  # model, version, minute since the epoch


class LiveMonitor:
    """One per server process: observes traffic, keeps this minute's buckets, persists them
    when ``flush`` is called (by the server's watcher thread).

    Two streams, both plain tuple appends: ``observe_rows`` once per model call (the
    micro-batcher's merged batch: what the model saw and predicted) and ``observe_request``
    once per request (latency and status, also for requests that failed before the model
    ran). Batches keep the fold cheap: under load one entry covers many requests."""

    def __init__(self, store: Store, capacity: int = 200_000, dropped: Any = None) -> None:
        self.store = store
        self.capacity = capacity
        self.process = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self._rows: collections.deque[tuple[Key, Mapping[str, Any], Mapping[str, Any], Any]] = (
            collections.deque()
        )
        self._requests: collections.deque[tuple[Key, Mapping[str, Any], float, int]] = (
            collections.deque()
        )
        self._buckets: dict[Key, Bucket] = {}
        self._dropped = dropped  # a Prometheus counter, if any
        self.dropped = 0

    # ---------------------------------------------------------------- request path
    def observe_rows(
        self,
        model: str,
        version: str,
        profile: Mapping[str, Any],
        columns: Mapping[str, Any],
        predictions: Any,
    ) -> None:
        """What the model saw and predicted in one call (one array per feature)."""
        if len(self._rows) >= self.capacity:
            self._drop()
            return
        self._rows.append(((model, version, int(time.time() // 60)), profile, columns, predictions))

    def observe_request(
        self, model: str, version: str, profile: Mapping[str, Any], latency_ms: float, status: int
    ) -> None:
        """One request's latency and status."""
        if len(self._requests) >= self.capacity:
            self._drop()
            return
        self._requests.append(
            ((model, version, int(time.time() // 60)), profile, latency_ms, status)
        )

    def observe(
        self,
        model: str,
        version: str,
        profile: Mapping[str, Any],
        columns: Mapping[str, Any] | None,
        predictions: Any,
        latency_ms: float,
        status: int,
    ) -> None:
        """Both at once, for one request (``columns`` None: it failed before the model ran)."""
        if columns is not None:
            self.observe_rows(model, version, profile, columns, predictions)
        self.observe_request(model, version, profile, latency_ms, status)

    def _drop(self) -> None:
        self.dropped += 1
        if self._dropped is not None:
            self._dropped.inc()

    # ---------------------------------------------------------------- background
    def flush(self) -> None:
        """Fold what was observed into buckets, write them, forget finished minutes."""
        touched = self.fold()
        if not touched:
            return
        now_minute = int(time.time() // 60)
        rows = [
            {
                "model": model,
                "version": version,
                "minute": datetime.fromtimestamp(minute * 60, UTC),
                "process": self.process,
                "counts": self._buckets[(model, version, minute)].to_state(),
            }
            for model, version, minute in sorted(touched)
        ]
        with store_errors("write live monitor counts"), self.store.engine.begin() as conn:
            conn.execute(_upsert(conn.dialect.name), rows)
        for key in [k for k in self._buckets if k[2] < now_minute]:
            del self._buckets[key]

    def fold(self) -> set[Key]:
        """Observations → buckets: one concatenation and one window update per feature and
        bucket, one histogram update per bucket."""
        import numpy as np

        rows: dict[Key, list[tuple[Mapping[str, Any], Any]]] = {}
        requests: dict[Key, list[tuple[float, int]]] = {}
        profiles: dict[Key, Mapping[str, Any]] = {}
        while self._rows:
            key, profile, columns, predictions = self._rows.popleft()
            rows.setdefault(key, []).append((columns, predictions))
            profiles[key] = profile
        while self._requests:
            key, profile, latency, status = self._requests.popleft()
            requests.setdefault(key, []).append((latency, status))
            profiles[key] = profile
        for key, profile in profiles.items():
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = Bucket.empty(profile)
            batches = rows.get(key)
            if batches:
                names = [n for n in bucket.window.features if all(n in c for c, _ in batches)]
                columns = {n: np.concatenate([c[n] for c, _ in batches], axis=None) for n in names}
                predictions = np.concatenate([p for _, p in batches], axis=None)
                bucket.window.update(columns, predictions)
            seen = requests.get(key)
            if seen:
                latencies = np.fromiter((lat for lat, _ in seen), float, len(seen))
                codes = np.fromiter((code for _, code in seen), np.int32, len(seen))
                at = np.searchsorted(np.asarray(LATENCY_BOUNDS_MS), latencies, side="left")
                histogram = np.bincount(at, minlength=len(bucket.latency))
                bucket.latency = [
                    a + int(b) for a, b in zip(bucket.latency, histogram, strict=True)
                ]
                bucket.requests += len(seen)
                bucket.client_errors += int(((codes >= 400) & (codes < 500)).sum())
                bucket.server_errors += int((codes >= 500).sum())
        return set(profiles)


def _upsert(dialect: str) -> Any:
    from sqlalchemy.dialects import postgresql, sqlite

    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(monitor_buckets)
    return stmt.on_conflict_do_update(
        index_elements=["model", "version", "minute", "process"],
        set_={"counts": stmt.excluded.counts},
    )


def load_window(
    store: Store,
    model: str,
    version: str,
    profile: Mapping[str, Any],
    minutes: float,
    now: datetime | None = None,
) -> tuple[Bucket, int]:
    """The merged buckets of the last ``minutes`` (every process); and how many rows merged."""
    now = now or datetime.now(UTC)
    since = (now - timedelta(minutes=minutes)).replace(second=0, microsecond=0)
    merged = Bucket.empty(profile)
    count = 0
    for _, state in bucket_rows(store, model, version, since):
        if merge_state(merged, profile, state):
            count += 1
    return merged, count


def load_recent(
    store: Store, model: str, version: str, profile: Mapping[str, Any], rows: int
) -> tuple[Bucket, datetime | None]:
    """The newest whole minutes holding at least ``rows`` rows (all there are, if fewer);
    and the first minute merged."""
    merged = Bucket.empty(profile)
    first = None
    for minute, state in bucket_rows(store, model, version, None, newest_first=True):
        if merged.window.rows >= rows and minute != first:
            break
        if merge_state(merged, profile, state):
            first = minute
    if first is not None and first.tzinfo is None:
        first = first.replace(tzinfo=UTC)
    return merged, first


def bucket_rows(
    store: Store, model: str, version: str, since: datetime | None, newest_first: bool = False
) -> Iterator[tuple[datetime, Any]]:
    c = monitor_buckets.c
    query = sa.select(c.minute, c.counts).where((c.model == model) & (c.version == version))
    if since is not None:
        query = query.where(c.minute >= since)
    query = query.order_by(c.minute.desc() if newest_first else c.minute)
    with store_errors(f"read live monitor counts of {model!r}"), store.engine.connect() as conn:
        yield from conn.execute(query)


def merge_state(into: Bucket, profile: Mapping[str, Any], state: Any) -> bool:
    try:
        into.merge(Bucket.from_state(profile, state))
    except (ValueError, KeyError, TypeError):  # written over another profile
        return False
    return True
