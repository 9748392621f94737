"""Registry commands: models list|show|history, approve, promote, rollback."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from conveyor import gates as G
from conveyor.cli.context import cli_context
from conveyor.cli.options import ReasonOpt, command_group
from conveyor.cli.output import JsonOpt, emit_json, fmt_metrics, out, table
from conveyor.registry.stages import VersionInfo

By = Annotated[str, typer.Option("--by", help="Who, for the audit trail.")]


def register(app: typer.Typer) -> None:
    group = command_group(app, "models", "Registered models, their versions and history.")
    group.command("list")(list_models)
    group.command("show")(show)
    group.command("history")(history)
    group.command("doctor")(doctor)
    app.command("adopt")(adopt)
    app.command("gate")(gate)
    app.command("approve")(approve)
    app.command("promote")(promote)
    app.command("rollback")(rollback)


def list_models(ctx: typer.Context, json_out: JsonOpt = False) -> None:
    """Every registered model with its latest, staging and production versions."""
    models = cli_context(ctx).registry().models()
    if json_out:
        emit_json(models)
        return
    rows = [[m["name"], m["latest_version"], m["staging"], m["production"]] for m in models]
    out().print(table("registered models", ["name", "latest", "staging", "production"], rows))


def show(
    ctx: typer.Context,
    name: str,
    version: Annotated[
        str | None, typer.Argument(help="Default: production, else the latest.")
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """One version in detail; without VERSION, every version in a table."""
    registry = cli_context(ctx).registry()
    if version is None:
        versions = registry.versions(name)
        if json_out:
            emit_json([v.to_dict() for v in versions])
            return
        rows = [
            [
                v.version,
                v.semver,
                v.stage,
                ",".join(v.aliases),
                v.tags.get("conveyor.runtime"),
                _headline(v.metrics),
                v.created_at,
            ]
            for v in versions
        ]
        out().print(
            table(
                f"{name}",
                ["version", "semver", "stage", "aliases", "runtime", "metrics", "created"],
                rows,
            )
        )
        return
    info = registry.get(name, version)
    if json_out:
        emit_json(info.to_dict())
        return
    _print_version(info)


def history(ctx: typer.Context, name: str, json_out: JsonOpt = False) -> None:
    """The audit trail of a model: registrations, approvals, promotions, rollbacks."""
    events = cli_context(ctx).registry().history(name)
    if json_out:
        emit_json([e.to_dict() for e in events])
        return
    rows = [
        [
            e.at.isoformat(timespec="seconds") if e.at else "",
            e.version,
            e.action,
            f"{e.from_stage or '-'} → {e.to_stage or '-'}",
            e.actor,
            e.reason,
        ]
        for e in events
    ]
    out().print(
        table(f"{name} history", ["at", "version", "action", "stage", "by", "reason"], rows)
    )


def doctor(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Argument(help="Default: every registered model.")] = None,
    repair: Annotated[
        bool, typer.Option("--repair", help="Finish interrupted moves and settle stage tags.")
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Check that stage tags and the audit trail agree with the aliases (the truth), as a
    crash mid-promotion could leave them; --repair settles them. Exit 1 when problems remain."""
    from conveyor.registry import moves

    registry = cli_context(ctx).registry()
    names = [name] if name is not None else [m["name"] for m in registry.models()]
    report: dict[str, dict[str, list[str]]] = {}
    for model in names:
        registry.get(model)  # a clear "no registered model" before anything else
        problems = moves.diagnose(registry, model)
        repaired: list[str] = []
        if repair and problems:
            done = registry.repair(model)
            repaired = [f"finished the {m.action} of version {m.version}" for m in done.completed]
            repaired += [f"dropped the {m.action} of version {m.version}" for m in done.dropped]
            repaired += [f"version {v}: {a} → {b}" for v, a, b in done.retagged]
            problems = moves.diagnose(registry, model)
        report[model] = {"problems": problems, "repaired": repaired}
    if json_out:
        emit_json(report)
    else:
        for model, found in report.items():
            for line in found["repaired"]:
                out().print(f"{model}: repaired: {line}")
            for line in found["problems"]:
                out().print(f"[red]{model}: {line}[/]")
            if not found["problems"]:
                out().print(f"[green]{model}: aliases, stage tags and audit are consistent[/]")
    if any(found["problems"] for found in report.values()):
        hint = "" if repair else "; conveyor models doctor --repair settles them"
        raise typer.Exit(1) if json_out else _fail(f"problems found{hint}")


def _fail(message: str) -> typer.Exit:
    from conveyor.cli.output import err

    err().print(message)
    return typer.Exit(1)


def adopt(
    ctx: typer.Context,
    name: str,
    version: str,
    reference: Annotated[
        Path, typer.Option(help="Reference rows (CSV or Parquet): the training or validation data.")
    ],
    target: Annotated[
        str | None, typer.Option(help="The label column, for baseline metrics and classes.")
    ] = None,
    task: Annotated[
        str | None, typer.Option(help="classification or regression (default: inferred).")
    ] = None,
    project: Annotated[
        Path | None,
        typer.Option(
            "--project",
            "-p",
            help="The project whose gates apply (default ./conveyor.yaml if any).",
        ),
    ] = None,
    by: By = "conveyor",
    json_out: JsonOpt = False,
) -> None:
    """Attach Conveyor's schema, reference profile and metrics to a version registered by
    plain MLflow, so drift, online accuracy, alerts and rollouts work for it. With --target,
    the project's gates run on the reference rows too: exit 3 when one fails (recorded)."""
    import shutil

    from conveyor.errors import GateFailedError, UserError
    from conveyor.pipeline.adopt import adopt as run_adopt
    from conveyor.spec import load_spec

    cli = cli_context(ctx)
    if not reference.is_file():
        raise UserError(f"--reference {reference}: no such file")
    if project is None and Path("conveyor.yaml").is_file():
        project = Path(".")
    spec = load_spec(project) if project is not None and target is not None else None
    done = run_adopt(cli.registry(), name, version, reference, target, by, task, cli.settings, spec)
    # this home's cached download predates the bundle files: the next load fetches them
    shutil.rmtree(cli.settings.home / "cache" / "models" / name / version, ignore_errors=True)
    if json_out and done.report.passed:
        emit_json(done.to_dict())
    elif not json_out:
        kind = "classifier" if done.classification else "regressor"
        metrics = f"; baseline {fmt_metrics(done.metrics)}" if done.metrics else ""
        _print_gates(f"{name} version {version} on {reference.name}", done.report)
        out().print(
            f"[green]adopted {name} version {version}[/]: {kind}, {done.features} features, "
            f"reference profile of {done.rows:,} rows{metrics}; gates {done.report.summary()}. "
            "Servers load it at their next start."
        )
    if not done.report.passed:
        raise GateFailedError([r.name for r in done.report.failed], done.report.to_dict())


def gate(
    ctx: typer.Context,
    name: str,
    version: str,
    data: Annotated[Path, typer.Option(help="Rows with their labels (CSV or Parquet).")],
    target: Annotated[
        str | None, typer.Option(help="The label column (default: the project's data.target).")
    ] = None,
    project: Annotated[
        Path, typer.Option("--project", "-p", help="The project whose gates apply.")
    ] = Path("."),
    record: Annotated[
        bool,
        typer.Option(
            help="Record the report on the version (a failed one may not roll out); "
            "--no-record only prints it."
        ),
    ] = True,
    by: By = "conveyor",
    json_out: JsonOpt = False,
) -> None:
    """Apply the project's gates (thresholds, slices, champion) to a registered version on
    given data and record the report on it: exit 3 when one fails, as `conveyor run` does."""
    from conveyor.errors import GateFailedError, UserError
    from conveyor.pipeline.gate import gate_version, record_gates
    from conveyor.spec import load_spec

    if not data.is_file():
        raise UserError(f"--data {data}: no such file")
    cli = cli_context(ctx)
    spec = load_spec(project)
    report, metrics = gate_version(cli.settings, spec, name, version, data, target)
    if record:
        record_gates(cli.registry(), name, version, report, by, data.name)
    if not json_out:
        _print_gates(f"{name} version {version} on {data.name}", report)
    elif report.passed:  # a failure is one JSON document too: the error naming the gates
        emit_json({"name": name, "version": version, "metrics": metrics, **report.to_dict()})
    if not report.passed:
        raise GateFailedError([r.name for r in report.failed], report.to_dict())


def _print_gates(title: str, report: G.GateReport) -> None:
    rows = [[r.name, r.outcome.value, r.detail] for r in report.results]
    out().print(table(title, ["gate", "outcome", "detail"], rows))


def approve(
    ctx: typer.Context,
    name: str,
    version: str,
    by: By,
    reason: ReasonOpt = "",
    json_out: JsonOpt = False,
) -> None:
    """Record an approval (required before production when the spec says so)."""
    info = cli_context(ctx).registry().approve(name, version, by, reason)
    _done(info, f"approved {name} version {version} by {by}", json_out)


def promote(
    ctx: typer.Context,
    name: str,
    version: str,
    to: Annotated[str, typer.Option("--to", help="staging or production.")] = "production",
    reason: ReasonOpt = "",
    by: Annotated[str, typer.Option("--by")] = "conveyor",
    json_out: JsonOpt = False,
) -> None:
    """Move a stage alias to VERSION; the version it replaces is archived."""
    info = cli_context(ctx).registry().promote(name, version, to, by, reason)
    _done(info, f"{name} version {version} is now {to}", json_out)


def rollback(
    ctx: typer.Context,
    name: str,
    reason: ReasonOpt = "",
    by: Annotated[str, typer.Option("--by")] = "conveyor",
    json_out: JsonOpt = False,
) -> None:
    """Put production back on the previous production version; the current one is rejected."""
    info = cli_context(ctx).registry().rollback(name, by, reason)
    _done(info, f"{name} production rolled back to version {info.version}", json_out)


def _done(info: VersionInfo, message: str, json_out: bool) -> None:
    if json_out:
        emit_json(info.to_dict())
    else:
        out().print(f"[green]{message}[/]")


def _print_version(info: VersionInfo) -> None:
    rows = [
        ["version", info.version],
        ["semver", info.semver],
        ["stage", info.stage],
        ["aliases", ", ".join(info.aliases)],
        ["run id", info.run_id],
        ["source", info.source],
        ["created", info.created_at],
        ["metrics", fmt_metrics(info.metrics)],
    ]
    rows += [[k, v] for k, v in sorted(info.tags.items()) if not k.startswith("conveyor.metric.")]
    out().print(table(f"{info.name} version {info.version}", ["field", "value"], rows))


def _headline(metrics: dict[str, float]) -> str:
    keys = [k for k in ("accuracy", "f1_macro", "rmse", "r2") if k in metrics]
    return fmt_metrics({k: metrics[k] for k in keys})
