"""A remote runtime: the model runs on an Open Inference Protocol (V2) server — Triton,
KServe, MLServer, Seldon Core v2 — and Conveyor stays in front of it, keeping request
validation, request ids, the inference log, metrics, drift monitoring, feedback and rollouts.

``--backend v2://HOST:PORT[/MODEL]`` (``CONVEYOR_BACKEND``; ``v2s://`` for HTTPS) names the
server and the model on it (default: the served model's name; ``{version}`` in it stands for
the registered version, so each arm of a rollout reaches its own backend model). Entries of the
form ``VERSION=URL`` (comma-separated, or ``--backend`` repeated) send only that version there:
a rollout's arms may be one in-process and one remote. At load the backend's model
metadata says which request shape it takes: one ``[N, F]`` tensor (a scikit-learn model on
MLServer), or one ``[N, 1]`` tensor per feature named as the features (what
``conveyor export triton`` writes). Its outputs are read by name: labels from ``predictions``,
``label``, ``predict``, ``output_label`` or the first output; probabilities from
``probabilities``, ``predict_proba`` or ``output_probability``.

A backend that cannot be reached or answers 5xx is a ``ServiceUnavailableError`` (503 with
Retry-After) and nothing is logged as a prediction; one that refuses the values (4xx) is a
``ModelInputError`` (422). ``healthy()`` (the backend's ``/v2/health/ready``, checked at most
every second) makes this server not ready while the backend is down.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from conveyor.bundle.runtime import Columns, Output, Runtime, open_runtime
from conveyor.data.schema import Kind
from conveyor.errors import ModelInputError, ServiceUnavailableError, UserError

if TYPE_CHECKING:
    import httpx

    from conveyor.bundle.model import Bundle

LABELS = ("predictions", "label", "predict", "output_label")
PROBABILITIES = ("probabilities", "predict_proba", "output_probability")
TIMEOUT_S = 10.0
HEALTH_EVERY_S = 1.0
RETRY_AFTER_S = 5


@dataclass(frozen=True)
class Backend:
    base: str  # http(s)://host:port
    model: str | None

    @classmethod
    def parse(cls, url: str) -> Backend:
        scheme, sep, rest = url.partition("://")
        if not sep or scheme not in ("v2", "v2s") or not rest.split("/", 1)[0]:
            raise UserError(
                f"--backend {url!r}: v2://HOST:PORT[/MODEL] (v2s:// for HTTPS), an Open "
                "Inference Protocol server such as Triton, KServe, MLServer or Seldon"
            )
        host, _, model = rest.partition("/")
        http = "https" if scheme == "v2s" else "http"
        return cls(f"{http}://{host}", model.strip("/") or None)

    @classmethod
    def table(cls, setting: str) -> dict[str | None, Backend]:
        """``[VERSION=]URL`` entries, comma-separated: the backend of each version named, and
        under ``None`` the one for every other version (absent: those run in-process)."""
        found: dict[str | None, Backend] = {}
        for entry in (e.strip() for e in setting.split(",")):
            if not entry:
                continue
            version, sep, url = entry.partition("=")
            key = version.strip() if sep and "://" not in version else None
            url = url.strip() if key is not None else entry
            if key == "" or key in found:
                which = f"version {key}" if key else "every version"
                raise UserError(f"--backend {entry!r}: a second backend for {which}")
            found[key] = cls.parse(url)
        return found

    @classmethod
    def for_version(cls, setting: str | None, version: str) -> Backend | None:
        """The backend ``setting`` gives a version, or None: in-process."""
        if not setting:
            return None
        table = cls.table(setting)
        return table.get(version, table.get(None))

    def model_for(self, name: str, version: str) -> str:
        """The backend's model for a registered version: ``{version}`` in the URL's model name
        is the version (``v2://triton:8000/wine-v{version}``), so a rollout's arms reach
        their own models; without it every version goes to the one model named."""
        return (self.model or name).replace("{version}", version)


def open_served(bundle: Bundle, threads: int, backend: str | None) -> Runtime:
    """The runtime a server uses for a version: the remote model ``backend`` (a
    ``Backend.table`` setting) gives it, else the in-process one (``open_runtime``)."""
    remote = Backend.for_version(backend, bundle.identity.version)
    if remote is not None:
        return RemoteRuntime(bundle, remote)
    return open_runtime(bundle, threads)


class RemoteRuntime:
    name = "remote"

    def __init__(self, bundle: Bundle, backend: Backend) -> None:
        import httpx

        self.backend = backend
        self.model = backend.model_for(bundle.identity.name, bundle.identity.version)
        self.features = [(c.name, c.kind) for c in bundle.schema.features]
        self.url = f"{backend.base}/v2/models/{self.model}/infer"
        self.client = httpx.Client(timeout=TIMEOUT_S)
        self._checked = 0.0
        self._checking = False
        self._ready = True  # it answered the metadata request just now
        metadata = self._get(f"{backend.base}/v2/models/{self.model}", "read the model metadata")
        inputs = metadata.get("inputs") or []
        names = {str(i.get("name")) for i in inputs}
        # the datatype each input declares (Triton refuses FP64 for an FP32 input)
        self.datatypes = {str(i.get("name")): str(i.get("datatype") or "FP64") for i in inputs}
        self.per_feature = len(inputs) == len(self.features) and names == {
            n for n, _ in self.features
        }
        self.matrix_input = str(inputs[0]["name"]) if inputs and not self.per_feature else "input-0"
        if not self.per_feature and any(k is Kind.CATEGORICAL for _, k in self.features):
            raise UserError(
                f"backend model {self.model!r} takes one tensor, but this model has categorical "
                "features: serve it there with one input per feature (conveyor export triton)"
            )
        self.reason = (
            f"the model runs on {backend.base} as {self.model!r} (Open Inference Protocol), "
            f"{'one tensor per feature' if self.per_feature else 'one [N, F] tensor'}"
        )

    # -- requests ------------------------------------------------------------------------
    def predict(self, columns: Columns, rows: int) -> Output:
        import numpy as np

        if self.per_feature:
            inputs = [
                _tensor(name, columns[name], kind, rows, self.datatypes.get(name, "FP64"))
                for name, kind in self.features
            ]
        else:
            matrix = np.column_stack([columns[name] for name, _ in self.features])
            data = [None if v != v else float(v) for v in matrix.reshape(-1).tolist()]
            inputs = [
                {
                    "name": self.matrix_input,
                    "shape": [rows, len(self.features)],
                    "datatype": self.datatypes.get(self.matrix_input, "FP64"),
                    "data": data,
                }
            ]
        answer = self._post({"inputs": inputs}, rows)
        outputs = {str(o.get("name")): o for o in answer.get("outputs") or []}
        if not outputs:
            raise ServiceUnavailableError(f"backend model {self.model!r} answered no outputs")
        label_out = next((outputs[n] for n in LABELS if n in outputs), next(iter(outputs.values())))
        labels = np.asarray(label_out.get("data") or []).reshape(rows)
        proba_out = next((outputs[n] for n in PROBABILITIES if n in outputs), None)
        probabilities = None
        if proba_out is not None:
            probabilities = np.asarray(proba_out["data"], dtype=np.float32).reshape(rows, -1)
        return Output(labels, probabilities)

    def healthy(self) -> bool:
        """The backend's readiness as last seen; a check older than ``HEALTH_EVERY_S`` is
        refreshed on a short-lived thread, so ``/ready`` never waits on the backend."""
        import threading

        now = time.monotonic()
        if now - self._checked >= HEALTH_EVERY_S and not self._checking:
            self._checked = now
            self._checking = True
            threading.Thread(target=self._check, daemon=True).start()
        return self._ready

    def _check(self) -> None:
        try:
            url = f"{self.backend.base}/v2/health/ready"
            self._ready = self.client.get(url, timeout=2.0).status_code == 200
        except Exception:  # any transport failure: not ready
            self._ready = False
        finally:
            self._checking = False

    def _post(self, body: dict[str, Any], rows: int) -> Any:
        import httpx

        try:
            response = self.client.post(self.url, json=body)
        except httpx.HTTPError as exc:
            raise self._down(f"is unreachable ({type(exc).__name__}: {exc})") from None
        if response.status_code >= 500:
            raise self._down(f"answered {response.status_code}: {_error(response)}")
        if response.status_code >= 400:
            raise ModelInputError(
                f"backend model {self.model!r} refused {rows} rows: {_error(response)}"
            )
        return response.json()

    def _get(self, url: str, doing: str) -> Any:
        import httpx

        try:
            response = self.client.get(url)
        except httpx.HTTPError as exc:
            raise self._down(f"is unreachable ({type(exc).__name__}) to {doing}") from None
        if response.status_code == 404:
            raise UserError(f"backend {self.backend.base} has no model {self.model!r}")
        if response.status_code >= 400:
            raise self._down(f"answered {response.status_code} to {doing}: {_error(response)}")
        return response.json()

    def _down(self, what: str) -> ServiceUnavailableError:
        self._ready = False
        error = ServiceUnavailableError(f"backend {self.backend.base} {what}")
        error.retry_after = RETRY_AFTER_S  # type: ignore[attr-defined]
        return error


def _tensor(name: str, values: Any, kind: Kind, rows: int, datatype: str) -> dict[str, Any]:
    if kind is Kind.CATEGORICAL:
        return {"name": name, "shape": [rows, 1], "datatype": "BYTES", "data": list(values)}
    data = [None if v != v else float(v) for v in values.tolist()]
    return {"name": name, "shape": [rows, 1], "datatype": datatype, "data": data}


def _error(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    message = body.get("error") if isinstance(body, dict) else None
    return str(message or body)[:300]
