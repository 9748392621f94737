"""KServe InferenceServices for one model: Conveyor's own image as a custom predictor speaking
the Open Inference Protocol (V2), and a variant where KServe's ONNX runtime serves the graph
that `conveyor export triton` wrote. Both roll out with ``canaryTrafficPercent``: on an
update, that share of traffic goes to the new revision until it is promoted."""

from __future__ import annotations

from typing import Any

from conveyor.deploy.k8s import PORT, RenderOptions, labels, meta
from conveyor.deploy.pods import (
    container_security,
    env_sources,
    pod_security,
    resources,
    serve_command,
    stage_env,
    writable_mounts,
    writable_volumes,
)
from conveyor.errors import UserError

API_VERSION = "serving.kserve.io/v1beta1"


def _scaling(o: RenderOptions, canary_percent: int) -> dict[str, Any]:
    return {
        "minReplicas": o.replicas_min,
        "maxReplicas": o.replicas_max,
        "scaleMetric": "cpu",
        "scaleTarget": o.cpu_target,
        "canaryTrafficPercent": canary_percent,
    }


def _metadata(o: RenderOptions, name: str) -> dict[str, Any]:
    # KServe merges the model server's /metrics into the queue proxy's scrape
    annotations = {
        "conveyor.dev/model-uri": o.model_uri,
        "serving.kserve.io/enable-prometheus-scraping": "true",
    }
    return meta(o, name, "inference-service", annotations=annotations)


def custom_predictor(o: RenderOptions, canary_percent: int) -> dict[str, Any]:
    """Conveyor's server in KServe: the container KServe routes to is ``kserve-container``;
    ``PROTOCOL=v2`` tells KServe it speaks the Open Inference Protocol."""
    container = {
        "name": "kserve-container",
        "image": o.image,
        "command": serve_command(),
        "ports": [{"containerPort": PORT, "protocol": "TCP"}],
        "envFrom": env_sources(o),
        "env": [{"name": "PROTOCOL", "value": "v2"}, *stage_env(o)],
        "readinessProbe": {"httpGet": {"path": "/ready", "port": PORT}, "periodSeconds": 5},
        "resources": resources(o),
        "securityContext": container_security(),
        "volumeMounts": writable_mounts(),
    }
    predictor = {
        **_scaling(o, canary_percent),
        "serviceAccountName": o.app,
        "securityContext": pod_security(),
        "containers": [container],
        "volumes": writable_volumes(),
    }
    return {
        "apiVersion": API_VERSION,
        "kind": "InferenceService",
        "metadata": _metadata(o, o.app),
        "spec": {"predictor": predictor},
    }


def onnx_predictor(o: RenderOptions, storage_uri: str, canary_percent: int) -> dict[str, Any]:
    """KServe's ONNX runtime (Triton) on the exported model repository at ``storage_uri``."""
    if not storage_uri or "://" not in storage_uri:
        raise UserError(
            "--kserve needs --storage-uri: where the output of `conveyor export triton` was "
            "uploaded (e.g. s3://models/triton/NAME/V)"
        )
    model = {
        "modelFormat": {"name": "onnx"},
        "protocolVersion": "v2",
        "storageUri": storage_uri,
        "resources": resources(o),
    }
    name = f"{o.app}-onnx"
    metadata = _metadata(o, name)
    metadata["labels"] = {**labels(o, "inference-service"), "conveyor.dev/runtime": "onnx"}
    return {
        "apiVersion": API_VERSION,
        "kind": "InferenceService",
        "metadata": metadata,
        "spec": {"predictor": {**_scaling(o, canary_percent), "model": model}},
    }
