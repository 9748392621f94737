"""Load a dataset named by the spec: a CSV or Parquet file, a DVC-tracked file
(``dvc://path[@rev]``), or a dataset bundled with scikit-learn."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from conveyor.display import clip, shown
from conveyor.errors import DataError, Problem

if TYPE_CHECKING:
    import pandas as pd

BUILTIN_DATASETS = ("breast_cancer", "diabetes", "iris", "wine")


def resolve_source(source: str, base_dir: Path) -> str:
    """A readable name for the source: built-ins as given, files as absolute paths."""
    if source.startswith(("sklearn:", "dvc://")):
        return source
    path = Path(source)
    return str(path if path.is_absolute() else (base_dir / path).resolve())


def load_dataset(source: str, base_dir: Path) -> pd.DataFrame:
    """Return the whole dataset as a DataFrame; raise ``DataError`` naming the source."""
    if source.startswith("sklearn:"):
        return _load_builtin(source.removeprefix("sklearn:"))
    if source.startswith("dvc://"):
        from conveyor.data.versioned import load_versioned

        return load_versioned(source, base_dir)[0]
    path = Path(resolve_source(source, base_dir))
    if not path.exists():
        raise DataError(str(path), [Problem("data.source", "file not found")])
    return _load_file(path)


def _load_builtin(name: str) -> pd.DataFrame:
    from sklearn import datasets

    loader = getattr(datasets, f"load_{name}")
    frame: pd.DataFrame = loader(as_frame=True).frame
    return frame


def _load_file(path: Path) -> pd.DataFrame:
    import pandas as pd

    suffix = path.suffix.lower()
    try:
        if suffix in {".parquet", ".pq"}:
            return pd.read_parquet(path)
        if suffix in {".csv", ".txt", ".gz"}:
            return pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise DataError(str(path), [Problem("", "the file is empty")]) from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError, OSError) as exc:
        # a parser's message may quote the offending line, which can be megabytes long
        raise DataError(str(path), [Problem("", f"cannot parse: {clip(str(exc), 300)}")]) from None
    raise DataError(
        str(path),
        [Problem("data.source", f"unsupported file type {shown(suffix)}; use .csv or .parquet")],
    )
