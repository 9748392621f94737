"""Monitoring commands: drift (any two datasets), monitor (a served version now), alerts."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from conveyor.cli import alerts as alert_commands
from conveyor.cli.context import CliContext
from conveyor.cli.options import (
    ModelArg,
    SparkMasterOpt,
    StageOpt,
    VersionOpt,
    WindowOpt,
    command_group,
)
from conveyor.cli.output import JsonOpt, emit_json, out, table
from conveyor.errors import UserError

if TYPE_CHECKING:
    from conveyor.monitoring.alerts import Check
    from conveyor.monitoring.assess import Assessment
    from conveyor.monitoring.drift import DriftReport, FeatureDrift

# `conveyor drift` exits 4 when a feature or the predictions drifted: a result, not an error,
# and apart from 1 (failure), 2 (bad input) and 3 (quality gates failed).
DRIFT_EXIT_CODE = 4
STATUS_STYLE = {"ok": "green", "warn": "yellow", "drift": "red", "insufficient_data": "dim"}


def register(app: typer.Typer) -> None:
    app.command("drift")(drift)
    app.command("monitor")(monitor)
    alerts_app = command_group(app, "alerts", "Alerts raised by the servers' monitors.")
    alerts_app.command("list")(list_alerts)
    alert_commands.register(alerts_app)


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")
_MINUTES = {"s": 1 / 60, "m": 1.0, "h": 60.0, "d": 1440.0}


def parse_window(text: str) -> float:
    """``90s``, ``30m``, ``1h``, ``7d`` → minutes."""
    match = _DURATION.match(text)
    if not match or float(match.group(1)) <= 0:
        raise UserError(f"--window: {text!r} is not a duration like 30m, 1h or 7d")
    return float(match.group(1)) * _MINUTES[match.group(2)]


def monitor(
    ctx: typer.Context,
    name: ModelArg,
    version: VersionOpt = None,
    stage: StageOpt = "production",
    window: WindowOpt = None,
    last: Annotated[
        int | None,
        typer.Option(min=1, help="Instead of --window: the newest N rows (whole minutes)."),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Drift, online performance and service health of a served version, from the store.

    Reads what the servers recorded (live counts, inference log, feedback): nothing is
    rescanned. Exit 0: no rule fires; 4: an alert rule fires; 2: bad input.
    """
    from conveyor.bundle.sources import registered_bundle
    from conveyor.monitoring.alerts import evaluate
    from conveyor.monitoring.assess import assess

    if window is not None and last is not None:
        raise UserError("give --window or --last, not both")
    minutes = parse_window(window) if window is not None else None
    cli: CliContext = ctx.obj
    bundle = registered_bundle(cli.settings, name, version, stage)
    assessment = assess(cli.store(), bundle, minutes, last_rows=last)
    checks = evaluate(assessment, bundle.monitoring)
    if json_out:
        emit_json({**assessment.to_dict(), "checks": [dataclasses.asdict(c) for c in checks]})
    else:
        _print_assessment(assessment, checks)
    if any(c.firing for c in checks):
        raise typer.Exit(DRIFT_EXIT_CODE)


def _print_assessment(a: Assessment, checks: list[Check]) -> None:
    console = out()
    console.print(
        f"[bold]{escape(a.model)}[/] version {escape(a.version)} — last {a.window_minutes:g} min "
        f"(at {a.at.isoformat(timespec='seconds')})"
    )
    h = a.health
    if h.requests:

        def ms(value: float | None) -> str:
            return "-" if value is None else f"{value:.1f} ms"

        console.print(
            f"health: {h.requests} requests ({h.per_minute:.1f}/min), "
            f"5xx {h.error_rate or 0:.2%}, 4xx {h.client_error_rate or 0:.2%}, "
            f"p50 {ms(h.p50_ms)}, p95 {ms(h.p95_ms)}, p99 {ms(h.p99_ms)}"
        )
    else:
        console.print("health: [dim]no requests in the window[/]")
    p = a.performance
    if p.online:
        online = ", ".join(
            f"{k} {v:.4g}" + (f" (baseline {p.baseline[k]:.4g})" if k in p.baseline else "")
            for k, v in p.online.items()
        )
        console.print(
            f"performance: {online} on {p.labeled_rows} labelled rows "
            f"({(p.coverage or 0):.1%} of {p.predicted_rows})"
        )
    else:
        console.print(f"performance: [dim]no feedback for the {p.predicted_rows} predicted rows[/]")
    _print(a.drift, "drift against the training reference")
    rows = [
        [
            c.rule,
            c.severity,
            "[red]firing[/]"
            if c.firing
            else "[green]ok[/]"
            if c.firing is False
            else "[dim]n/a[/]",
            escape(c.message),
        ]
        for c in checks
    ]
    console.print(table("alert rules", ["rule", "severity", "state", "evidence"], rows))


def list_alerts(
    ctx: typer.Context,
    model: Annotated[str | None, typer.Option(help="Only this model's alerts.")] = None,
    all_states: Annotated[
        bool, typer.Option("--all", help="Resolved alerts too, not only firing ones.")
    ] = False,
    limit: Annotated[int, typer.Option(min=1, help="At most this many, newest first.")] = 50,
    json_out: JsonOpt = False,
) -> None:
    """Alerts the servers raised (firing ones unless --all)."""
    from conveyor.monitoring.alerts import AlertBook

    cli: CliContext = ctx.obj
    found = AlertBook(cli.store()).list(model, None if all_states else "firing", limit)
    if json_out:
        emit_json({"alerts": found})
        return
    if not found:
        out().print("no alerts" if all_states else "no alerts firing")
        return
    rows = [
        [
            a["id"],
            escape(a["model"]),
            a["version"],
            a["rule"],
            a["severity"],
            (
                ("[red]firing[/] (silenced)" if a["details"].get("silenced") else "[red]firing[/]")
                if a["state"] == "firing"
                else "resolved"
            ),
            a["started_at"],
        ]
        for a in found
    ]
    columns = ["id", "model", "version", "rule", "severity", "state", "since"]
    console = out()
    console.print(table("alerts", columns, rows))
    for a in found:  # messages apart: they are long and a table cell would fold them
        console.print(f"  #{a['id']} {a['rule']}: {escape(a['message'])}", soft_wrap=True)


def drift(
    reference: Annotated[
        Path,
        typer.Option(help="Reference data (e.g. training): CSV, Parquet or a profile.json."),
    ],
    current: Annotated[Path, typer.Option(help="Current window of data: CSV or Parquet.")],
    columns: Annotated[
        str | None, typer.Option(help="Comma-separated columns; default every common one.")
    ] = None,
    prediction: Annotated[
        str | None, typer.Option(help="The model-output column: reported as prediction drift.")
    ] = None,
    threshold: Annotated[
        float, typer.Option(help="PSI from which a significant change is drift.")
    ] = 0.3,
    warn: Annotated[
        float | None,
        typer.Option(
            help="PSI from which it is a warning; default the lower of 0.2 and --threshold."
        ),
    ] = None,
    alpha: Annotated[float, typer.Option(help="Significance after correction.")] = 0.05,
    correction: Annotated[
        str, typer.Option(help="Multiple-testing correction: bh, bonferroni or none.")
    ] = "bh",
    min_rows: Annotated[
        int, typer.Option(help="Fewer current rows than this: insufficient_data.")
    ] = 100,
    engine: Annotated[
        str,
        typer.Option(
            help="local, or spark: count the current window (a file, directory or glob larger "
            "than memory) with Spark over the reference's bins."
        ),
    ] = "local",
    spark_master: SparkMasterOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Compare a current window with a reference: per-feature test, PSI, distance, verdict.

    A feature drifts when its corrected test is significant AND its PSI reaches --threshold.

    Missing share and unseen categories are signals of their own.

    Exit 0: no drift (warnings allowed); 4: drift; 2: bad input.
    """
    from conveyor.monitoring.drift import DriftConfig
    from conveyor.monitoring.file_drift import drift_between_files

    config = DriftConfig(
        alpha=alpha,
        correction=correction,
        psi_warn=min(0.2, threshold) if warn is None else warn,
        psi_alert=threshold,
        min_rows=min_rows,
    )
    if engine not in ("local", "spark"):
        raise UserError(f"--engine {engine!r}: local or spark")
    names = [c.strip() for c in columns.split(",") if c.strip()] if columns else None
    result = drift_between_files(
        reference,
        current,
        config,
        columns=names,
        prediction=prediction,
        open_current=_spark_current(spark_master) if engine == "spark" else None,
    )
    if json_out:
        emit_json(result.to_dict())
    else:
        _print(result.report, f"drift of {current} against {reference}")
    if result.report.drifted:
        raise typer.Exit(DRIFT_EXIT_CODE)


def _print(report: DriftReport, title: str) -> None:
    rows = [_row(f) for f in report.features]
    if report.prediction is not None:
        rows.append(_row(report.prediction, kind="prediction"))
    columns = ["feature", "kind", "test", "p adj", "PSI", "distance", "missing", "status"]
    console = out()
    console.print(table(title, columns, rows))
    for f in report.all:
        if f.reasons and f.status.value != "ok":
            console.print(f"  {escape(f.name)}: {escape('; '.join(f.reasons))}", soft_wrap=True)
    console.print(_summary(report), soft_wrap=True)


def _row(f: FeatureDrift, kind: str | None = None) -> list[object]:
    missing = ""
    if f.missing_share_ref or f.missing_share_cur:
        missing = f"{f.missing_share_ref:.0%}→{f.missing_share_cur:.0%}"
    style = STATUS_STYLE[f.status.value]
    return [
        escape(f.name),
        kind or f.kind,
        f.test,
        None if f.p_adjusted is None else f"{f.p_adjusted:.2g}",
        None if f.psi is None else f"{f.psi:.3f}",
        None if f.distance is None else f"{f.distance:.3f}",
        missing,
        f"[{style}]{f.status.value}[/]",
    ]


def _summary(report: DriftReport) -> str:
    checked = len(report.all)
    rows = max((f.rows_cur for f in report.all), default=0)
    ref_rows = max((f.rows_ref for f in report.all), default=0)
    scope = (
        f"{rows} rows against {ref_rows} reference rows; "
        f"{report.tests} tests, {report.config.correction}-corrected at {report.config.alpha}"
    )
    status = report.status.value
    if report.drifted:
        names = escape(", ".join(report.drifted))
        head = f"[red]drift[/] in {len(report.drifted)} of {checked}: {names}"
    elif status == "insufficient_data":
        head = f"[dim]insufficient data[/] (fewer than {report.config.min_rows} rows to judge)"
    else:
        head = "[green]no drift[/]"
    if report.warned:
        head += f"; [yellow]{len(report.warned)} warning(s)[/]: {escape(', '.join(report.warned))}"
    if report.skipped:
        head += f"; skipped: {escape(', '.join(report.skipped))}"
    return f"{head} — {scope}"


def _spark_current(master: str | None) -> Callable[[str], Any]:
    """Spark's reader of the current window (a file, a directory or a glob)."""
    from conveyor.engines.spark_drift import open_current

    return lambda path: open_current(path, master)
