"""Kubernetes objects for one model, as plain dicts: the server Deployment behind a Service
with an HPA and a PodDisruptionBudget, the rollout controller as its own Deployment, and the
Prometheus Operator's ServiceMonitor and PrometheusRule.

The pods hold no model: each server resolves ``CONVEYOR_MODEL_NAME`` at the alias
``CONVEYOR_MODEL_STAGE`` in the registry at start and follows it. The version this render was
made for (``models:/NAME/V``) is in the ConfigMap and on the pod template, so rendering a new
version changes the template and rolls the pods; the rollout controller moves the aliases.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from conveyor.errors import UserError

PORT = 8000
HOME = "/var/lib/conveyor"
UID = 10001  # the image's user (Dockerfile)
JOB = "conveyor"  # the Prometheus job the alert rules expect (AlertThresholds.job)

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_IMAGE = re.compile(r"^[^\s:@]+(?::\d+)?(/[^\s:@]+)*(:[\w][\w.-]{0,127})?(@sha256:[0-9a-f]{64})?$")


@dataclass(frozen=True)
class RenderOptions:
    """What `conveyor k8s render` was asked for; ``check()`` names every bad value at once."""

    name: str
    version: str
    image: str
    namespace: str = "conveyor"
    replicas_min: int = 2
    replicas_max: int = 10
    cpu_target: int = 70
    tracking_uri: str = "http://mlflow:5000"
    cpu_request: str = "500m"
    cpu_limit: str = "2"
    memory_request: str = "512Mi"
    memory_limit: str = "1Gi"
    settings: dict[str, str] = field(default_factory=dict)  # extra CONVEYOR_* entries

    def check(self) -> None:
        problems = []
        if not slug(self.name):
            problems.append(f"model name {self.name!r} has no letter or digit to name objects by")
        if not self.version.isdigit():
            problems.append(f"--version {self.version!r}: a registered version is a number")
        if not _IMAGE.match(self.image) or not image_tag(self.image):
            problems.append(
                f"--image {self.image!r}: needs a tag or digest (e.g. ghcr.io/org/conveyor:<sha>)"
            )
        if not _DNS_LABEL.match(self.namespace) or len(self.namespace) > 63:
            problems.append(f"--namespace {self.namespace!r} is not a DNS-1123 label")
        if not 1 <= self.replicas_min <= self.replicas_max:
            problems.append(
                f"replicas: need 1 <= --replicas-min ({self.replicas_min}) <= "
                f"--replicas-max ({self.replicas_max})"
            )
        if not 1 <= self.cpu_target <= 100:
            problems.append(f"--cpu-target {self.cpu_target}: a percentage from 1 to 100")
        problems += [
            f"setting {k!r}: only CONVEYOR_* variables belong in the ConfigMap"
            for k in self.settings
            if not k.startswith("CONVEYOR_")
        ]
        if problems:
            raise UserError("cannot render manifests:\n  " + "\n  ".join(problems))

    @property
    def app(self) -> str:
        """The name every object of this model carries."""
        return f"conveyor-{slug(self.name)}"[:52].rstrip("-")  # room for '-controller'

    @property
    def model_uri(self) -> str:
        return f"models:/{self.name}/{self.version}"

    def overlay_namespace(self, env: str) -> str:
        """Production keeps ``namespace``; other environments get ``namespace-env``."""
        return self.namespace if env == "production" else f"{self.namespace}-{env}"


def slug(text: str) -> str:
    """``text`` as a DNS-1123 label fragment: lower case, runs of other characters as '-'."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40].strip("-")


def image_tag(image: str) -> str:
    """The tag or digest of an image reference; '' when it has neither."""
    if "@" in image:
        return image.split("@", 1)[1]
    last = image.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else ""


def labels(o: RenderOptions, component: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "conveyor",
        "app.kubernetes.io/instance": o.app,
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/part-of": "conveyor",
        "app.kubernetes.io/managed-by": "conveyor",
        "conveyor.dev/model": slug(o.name),
        "conveyor.dev/model-version": o.version,
    }


def selector(o: RenderOptions, component: str) -> dict[str, str]:
    """The immutable subset of the labels: never the version, or a new version could not be
    applied over the old Deployment."""
    keep = ("app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/component")
    return {k: v for k, v in labels(o, component).items() if k in keep}


def meta(o: RenderOptions, name: str, component: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "namespace": o.namespace, "labels": labels(o, component), **extra}


def namespace(o: RenderOptions) -> dict[str, Any]:
    # the pods meet the "restricted" Pod Security Standard; enforce it for the namespace
    pss = {f"pod-security.kubernetes.io/{m}": "restricted" for m in ("enforce", "audit", "warn")}
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": o.namespace,
            "labels": {"app.kubernetes.io/part-of": "conveyor", **pss},
        },
    }


def config_data(o: RenderOptions) -> dict[str, str]:
    """The CONVEYOR_* settings every pod reads. Credentials (the store URL with its password,
    the admin token, object-store keys) are in the Secret, never here."""
    data = {
        "CONVEYOR_MODEL_NAME": o.name,
        "CONVEYOR_MODEL_VERSION": o.version,
        "CONVEYOR_MODEL_URI": o.model_uri,
        "CONVEYOR_MODEL_STAGE": "production",
        "CONVEYOR_TRACKING_URI": o.tracking_uri,
        "CONVEYOR_HOME": HOME,
        "CONVEYOR_CACHE_DIR": f"{HOME}/cache",
        "CONVEYOR_LOG_FORMAT": "json",
        "CONVEYOR_LOG_LEVEL": "INFO",
        "CONVEYOR_REFRESH_SECONDS": "30",
    }
    return dict(sorted({**data, **o.settings}.items()))


def config_map(o: RenderOptions) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": meta(o, o.app, "config"),
        "data": config_data(o),
    }


def secret_name(o: RenderOptions) -> str:
    return f"{o.app}-secrets"


def service_account(o: RenderOptions) -> dict[str, Any]:
    # neither server nor controller talks to the Kubernetes API: no token in the pods
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": meta(o, o.app, "identity"),
        "automountServiceAccountToken": False,
    }


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


def server_deployment(o: RenderOptions) -> dict[str, Any]:
    probe = {"httpGet": {"path": "/health", "port": "http"}}
    container = {
        "name": "server",
        "image": o.image,
        "imagePullPolicy": "IfNotPresent",
        "command": serve_command(),
        "ports": [{"name": "http", "containerPort": PORT, "protocol": "TCP"}],
        "envFrom": env_sources(o),
        "env": stage_env(o),
        # the model downloads before the port opens: up to 5 minutes to start
        "startupProbe": {**probe, "periodSeconds": 5, "failureThreshold": 60},
        "readinessProbe": {
            "httpGet": {"path": "/ready", "port": "http"},
            "periodSeconds": 5,
            "failureThreshold": 2,
        },
        "livenessProbe": {**probe, "periodSeconds": 10, "timeoutSeconds": 3, "failureThreshold": 3},
        # endpoints drop the pod before SIGTERM reaches the server, which then drains
        "lifecycle": {"preStop": {"exec": {"command": ["sleep", "5"]}}},
        "resources": resources(o),
        "securityContext": container_security(),
        "volumeMounts": writable_mounts(),
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta(o, o.app, "server"),
        # no replicas: the HPA owns the count, and an apply must not reset it
        "spec": {
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": selector(o, "server")},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0},
            },
            "template": {
                "metadata": {
                    "labels": labels(o, "server"),
                    "annotations": template_annotations(o),
                },
                "spec": {
                    "serviceAccountName": o.app,
                    "automountServiceAccountToken": False,
                    "securityContext": pod_security(),
                    "terminationGracePeriodSeconds": 45,  # server drains for up to 30 s
                    "topologySpreadConstraints": [
                        {
                            "maxSkew": 1,
                            "topologyKey": "kubernetes.io/hostname",
                            "whenUnsatisfiable": "ScheduleAnyway",
                            "labelSelector": {"matchLabels": selector(o, "server")},
                        }
                    ],
                    "containers": [container],
                    "volumes": writable_volumes(),
                },
            },
        },
    }


def service(o: RenderOptions) -> dict[str, Any]:
    metadata = meta(o, o.app, "server")
    metadata["labels"] = {**metadata["labels"], "conveyor.dev/job": JOB}
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata,
        "spec": {
            "type": "ClusterIP",
            "selector": selector(o, "server"),
            "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def autoscaler(o: RenderOptions) -> dict[str, Any]:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": meta(o, o.app, "server"),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": o.app},
            "minReplicas": o.replicas_min,
            "maxReplicas": o.replicas_max,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": o.cpu_target},
                    },
                }
            ],
            # a new replica downloads the model first: scale up promptly, down slowly
            "behavior": {
                "scaleUp": {
                    "stabilizationWindowSeconds": 0,
                    "policies": [{"type": "Percent", "value": 100, "periodSeconds": 60}],
                },
                "scaleDown": {
                    "stabilizationWindowSeconds": 300,
                    "policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}],
                },
            },
        },
    }


def disruption_budget(o: RenderOptions) -> dict[str, Any]:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": meta(o, o.app, "server"),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": selector(o, "server")}},
    }


def controller_deployment(o: RenderOptions) -> dict[str, Any]:
    """One replica running `conveyor controller`; a second one (during a rollout of the
    controller itself) would wait for the store's lease, so Recreate is enough."""
    name = f"{o.app}-controller"
    container = {
        "name": "controller",
        "image": o.image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["conveyor", "controller"],
        "envFrom": env_sources(o),
        "env": stage_env(o),
        "resources": {
            "requests": {"cpu": "100m", "memory": "256Mi"},
            "limits": {"cpu": "500m", "memory": "512Mi"},
        },
        "securityContext": container_security(),
        "volumeMounts": writable_mounts(),
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta(o, name, "controller"),
        "spec": {
            "replicas": 1,
            "revisionHistoryLimit": 5,
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": selector(o, "controller")},
            "template": {
                "metadata": {
                    "labels": labels(o, "controller"),
                    "annotations": {"conveyor.dev/model-uri": o.model_uri},
                },
                "spec": {
                    "serviceAccountName": o.app,
                    "automountServiceAccountToken": False,
                    "securityContext": pod_security(),
                    "containers": [container],
                    "volumes": writable_volumes(),
                },
            },
        },
    }


def service_monitor(o: RenderOptions) -> dict[str, Any]:
    """Scrapes every server replica; the job label comes from the Service (``conveyor``), the
    job the alert rules watch."""
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": meta(o, o.app, "server"),
        "spec": {
            "jobLabel": "conveyor.dev/job",
            "selector": {"matchLabels": selector(o, "server")},
            "endpoints": [
                {"port": "http", "path": "/metrics", "interval": "15s", "scrapeTimeout": "10s"}
            ],
        },
    }


def prometheus_rule(o: RenderOptions) -> dict[str, Any]:
    from conveyor.monitoring.rules import prometheus_rule_crd

    rule = prometheus_rule_crd(name=o.app, namespace=o.namespace)
    rule["metadata"]["labels"] = {**labels(o, "alerts"), **rule["metadata"]["labels"]}
    return rule


def core_objects(o: RenderOptions) -> dict[str, dict[str, Any]]:
    """File name -> object, in apply order."""
    return {
        "namespace.yaml": namespace(o),
        "serviceaccount.yaml": service_account(o),
        "configmap.yaml": config_map(o),
        "deployment.yaml": server_deployment(o),
        "service.yaml": service(o),
        "hpa.yaml": autoscaler(o),
        "pdb.yaml": disruption_budget(o),
        "controller.yaml": controller_deployment(o),
        "servicemonitor.yaml": service_monitor(o),
        "prometheusrule.yaml": prometheus_rule(o),
    }
