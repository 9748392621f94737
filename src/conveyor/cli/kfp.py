"""`conveyor kfp compile`: a Kubeflow Pipelines (v2) pipeline for the project."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from conveyor.cli.options import ProjectOpt, command_group
from conveyor.cli.output import JsonOpt, emit_json, out


def register(app: typer.Typer) -> None:
    group = command_group(app, "kfp", "Run the project on Kubeflow Pipelines.")
    group.command("compile")(compile_command)


def compile_command(
    project: ProjectOpt = Path("."),
    out_path: Annotated[Path, typer.Option("--out", help="Where to write the IR YAML.")] = Path(
        "pipeline.yaml"
    ),
    image: Annotated[
        str, typer.Option(help="The Conveyor image each step runs in (with the kfp extra).")
    ] = "ghcr.io/your-org/conveyor:0.1.0",
    project_dir: Annotated[
        str,
        typer.Option(help="Where the project is inside the image (the pipeline's parameter)."),
    ] = "/project",
    env: Annotated[
        list[str] | None,
        typer.Option(
            "--env",
            help="KEY=VALUE set on every step, e.g. CONVEYOR_TRACKING_URI and CONVEYOR_STORE_URL "
            "(the registry and store the steps share).",
        ),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Compile validate → train and gate → register (only when the gates passed) with kfp's
    compiler; upload the YAML to Kubeflow Pipelines or run it with kfp.local."""
    from conveyor.deploy.kfp import compile_pipeline
    from conveyor.errors import UserError
    from conveyor.spec import load_spec

    spec = load_spec(project)
    pairs: dict[str, str] = {}
    for item in env or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UserError(f"--env {item!r}: use KEY=VALUE")
        pairs[key] = value
    path = compile_pipeline(spec.name, image, project_dir, pairs, out_path)
    if json_out:
        emit_json({"pipeline": str(path), "name": f"{spec.name}-conveyor", "image": image})
        return
    out().print(
        f"compiled {path} ({spec.name}-conveyor: validate → train → register if the gates "
        f"passed; image {image}, project_dir {project_dir})"
    )
