"""Entry point: build settings once, dispatch to a command, map errors to exit codes."""

from __future__ import annotations

import atexit
import logging
import os
import sys

import typer
from rich.markup import escape

from conveyor.cli import (
    backup,
    deploy,
    dvc,
    feast,
    kfp,
    models,
    monitor,
    project,
    rollout,
    score,
    serve,
    ui,
)
from conveyor.cli import report as report_command  # main.report prints errors
from conveyor.cli.context import CliContext
from conveyor.cli.output import emit_json, err
from conveyor.display import mask_urls
from conveyor.errors import ConveyorError, UserError
from conveyor.logs import configure_logging
from conveyor.settings import Settings, keep_mlflow_local


def build_app(settings: Settings | None = None) -> typer.Typer:
    """The CLI; its root hands every command one ``CliContext`` over ``settings`` (built from
    the environment when not given: ``main`` builds them first, to report a bad variable)."""
    app = typer.Typer(
        name="conveyor",
        help="Carry a tabular model from data to production: validate, train, gate, register.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )

    @app.callback()
    def _root(ctx: typer.Context) -> None:
        ctx.obj = CliContext(settings if settings is not None else Settings())
        ctx.call_on_close(ctx.obj.close)

    project.register(app)
    models.register(app)
    serve.register(app)
    monitor.register(app)
    rollout.register(app)
    deploy.register(app)
    report_command.register(app)
    dvc.register(app)
    feast.register(app)
    kfp.register(app)
    backup.register(app)
    score.register(app)
    ui.register(app)
    return app


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; Conveyor errors become one clear message and an exit code, never a traceback."""
    keep_mlflow_local()  # before MLflow is imported
    json_mode = "--json" in (argv if argv is not None else sys.argv[1:])
    try:
        settings = Settings()
    except Exception as exc:  # a bad CONVEYOR_* variable
        bad = UserError(f"invalid CONVEYOR_* setting: {_setting_problems(exc)}")
        report(bad, json_mode)
        return bad.exit_code
    configure_logging(settings)
    app = build_app(settings)
    try:
        # without standalone mode click returns a command's typer.Exit code instead of raising
        code = app(args=argv, standalone_mode=False)
    except ConveyorError as exc:
        report(exc, json_mode)
        return exc.exit_code
    except typer.Exit as exc:
        return int(exc.exit_code or 0)
    except typer.Abort:
        err().print("aborted")
        return 1
    except _click_exception() as exc:  # bad usage: Click's message, usage line and help hint
        return _usage_error(exc, json_mode)
    except Exception as exc:  # anything unexpected
        message = escape(mask_urls(str(exc)))
        err().print(f"[red]internal error:[/] {type(exc).__name__}: {message}")
        if settings.log_level.upper() == "DEBUG":
            raise
        return 1
    return code if isinstance(code, int) else 0


def _setting_problems(exc: Exception) -> str:
    """Each bad variable and what is wrong with it, never its value (it may be a secret)."""
    from pydantic import ValidationError

    if not isinstance(exc, ValidationError):
        return mask_urls(str(exc))
    problems = []
    for e in exc.errors():
        where = ".".join(str(part) for part in e["loc"])
        problem = f"{where}: {e['msg'].removeprefix('Value error, ')}"
        if not any(word in where.upper() for word in ("TOKEN", "PASSWORD", "SECRET", "KEY")):
            problem += f" (got {mask_urls(repr(e.get('input')))[:200]})"
        problems.append(problem)
    return "; ".join(problems)


def _click_exception() -> type[Exception]:
    """The ``ClickException`` class Typer raises.

    Recent Typer versions carry their own copy of Click (``typer._click``), so a separately
    installed ``click`` package's class would never match; the class is found from what Typer
    exports (``typer.BadParameter`` → ``UsageError`` → ``ClickException``).
    """
    for cls in typer.BadParameter.__mro__:
        if cls.__name__ == "ClickException":
            return cls
    raise RuntimeError("typer.BadParameter does not derive from ClickException")  # pragma: no cover


def _usage_error(exc: Exception, json_mode: bool) -> int:
    """Show a usage error as Click would (usage line, `--help` hint, the error); exit 2."""
    code = int(getattr(exc, "exit_code", 2))
    exc.show()  # type: ignore[attr-defined]  # ClickException.show: stderr
    if json_mode:
        message = getattr(exc, "format_message", lambda: str(exc))()
        emit_json({"error": message, "type": "UsageError", "exit_code": code})
    return code


def report(exc: ConveyorError, json_mode: bool) -> None:
    """Print a Conveyor error; a credential in a URL it quotes is masked here, the last edge."""
    if json_mode:
        payload = exc.to_dict() | {"exit_code": exc.exit_code}
        payload["error"] = mask_urls(str(payload["error"]))
        emit_json(payload)
        return
    label = "error" if isinstance(exc, UserError) else "failed"
    # escaped: messages quote user data ('[b]', pydantic's [type=...]) that is not markup
    message = escape(mask_urls(exc.message))
    err().print(f"[red]{label}:[/] {message}", markup=True, soft_wrap=True)


def entry() -> None:
    """Console-script entry: run, then exit without tearing down every imported module.

    Unloading mlflow, sklearn and pandas at interpreter exit costs a second or more; by now the
    store is closed and the MLflow run ended, so exit hooks run and the process ends at once.
    """
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    logging.shutdown()
    atexit._run_exitfuncs()
    os._exit(code)
