"""The workloads of one model: the server Deployment behind a Service with an HPA and a
PodDisruptionBudget, the rollout controller as its own Deployment, and the Prometheus
Operator's ServiceMonitor and PrometheusRule."""

from __future__ import annotations

from typing import Any

from conveyor.deploy.k8s import (
    JOB,
    PORT,
    RenderOptions,
    config_map,
    labels,
    meta,
    namespace,
    selector,
    service_account,
)
from conveyor.deploy.pods import (
    container_security,
    env_sources,
    pod_security,
    resources,
    serve_command,
    stage_env,
    template_annotations,
    writable_mounts,
    writable_volumes,
)


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
            "type": o.service_type,
            "selector": selector(o, "server"),
            "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def ingress(o: RenderOptions) -> dict[str, Any]:
    """HTTP routing for ``o.host`` to the Service (the cluster's default ingress class; set
    ``spec.ingressClassName`` and TLS in an overlay as the cluster needs)."""
    backend = {"service": {"name": o.app, "port": {"name": "http"}}}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": meta(o, o.app, "server"),
        "spec": {
            "rules": [
                {
                    "host": o.host,
                    "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": backend}]},
                }
            ]
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
            # CPU for request load; memory for large requests and loaded candidates (a rollout
            # holds two versions); the HPA scales on whichever asks for more replicas
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": name,
                        "target": {"type": "Utilization", "averageUtilization": target},
                    },
                }
                for name, target in (("cpu", o.cpu_target), ("memory", o.memory_target))
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
    from conveyor.deploy.prometheus_rules import prometheus_rule_crd

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
        **({"ingress.yaml": ingress(o)} if o.host else {}),
        "hpa.yaml": autoscaler(o),
        "pdb.yaml": disruption_budget(o),
        "controller.yaml": controller_deployment(o),
        "servicemonitor.yaml": service_monitor(o),
        "prometheusrule.yaml": prometheus_rule(o),
    }
