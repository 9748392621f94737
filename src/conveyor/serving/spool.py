"""The inference-log spool: a directory of segment files between a server and its ingester.

A segment is written to ``<name>.tmp`` and renamed to ``<name>.jsonl``, so a reader sees it
whole or not at all. Names start with the writing process's *owner* prefix, so an ingester
knows its own server's segments from those of other servers sharing the directory.

The directory is created again when it disappears (deleted while serving): records are
never written into a directory that no longer exists. A durable write also fsyncs the file
and the directory, so an acknowledged record survives a crash of the machine, not only of
the process.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

SEGMENT_SUFFIX = ".jsonl"
TMP_SUFFIX = ".tmp"


@dataclass(frozen=True)
class SpoolStats:
    """What waits in the spool: segments, their bytes, the age of the oldest."""

    segments: int = 0
    bytes: int = 0
    oldest_age_s: float = 0.0


class Spool:
    """One directory of segments; ``write`` is called from one thread."""

    def __init__(self, directory: Path, owner: str, durable: bool = False) -> None:
        self.directory = directory
        self.owner = owner
        self.durable = durable
        self.recreated = 0  # times the directory was found missing and created again

    def create(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)

    def write(self, name: str, records: list[bytes]) -> Path:
        """Write one segment named ``<owner><name>.jsonl``; raises ``OSError`` when it cannot
        (a full or read-only disk), leaving no partial file behind."""
        data = b"\n".join(records) + b"\n"
        path = self.directory / f"{self.owner}{name}{SEGMENT_SUFFIX}"
        try:
            self._write(path, data)
        except FileNotFoundError:
            # the directory was deleted: make it again and write the whole segment there
            self.recreated += 1
            log.error(
                "inference-log spool directory %s disappeared; created it again (segments "
                "that waited in it were deleted with it)",
                self.directory,
            )
            self.create()
            self._write(path, data)
        return path

    def _write(self, path: Path, data: bytes) -> None:
        tmp = path.with_name(path.name + TMP_SUFFIX)
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                if self.durable:
                    os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, path)
            if self.durable:  # the rename itself must reach the disk
                dir_fd = os.open(self.directory, os.O_RDONLY)
                try:
                    os.fsync(dir_fd)
                finally:
                    os.close(dir_fd)
        except OSError:
            tmp.unlink(missing_ok=True)
            raise

    def stats(self, now: float | None = None) -> SpoolStats:
        """Segments waiting (any owner's), their total size and the oldest one's age."""
        now = time.time() if now is None else now
        count = size = 0
        oldest = now
        for entry in self._segments():
            try:
                stat = entry.stat()
            except FileNotFoundError:  # ingested meanwhile
                continue
            count += 1
            size += stat.st_size
            oldest = min(oldest, stat.st_mtime)
        return SpoolStats(count, size, max(0.0, now - oldest) if count else 0.0)

    def drop_oldest(self, keep_bytes: int) -> tuple[int, int]:
        """Delete the oldest segments until at most ``keep_bytes`` remain; returns (segments,
        records) deleted."""
        found: list[tuple[float, int, os.DirEntry[str]]] = []
        for entry in self._segments():
            try:
                stat = entry.stat()
            except FileNotFoundError:
                continue
            found.append((stat.st_mtime, stat.st_size, entry))
        found.sort(key=lambda item: (item[0], item[2].name))
        total = sum(size for _, size, _ in found)
        segments = records = 0
        for _, size, entry in found:
            if total <= keep_bytes:
                break
            try:
                with open(entry.path, "rb") as fh:
                    lines = fh.read().count(b"\n")
                os.unlink(entry.path)
            except FileNotFoundError:  # an ingester took it first
                lines = 0
            else:
                segments += 1
                records += lines
            total -= size
        return segments, records

    def _segments(self) -> list[os.DirEntry[str]]:
        try:
            with os.scandir(self.directory) as entries:
                return [e for e in entries if e.name.endswith(SEGMENT_SUFFIX)]
        except OSError:  # gone or not a directory: nothing waits there (write() says why)
            return []


def remove_stale_partials(directory: Path, older_than_s: float) -> int:
    """Delete ``.tmp`` files older than ``older_than_s``: segments whose writer died while
    writing them (a write takes milliseconds). Returns how many were deleted."""
    now = time.time()
    removed = 0
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return 0
    for entry in entries:
        if not entry.name.endswith(SEGMENT_SUFFIX + TMP_SUFFIX):
            continue
        try:
            if now - entry.stat().st_mtime >= older_than_s:
                os.unlink(entry.path)
                removed += 1
        except FileNotFoundError:
            continue
    return removed
