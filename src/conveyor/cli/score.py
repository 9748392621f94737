"""`conveyor score`: batch predictions for a table with a registered version."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from conveyor.cli.context import CliContext
from conveyor.cli.options import SparkMasterOpt
from conveyor.cli.output import JsonOpt, emit_json, out

ENGINES = ("local", "spark", "ray")


def register(app: typer.Typer) -> None:
    app.command("score")(score)


def score(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Registered model.")],
    input_path: Annotated[
        str, typer.Option("--input", help="Parquet or CSV: a file, a directory or a glob.")
    ],
    output: Annotated[
        Path,
        typer.Option(help="Where the answers go (.parquet or .csv; spark/ray: a directory)."),
    ],
    version: Annotated[
        str | None, typer.Option(help="A version number; default the --stage alias.")
    ] = None,
    stage: Annotated[str, typer.Option(help="The alias to score with.")] = "production",
    engine: Annotated[str, typer.Option(help="local (streaming), spark or ray.")] = "local",
    keep: Annotated[
        str | None,
        typer.Option(help="Comma-separated input columns to copy; default every non-feature."),
    ] = None,
    batch_rows: Annotated[
        int, typer.Option(min=1, help="local: rows per batch (bounds the memory).")
    ] = 65_536,
    spark_master: SparkMasterOpt = None,
    monitor: Annotated[
        bool,
        typer.Option(
            "--monitor",
            help="local: count the rows into the version's drift monitor, as served traffic is.",
        ),
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Score a table with a registered version: the same answers as the server, for every row,
    with the input's keys, the prediction, each class's probability, model and version."""
    from conveyor.bundle.sources import registered_bundle
    from conveyor.errors import UserError

    if engine not in ENGINES:
        raise UserError(f"--engine {engine!r}: one of {', '.join(ENGINES)}")
    if monitor and engine != "local":
        raise UserError(
            "--monitor counts rows in this process: use it with --engine local (for drift over "
            "a table too large for one machine: conveyor drift --engine spark)"
        )
    cli: CliContext = ctx.obj
    bundle = registered_bundle(cli.settings, name, version, stage)
    columns = [c.strip() for c in keep.split(",") if c.strip()] if keep else None
    if engine == "spark":
        from conveyor.engines.spark import score_spark

        result = score_spark(bundle, input_path, output, columns, spark_master)
    elif engine == "ray":
        from conveyor.engines.ray_data import score_ray

        result = score_ray(bundle, input_path, output, columns)
    else:
        from conveyor.engines.local import score_local

        live = _live_monitor(cli, bundle) if monitor else None
        observe = None
        if live is not None:
            ident, profile = bundle.identity, bundle.profile

            def observe(columns: dict[str, Any], predictions: Any) -> None:
                live.observe_rows(ident.name, ident.version, profile, columns, predictions)
                live.flush()  # each batch folded and written as it passes: memory stays bounded

        result = score_local(bundle, input_path, output, columns, batch_rows, observe)
        if live is not None:
            live.flush()
    if json_out:
        emit_json(result.to_dict() | {"model": name, "version": bundle.identity.version})
        return
    out().print(
        f"[green]scored[/] {result.rows:,} rows with {name} version {bundle.identity.version} "
        f"({engine}, {result.seconds:.1f} s) into {output}"
    )


def _live_monitor(cli: CliContext, bundle: Any) -> Any:
    """The store's live monitor, for a version that has a reference profile."""
    from conveyor.errors import UserError
    from conveyor.monitoring.live import LiveMonitor

    if not bundle.profile:
        ident = bundle.identity
        raise UserError(
            f"--monitor: {ident.name} version {ident.version} has no reference profile to count "
            f"rows against; conveyor adopt {ident.name} {ident.version} --reference ... adds one"
        )
    return LiveMonitor(cli.store())
