"""Features from a Feast feature store (``data.feast``): the labelled entity rows of
``data.source`` (entity keys, the event time, the target) joined, point in time correct, with
the features named ``feature_view:feature`` through the store's ``get_historical_features`` —
each row gets the values as they were at its event time, never a later one. What was joined is
recorded as lineage: the repository, the feature references, and each feature view with a
digest of its definition (a changed view is a different version of the features).

Feast is an optional extra (``pip install 'conveyor-mlops[feast]'``); its errors become
``DataError`` here and nowhere else.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from conveyor.display import clip
from conveyor.errors import DataError, Problem, UserError

if TYPE_CHECKING:
    import pandas as pd

    from conveyor.spec.models import FeastSpec

TAG_REPO = "conveyor.feast.repo"
TAG_FEATURES = "conveyor.feast.features"
TAG_VIEWS = "conveyor.feast.views"
_ROW = "__conveyor_row"


def open_store(spec: FeastSpec, base_dir: Path) -> Any:
    """The Feast ``FeatureStore`` of ``data.feast.repo``."""
    try:
        from feast import FeatureStore
    except ImportError:
        raise UserError("data.feast needs Feast: pip install 'conveyor-mlops[feast]'") from None
    repo = (base_dir / spec.repo).resolve()
    if not (repo / "feature_store.yaml").is_file():
        raise DataError(
            "data.feast.repo", [Problem("data.feast.repo", f"no feature_store.yaml in {repo}")]
        )
    try:
        return FeatureStore(repo_path=str(repo))
    except Exception as exc:  # Feast's configuration errors are many
        raise DataError(str(repo), [Problem("data.feast.repo", _said(exc))]) from None


def join_features(
    spec: FeastSpec, rows: pd.DataFrame, base_dir: Path, where: str
) -> tuple[pd.DataFrame, list[str], dict[str, str]]:
    """``rows`` with the features joined (in their order, rows kept in theirs), the feature
    names, and the lineage tags. A row the store has no value for at its event time (its
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
    return joined, names, lineage


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


def _said(exc: Exception) -> str:
    return clip(" ".join(str(exc).split()) or type(exc).__name__, 300)
