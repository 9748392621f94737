"""Monitoring commands: drift."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from conveyor.cli.output import emit_json, out, table

if TYPE_CHECKING:
    from conveyor.monitoring.drift import DriftReport, FeatureDrift

JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]

# `conveyor drift` exits 4 when a feature or the predictions drifted: a result, not an error,
# and apart from 1 (failure), 2 (bad input) and 3 (quality gates failed).
DRIFT_EXIT_CODE = 4
STATUS_STYLE = {"ok": "green", "warn": "yellow", "drift": "red", "insufficient_data": "dim"}


def register(app: typer.Typer) -> None:
    app.command("drift")(drift)


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
    json_out: JsonOpt = False,
) -> None:
    """Compare a current window with a reference: per-feature test, PSI, distance, verdict.

    A feature drifts when its corrected test is significant AND its PSI reaches --threshold.

    Missing share and unseen categories are signals of their own.

    Exit 0: no drift (warnings allowed); 4: drift; 2: bad input.
    """
    from conveyor.monitoring.drift import DriftConfig
    from conveyor.monitoring.files import drift_between_files

    config = DriftConfig(
        alpha=alpha,
        correction=correction,
        psi_warn=min(0.2, threshold) if warn is None else warn,
        psi_alert=threshold,
        min_rows=min_rows,
    )
    names = [c.strip() for c in columns.split(",") if c.strip()] if columns else None
    result = drift_between_files(reference, current, config, columns=names, prediction=prediction)
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
