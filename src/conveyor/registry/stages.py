"""Stage changes on registered versions: aliases plus a ``conveyor.stage`` tag, each change
recorded as an audit event under a store lock so concurrent writers stay consistent."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from conveyor.errors import ApprovalRequiredError, NotFoundError, UserError
from conveyor.registry import moves
from conveyor.registry import tags as T
from conveyor.registry.client import mlflow_errors
from conveyor.registry.moves import Move
from conveyor.store.audit import AuditEvent, AuditLog

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion

    from conveyor.store.engine import Store


@dataclass(frozen=True)
class VersionInfo:
    name: str
    version: str
    stage: str
    aliases: list[str]
    semver: str
    run_id: str
    source: str
    created_at: str
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def metrics(self) -> dict[str, float]:
        return {
            k.removeprefix(T.METRIC_PREFIX): float(v)
            for k, v in self.tags.items()
            if k.startswith(T.METRIC_PREFIX)
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "stage": self.stage,
            "aliases": self.aliases,
            "semver": self.semver,
            "run_id": self.run_id,
            "source": self.source,
            "created_at": self.created_at,
            "metrics": self.metrics,
            "tags": self.tags,
        }


def _info(mv: ModelVersion, aliases: list[str] | None = None) -> VersionInfo:
    created = datetime.fromtimestamp(mv.creation_timestamp / 1000, UTC).isoformat(
        timespec="seconds"
    )
    tags = dict(mv.tags)
    return VersionInfo(
        name=mv.name,
        version=str(mv.version),
        stage=tags.get(T.STAGE, "none"),
        aliases=sorted(aliases if aliases is not None else (getattr(mv, "aliases", []) or [])),
        semver=tags.get(T.SEMVER, ""),
        run_id=mv.run_id or "",
        source=mv.source or "",
        created_at=created,
        tags=tags,
    )


class ModelRegistry:
    """Registry operations Conveyor offers; MLflow holds the versions, the store the audit."""

    def __init__(self, client: MlflowClient, store: Store) -> None:
        self.client = client
        self.store = store
        self.audit = AuditLog(store)

    # -- reading -------------------------------------------------------------------------
    def models(self) -> list[dict[str, Any]]:
        with mlflow_errors():
            found = self.client.search_registered_models(max_results=1000)
        out = []
        for rm in found:
            # MLflow answers alias versions as numbers on some stores: versions are strings here
            aliases = {a: str(v) for a, v in (getattr(rm, "aliases", {}) or {}).items()}
            latest = max((int(v.version) for v in rm.latest_versions or []), default=0)
            # registries from before aliases: the versions in MLflow's legacy stages
            for v in rm.latest_versions or []:
                alias = str(getattr(v, "current_stage", "") or "").lower()
                if alias in T.ALIASES and alias not in aliases:
                    aliases[alias] = str(v.version)
            out.append(
                {
                    "name": rm.name,
                    "latest_version": str(latest) if latest else None,
                    "production": aliases.get(T.PRODUCTION),
                    "staging": aliases.get(T.STAGING),
                }
            )
        return sorted(out, key=lambda m: m["name"])

    def versions(self, name: str) -> list[VersionInfo]:
        self._require_model(name)
        with mlflow_errors():
            found = self.client.search_model_versions(f"name = '{_quote(name)}'", max_results=10000)
            aliases = dict(self.client.get_registered_model(name).aliases or {})
        by_version: dict[str, list[str]] = {}
        for alias, version in aliases.items():
            by_version.setdefault(str(version), []).append(alias)
        infos = [_info(mv, by_version.get(str(mv.version), [])) for mv in found]
        return sorted(infos, key=lambda v: int(v.version))

    def get(self, name: str, version: str | None = None) -> VersionInfo:
        """One version; without ``version``, production if set, else the latest."""
        self._require_model(name)
        if version is None:
            with mlflow_errors():
                aliases = dict(self.client.get_registered_model(name).aliases or {})
            if T.PRODUCTION in aliases:
                version = str(aliases[T.PRODUCTION])
            else:
                all_versions = self.versions(name)
                if not all_versions:
                    raise NotFoundError(f"model {name!r} has no versions")
                return all_versions[-1]
        if not version.isdigit():  # MLflow would reject it as an invalid parameter
            raise NotFoundError(f"model {name!r} has no version {version} (versions are numbers)")
        with mlflow_errors(f"model {name!r} has no version {version}"):
            return _info(self.client.get_model_version(name, version))

    def by_alias(self, name: str, alias: str) -> VersionInfo | None:
        """The version holding ``alias``; None when the model or alias does not exist. A
        registry that cannot answer raises (``ServiceUnavailableError``): "unreachable" never
        reads as "no such version", or a gate comparing with production would skip."""
        try:
            with mlflow_errors():
                mv = self.client.get_model_version_by_alias(name, alias)
        except NotFoundError:
            return None
        return _info(mv)

    def history(self, name: str) -> list[AuditEvent]:
        self._require_model(name)
        return self.audit.history(name)

    # -- changing ------------------------------------------------------------------------
    def approve(self, name: str, version: str, by: str, reason: str) -> VersionInfo:
        info = self.get(name, version)
        with self.store.locked(f"model:{name}") as conn, mlflow_errors():
            now = datetime.now(UTC).isoformat(timespec="seconds")
            self.client.set_model_version_tag(name, version, T.APPROVED_BY, by)
            self.client.set_model_version_tag(name, version, T.APPROVED_AT, now)
            self.audit.record(
                AuditEvent(name, version, "approve", by, info.stage, info.stage, reason), conn
            )
        return self.get(name, version)

    def promote(self, name: str, version: str, to: str, actor: str, reason: str) -> VersionInfo:
        """Point alias ``to`` at ``version``; the version it replaces becomes ``archived``."""
        if to not in T.ALIASES:
            raise UserError(f"--to must be one of {', '.join(T.ALIASES)}, not {to!r}")
        info = self.get(name, version)
        if info.stage == T.REJECTED and to == T.PRODUCTION:
            raise UserError(
                f"{name} version {version} was rejected; register a new version instead"
            )
        if (
            to == T.PRODUCTION
            and info.tags.get(T.REQUIRE_APPROVAL) == "true"
            and T.APPROVED_BY not in info.tags
        ):
            raise ApprovalRequiredError(
                f"{name} version {version} needs approval before production: "
                f"conveyor approve {name} {version} --by <name> --reason <why>"
            )
        self._move(
            Move(name, version, to, "promote", actor, reason, from_stage=info.stage),
            skip_if_held=True,
        )
        return self.get(name, version)

    def rollback(self, name: str, actor: str, reason: str) -> VersionInfo:
        """Put production back on the version that held it before the current one.

        A retry after a crash mid-rollback finishes the interrupted one (the alias already
        moved back) and stops there: it never rolls back a second version."""
        with self.store.locked(f"model:{name}") as conn:
            done = moves.resume(self, name, conn)
            resumed = [m for m in done.completed if m.action == "rollback"]
            if resumed:
                target = resumed[-1].version
            else:
                current = self.by_alias(name, T.PRODUCTION)
                if current is None:
                    raise NotFoundError(f"model {name!r} has no production version to roll back")
                previous = self._previous_production(name, current.version, conn)
                if previous is None:
                    raise UserError(f"{name} has no earlier production version to roll back to")
                target = previous
                move = Move(
                    name,
                    previous,
                    T.PRODUCTION,
                    "rollback",
                    actor,
                    reason,
                    from_stage=self.get(name, previous).stage,
                    replaced_stage=T.REJECTED,
                )
                moves.begin(self, move)
                moves.finish(self, move, conn, done)
        moves.clear(self, name, done)
        return self.get(name, target)

    def repair(self, name: str) -> moves.Settled:
        """Finish interrupted moves and settle stage tags to the aliases (``models doctor``)."""
        self._require_model(name)
        with self.store.locked(f"model:{name}") as conn:
            done = moves.resume(self, name, conn)
        moves.clear(self, name, done)
        return done

    def _move(self, move: Move, skip_if_held: bool = False) -> None:
        """Finish what an interrupted move left, then make ``move`` (see ``registry.moves``).
        With ``skip_if_held``, a version already holding the alias (tag and audit settled by
        the resume) is not moved again: a repeated promotion records nothing new."""
        with self.store.locked(f"model:{move.model}") as conn:
            done = moves.resume(self, move.model, conn)
            holder = self.by_alias(move.model, move.alias)
            if not (skip_if_held and holder is not None and holder.version == move.version):
                moves.begin(self, move)
                moves.finish(self, move, conn, done)
            elif holder.stage != move.alias:
                moves.finish(self, move, conn, done)
        moves.clear(self, move.model, done)

    def _previous_production(self, name: str, current: str, conn: Any) -> str | None:
        """The last version before ``current`` that entered production and was not rejected."""
        seen_current = False
        for event in reversed(self.audit.history(name, limit=10000, conn=conn)):
            if event.to_stage != T.PRODUCTION:
                continue
            if event.version == current and not seen_current:
                seen_current = True
                continue
            if (
                seen_current
                and event.version not in (current, None)
                and self.get(name, str(event.version)).stage != T.REJECTED
            ):
                return event.version
        return None

    def _require_model(self, name: str) -> None:
        with mlflow_errors(f"no registered model named {name!r}"):
            self.client.get_registered_model(name)


def _quote(value: str) -> str:
    return value.replace("'", "\\'")
