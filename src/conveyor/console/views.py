"""What the console shows, as plain JSON-ready data: models and their versions, rollouts with
their traffic over time and every check's verdicts, and what production is doing (drift per
feature, the distributions that moved, online accuracy, latency, errors, alerts).

Everything is read from the store and the registry that the servers write to; nothing here
imports a web framework.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from conveyor.errors import ConveyorError, NotFoundError
from conveyor.registry import tags as T

if TYPE_CHECKING:
    from conveyor.bundle.model import Bundle
    from conveyor.registry.stages import ModelRegistry, VersionInfo
    from conveyor.rollout.controller import Controller
    from conveyor.rollout.state import Rollout
    from conveyor.settings import Settings
    from conveyor.store.engine import Store

LINEAGE_TAGS = (
    T.DATA_FINGERPRINT,
    "conveyor.dvc.path",
    "conveyor.dvc.rev",
    "conveyor.dvc.commit",
    "conveyor.dvc.md5",
    T.GIT_COMMIT,
    T.SPEC_HASH,
    T.PARAMS_HASH,
)
MAX_DISTRIBUTIONS = 6  # features whose reference and window distributions are drawn
DRIFT_SLICES = 24  # points of the drift-over-time chart


@dataclass
class Console:
    """The console's reads and commands over one store and registry."""

    settings: Settings
    store: Store
    registry: ModelRegistry
    control: Controller

    # -- models --------------------------------------------------------------------------
    def models(self) -> dict[str, Any]:
        found = self.registry.models()
        rollouts = {r.model: r for r in self.control.records.active()}
        firing: dict[str, int] = {}
        from conveyor.monitoring.alerts import AlertBook

        for alert in AlertBook(self.store).list(None, "firing", 1000):
            firing[alert["model"]] = firing.get(alert["model"], 0) + 1
        for m in found:
            active = rollouts.get(m["name"])
            m["rollout"] = _rollout_brief(active) if active else None
            m["alerts_firing"] = firing.get(m["name"], 0)
        return {"models": found, "mlflow_ui": self.settings.mlflow_ui_url or None}

    def model(self, name: str) -> dict[str, Any]:
        versions = self.registry.versions(name)
        history = self.registry.history(name)
        return {
            "name": name,
            "versions": [self._version(v) for v in reversed(versions)],
            "history": [e.to_dict() for e in reversed(history)][:200],
            "rollouts": [r.to_dict() for r in self.control.records.for_model(name, limit=20)],
            "mlflow_ui": self.settings.mlflow_ui_url or None,
        }

    def _version(self, v: VersionInfo) -> dict[str, Any]:
        ui = self.settings.mlflow_ui_url.rstrip("/") if self.settings.mlflow_ui_url else ""
        gates = v.tags.get(T.GATES, "")
        return {
            "version": v.version,
            "stage": v.stage,
            "aliases": v.aliases,
            "semver": v.semver,
            "semver_reason": v.tags.get(T.SEMVER_REASON, ""),
            "created_at": v.created_at,
            "run_id": v.run_id,
            "runtime": v.tags.get(T.RUNTIME, ""),
            "metrics": v.metrics,
            "gates": gates,
            "lineage": {
                k.removeprefix("conveyor."): v.tags[k] for k in LINEAGE_TAGS if k in v.tags
            },
            "approved_by": v.tags.get(T.APPROVED_BY),
            "approval_required": v.tags.get(T.REQUIRE_APPROVAL) == "true",
            "rejected_reason": v.tags.get("conveyor.rejected_reason"),
            "run_url": f"{ui}/#/experiments/0/runs/{v.run_id}" if ui and v.run_id else None,
            "version_url": f"{ui}/#/models/{v.name}/versions/{v.version}" if ui else None,
        }

    # -- rollouts ------------------------------------------------------------------------
    def rollout(self, name: str, rollout_id: int | None = None) -> dict[str, Any]:
        records = self.control.records
        if rollout_id is None:
            rollout = self.control.status(name)
            if rollout is None:
                return {"model": name, "rollout": None, "past": []}
        else:
            rollout = records.get(rollout_id)
            if rollout.model != name:
                raise NotFoundError(f"rollout {rollout_id} is of {rollout.model!r}, not {name!r}")
        plan = self.control.plan(rollout)
        events = records.events(rollout.id)
        analyses = [e for e in events if e.kind == "analysis"]
        return {
            "model": name,
            "rollout": rollout.to_dict() | {"owed": rollout.pending},
            "plan": [
                {"step": i + 1, "label": s.label, "candidate": s.weight, "mirror": s.mirror}
                for i, s in enumerate(plan)
            ],
            "traffic": _traffic(rollout, events, [s.weight for s in plan]),
            "checks": _check_trends(analyses),
            "latest_analysis": analyses[-1].to_dict() if analyses else None,
            "timeline": [e.to_dict() for e in events if e.kind == "transition"],
            "decision": _decision(rollout, events),
            "past": [r.to_dict() for r in records.for_model(name, limit=20) if r.id != rollout.id],
        }

    def command(self, name: str, command: str, actor: str, reason: str) -> dict[str, Any]:
        getattr(self.control, command)(name, actor=actor, reason=reason)
        return self.rollout(name)

    # -- monitoring ----------------------------------------------------------------------
    def monitoring(self, name: str, minutes: float) -> dict[str, Any]:
        from conveyor.monitoring.alerts import AlertBook, evaluate
        from conveyor.monitoring.assess import assess
        from conveyor.monitoring.history import load_history

        served = self._served_versions(name)
        versions = []
        for label, bundle in served:
            assessment = assess(self.store, bundle, minutes)
            history = load_history(self.store, bundle, minutes)
            checks = evaluate(assessment, bundle.monitoring)
            report = assessment.to_dict()
            versions.append(
                {
                    "version": bundle.identity.version,
                    "role": label,
                    "window_minutes": minutes,
                    "drift": report["drift"],
                    "health": report["health"],
                    "performance": report["performance"],
                    "checks": [c.__dict__ for c in checks],
                    "series": _series(history),
                    "drift_over_time": _drift_over_time(bundle, history, assessment),
                    "distributions": _distributions(bundle, history, assessment),
                }
            )
        alerts = AlertBook(self.store).list(name, None, 100)
        return {"model": name, "window_minutes": minutes, "versions": versions, "alerts": alerts}

    def _served_versions(self, name: str) -> list[tuple[str, Bundle]]:
        """Production's bundle, and the candidate's during a rollout."""
        from conveyor.bundle.sources import registered_bundle

        found: list[tuple[str, Bundle]] = []
        production = self.registry.by_alias(name, T.PRODUCTION)
        if production is None:
            raise NotFoundError(f"{name!r} has no production version: nothing is served yet")
        found.append(("production", registered_bundle(self.settings, name, production.version)))
        active = self.control.records.active_for(name)
        if active is not None and active.candidate != production.version:
            found.append(("candidate", registered_bundle(self.settings, name, active.candidate)))
        return found


def _rollout_brief(r: Rollout) -> dict[str, Any]:
    return {
        "id": r.id,
        "state": r.state.value,
        "candidate": r.candidate,
        "champion": r.champion,
        "strategy": r.strategy,
        "weights": r.weights,
        "step": r.step,
    }


def _traffic(rollout: Rollout, events: list[Any], weights: list[float]) -> list[dict[str, Any]]:
    """The candidate's share over time, from the transitions (each step's planned weight)."""
    points = []
    for e in events:
        if e.kind != "transition" or e.to_state is None:
            continue
        if e.to_state in ("progressing", "paused", "promoting"):
            share = weights[min(e.step, len(weights) - 1)] if weights else 0
        elif e.to_state == "succeeded":
            share = 100
        else:  # pending, rolled back, aborted: production answers
            share = 0
        points.append({"at": e.at.isoformat(), "candidate": share, "state": e.to_state})
    if points and not rollout.state.terminal:
        points.append({**points[-1], "at": datetime.now(UTC).isoformat()})
    return points


def _check_trends(analyses: list[Any]) -> list[dict[str, Any]]:
    """Each check's verdicts and numbers over the analyses, oldest first."""
    trends: dict[str, dict[str, Any]] = {}
    for e in analyses:
        for check in e.evidence.get("checks", []):
            entry = trends.setdefault(check["name"], {"name": check["name"], "points": []})
            entry["points"].append(
                {
                    "at": e.at.isoformat(),
                    "step": e.step + 1,
                    "verdict": check.get("verdict"),
                    "candidate": check.get("candidate"),
                    "champion": check.get("champion"),
                    "detail": check.get("detail") or check.get("reason") or "",
                }
            )
    return list(trends.values())


def _decision(rollout: Rollout, events: list[Any]) -> dict[str, Any] | None:
    """Why the rollout stands where it does: its last transition."""
    transitions = [e for e in events if e.kind == "transition"]
    if not transitions:
        return None
    last = transitions[-1]
    return {
        "state": rollout.state.value,
        "at": last.at.isoformat(),
        "by": last.actor,
        "reason": last.reason,
        "verdict": last.verdict,
    }


def _series(history: Any) -> dict[str, Any]:
    return {
        "step_minutes": history.step_minutes,
        "metric": history.metric,
        "baseline": history.baseline,
        "points": [
            {
                "at": s.start.isoformat(),
                "requests": s.requests,
                "server_errors": s.server_errors,
                "client_errors": s.client_errors,
                "error_rate": s.error_rate,
                "p50_ms": s.p50_ms,
                "p99_ms": s.p99_ms,
                "labeled": s.labeled,
                "coverage": s.coverage,
                "metric": s.metric,
            }
            for s in history.steps
        ],
    }


def _drift_over_time(bundle: Bundle, history: Any, assessment: Any) -> dict[str, Any]:
    """PSI per feature over the window, in up to ``DRIFT_SLICES`` slices (steps merged so each
    slice holds enough rows to judge), for the features that moved most."""
    from conveyor.monitoring.assess import drift_config
    from conveyor.monitoring.drift import compare_window
    from conveyor.monitoring.window import WindowCounts

    steps = list(zip(history.steps, history.step_windows, strict=False))
    if not steps:
        return {"times": [], "features": {}}
    size = max(1, -(-len(steps) // DRIFT_SLICES))
    top = [
        f.name
        for f in sorted(assessment.drift.features, key=lambda f: -(f.psi or 0.0))[
            :MAX_DISTRIBUTIONS
        ]
    ]
    config = drift_config(bundle.monitoring.drift)
    times: list[str] = []
    series: dict[str, list[float | None]] = {name: [] for name in top}
    for start in range(0, len(steps), size):
        merged = WindowCounts.from_profile(bundle.profile)
        for _, window in steps[start : start + size]:
            merged.merge(window)
        times.append(steps[start][0].start.isoformat())
        if merged.rows == 0:
            for name in top:
                series[name].append(None)
            continue
        report = compare_window(bundle.profile, merged, config)
        by_name = {f.name: f for f in report.features}
        for name in top:
            found = by_name.get(name)
            series[name].append(found.psi if found is not None else None)
    return {"times": times, "features": series, "psi_alert": config.psi_alert}


def _distributions(bundle: Bundle, history: Any, assessment: Any) -> list[dict[str, Any]]:
    """Reference vs window shares of the features that moved most."""
    from conveyor.monitoring.samples import NumericBins

    features = sorted(
        assessment.drift.features, key=lambda f: -(f.psi if f.psi is not None else -1.0)
    )
    profile = bundle.profile.get("features", {})
    window = history.window.samples()
    out = []
    for f in features[:MAX_DISTRIBUTIONS]:
        entry, current = profile.get(f.name), window.get(f.name)
        if entry is None or current is None:
            continue
        if "bin_edges" in entry:
            edges = [float(e) for e in entry["bin_edges"]]
            labels = [f"{a:.3g} to {b:.3g}" for a, b in itertools.pairwise(edges)]
            reference = [int(c) for c in entry.get("bin_counts", [])]
            counts = [int(c) for c in current.counts] if isinstance(current, NumericBins) else []
            # [below, bins..., above]: the tails show as their own bars when they hold rows
            labels = [f"below {edges[0]:.3g}", *labels, f"above {edges[-1]:.3g}"] if edges else []
            reference = [0, *reference, 0] if edges else reference
        else:
            cats = dict(entry.get("category_counts", {}))
            seen = dict(getattr(current, "counts", {}))
            labels = sorted(set(cats) | set(seen), key=lambda c: -cats.get(c, 0))[:30]
            reference = [int(cats.get(c, 0)) for c in labels]
            counts = [int(seen.get(c, 0)) for c in labels]
        out.append(
            {
                "feature": f.name,
                "status": f.status.value,
                "psi": f.psi,
                "labels": labels,
                "reference": _shares(reference),
                "window": _shares(counts) if sum(counts) else None,
            }
        )
    return out


def _shares(counts: list[Any]) -> list[float]:
    total = float(sum(counts)) or 1.0
    return [round(float(c) / total, 6) for c in counts]


def safe(read: Any, *args: Any) -> dict[str, Any]:
    """A read's answer, or what went wrong in words the page can show."""
    try:
        return dict(read(*args))
    except NotFoundError as exc:
        return {"error": exc.message, "kind": "not_found"}
    except ConveyorError as exc:
        return {"error": exc.message, "kind": type(exc).__name__}


def window_minutes(text: str | None, default: float = 60.0) -> float:
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        return default
    return min(max(value, 1.0), float(timedelta(days=7).total_seconds() / 60))
