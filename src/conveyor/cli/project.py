"""Project commands: init, validate, run, tune, spec."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from conveyor.cli.context import CliContext
from conveyor.cli.options import ProjectOpt
from conveyor.cli.output import JsonOpt, emit_json, err, fmt_metrics, out, table


def register(app: typer.Typer) -> None:
    app.command("init")(init)
    app.command("validate")(validate)
    app.command("run")(run)
    app.command("register")(register_run)
    app.command("tune")(tune)
    app.command("spec")(spec)


def init(
    directory: Annotated[Path, typer.Argument(help="Directory to create the project in.")],
    example: Annotated[
        str | None,
        typer.Option(
            help="wine (the default), breast_cancer, iris, diabetes (regression), or feast "
            "(drivers: features from a Feast repository)."
        ),
    ] = None,
    data: Annotated[
        Path | None,
        typer.Option(help="Your own CSV or Parquet file: the spec is written for it."),
    ] = None,
    target: Annotated[str | None, typer.Option(help="With --data: the column to predict.")] = None,
    task: Annotated[
        str | None,
        typer.Option(help="With --data: classification or regression; default inferred."),
    ] = None,
    name: Annotated[
        str | None,
        typer.Option(help="Registered model name; default the example's or the directory's."),
    ] = None,
    force: Annotated[bool, typer.Option(help="Overwrite an existing conveyor.yaml.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Create a project directory with a conveyor.yaml, from an example or from your own table.

    With --data FILE --target COL the task is inferred from the target, columns that would hurt
    the model (identifiers, constants, dates, leakage suspects) are left out with the reason,
    and the gates come from a quick baseline fit.
    """
    if data is None:
        if target is not None or task is not None:
            raise typer.BadParameter("--target and --task go with --data FILE")
        from conveyor.templates import init_project

        spec = init_project(directory, example or "wine", name, force)
        if json_out:
            emit_json({"spec": str(spec)})
        else:
            out().print(f"created {spec}\nnext: cd {directory} && conveyor run")
        return
    if example is not None:
        raise typer.BadParameter("give --example or --data, not both")
    if target is None:
        raise typer.BadParameter("--data needs --target COLUMN (the column to predict)")
    from conveyor.scaffold import init_from_table
    from conveyor.spec.models import Task

    chosen = None
    if task is not None:
        if task not in {t.value for t in Task}:
            raise typer.BadParameter(f"--task must be classification or regression, not {task!r}")
        chosen = Task(task)
    made = init_from_table(directory, data, target, chosen, name, force)
    if json_out:
        emit_json(made.to_dict())
        return
    console = out()
    console.print(f"created {made.spec_path}")
    console.print(f"task: {made.task.value} ({made.task_reason})")
    console.print(f"features: {len(made.features)} of {len(made.features) + len(made.left_out)}")
    for finding in made.left_out:
        console.print(f"[yellow]left out[/] {finding}")
    for finding in made.warnings:
        console.print(f"[yellow]warning[/] {finding}")
    if made.dropped_rows:
        console.print(f"data.drop_missing_target: true ({made.dropped_rows:,} rows have no target)")
    if made.baseline:
        shown = {k: v for k, v in made.baseline.items() if k in made.gated_metrics}
        console.print(f"baseline: {fmt_metrics(shown)}; gates set a margin below it")
    console.print(f"next: cd {directory} && conveyor run")


def validate(
    ctx: typer.Context, project: ProjectOpt = Path("."), json_out: JsonOpt = False
) -> None:
    """Check conveyor.yaml and the dataset; report every problem at once.

    Every key of conveyor.yaml (type, default, example) is listed by `conveyor spec`.
    """
    from conveyor.display import clip
    from conveyor.pipeline.dataset import prepare_data
    from conveyor.spec import load_spec
    from conveyor.training.pipeline import resolve_model

    spec = load_spec(project)
    base = project if project.is_dir() else project.parent
    resolve_model(spec, base)
    data = prepare_data(spec, base)
    summary = {
        "name": spec.name,
        "rows": len(data.frame),
        "features": len(data.schema.features),
        "fingerprint": data.fingerprint,
        "schema": data.schema.to_dict(),
        "warnings": [f.to_dict() for f in data.findings],
    }
    if json_out:
        emit_json(summary)
        return
    rows = [
        [
            clip(c.name),
            c.kind.value,
            c.nullable,
            c.min,
            c.max,
            ", ".join(clip(v, 20) for v in c.categories[:5]),
        ]
        for c in data.schema.features
    ]
    out().print(
        table(
            f"{spec.name}: {len(data.frame)} rows, fingerprint {data.fingerprint[:12]}",
            ["feature", "kind", "nullable", "min", "max", "categories"],
            rows,
        )
    )
    for finding in data.findings:
        colour = "yellow" if finding.level == "warning" else "dim"
        err().print(f"[{colour}]{finding.level}[/] {finding}")
    out().print("[green]valid[/]")


def run(
    ctx: typer.Context,
    project: ProjectOpt = Path("."),
    run_info: Annotated[Path | None, typer.Option(help="Where to write run_info.json.")] = None,
    by: Annotated[str, typer.Option(help="Who is running this, for the audit trail.")] = "conveyor",
    no_register: Annotated[
        bool,
        typer.Option(
            "--no-register",
            help="Log the model in the run but register nothing: `conveyor register --run-id` "
            "does that later (a pipeline step gated on the gates).",
        ),
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Validate → train (→ tune) → evaluate → ONNX → gates → register. Exit 3 if gates fail."""
    from conveyor.errors import GateFailedError
    from conveyor.pipeline.run import run_pipeline, write_run_info
    from conveyor.spec import load_spec

    cli: CliContext = ctx.obj
    spec = load_spec(project)
    base = project.resolve() if project.is_dir() else project.resolve().parent
    info_path = run_info or base / "run_info.json"
    console = err()

    def progress(step: str, message: str) -> None:
        if json_out:
            return
        if step in ("warning", "note"):
            colour = "yellow" if step == "warning" else "dim"
            console.print(f"[{colour}]! {step:<9}[/] {message}")
        else:
            console.print(f"[cyan]›[/] [bold]{step:<9}[/] {message}")

    try:
        result = run_pipeline(
            spec, base, cli.settings, cli.store(), progress, actor=by, register=not no_register
        )
    except GateFailedError as exc:
        if not json_out:
            _print_gates(exc.report.get("gates", {}))
        raise
    write_run_info(result, info_path)
    payload = result.to_dict()
    if json_out:
        emit_json(payload | {"run_info": str(info_path)})
        return
    _print_gates(payload["gates"])
    console = out()
    reg = result.registered
    console.print(f"[bold]metrics[/]  {fmt_metrics(result.metrics)}")
    console.print(f"[bold]runtime[/]  {result.runtime}")
    if reg is None:
        console.print(
            f"[green]logged[/] {spec.name} in run {result.run_id}, not registered: "
            f"conveyor register --run-id {result.run_id}"
        )
        console.print(f"run info: {info_path}")
        return
    console.print(
        f"[green]registered[/] {spec.name} version {reg.version} ({reg.semver}: {reg.semver_reason}) "
        f"as staging; run {result.run_id}"
    )
    console.print(f"run info: {info_path}")


def register_run(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Option("--run-id", help="The run of conveyor run --no-register.")],
    by: Annotated[str, typer.Option(help="Who is registering, for the audit trail.")] = "conveyor",
    json_out: JsonOpt = False,
) -> None:
    """Register the model a `conveyor run --no-register` logged, as that run would have:
    semantic version, lineage tags, the staging alias, the audit event. Registering the same
    run again answers the version it already became."""
    from conveyor.pipeline.register import read_logged, register_logged

    cli: CliContext = ctx.obj
    registry = cli.registry()
    # only a run whose gates passed logs a candidate: a failed one has nothing to read
    logged = read_logged(registry, run_id)
    reg = register_logged(logged, registry, by)
    if json_out:
        emit_json(
            {
                "model_name": logged.name,
                "run_id": run_id,
                "registered_version": reg.version,
                "semver": reg.semver,
                "semver_reason": reg.semver_reason,
            }
        )
        return
    out().print(
        f"[green]registered[/] {logged.name} version {reg.version} ({reg.semver}: "
        f"{reg.semver_reason}) as staging; run {run_id}"
    )


def tune(
    ctx: typer.Context,
    project: ProjectOpt = Path("."),
    trials: Annotated[
        int | None, typer.Option(help="Trials for this worker; default tuning.trials.")
    ] = None,
    storage: Annotated[
        str | None, typer.Option(help="Optuna storage URL shared by workers.")
    ] = None,
    trial: Annotated[
        bool,
        typer.Option(
            "--trial",
            help="Evaluate one parameter set chosen elsewhere (Katib): --set NAME=VALUE for "
            "each searched parameter; prints METRIC=VALUE.",
        ),
    ] = False,
    assignments: Annotated[
        list[str] | None, typer.Option("--set", help="With --trial: NAME=VALUE.")
    ] = None,
    trial_name: Annotated[
        str | None, typer.Option(help="With --trial: the MLflow run's name (Katib's trial).")
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Run tuning trials as one worker; many workers share a study through --storage.

    With --trial, evaluate the one parameter set given by --set (the cross-validated metric on
    the training split, logged as an MLflow run) and print `metric=value` on stdout, the line
    Katib's StdOut metrics collector reads.
    """
    from conveyor.errors import Problem, SpecError
    from conveyor.spec import load_spec
    from conveyor.tuning_worker import run_trial, tune_worker

    cli: CliContext = ctx.obj
    spec = load_spec(project)
    if spec.tuning is None:
        raise SpecError(
            str(project), [Problem("tuning", "add a tuning section to run `conveyor tune`")]
        )
    base = project.resolve() if project.is_dir() else project.resolve().parent
    if not trial and (assignments or trial_name):
        raise typer.BadParameter("--set and --trial-name go with --trial")
    if trial:
        done = run_trial(spec, base, cli.settings, assignments or [], trial_name)
        if json_out:
            emit_json(
                {
                    "metric": done.metric,
                    "value": done.value,
                    "params": done.params,
                    "run_id": done.run_id,
                }
            )
        else:
            typer.echo(done.line())
        return
    result = tune_worker(spec, base, cli.settings, trials, storage)
    payload: dict[str, Any] = {
        "study": result.study,
        "trials": result.trials,
        "metric": result.metric,
        "best_value": result.best_value,
        "best_params": result.best_params,
    }
    if json_out:
        emit_json(payload)
    else:
        out().print(
            f"study {result.study}: {result.trials} trials, best cv {result.metric} = "
            f"{result.best_value:.4f} with {result.best_params}"
        )


def _print_gates(gates: Any) -> None:
    if not isinstance(gates, dict):
        return
    colour = {"passed": "green", "failed": "red", "skipped": "yellow"}
    rows = [
        [f"[{colour[g['outcome']]}]{g['outcome']}[/]", g["name"], g["detail"]]
        for g in gates.get("gates", [])
    ]
    err().print(table("quality gates", ["outcome", "gate", "detail"], rows))


def spec(
    section: Annotated[
        str, typer.Argument(help="A section such as data or rollout.analysis; default all.")
    ] = "",
    json_out: JsonOpt = False,
) -> None:
    """Describe every key of conveyor.yaml: its type, default, meaning and an example."""
    from conveyor.errors import UserError
    from conveyor.spec.reference import as_json, sections

    try:
        found = sections(section)
    except KeyError:
        names = ", ".join(s.path for s in sections() if s.path)
        raise UserError(f"conveyor.yaml has no section {section!r}; sections: {names}") from None
    if json_out:
        emit_json(as_json(section))
        return
    from rich.padding import Padding
    from rich.text import Text

    console = out()
    for s in found:
        console.print(Text.assemble((s.path or "top level", "bold"), f": {s.summary}\n"))
        for e in s.entries:
            default = e.default if e.default in ("required", "not set") else f"default {e.default}"
            head = Text.assemble((e.key, "cyan"), f"  {e.type}; {default}")
            console.print(Padding(head, (0, 0, 0, 2), expand=False))
            body = Text(e.description)
            if e.example and e.example != "see its section":
                body.append("\nexample: ", "dim").append(e.example)
            console.print(Padding(body, (0, 0, 0, 6), expand=False))
        console.print()
