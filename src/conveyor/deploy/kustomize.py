"""Write the manifests as a kustomize tree::

    DIR/base/                 every object, kustomization.yaml listing them
    DIR/secret-template.yaml  the Secret the pods read, each key described: fill and apply it
    DIR/overlays/staging/     follows the "staging" alias, in NAMESPACE-staging, 1..3 replicas
    DIR/overlays/production/  follows "production" with the requested replicas
    DIR/kserve/               (--kserve) the same model as KServe InferenceServices
    DIR/katib/                (--katib) a Katib Experiment tuning the project's model
    DIR/seldon/               (--seldon) Seldon Core v2 Model(s), and an Experiment for a
                              canary or a mirror against --seldon-baseline

``kubectl apply -k DIR/overlays/production`` deploys it. Files are rewritten whole each time;
the same options give the same bytes.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conveyor.deploy import k8s, katib, kserve, seldon, workloads
from conveyor.deploy.yamlio import dump_all
from conveyor.errors import UserError
from conveyor.spec.models import ProjectSpec

OVERLAYS = ("staging", "production")
KUSTOMIZATION = {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization"}


@dataclass(frozen=True)
class KServeOptions:
    storage_uri: str
    canary_percent: int = 10


@dataclass(frozen=True)
class KatibOptions:
    spec: ProjectSpec
    spec_text: str
    parallel: int = 2
    algorithm: str = "tpe"


def render(
    options: k8s.RenderOptions,
    out: Path,
    kserve_options: KServeOptions | None = None,
    katib_options: KatibOptions | None = None,
    seldon_options: seldon.SeldonOptions | None = None,
) -> list[Path]:
    """Write the tree under ``out``; returns the files written, sorted."""
    options.check()
    if seldon_options is not None:
        seldon_options.check(options.version)
    if kserve_options is not None and not 0 <= kserve_options.canary_percent <= 100:
        raise UserError(f"--canary-percent {kserve_options.canary_percent}: from 0 to 100")
    files = tree(options, kserve_options, katib_options, seldon_options)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file, not a directory")
    written = []
    for relative, text in files.items():
        path = out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8", newline="\n")
        written.append(path)
    return sorted(written)


def tree(
    o: k8s.RenderOptions,
    kserve_options: KServeOptions | None = None,
    katib_options: KatibOptions | None = None,
    seldon_options: seldon.SeldonOptions | None = None,
) -> dict[str, str]:
    """Relative path -> file text."""
    header = _header(o, kserve_options, katib_options, seldon_options)
    files: dict[str, str] = {}
    objects = workloads.core_objects(o)
    for name, obj in objects.items():
        files[f"base/{name}"] = dump_all([obj], header)
    files["base/kustomization.yaml"] = dump_all(
        [{**KUSTOMIZATION, "resources": list(objects)}], header
    )
    # not a resource: fill it in (or create the Secret another way) before applying
    files["secret-template.yaml"] = dump_all([k8s.secret_template(o)], header)
    for env, stage, minimum, maximum in (
        ("staging", "staging", 1, min(3, o.replicas_max)),
        ("production", "production", o.replicas_min, o.replicas_max),
    ):
        files |= {
            f"overlays/{env}/{k}": v
            for k, v in overlay(o, env, stage, minimum, maximum, header).items()
        }
    if kserve_options is not None:
        services = {
            "inferenceservice.yaml": kserve.custom_predictor(o, kserve_options.canary_percent),
            "inferenceservice-onnx.yaml": kserve.onnx_predictor(
                o, kserve_options.storage_uri, kserve_options.canary_percent
            ),
        }
        shared = {
            k: objects[k] for k in ("namespace.yaml", "serviceaccount.yaml", "configmap.yaml")
        }
        for name, obj in {**shared, **services}.items():
            files[f"kserve/{name}"] = dump_all([obj], header)
        files["kserve/kustomization.yaml"] = dump_all(
            [{**KUSTOMIZATION, "resources": [*shared, *services]}], header
        )
    if seldon_options is not None:
        s = seldon_options
        objects_s = {f"model-v{o.version}.yaml": seldon.model(o, o.version, s.storage_uri)}
        if s.baseline is not None:
            objects_s[f"model-v{s.baseline}.yaml"] = seldon.model(o, s.baseline, s.baseline_uri)
            objects_s["experiment.yaml"] = seldon.experiment(o, s)
        shared = {k: objects[k] for k in ("namespace.yaml",)}
        for name, obj in {**shared, **objects_s}.items():
            files[f"seldon/{name}"] = dump_all([obj], header)
        files["seldon/kustomization.yaml"] = dump_all(
            [{**KUSTOMIZATION, "resources": [*shared, *objects_s]}], header
        )
    if katib_options is not None:
        tuning = {
            "project-configmap.yaml": katib.project_config_map(o, katib_options.spec_text),
            "experiment.yaml": katib.experiment(
                o, katib_options.spec, katib_options.parallel, katib_options.algorithm
            ),
        }
        shared = {
            k: objects[k] for k in ("namespace.yaml", "serviceaccount.yaml", "configmap.yaml")
        }
        for name, obj in {**shared, **tuning}.items():
            files[f"katib/{name}"] = dump_all([obj], header)
        files["katib/kustomization.yaml"] = dump_all(
            [{**KUSTOMIZATION, "resources": [*shared, *tuning]}], header
        )
    return files


def overlay(
    o: k8s.RenderOptions, env: str, stage: str, minimum: int, maximum: int, header: str
) -> dict[str, str]:
    """An overlay: its namespace (kustomize renames the Namespace object too), an environment
    label, the alias to follow, the replicas."""
    namespace = o.overlay_namespace(env)
    patches: dict[str, dict[str, Any]] = {
        "configmap-patch.yaml": {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": o.app, "namespace": o.namespace},
            # staging follows its alias: an empty version unpins it
            "data": {
                "CONVEYOR_MODEL_STAGE": stage,
                **({"CONVEYOR_MODEL_VERSION": ""} if o.pin and stage != "production" else {}),
            },
        },
        "hpa-patch.yaml": {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": o.app, "namespace": o.namespace},
            "spec": {"minReplicas": minimum, "maxReplicas": maximum},
        },
    }
    kustomization = {
        **KUSTOMIZATION,
        "namespace": namespace,
        "resources": ["../../base"],
        "labels": [{"pairs": {"conveyor.dev/environment": env}, "includeSelectors": False}],
        "patches": [
            {"path": "configmap-patch.yaml"},
            {"path": "hpa-patch.yaml"},
        ],
    }
    files = {"kustomization.yaml": dump_all([kustomization], header)}
    for name, doc in patches.items():
        files[name] = dump_all([doc], header)
    return files


def _header(
    o: k8s.RenderOptions,
    kserve_options: KServeOptions | None,
    katib_options: KatibOptions | None = None,
    seldon_options: seldon.SeldonOptions | None = None,
) -> str:
    args = [
        "conveyor", "k8s", "render", o.name, "--version", o.version, "--image", o.image,
        "--namespace", o.namespace, "--replicas-min", str(o.replicas_min),
        "--replicas-max", str(o.replicas_max), "--cpu-target", str(o.cpu_target),
        "--memory-target", str(o.memory_target), "--tracking-uri", o.tracking_uri,
    ]  # fmt: skip
    if not o.pin:
        args.append("--follow-alias")
    if o.host:
        args += ["--host", o.host]
    if o.service_type != "ClusterIP":
        args += ["--service-type", o.service_type]
    if kserve_options is not None:
        args += ["--kserve", "--storage-uri", kserve_options.storage_uri]
    if seldon_options is not None:
        s = seldon_options
        args += ["--seldon", "--storage-uri", s.storage_uri, "--canary-percent", str(s.percent)]
        if s.baseline is not None:
            args += ["--seldon-baseline", s.baseline, "--seldon-baseline-uri", s.baseline_uri]
        if s.mirror:
            args.append("--seldon-mirror")
    if katib_options is not None:
        args += [
            "--katib", "--parallel", str(katib_options.parallel),
            "--algorithm", katib_options.algorithm,
        ]  # fmt: skip
    return (
        f"Generated by: {shlex.join(args)}\n"
        f"Model {o.model_uri}, image {o.image}. Edit by rendering again."
    )
