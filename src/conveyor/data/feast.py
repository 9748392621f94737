"""Features from a Feast feature store (``data.feast``).

Training: the labelled entity rows of ``data.source`` (entity keys, the event time, the target)
joined, point in time correct, with the features named ``feature_view:feature`` through the
store's ``get_historical_features`` — each row gets the values as they were at its event time,
never a later one. What was joined is recorded as lineage: the repository, the feature
references, and each feature view with a digest of its definition (a changed view is a
different version of the features); the version's bundle keeps ``OnlineFeatures``, what serving
needs to look the features up by entity key.

Serving: ``OnlineStore`` reads the features of entity keys from the online store
(``get_online_features``), says how long ago each view was last materialized, and
materializes (``conveyor feast materialize``).

Feast is an optional extra (``pip install 'conveyor-mlops[feast]'``); its errors become
``DataError`` here and nowhere else.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from conveyor.display import clip
from conveyor.errors import DataError, Problem, ServiceUnavailableError, UserError

if TYPE_CHECKING:
    import pandas as pd

    from conveyor.spec.models import FeastSpec

TAG_REPO = "conveyor.feast.repo"
TAG_FEATURES = "conveyor.feast.features"
TAG_VIEWS = "conveyor.feast.views"
_ROW = "__conveyor_row"
# Feast value types of join keys -> the JSON type a request gives them in
_KEY_TYPES = {"INT32": "int", "INT64": "int", "STRING": "str"}


@dataclass(frozen=True)
class OnlineFeatures:
    """Where a model trained on a feature store (``data.feast``) finds its features when a
    request carries only entity keys: the Feast repository it was trained with, the feature
    references (its features, in order), each join key with the JSON type it takes (``int`` or
    ``str``), the values for an entity the store does not know (none: such a row is refused),
    and how old the online store may be before it is stale."""

    repo: str
    features: list[str]
    keys: dict[str, str]
    defaults: dict[str, float | str] | None = None
    max_age_seconds: float = 86_400.0

    @property
    def names(self) -> list[str]:
        return [ref.partition(":")[2] for ref in self.features]

    @property
    def views(self) -> list[str]:
        return list(dict.fromkeys(ref.partition(":")[0] for ref in self.features))


@dataclass(frozen=True)
class Joined:
    """Labelled rows with their features joined: the frame, the feature names, the lineage
    tags, and where serving looks the same features up."""

    frame: pd.DataFrame
    names: list[str]
    lineage: dict[str, str]
    online: OnlineFeatures


def open_store(spec: FeastSpec, base_dir: Path) -> Any:
    """The Feast ``FeatureStore`` of ``data.feast.repo``."""
    return _store((base_dir / spec.repo).resolve(), "data.feast.repo")


def _store(repo: Path, where: str) -> Any:
    try:
        from feast import FeatureStore
    except ImportError:
        raise UserError(
            f"{where}: features from Feast need Feast: pip install 'conveyor-mlops[feast]'"
        ) from None
    if not (repo / "feature_store.yaml").is_file():
        raise DataError(where, [Problem(where, f"no feature_store.yaml in {repo}")])
    try:
        return FeatureStore(repo_path=str(repo))
    except Exception as exc:  # Feast's configuration errors are many
        raise DataError(str(repo), [Problem(where, _said(exc))]) from None


def join_features(spec: FeastSpec, rows: pd.DataFrame, base_dir: Path, where: str) -> Joined:
    """``rows`` with the features joined (in their order, rows kept in theirs), the feature
    names, the lineage tags and the online reference. A row the store has no value for at its event time (its
    entity unknown then, or every value older than the view's TTL) keeps its place with the
    features missing: Feast's file store leaves such rows out, which would shrink the
    training set without a word."""
    import pandas as pd

    if spec.timestamp not in rows.columns:
        raise DataError(
            where,
            [Problem("data.feast.timestamp", f"no column {spec.timestamp!r} in the rows")],
        )
    store = open_store(spec, base_dir)
    entity_rows = rows.assign(**{_ROW: range(len(rows))})
    try:
        entity_rows[spec.timestamp] = pd.to_datetime(entity_rows[spec.timestamp], utc=True)
    except (ValueError, TypeError) as exc:
        raise DataError(where, [Problem("data.feast.timestamp", _said(exc))]) from None
    try:
        joined = store.get_historical_features(
            entity_df=entity_rows, features=list(spec.features)
        ).to_df()
    except Exception as exc:  # an unknown view or feature, an entity key missing from the rows
        raise DataError(where, [Problem("data.feast.features", _said(exc))]) from None
    names = [ref.partition(":")[2] for ref in spec.features]
    absent = [n for n in names if n not in joined.columns]
    if absent:
        raise DataError(where, [Problem("data.feast.features", f"not returned: {absent}")])
    joined = (
        rows.assign(**{_ROW: range(len(rows))})
        .merge(joined[[_ROW, *names]], on=_ROW, how="left")
        .drop(columns=_ROW)
    )
    lineage = {
        TAG_REPO: spec.repo,
        TAG_FEATURES: ",".join(spec.features),
        TAG_VIEWS: ",".join(view_versions(store, spec)),
    }
    online = OnlineFeatures(
        repo=str((base_dir / spec.repo).resolve()),
        features=list(spec.features),
        keys=join_keys(store, spec.features),
        defaults=spec.defaults,
        max_age_seconds=spec.max_age_seconds,
    )
    return Joined(joined, names, lineage, online)


def join_keys(store: Any, features: Sequence[str]) -> dict[str, str]:
    """Each join key of the views ``features`` come from, with the JSON type a request gives
    it in (``int``, ``str``, or ``any`` for a type Feast converts itself)."""
    keys: dict[str, str] = {}
    for view in dict.fromkeys(ref.partition(":")[0] for ref in features):
        try:
            columns = store.get_feature_view(view).entity_columns
        except Exception as exc:
            raise DataError(
                "data.feast.features", [Problem("data.feast.features", _said(exc))]
            ) from None
        for column in columns:
            kind = str(column.dtype.to_value_type().name)
            keys.setdefault(column.name, _KEY_TYPES.get(kind, "any"))
    return keys


def view_versions(store: Any, spec: FeastSpec) -> list[str]:
    """``view@digest`` for each feature view used: the digest of its registered definition."""
    views = dict.fromkeys(ref.partition(":")[0] for ref in spec.features)
    found = []
    for view in views:
        try:
            definition = store.get_feature_view(view).to_proto().spec.SerializeToString()
        except Exception as exc:
            raise DataError(
                "data.feast.features", [Problem("data.feast.features", _said(exc))]
            ) from None
        found.append(f"{view}@{hashlib.sha256(definition).hexdigest()[:12]}")
    return found


class OnlineStore:
    """A Feast repository's online store, as a server or `conveyor feast materialize` uses it.
    Feast's errors become Conveyor's here: a store that cannot answer is a 503 naming it."""

    def __init__(self, repo: Path, where: str = "CONVEYOR_FEAST_REPO") -> None:
        self.repo = repo
        self.store = _store(repo, where)

    def lookup(
        self, features: Sequence[str], entity_rows: list[dict[str, Any]]
    ) -> dict[str, list[Any]]:
        """The values of ``features`` (by feature name) for each entity row, ``None`` where the
        store has none."""
        try:
            found = self.store.get_online_features(
                features=list(features), entity_rows=entity_rows
            ).to_dict()
        except Exception as exc:  # the store unreachable, a key Feast cannot read
            raise ServiceUnavailableError(
                f"the Feast online store of {self.repo} did not answer: {_said(exc)}"
            ) from None
        return {name: found[name] for name in (ref.partition(":")[2] for ref in features)}

    def ages(self, views: Sequence[str], now: datetime | None = None) -> dict[str, float | None]:
        """Seconds since each view's last materialization ended (``None``: never
        materialized), read from the registry afresh."""
        now = now or datetime.now(UTC)
        try:
            self.store.refresh_registry()
            ends = {v: _last_end(self.store.get_feature_view(v)) for v in views}
        except Exception as exc:
            raise ServiceUnavailableError(
                f"the Feast registry of {self.repo} did not answer: {_said(exc)}"
            ) from None
        return {v: None if end is None else (now - end).total_seconds() for v, end in ends.items()}

    def materialize(
        self, views: Sequence[str], end: datetime, start: datetime | None = None
    ) -> None:
        """Copy the latest values up to ``end`` into the online store: from ``start``, else
        from where each view's last materialization ended (a view never materialized starts
        from the beginning of its data, not from its TTL ago as Feast's incremental would)."""
        try:
            for view in views:
                since = start or _last_end(self.store.get_feature_view(view))
                self.store.materialize(
                    start_date=since or datetime(1970, 1, 1, tzinfo=UTC),
                    end_date=end,
                    feature_views=[view],
                )
        except Exception as exc:
            raise DataError(str(self.repo), [Problem("materialize", _said(exc))]) from None


def _last_end(view: Any) -> datetime | None:
    intervals = getattr(view, "materialization_intervals", None) or []
    ends = [end if end.tzinfo else end.replace(tzinfo=UTC) for _, end in intervals]
    return max(ends, default=None)


def _said(exc: Exception) -> str:
    return clip(" ".join(str(exc).split()) or type(exc).__name__, 300)
