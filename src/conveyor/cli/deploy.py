"""Deployment commands: export triton, k8s render."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from conveyor.cli.context import CliContext
from conveyor.cli.output import emit_json, out

JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


def register(app: typer.Typer) -> None:
    export = typer.Typer(
        help="Export a registered version for another server.", no_args_is_help=True
    )
    export.command("triton")(export_triton)
    app.add_typer(export, name="export")


def export_triton(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Registered model.")],
    version: Annotated[str, typer.Argument(help="Registered version.")],
    out_dir: Annotated[
        Path, typer.Option("--out", help="Triton model repository to write <name>/ into.")
    ] = Path("model_repository"),
    max_batch_size: Annotated[
        int, typer.Option(min=0, help="Rows Triton may batch; 0 disables batching.")
    ] = 256,
    queue_delay_us: Annotated[
        int, typer.Option(min=0, help="Dynamic batcher's wait for a fuller batch, in µs.")
    ] = 0,
    instances: Annotated[int, typer.Option(min=1, help="Model instances on CPU.")] = 1,
    json_out: JsonOpt = False,
) -> None:
    """Write <out>/<name>/1/model.onnx and <out>/<name>/config.pbtxt for Triton's ONNX backend."""
    from conveyor.deploy.triton import export_triton as export

    cli: CliContext = ctx.obj
    result = export(cli.settings, name, version, out_dir, max_batch_size, queue_delay_us, instances)
    if json_out:
        emit_json(result.to_dict())
        return
    out().print(f"[green]exported {name} version {version}[/] to {result.model_dir}")
    out().print(f"  {result.config_path}\n  {result.onnx_path}")
