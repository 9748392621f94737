"""Deployment commands: export triton, k8s render."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from conveyor.cli.context import CliContext
from conveyor.cli.options import command_group
from conveyor.cli.output import JsonOpt, emit_json, out


def register(app: typer.Typer) -> None:
    export = command_group(app, "export", "Export a registered version for another server.")
    export.command("triton")(export_triton)
    k8s = command_group(app, "k8s", "Kubernetes manifests for a registered model.")
    k8s.command("render")(k8s_render)


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


def k8s_render(
    name: Annotated[str, typer.Argument(help="Registered model.")],
    version: Annotated[str, typer.Option("--version", help="Registered version to deploy.")],
    image: Annotated[str, typer.Option(help="Conveyor image with its tag, e.g. the git SHA.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Directory for base/ and overlays/.")],
    namespace: Annotated[str, typer.Option(help="Production namespace.")] = "conveyor",
    replicas_min: Annotated[int, typer.Option(help="HPA minimum.")] = 2,
    replicas_max: Annotated[int, typer.Option(help="HPA maximum.")] = 10,
    cpu_target: Annotated[int, typer.Option(help="HPA CPU utilisation target, %.")] = 70,
    memory_target: Annotated[
        int, typer.Option(help="HPA memory utilisation target, % of the request.")
    ] = 80,
    follow_alias: Annotated[
        bool,
        typer.Option(
            "--follow-alias",
            help="Production follows the production alias instead of serving --version.",
        ),
    ] = False,
    host: Annotated[str, typer.Option(help="Also write an Ingress for this host.")] = "",
    service_type: Annotated[
        str, typer.Option(help="ClusterIP, or LoadBalancer for an external address.")
    ] = "ClusterIP",
    tracking_uri: Annotated[
        str, typer.Option(help="MLflow the pods load the model from.")
    ] = "http://mlflow:5000",
    kserve: Annotated[bool, typer.Option("--kserve", help="Also write kserve/.")] = False,
    storage_uri: Annotated[
        str, typer.Option(help="With --kserve: the uploaded `conveyor export triton` output.")
    ] = "",
    canary_percent: Annotated[
        int, typer.Option(help="With --kserve: canaryTrafficPercent of an update.")
    ] = 10,
    katib: Annotated[
        bool, typer.Option("--katib", help="Also write katib/: an Experiment tuning the model.")
    ] = False,
    seldon: Annotated[
        bool,
        typer.Option("--seldon", help="Also write seldon/: Seldon Core v2 Model (--storage-uri)."),
    ] = False,
    seldon_baseline: Annotated[
        str | None,
        typer.Option(help="With --seldon: the version to roll out against (an Experiment)."),
    ] = None,
    seldon_baseline_uri: Annotated[
        str, typer.Option(help="With --seldon-baseline: that version's uploaded export.")
    ] = "",
    seldon_mirror: Annotated[
        bool,
        typer.Option(
            "--seldon-mirror", help="With --seldon-baseline: mirror --canary-percent (shadow)."
        ),
    ] = False,
    project: Annotated[
        Path, typer.Option("--project", "-p", help="With --katib: the project (its tuning:).")
    ] = Path("."),
    parallel: Annotated[int, typer.Option(help="With --katib: trials running at once.")] = 2,
    algorithm: Annotated[
        str, typer.Option(help="With --katib: Katib's search algorithm (tpe, random, ...).")
    ] = "tpe",
    force: Annotated[bool, typer.Option(help="Overwrite files in a non-empty --out.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Write a kustomize base (Deployment, Service, HPA, PDB, controller, ServiceMonitor,
    PrometheusRule...) and staging/production overlays; no cluster is contacted.

    With --katib, katib/ holds a Katib Experiment whose search space, objective and budget come
    from the project's tuning: section; each trial runs `conveyor tune --trial` in the image.
    """
    from conveyor.deploy.k8s import SECRET_KEYS, RenderOptions
    from conveyor.deploy.kustomize import OVERLAYS, KatibOptions, KServeOptions, render
    from conveyor.errors import UserError

    if out_dir.is_dir() and any(out_dir.iterdir()) and not force:
        raise UserError(f"--out {out_dir} is not empty; pass --force to overwrite its files")
    options = RenderOptions(
        name=name,
        version=version,
        image=image,
        namespace=namespace,
        replicas_min=replicas_min,
        replicas_max=replicas_max,
        cpu_target=cpu_target,
        tracking_uri=tracking_uri,
        memory_target=memory_target,
        pin=not follow_alias,
        host=host,
        service_type=service_type,
    )
    kserve_options = KServeOptions(storage_uri, canary_percent) if kserve else None
    katib_options = None
    if katib:
        from conveyor.spec import load_spec

        spec = load_spec(project)
        spec_file = project / "conveyor.yaml" if project.is_dir() else project
        text = spec_file.read_text(encoding="utf-8")
        katib_options = KatibOptions(spec, text, parallel, algorithm)
    seldon_options = None
    if seldon:
        from conveyor.deploy.seldon import SeldonOptions

        seldon_options = SeldonOptions(
            storage_uri, seldon_baseline, seldon_baseline_uri, canary_percent, seldon_mirror
        )
    files = render(options, out_dir, kserve_options, katib_options, seldon_options)
    if json_out:
        emit_json(
            {
                "model_uri": options.model_uri,
                "pinned": options.pin,
                "secret_template": str(out_dir / "secret-template.yaml"),
                "image": image,
                "app": options.app,
                "namespaces": {env: options.overlay_namespace(env) for env in OVERLAYS},
                "files": [str(f) for f in files],
            }
        )
        return
    out().print(f"[green]rendered {options.model_uri}[/] ({image}) into {out_dir}")
    serves = (
        f"production pods serve version {version} (pinned by CONVEYOR_MODEL_VERSION); "
        "staging pods follow the staging alias"
        if options.pin
        else "production pods follow the production alias (--follow-alias)"
    )
    out().print(serves, soft_wrap=True)
    template = out_dir / "secret-template.yaml"
    out().print(
        f"next: fill {template} ({', '.join(SECRET_KEYS)}; "
        "the optional ones may go), then\n"
        f"      kubectl -n {namespace} apply -f {template}\n"
        f"      kubectl apply -k {out_dir / 'overlays' / 'production'}",
        soft_wrap=True,
    )
