"""A Kubeflow Pipelines (v2) pipeline for a project: validate → train and evaluate with the
gates → register, the last step only when the gates passed (``dsl.If`` on the train step's
output, the seeds' ``dsl.Condition`` on accuracy).

Each step is a small component running the Conveyor CLI in the Conveyor image (``--image``,
which must carry the ``kfp`` extra: ``pip install 'conveyor-mlops[kfp]'``) on the project at
``project_dir`` (a pipeline parameter: baked into the image, or mounted), with the environment
given at compile time (``--env CONVEYOR_TRACKING_URI=...``: the registry and the store all steps
share). Train runs ``conveyor run --no-register`` and register runs ``conveyor register
--run-id``, so a version exists only when the gates passed and is made once per run. Compiled
with kfp's own compiler; ``kfp.local`` runs it without a cluster.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from conveyor.errors import UserError


def _kfp() -> Any:
    try:
        import kfp
        from kfp import dsl  # noqa: F401
    except ImportError:
        raise UserError(
            "conveyor kfp needs Kubeflow Pipelines: pip install 'conveyor-mlops[kfp]'"
        ) from None
    return kfp


def build_pipeline(name: str, image: str, project_dir: str, env: Mapping[str, str]) -> Any:
    """The pipeline function (``dsl.pipeline``) for the project ``name``."""
    _kfp()
    from kfp import dsl

    from conveyor.deploy import kfp_steps

    def component(step: Any) -> Any:
        return dsl.component(step, base_image=image, install_kfp_package=False)

    validate = component(kfp_steps.validate_step)
    train = component(kfp_steps.train_step)
    register = component(kfp_steps.register_step)

    def with_env(task: Any) -> Any:
        for key, value in env.items():
            task.set_env_variable(key, value)
        return task

    def pipeline(project_dir: str = project_dir) -> None:
        checked = with_env(validate(project_dir=project_dir))
        trained = with_env(train(project_dir=project_dir, valid=checked.output))
        with dsl.If(trained.output != "", name="gates-passed"):  # the run id, or "" if they failed
            with_env(register(run_id=trained.output))

    # KFP reads parameter types from the annotations, which this module postpones to strings
    pipeline.__annotations__ = {"project_dir": str, "return": None}
    describe = f"Conveyor: validate, train and gate, register {name}"
    return dsl.pipeline(name=f"{name}-conveyor", description=describe)(pipeline)


def compile_pipeline(
    name: str, image: str, project_dir: str, env: Mapping[str, str], out: Path
) -> Path:
    """Compile the project's pipeline to KFP's IR YAML at ``out``."""
    kfp = _kfp()
    pipeline = build_pipeline(name, image, project_dir, env)
    out.parent.mkdir(parents=True, exist_ok=True)
    kfp.compiler.Compiler().compile(pipeline, package_path=str(out))
    return out
