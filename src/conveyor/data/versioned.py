"""Data versioned with DVC: ``data.source: dvc://path[@rev]``, read through ``dvc.api``.

The path is relative to the project file, inside the DVC repository that holds it; ``rev`` is
any git revision (tag, branch, commit), default the workspace. DVC finds the content in the
workspace, its cache, or the repository's default remote (any storage DVC supports), so a fresh
clone trains without a `dvc pull`. What was read is recorded as lineage: the DVC path, the
revision asked for, the git commit it resolved to and the content's md5.

DVC is an optional extra (``pip install 'conveyor-mlops[dvc]'``); its errors become
``DataError`` here and nowhere else.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from conveyor.display import clip, shown
from conveyor.errors import DataError, Problem

if TYPE_CHECKING:
    import pandas as pd

SCHEME = "dvc://"
TAG_PATH = "conveyor.dvc.path"
TAG_REV = "conveyor.dvc.rev"
TAG_COMMIT = "conveyor.dvc.commit"
TAG_MD5 = "conveyor.dvc.md5"


@dataclass(frozen=True)
class DvcSource:
    """``dvc://path[@rev]`` taken apart."""

    path: str
    rev: str | None

    @classmethod
    def parse(cls, source: str) -> DvcSource | None:
        if not source.startswith(SCHEME):
            return None
        rest = source.removeprefix(SCHEME)
        path, at, rev = rest.rpartition("@")
        if not at:
            path, rev = rest, ""
        return cls(path, rev or None)

    def __str__(self) -> str:
        return f"{SCHEME}{self.path}" + (f"@{self.rev}" if self.rev else "")


def is_versioned(source: str) -> bool:
    return source.startswith(SCHEME)


def load_versioned(source: str, base_dir: Path) -> tuple[pd.DataFrame, dict[str, str]]:
    """The table at ``source`` and its lineage tags; ``DataError`` naming the source if not."""
    import pandas as pd

    ref = DvcSource.parse(source)
    assert ref is not None
    if not ref.path:
        raise DataError(source, [Problem("data.source", "dvc:// needs a path: dvc://data/x.csv")])
    suffix = Path(ref.path).suffix.lower()
    if suffix not in {".csv", ".parquet", ".pq", ".gz", ".txt"}:
        raise DataError(source, [Problem("data.source", f"unsupported file type {shown(suffix)}")])
    with _dvc_errors(source):
        import dvc.api
        from dvc.repo import Repo

        root = Path(Repo.find_root(str(base_dir.resolve())))
        path = os.path.relpath((base_dir / ref.path).resolve(), root)
        fs = dvc.api.DVCFileSystem(str(root), rev=ref.rev)
        info = fs.info(path)
        md5 = str(info.get("md5") or info.get("dvc_info", {}).get("md5") or "")
        with dvc.api.open(path, repo=str(root), rev=ref.rev, mode="rb") as handle:
            content = handle.read()
        commit = _commit(root, ref.rev)
    buffer = io.BytesIO(content)
    try:
        frame = pd.read_parquet(buffer) if suffix in {".parquet", ".pq"} else pd.read_csv(buffer)
    except (ValueError, OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataError(source, [Problem("", f"cannot parse: {clip(str(exc), 300)}")]) from None
    lineage = {TAG_PATH: path, TAG_COMMIT: commit, TAG_MD5: md5}
    if ref.rev:
        lineage[TAG_REV] = ref.rev
    return frame, lineage


def _commit(root: Path, rev: str | None) -> str:
    """The git commit ``rev`` (default HEAD) resolves to; empty outside git."""
    from scmrepo.git import Git

    try:
        return str(Git(str(root)).resolve_rev(rev or "HEAD"))
    except Exception:  # a DVC repo without git (dvc init --no-scm) has no commit to name
        return ""


@contextlib.contextmanager
def _dvc_errors(source: str) -> Iterator[None]:
    """DVC's errors (and a missing extra) as ``DataError`` naming the source."""
    try:
        from dvc.exceptions import DvcException
    except ImportError:
        raise DataError(
            source,
            [
                Problem(
                    "data.source",
                    "dvc:// sources need DVC: pip install 'conveyor-mlops[dvc]'",
                )
            ],
        ) from None
    try:
        yield
    except FileNotFoundError as exc:
        raise DataError(
            source, [Problem("data.source", f"not found in the DVC repository: {exc}")]
        ) from None
    except DvcException as exc:
        hint = ""
        text = str(exc)
        if "not a git repository" in text.lower() or "NotDvcRepo" in type(exc).__name__:
            hint = " (the project is not inside a DVC repository: git init && dvc init)"
        elif "remote" in text.lower() or "missing cache" in text.lower():
            hint = " (is the data pushed? `dvc push`, and a default remote: `dvc remote add -d`)"
        raise DataError(source, [Problem("data.source", f"DVC: {clip(text, 300)}{hint}")]) from None
