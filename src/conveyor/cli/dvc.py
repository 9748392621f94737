"""`conveyor dvc init`: DVC pipeline stages for the project."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from conveyor.cli.options import ProjectOpt, command_group
from conveyor.cli.output import JsonOpt, emit_json, out


def register(app: typer.Typer) -> None:
    group = command_group(app, "dvc", "Version data and pipelines with DVC.")
    group.command("init")(init)


def init(
    project: ProjectOpt = Path("."),
    force: Annotated[bool, typer.Option(help="Overwrite an existing dvc.yaml.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Write dvc.yaml: stages that run `conveyor validate` and `conveyor run` with the data and
    conveyor.yaml as dependencies, so `dvc repro` retrains only when one of them changed."""
    from conveyor.pipeline.dvc_stages import data_dependencies, write_stages
    from conveyor.spec import load_spec

    spec = load_spec(project)
    base = project if project.is_dir() else project.parent
    path = write_stages(spec, base, force)
    if json_out:
        emit_json({"dvc_yaml": str(path), "deps": data_dependencies(spec)})
        return
    out().print(f"created {path}\nnext: dvc repro   (then git add dvc.yaml dvc.lock)")
