"""The pieces every Conveyor pod shares: a locked-down security context, writable scratch
volumes on a read-only root, settings from the ConfigMap and the Secret, the serve command."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from conveyor.deploy.k8s import HOME, PORT, UID, RenderOptions, config_data, secret_name


def container_security() -> dict[str, Any]:
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "runAsUser": UID,
        "runAsGroup": UID,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def pod_security() -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": UID,
        "runAsGroup": UID,
        "fsGroup": UID,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def writable_mounts() -> list[dict[str, Any]]:
    """The root filesystem is read-only: CONVEYOR_HOME (model cache, spool) and /tmp are not."""
    return [{"name": "home", "mountPath": HOME}, {"name": "tmp", "mountPath": "/tmp"}]


def writable_volumes() -> list[dict[str, Any]]:
    return [
        {"name": "home", "emptyDir": {"sizeLimit": "2Gi"}},
        {"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}},
    ]


def env_sources(o: RenderOptions) -> list[dict[str, Any]]:
    # the Secret is required: without its store URL a replica would fall back to SQLite
    return [
        {"configMapRef": {"name": o.app}},
        {"secretRef": {"name": secret_name(o), "optional": False}},
    ]


def stage_env(o: RenderOptions) -> list[dict[str, Any]]:
    """CONVEYOR_MODEL_STAGE as an explicit variable, so ``$(CONVEYOR_MODEL_STAGE)`` in the
    command expands (the overlays change it in the ConfigMap)."""
    ref = {"name": o.app, "key": "CONVEYOR_MODEL_STAGE"}
    return [{"name": "CONVEYOR_MODEL_STAGE", "valueFrom": {"configMapKeyRef": ref}}]


def serve_command() -> list[str]:
    return [
        "conveyor",
        "serve",
        "--host",
        "0.0.0.0",
        "--port",
        str(PORT),
        "--stage",
        "$(CONVEYOR_MODEL_STAGE)",
    ]


def resources(o: RenderOptions) -> dict[str, Any]:
    return {
        "requests": {"cpu": o.cpu_request, "memory": o.memory_request},
        "limits": {"cpu": o.cpu_limit, "memory": o.memory_limit},
    }


def template_annotations(o: RenderOptions) -> dict[str, str]:
    digest = hashlib.sha256(json.dumps(config_data(o), sort_keys=True).encode()).hexdigest()
    return {
        "conveyor.dev/model-uri": o.model_uri,
        "conveyor.dev/config-sha256": digest[:16],  # a settings change rolls the pods
        "prometheus.io/scrape": "true",
        "prometheus.io/port": str(PORT),
        "prometheus.io/path": "/metrics",
    }
