"""`conveyor dvc init`: a ``dvc.yaml`` whose stages run `conveyor validate` and `conveyor run`.

Their dependencies are the project file, the data (and a training module, if the spec names
one), so `dvc repro` reruns only when one of them changed, and ``dvc.lock`` records the md5 of
exactly what a registered version was trained on. The run stage depends on the validation
report, so a changed dataset is checked before anything trains.
"""

from __future__ import annotations

from pathlib import Path

from conveyor.data.versioned import DvcSource
from conveyor.errors import UserError
from conveyor.spec.models import ProjectSpec

VALIDATION = "validation.json"
RUN_INFO = "run_info.json"


def data_dependencies(spec: ProjectSpec) -> list[str]:
    """Paths, relative to the project, whose change should retrain."""
    deps = ["conveyor.yaml"]
    source = spec.data.source
    ref = DvcSource.parse(source)
    if ref is not None:
        if ref.rev is None:  # pinned to a revision, the spec names the data: no file to watch
            deps.append(ref.path)
    elif not source.startswith("sklearn:"):
        deps.append(source)
    if spec.model.train_function is not None:
        module = spec.model.train_function.partition(":")[0]
        deps.append(module.replace(".", "/") + ".py")
    return deps


def render_stages(spec: ProjectSpec) -> str:
    import yaml

    deps = data_dependencies(spec)
    stages = {
        "stages": {
            "validate": {
                "cmd": f"conveyor validate --json > {VALIDATION}",
                "deps": deps,
                "outs": [{VALIDATION: {"cache": False}}],
            },
            "train": {
                "cmd": f"conveyor run --json --run-info {RUN_INFO} > run.json",
                "deps": [*deps, VALIDATION],
                "outs": [{RUN_INFO: {"cache": False}}, {"run.json": {"cache": False}}],
            },
        }
    }
    head = (
        "# Written by `conveyor dvc init`. `dvc repro` reruns a stage only when a dependency\n"
        "# changed; dvc.lock records the md5 of what each registered version was trained on.\n"
    )
    return head + yaml.safe_dump(stages, sort_keys=False)


def write_stages(spec: ProjectSpec, project_dir: Path, force: bool = False) -> Path:
    """Write ``project_dir/dvc.yaml``; the project must sit inside a DVC repository."""
    target = project_dir / "dvc.yaml"
    if target.exists() and not force:
        raise UserError(f"{target} already exists; pass --force to overwrite it")
    if _dvc_root(project_dir) is None:
        raise UserError(
            f"{project_dir.resolve()} is not inside a DVC repository: run `git init` and "
            "`dvc init` at the repository's root first"
        )
    missing = [d for d in data_dependencies(spec) if not (project_dir / d).exists()]
    if missing:
        raise UserError(f"dvc.yaml would depend on missing files: {', '.join(missing)}")
    target.write_text(render_stages(spec), encoding="utf-8")
    return target


def _dvc_root(start: Path) -> Path | None:
    for folder in (start.resolve(), *start.resolve().parents):
        if (folder / ".dvc").is_dir():
            return folder
    return None
