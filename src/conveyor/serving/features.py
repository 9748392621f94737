"""Requests that carry entity keys instead of features, for a model trained on a feature store.

A row of ``instances`` that lacks any of the model's features gives the entity's join keys
(``{"driver_id": 1001}``); the features come from the Feast online store its bundle names
(``CONVEYOR_FEAST_REPO`` overrides the repository). Decoding splits the rows (``prepare``);
the lookup runs on a worker thread, one at a time per store, the requests that arrive
meanwhile sharing the next (``LookupBatcher``); then the rows are filled (``fill``) and checked
against the schema as any other. Values the row carries win over looked-up ones. A row whose entity the store
does not know gets the spec's ``data.feast.defaults``, or is refused (422, naming the row's
key). The keys are logged beside the features (as ``inputs["entity_keys"]``), so drift and
rollouts judge the values the model really saw.

One ``FeatureLookup`` per server process (built by ``create_app``) keeps one ``OnlineStore``
per repository and, every ``CONVEYOR_FEATURE_AGE_CHECK_SECONDS``, sets each view's age since its
last materialization on ``/metrics`` beside the age it may reach.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from conveyor.errors import ConveyorError, ServiceUnavailableError
from conveyor.serving.columns import columns_from_instances
from conveyor.serving.inputs import PredictInput, Problems, UnseenPolicy

if TYPE_CHECKING:
    from conveyor.bundle.model import Bundle
    from conveyor.data.feast import OnlineFeatures, OnlineStore
    from conveyor.serving.metrics import ServerMetrics
    from conveyor.settings import Settings

log = logging.getLogger(__name__)
KEYS_FIELD = "entity_keys"  # where a logged request keeps its entity keys
_JSON_TYPES = {"int": (int,), "str": (str,)}
_TYPE_NAMES = {"int": "an integer", "str": "a string"}
_ABSENT = object()


@dataclass
class Wanted:
    """A request's rows split by ``FeatureLookup.prepare``: what each row gives (keys taken
    out), the keys as logged columns (``None`` where a row gave none), and the entities to
    look up with the rows they fill."""

    bundle: Bundle
    label: str
    rows: list[Any]
    keys: dict[str, list[Any]]
    rows_wanting: list[int] = field(default_factory=list)
    entities: list[dict[str, Any]] = field(default_factory=list)


class LookupBatcher:
    """One lookup in flight per store: requests arriving meanwhile wait together and share
    the next one. The store's per-call cost (Feast's request handling, a round trip) then
    falls once per batch, not once per request, and the store is never called from two
    threads at once."""

    def __init__(self, store: OnlineStore, metrics: ServerMetrics) -> None:
        self.store = store
        self.metrics = metrics
        self._waiting: list[tuple[str, list[str], list[dict[str, Any]], asyncio.Future[Any]]] = []
        self._task: asyncio.Task[None] | None = None

    async def lookup(
        self, model: str, features: list[str], entities: list[dict[str, Any]]
    ) -> dict[str, list[Any]]:
        future: asyncio.Future[dict[str, list[Any]]] = asyncio.get_running_loop().create_future()
        self._waiting.append((model, features, entities, future))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain())  # held: the loop keeps weak refs
        return await future

    async def _drain(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting, []
            by_features: dict[tuple[str, ...], list[Any]] = {}
            for item in batch:  # versions with other features look up apart
                by_features.setdefault(tuple(item[1]), []).append(item)
            for features, items in by_features.items():
                await self._one(list(features), items)

    async def _one(self, features: list[str], items: list[Any]) -> None:
        entities = [entity for item in items for entity in item[2]]
        started = time.perf_counter()
        try:
            found = await asyncio.to_thread(self.store.lookup, features, entities)
        except Exception as exc:
            for *_, future in items:
                if not future.done():
                    future.set_exception(exc)
            return
        seconds = time.perf_counter() - started
        at = 0
        for model, _, wanted, future in items:
            self.metrics.feature_lookup.labels(model).observe(seconds)
            part = {name: values[at : at + len(wanted)] for name, values in found.items()}
            at += len(wanted)
            if not future.done():  # its request may have gone
                future.set_result(part)


class FeatureLookup:
    def __init__(self, settings: Settings, metrics: ServerMetrics) -> None:
        self.settings = settings
        self.metrics = metrics
        self._stores: dict[Path, OnlineStore] = {}  # for lookups
        self._clocks: dict[Path, OnlineStore] = {}  # for the views' ages
        self._batchers: dict[int, LookupBatcher] = {}  # by id of the store
        self._lock = threading.Lock()
        self._task: asyncio.Task[None] | None = None

    def repo(self, online: OnlineFeatures) -> Path:
        return self.settings.feast_repo or Path(online.repo)

    def store(self, online: OnlineFeatures, ages: bool = False) -> OnlineStore:
        """The repository's online store, opened once (a failure is a clear error, not a
        half-open store). Ages are read through a store of their own: reading them reloads
        its registry, which must not happen under a lookup in flight."""
        from conveyor.data.feast import OnlineStore

        repo = self.repo(online).resolve()
        stores = self._clocks if ages else self._stores
        with self._lock:
            if repo not in stores:
                try:
                    stores[repo] = OnlineStore(repo)
                except ConveyorError as exc:  # Feast absent, the repository moved
                    raise ServiceUnavailableError(
                        f"features by entity key: {exc.message}; set CONVEYOR_FEAST_REPO to "
                        "the Feast repository, or send the features themselves"
                    ) from None
            return stores[repo]

    def prepare(self, bundle: Bundle, instances: list[Any], label: str) -> Wanted:
        """Split each row into what it gives and its entity keys, and list the entities whose
        features must be looked up (rows lacking a feature); bad or missing keys are named."""
        online = bundle.online_features
        assert online is not None
        names = online.names
        problems = Problems()
        wanted = Wanted(bundle, label, rows=[], keys={key: [] for key in online.keys})
        for i, row in enumerate(instances):
            if not isinstance(row, dict):
                wanted.rows.append(row)  # the schema check names it
                for column in wanted.keys.values():
                    column.append(None)
                continue
            given = {k: v for k, v in row.items() if k not in online.keys}
            for key, column in wanted.keys.items():
                column.append(row.get(key))
            wanted.rows.append(given)
            if all(name in given for name in names):
                continue
            entity = self._entity(row, online, f"{label}[{i}]", names, problems)
            if entity is not None:
                wanted.rows_wanting.append(i)
                wanted.entities.append(entity)
        problems.check()
        return wanted

    async def fill(self, wanted: Wanted) -> list[Any]:
        """The rows with their missing features looked up (one lookup shared with the other
        requests waiting at that moment), the row's own values winning; an entity the store
        does not know gets the defaults or is named."""
        if not wanted.entities:
            return wanted.rows
        bundle = wanted.bundle
        online = bundle.online_features
        assert online is not None
        store = self.store(online)
        batcher = self._batchers.get(id(store), None)
        if batcher is None or batcher.store is not store:
            batcher = self._batchers[id(store)] = LookupBatcher(store, self.metrics)
        found = await batcher.lookup(bundle.identity.name, online.features, wanted.entities)
        names = online.names
        problems = Problems()
        unknown = 0
        rows = wanted.rows
        for j, i in enumerate(wanted.rows_wanting):
            values = {name: found[name][j] for name in names}
            if all(value is None for value in values.values()):
                unknown += 1
                entity = wanted.entities[j]
                if online.defaults is None:
                    problems.add(
                        f"{wanted.label}[{i}].{next(iter(entity))}",
                        f"no features in the online store for {_said(entity)}",
                    )
                    continue
                values = dict(online.defaults)
            rows[i] = {**values, **rows[i]}  # what the request gave wins
        if unknown:
            self.metrics.feature_unknown_entities.labels(bundle.identity.name).inc(unknown)
        problems.check()
        return rows

    async def complete(
        self, decoded: PredictInput, policy: UnseenPolicy, max_rows: int
    ) -> PredictInput:
        """A decoded request whose rows wanted features: looked up, filled and checked."""
        wanted = decoded.wanted
        assert wanted is not None
        rows = await self.fill(wanted)
        schema = decoded.model.bundle.schema
        columns, n = columns_from_instances(rows, schema, policy, max_rows, wanted.label)
        return replace(decoded, columns=columns, rows=n, wanted=None)

    @staticmethod
    def _entity(
        row: dict[str, Any],
        online: OnlineFeatures,
        where: str,
        names: list[str],
        problems: Problems,
    ) -> dict[str, Any] | None:
        entity: dict[str, Any] = {}
        for key, kind in online.keys.items():
            value = row.get(key, _ABSENT)
            if value is _ABSENT:
                absent = [n for n in names if n not in row]
                problems.add(
                    f"{where}.{key}",
                    f"missing entity key (or give the features: {', '.join(absent)})",
                )
            elif kind in _JSON_TYPES and (
                type(value) is bool or not isinstance(value, _JSON_TYPES[kind])
            ):
                problems.add(f"{where}.{key}", f"must be {_TYPE_NAMES[kind]}, got {value!r:.40}")
            else:
                entity[key] = value
        return entity if len(entity) == len(online.keys) else None

    # --- freshness -------------------------------------------------------------------------

    async def start(self, served: Callable[[], list[Bundle]]) -> None:
        """Open the stores of the served models (a failure is logged: requests that carry
        their features are still answered), then check the views' ages now and every
        interval; ``served`` lists the bundles being served (production, a candidate)."""
        await asyncio.to_thread(self._open, served())
        self._task = asyncio.create_task(self._watch(served))

    def _open(self, bundles: list[Bundle]) -> None:
        for bundle in bundles:
            online = bundle.online_features
            if online is not None:
                try:  # Feast initializes lazily: the first lookup would take ~100 ms
                    self.store(online).lookup(online.features, [_placeholder(online)])
                except ConveyorError as exc:
                    log.warning("%s: %s", bundle.identity.name, exc.message)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _watch(self, served: Callable[[], list[Bundle]]) -> None:
        while True:
            with contextlib.suppress(Exception):  # logged in check_ages; the next turn retries
                await asyncio.to_thread(self.check_ages, served())
            await asyncio.sleep(self.settings.feature_age_check_seconds)

    def check_ages(self, bundles: list[Bundle]) -> None:
        """Set ``conveyor_feature_age_seconds`` (and the age allowed) for each served model's
        views; a view never materialized is as old as can be (+Inf)."""
        for bundle in bundles:
            online = bundle.online_features
            if online is None:
                continue
            name = bundle.identity.name
            try:
                ages = self.store(online, ages=True).ages(online.views)
            except Exception as exc:
                log.warning("feature ages of %s not read: %s", name, exc)
                continue
            for view, age in ages.items():
                self.metrics.feature_age.labels(name, view).set(
                    float("inf") if age is None else age
                )
                self.metrics.feature_max_age.labels(name, view).set(online.max_age_seconds)


def _placeholder(online: OnlineFeatures) -> dict[str, Any]:
    """An entity row of the keys' types (its values need not exist)."""
    return {key: "" if kind == "str" else 0 for key, kind in online.keys.items()}


def _said(entity: dict[str, Any]) -> str:
    return ", ".join(f"{key}={value!r}" for key, value in entity.items())
