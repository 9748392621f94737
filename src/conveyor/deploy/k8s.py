"""What `conveyor k8s render` was asked for, the names and labels every object carries, and
the objects around the workloads: Namespace, ServiceAccount, ConfigMap (see ``workloads``
for the Deployments, Service, HPA, PDB and monitoring objects, ``pods`` for the pod spec).

The pods hold no model: each server loads ``CONVEYOR_MODEL_NAME`` from the registry at start.
The render pins what it names: production pods serve ``CONVEYOR_MODEL_VERSION`` (the
``--version`` given) whatever the aliases say, so the manifest says what runs and rendering a
new version rolls the pods; staging pods follow the ``staging`` alias. With ``--follow-alias``
nothing is pinned and production follows the ``production`` alias (the rollout controller moves
it). The version is on the pod template either way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from conveyor.errors import UserError

PORT = 8000
HOME = "/var/lib/conveyor"
UID = 10001  # the image's user (Dockerfile)
JOB = "conveyor"  # the Prometheus job the alert rules expect (AlertThresholds.job)

SERVICE_TYPES = ("ClusterIP", "LoadBalancer")
# what the pods read from the <app>-secrets Secret (none of it may sit in the ConfigMap)
SECRET_KEYS = {
    "CONVEYOR_STORE_URL": "postgresql+psycopg://USER:PASSWORD@HOST:5432/conveyor",
    "CONVEYOR_ADMIN_TOKEN": "at least 16 characters: python -c 'import secrets; "
    "print(secrets.token_urlsafe(32))'",
    "CONVEYOR_WEBHOOK_SECRET": "HMAC key signing webhook bodies (optional)",
    "MLFLOW_TRACKING_USERNAME": "when the tracking server asks for basic auth (optional)",
    "MLFLOW_TRACKING_PASSWORD": "when the tracking server asks for basic auth (optional)",
    "AWS_ACCESS_KEY_ID": "object-store access for model artifacts (optional)",
    "AWS_SECRET_ACCESS_KEY": "object-store access for model artifacts (optional)",
}
_HOST = re.compile(r"^(\*\.)?([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)+[a-z]{2,63}$")
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
    memory_target: int = 80  # HPA: average memory use, % of the request
    pin: bool = True  # production serves ``version``; False: it follows the production alias
    host: str = ""  # an Ingress for this host when set
    service_type: str = "ClusterIP"  # or LoadBalancer
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
        if not 1 <= self.memory_target <= 100:
            problems.append(f"--memory-target {self.memory_target}: a percentage from 1 to 100")
        if self.host and not _HOST.match(self.host):
            problems.append(f"--host {self.host!r} is not a DNS name (e.g. wine.example.com)")
        if self.service_type not in SERVICE_TYPES:
            problems.append(
                f"--service-type {self.service_type!r}: one of {', '.join(SERVICE_TYPES)}"
            )
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
        **({"CONVEYOR_MODEL_VERSION": o.version} if o.pin else {}),
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


def secret_template(o: RenderOptions) -> dict[str, Any]:
    """The ``<app>-secrets`` Secret the pods read, with what each key holds as its value: not
    part of the kustomization (a template applied as is would deploy placeholders)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": meta(o, f"{o.app}-secrets", "config"),
        "type": "Opaque",
        "stringData": dict(SECRET_KEYS),
    }
