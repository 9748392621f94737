"""Seldon Core v2 objects for one model: a ``Model`` per version, loaded by a Seldon ``Server``
with the ONNX capability (Triton or MLServer) from the model repository `conveyor export
triton` wrote and you uploaded, and, when the version replaces a baseline, an ``Experiment``
that splits traffic between them (a canary) or mirrors a share of it to the new one (shadow).

Seldon's own routing does the split; Conveyor in gateway mode (``conveyor serve --backend
v2://seldon-mesh/...``) can still sit in front for validation, logs and monitoring.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from conveyor.deploy.k8s import RenderOptions, meta
from conveyor.errors import UserError

API_VERSION = "mlops.seldon.io/v1alpha1"


@dataclass(frozen=True)
class SeldonOptions:
    storage_uri: str  # the uploaded `conveyor export triton` output for this version
    baseline: str | None = None  # the version this one is rolled out against
    baseline_uri: str = ""  # its uploaded `conveyor export triton` output
    percent: int = 10  # the canary's share, or the mirrored share
    mirror: bool = False  # shadow: mirror the share instead of splitting it

    def check(self, version: str) -> None:
        problems = []
        if not self.storage_uri:
            problems.append("--seldon needs --storage-uri (the uploaded `conveyor export triton`)")
        if self.baseline is not None and (not self.baseline.isdigit() or self.baseline == version):
            problems.append(f"--seldon-baseline {self.baseline!r}: another registered version")
        if not 0 <= self.percent <= 100:
            problems.append(f"--canary-percent {self.percent}: from 0 to 100")
        if self.baseline is not None and not self.baseline_uri:
            problems.append("--seldon-baseline needs --seldon-baseline-uri (its uploaded export)")
        if self.mirror and self.baseline is None:
            problems.append("--seldon-mirror needs --seldon-baseline: the version that answers")
        if problems:
            raise UserError("cannot render Seldon objects:\n  " + "\n  ".join(problems))


def model_name(o: RenderOptions, version: str) -> str:
    return f"{o.app}-v{version}"


def model(o: RenderOptions, version: str, storage_uri: str) -> dict[str, Any]:
    metadata = meta(o, model_name(o, version), "seldon-model")
    metadata["labels"] = {**metadata["labels"], "conveyor.dev/model-version": version}
    return {
        "apiVersion": API_VERSION,
        "kind": "Model",
        "metadata": metadata,
        "spec": {
            "storageUri": storage_uri,
            "requirements": ["onnx"],
            "minReplicas": o.replicas_min,
            "maxReplicas": o.replicas_max,
        },
    }


def experiment(o: RenderOptions, s: SeldonOptions) -> dict[str, Any]:
    """Canary: the baseline keeps ``100 - percent`` of the traffic, the new version
    ``percent``. Shadow: the baseline answers everything and ``percent`` is mirrored."""
    assert s.baseline is not None
    old, new = model_name(o, s.baseline), model_name(o, o.version)
    spec: dict[str, Any] = {"default": old}
    if s.mirror:
        spec["candidates"] = [{"name": old, "weight": 100}]
        spec["mirror"] = {"name": new, "percent": s.percent}
    else:
        spec["candidates"] = [
            {"name": old, "weight": 100 - s.percent},
            {"name": new, "weight": s.percent},
        ]
    return {
        "apiVersion": API_VERSION,
        "kind": "Experiment",
        "metadata": meta(o, f"{o.app}-rollout", "seldon-experiment"),
        "spec": spec,
    }
