"""The lifecycle state shared by the server's long-lived workers (batcher, log writer)."""

from __future__ import annotations

from enum import StrEnum


class WorkerState(StrEnum):
    NEW = "new"
    RUNNING = "running"
    STOPPED = "stopped"
