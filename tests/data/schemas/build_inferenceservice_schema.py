"""Write inferenceservice.serving.kserve.io.v1beta1.json (see README.md).

KServe's CRD inlines a Kubernetes PodSpec into ``spec.predictor`` and a Container into
``spec.predictor.model``; this script lists those inlined fields from the Kubernetes schema
that kubernetes-validate ships, each a ``$ref`` to that field's published schema, so the
Kubernetes parts are checked by Kubernetes' own definitions. KServe's own fields are written
out below from the v1beta1 Go types (ComponentExtensionSpec, PredictorSpec, ModelSpec,
PredictorExtensionSpec). Run: python tests/data/schemas/build_inferenceservice_schema.py
"""

from __future__ import annotations

import json
from pathlib import Path

import kubernetes_validate

K8S_VERSION = "1.31.0"
DEFS = "https://kubernetes.io/api/_definitions.json#/$defs/"
OUT = Path(__file__).with_name("inferenceservice.serving.kserve.io.v1beta1.json")


def k8s_definitions() -> dict[str, object]:
    root = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
    path = root / f"v{K8S_VERSION}-local-strict" / "_definitions.json"
    return json.loads(path.read_text())["$defs"]


def inlined(defs: dict[str, object], kind: str, skip: set[str]) -> dict[str, object]:
    """Every property of a Kubernetes type, each as a $ref to its published schema."""
    props = defs[f"io.k8s.api.core.v1.{kind}"]["properties"]  # type: ignore[index]
    return {
        name: {"$ref": f"{DEFS}io.k8s.api.core.v1.{kind}/properties/{name}"}
        for name in sorted(props)
        if name not in skip
    }


def schema() -> dict[str, object]:
    defs = k8s_definitions()
    integer = {"type": "integer"}
    string_map = {"type": "object", "additionalProperties": {"type": "string"}}
    open_object = {"type": "object"}  # parts Conveyor never renders: not checked here
    extension = {
        "minReplicas": {**integer, "minimum": 0},
        "maxReplicas": {**integer, "minimum": 0},
        "scaleTarget": integer,
        "scaleMetric": {"type": "string", "enum": ["cpu", "memory", "concurrency", "rps"]},
        "containerConcurrency": {**integer, "format": "int64", "minimum": 0},
        "timeout": {**integer, "format": "int64"},
        "canaryTrafficPercent": {**integer, "format": "int64"},
        "logger": open_object,
        "batcher": open_object,
        "labels": string_map,
        "annotations": string_map,
        "deploymentStrategy": {"$ref": f"{DEFS}io.k8s.api.apps.v1.DeploymentStrategy"},
    }
    frameworks = {
        name: open_object
        for name in (
            "sklearn",
            "xgboost",
            "tensorflow",
            "pytorch",
            "triton",
            "onnx",
            "huggingface",
            "pmml",
            "lightgbm",
            "paddle",
        )
    }
    model = {
        "type": "object",
        "required": ["modelFormat"],
        "additionalProperties": False,
        "properties": {
            "modelFormat": {
                "type": "object",
                "required": ["name"],
                "additionalProperties": False,
                "properties": {"name": {"type": "string"}, "version": {"type": "string"}},
            },
            "runtime": {"type": "string"},
            "storageUri": {"type": "string"},
            "runtimeVersion": {"type": "string"},
            "protocolVersion": {"type": "string"},
            "storage": open_object,
            **inlined(defs, "Container", skip=set()),
            # the inlined container's name is optional: KServe names it kserve-container
            "name": {"type": "string"},
        },
    }
    storage_uris = {
        "type": "array",
        "minItems": 1,
        "items": {
            "type": "object",
            "required": ["uri"],
            "additionalProperties": False,
            "properties": {
                "uri": {"type": "string", "minLength": 1},
                "mountPath": {"type": "string", "pattern": "^/.*", "maxLength": 255},
            },
        },
    }
    predictor = {
        "type": "object",
        "additionalProperties": False,
        "properties": dict(
            sorted(
                {
                    **inlined(defs, "PodSpec", skip={"containers"}),
                    # a PodSpec needs containers; a predictor may have a model instead
                    "containers": {
                        "type": "array",
                        "items": {"$ref": f"{DEFS}io.k8s.api.core.v1.Container"},
                    },
                    **extension,
                    **frameworks,
                    "model": model,
                    "storageUris": storage_uris,
                    "workerSpec": open_object,
                }.items()
            )
        ),
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://conveyor.invalid/schemas/inferenceservice.serving.kserve.io.v1beta1.json",
        "title": "InferenceService, serving.kserve.io/v1beta1 (spec.predictor in full, "
        "transformer and explainer unchecked; see README.md)",
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "additionalProperties": False,
        "properties": {
            "apiVersion": {"const": "serving.kserve.io/v1beta1"},
            "kind": {"const": "InferenceService"},
            "metadata": {"$ref": f"{DEFS}io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"},
            "spec": {
                "type": "object",
                "required": ["predictor"],
                "additionalProperties": False,
                "properties": {
                    "predictor": predictor,
                    "transformer": open_object,
                    "explainer": open_object,
                },
            },
        },
    }


if __name__ == "__main__":
    OUT.write_text(json.dumps(schema(), indent=2) + "\n", encoding="utf-8")
    print(OUT)
