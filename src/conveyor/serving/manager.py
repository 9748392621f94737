"""Loaded models and hot reload: a new version loads in the background and swaps atomically.

Requests hold a reference to the ``LoadedModel`` they started with, so a swap never fails a
request in flight: a model taken out of service (``retire``) stops only once the requests that
could hold it have finished (``InFlight``), and its batcher drains its queue before it stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from conveyor.bundle.model import Bundle, ModelIdentity, read_bundle
from conveyor.bundle.runtime import Runtime
from conveyor.bundle.sources import ModelSource
from conveyor.errors import NotFoundError, ServiceUnavailableError
from conveyor.serving.batcher import MicroBatcher
from conveyor.serving.inflight import InFlight
from conveyor.serving.metrics import ServerMetrics
from conveyor.serving.remote import open_served
from conveyor.settings import Settings

if TYPE_CHECKING:
    from conveyor.monitoring.watch import Watcher

log = logging.getLogger(__name__)


@dataclass
class LoadedModel:
    bundle: Bundle
    runtime: Runtime
    batcher: MicroBatcher
    load_seconds: float

    @property
    def identity(self) -> ModelIdentity:
        return self.bundle.identity


class ManagerState(StrEnum):
    """Where the model manager is: nothing loaded yet, loading, serving, stopped."""

    NEW = "new"
    LOADING = "loading"
    READY = "ready"
    STOPPED = "stopped"


class ModelManager:
    def __init__(
        self,
        source: ModelSource,
        settings: Settings,
        metrics: ServerMetrics,
        watcher: Watcher | None = None,
    ) -> None:
        self.source = source
        self.settings = settings
        self.metrics = metrics
        self.watcher = watcher  # sees what each model call saw and predicted
        self.state = ManagerState.NEW
        self._current: LoadedModel | None = None
        self._refresh_task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self.swaps = 0
        self.side: LoadedModel | None = None  # a rollout's candidate, loaded beside
        self.inflight = InFlight()  # prediction requests that may hold a model they took
        # what the last alias refresh found: the registry's reachability, for /health?verbose
        self.refreshed: dict[str, object] = {"reachable": None, "checked_at": None}

    @property
    def ready(self) -> bool:
        return self.state is ManagerState.READY and self._current is not None

    def current(self) -> LoadedModel:
        if self._current is None:
            raise ServiceUnavailableError("no model is loaded yet")
        return self._current

    def get(self, version: str | None) -> LoadedModel:
        """The loaded model, or the pinned ``version`` if it is loaded (a rollout's candidate
        is, beside production)."""
        model = self.current()
        side = self.side
        if str(version) == "latest":  # the newest version loaded (a candidate, when one is)
            both = [model] if side is None else [model, side]
            return max(both, key=lambda m: _version_order(m.identity.version))
        if version is None or str(version) == model.identity.version:
            return model
        if side is not None and str(version) == side.identity.version:
            return side
        loaded = model.identity.version + (f", {side.identity.version}" if side else "")
        raise NotFoundError(
            f"version {version} of {model.identity.name!r} is not loaded (loaded: {loaded})"
        )

    @property
    def can_load_versions(self) -> bool:
        """Whether the source knows versions besides the one it serves (a registry does)."""
        return self.source.versioned

    async def load_version(self, version: str) -> LoadedModel:
        """Load another version beside the served one (a rollout's candidate), unpublished."""
        import dataclasses

        identity = await asyncio.to_thread(self.source.version, version)
        return await self._load(dataclasses.replace(identity, stage="candidate"))

    async def start(self) -> None:
        self.state = ManagerState.LOADING
        identity = await asyncio.to_thread(self.source.current)
        self._current = await self._load(identity)
        self._publish(self._current)
        _freeze_heap(collect=True)
        self.state = ManagerState.READY
        if self.settings.refresh_seconds > 0:
            self._refresh_task = asyncio.create_task(self._refresh_loop(), name="conveyor-refresh")

    async def stop(self) -> None:
        self.state = ManagerState.STOPPED
        if self._refresh_task is not None:
            self._refresh_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresh_task
        if self._current is not None:
            await self._current.batcher.stop()

    async def reload(self) -> tuple[bool, ModelIdentity]:
        """Load the version the source names now, if it differs; return (swapped, identity)."""
        async with self._lock:
            identity = await asyncio.to_thread(self.source.current)
            old = self.current()
            if identity.version == old.identity.version and identity.name == old.identity.name:
                return False, old.identity
            self._swap(await self._load(identity), old)
        await self.retire(old)
        _freeze_heap(collect=False)
        return True, identity

    async def adopt(self, model: LoadedModel) -> bool:
        """Serve ``model`` (a rollout's candidate that won, already loaded and answering) as
        the current version: the hand-over happens here, not through the alias refresh, so no
        request goes back to the old version in between. False when it is already current, or
        when this server is pinned to its version (the pin, not the rollout, says what runs)."""
        import dataclasses

        if self.source.pinned is not None:
            return False
        async with self._lock:
            old = self.current()
            if model.identity.version == old.identity.version:
                return False
            identity = dataclasses.replace(model.identity, stage=old.identity.stage)
            model.bundle = dataclasses.replace(model.bundle, identity=identity)
            self._swap(model, old, ": its rollout succeeded")
        await self.retire(old)
        return True

    async def retire(self, model: LoadedModel) -> None:
        """Stop ``model``, no longer reachable by new requests, once the requests that may
        have taken it before have finished (within ``retire_grace_seconds``)."""
        await self.inflight.grace(self.settings.retire_grace_seconds)
        await model.batcher.stop()

    async def _load(self, identity: ModelIdentity) -> LoadedModel:
        start = time.perf_counter()

        def build() -> tuple[Bundle, Runtime]:
            path = self.source.fetch(identity)
            bundle = read_bundle(path, identity)
            runtime = open_served(bundle, self.settings.ort_threads, self.settings.backend)
            warm_up(bundle, runtime)
            return bundle, runtime

        bundle, runtime = await asyncio.to_thread(build)
        name = bundle.identity.name
        batcher = MicroBatcher(
            runtime,
            max_rows=self.settings.max_batch_rows,
            max_wait_s=self.settings.max_batch_wait_ms / 1000,
            max_queue=self.settings.max_queue,
            on_batch=self.metrics.batch_rows.labels(name).observe,
            observe=None if self.watcher is None else self.watcher.rows_observer(bundle),
        )
        await batcher.start()
        return LoadedModel(bundle, runtime, batcher, time.perf_counter() - start)

    def _swap(self, new: LoadedModel, old: LoadedModel, why: str = "") -> None:
        """Serve ``new`` instead of ``old`` (under the lock; the caller stops ``old``)."""
        self._current = new  # the swap: one reference assignment
        self.swaps += 1
        self._publish(new, previous=old)
        ident = new.identity
        log.info(
            "serving %s version %s (was %s)%s", ident.name, ident.version, old.identity.version, why
        )

    def _publish(self, model: LoadedModel, previous: LoadedModel | None = None) -> None:
        ident = model.identity
        if previous is not None:
            p = previous.identity
            self.metrics.model_info.labels(
                p.name, p.version, p.stage, p.semver, previous.runtime.name
            ).set(0)
        self.metrics.model_info.labels(
            ident.name, ident.version, ident.stage, ident.semver, model.runtime.name
        ).set(1)
        self.metrics.load_seconds.labels(ident.name, ident.version).set(model.load_seconds)

    async def _refresh_loop(self) -> None:
        from datetime import UTC, datetime

        while True:
            await asyncio.sleep(self.settings.refresh_seconds)
            checked_at = datetime.now(UTC).isoformat(timespec="seconds")
            try:
                await self.reload()
            except Exception as exc:  # keep serving the current version
                # one line per outage (and per change of error), not one per refresh
                if self.refreshed.get("error") != str(exc):
                    log.warning("model refresh failed, serving what is loaded: %s", exc)
                self.refreshed = {"reachable": False, "checked_at": checked_at, "error": str(exc)}
            else:
                if self.refreshed.get("reachable") is False:
                    log.warning("model refresh works again: the registry answers")
                self.refreshed = {"reachable": True, "checked_at": checked_at}


def _version_order(version: str) -> tuple[int, int | str]:
    """Registry versions are integers; anything else (a local directory) sorts first."""
    return (1, int(version)) if version.isdigit() else (0, version)


def warm_up(bundle: Bundle, runtime: Runtime) -> None:
    """A few predictions on a typical row before the version takes traffic: a fresh session's
    first calls are slow, and a rollout would judge the candidate by them."""
    from conveyor.data.schema import Kind
    from conveyor.serving.columns import columns_from_instances
    from conveyor.serving.inputs import UnseenPolicy

    features = bundle.profile.get("features", {})
    row: dict[str, object] = {}
    for column in bundle.schema.features:
        entry = features.get(column.name, {})
        if column.kind is Kind.NUMERIC:
            row[column.name] = float(entry.get("mean", 0.0))
        elif column.kind is Kind.BOOLEAN:
            row[column.name] = True
        else:
            counts: dict[str, int] = entry.get("category_counts") or {"": 0}
            row[column.name] = max(counts, key=lambda c: counts[c])
    try:
        for rows in (1, 1, 1, 8, 32):
            columns, n = columns_from_instances([row] * rows, bundle.schema, UnseenPolicy.ALLOW)
            runtime.predict(columns, n)
    except Exception:  # a model that cannot predict a typical row fails on requests, not here
        log.warning(
            "warm-up of %s version %s failed",
            bundle.identity.name,
            bundle.identity.version,
            exc_info=True,
        )


def _freeze_heap(collect: bool) -> None:
    """Move everything loaded so far out of the garbage collector's view.

    A server holds a few hundred thousand long-lived objects (mlflow, sklearn, the model);
    scanning them in every full collection stalled requests for 100+ ms. They never die, so
    freezing them keeps collections to the request objects.
    """
    import gc

    if collect:
        gc.collect()
    gc.freeze()
