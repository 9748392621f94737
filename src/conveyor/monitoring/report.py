"""The monitoring report of a served version, gathered and written as one HTML file.

``write_report`` gathers the report's data from the registry and the store (the version's
bundle and reference profile, the assessment of its window, the per-step history, the firing
alerts), has ``conveyor.monitoring.report_html`` render it and writes the file atomically.
"""

from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from conveyor.errors import UserError
from conveyor.monitoring.report_html import render_report

if TYPE_CHECKING:
    from conveyor.monitoring.assess import Assessment
    from conveyor.monitoring.history import Alert
    from conveyor.settings import Settings
    from conveyor.store.engine import Store


@dataclass(frozen=True)
class WrittenReport:
    """Where the report went and what it said."""

    path: Path
    assessment: Assessment
    alerts: tuple[Alert, ...]

    def to_dict(self) -> dict[str, Any]:
        drift = self.assessment.drift
        return {
            "path": str(self.path),
            "model": self.assessment.model,
            "version": self.assessment.version,
            "window_minutes": self.assessment.window_minutes,
            "drift_status": drift.status.value,
            "drifted": drift.drifted,
            "warned": drift.warned,
            "alerts_firing": [a.rule for a in self.alerts],
        }


def write_report(
    settings: Settings,
    store: Store,
    name: str,
    version: str | None = None,
    stage: str = "production",
    minutes: float | None = None,
    out: Path | None = None,
    now: datetime | None = None,
) -> WrittenReport:
    """Report on a registered version (default: the one behind ``stage``) over the last
    ``minutes`` (default: its monitoring window); write it to ``out`` (a file or a directory)."""
    from conveyor.bundle.sources import registered_bundle
    from conveyor.monitoring.assess import assess
    from conveyor.monitoring.history import firing_alerts, load_history

    bundle = registered_bundle(settings, name, version, stage)
    ident = bundle.identity
    path = _target(out, f"report-{_slug(ident.name)}-v{_slug(ident.version)}.html")
    now = now or datetime.now(UTC)
    minutes = minutes or bundle.monitoring.window_minutes
    assessment = assess(store, bundle, minutes, now)
    history = load_history(store, bundle, minutes, now)
    alerts = tuple(firing_alerts(store, ident.name))
    html = render_report(
        assessment,
        history,
        bundle.profile,
        alerts=alerts,
        limits=bundle.monitoring.alerts,
        alert_minutes=bundle.monitoring.window_minutes,
    )
    _write(path, html)
    return WrittenReport(path, assessment, alerts)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)


def _target(out: Path | None, default: str) -> Path:
    """The file to write; a missing directory is created, an unusable one is a clear error."""
    path = Path(default) if out is None else out.expanduser()
    if path.is_dir() or not path.suffix:  # a directory, existing or to be made
        path = path / default
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(
            f"cannot create directory {path.parent} for the report: {exc.strerror}"
        ) from None
    return path.resolve()


def _write(path: Path, text: str) -> None:
    """Atomically: a reader never sees half a report (the file gets the umask's mode)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise UserError(f"cannot write the report to {path}: {exc.strerror}") from None
