"""Alias moves that survive a crash at any point.

MLflow and the store are two systems with no shared transaction, so a move cannot be atomic;
it is made resumable instead. The alias in MLflow is the truth. Before it moves, the target
version gets a ``conveyor.pending_move`` tag (what, by whom, why, and a move id); then the alias
moves; then, in one store transaction, the audit events are written (carrying the move id) and
the stage tags settled; only after that commits is the pending tag removed. Every later write
to the model's stages (and ``conveyor models doctor``) first finishes what an interrupted one
left: a pending move whose alias moved is completed exactly once (the move id in the audit says
whether its events exist), one whose alias did not move is dropped, and a version still tagged
with a stage whose alias it no longer holds is settled to archived (or rejected, for a
rollback). A retry after a crash therefore leaves one version per stage tag and one audit
event per move.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from conveyor.errors import NotFoundError
from conveyor.registry import tags as T
from conveyor.registry.client import mlflow_errors
from conveyor.store.audit import AuditEvent

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from conveyor.registry.stages import ModelRegistry, VersionInfo

PENDING = "conveyor.pending_move"
# a pending move is recent: its events, when written, are among the model's latest
_AUDIT_LOOKBACK = 500


@dataclass(frozen=True)
class Move:
    """One intended alias move, written on the target version before the alias moves."""

    model: str
    version: str
    alias: str
    action: str
    actor: str
    reason: str
    from_stage: str | None
    replaced_stage: str = T.ARCHIVED
    replaced_action: str = ""  # the replaced version's event; default: the move's action
    details: dict[str, Any] = field(default_factory=dict)
    id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def to_tag(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_tag(cls, text: str) -> Move | None:
        try:
            return cls(**json.loads(text))
        except (ValueError, TypeError):
            return None  # not written by this version of Conveyor: dropped like an abandoned one


@dataclass
class Settled:
    """What finishing interrupted moves and settling stage tags did (for doctor's report)."""

    completed: list[Move] = field(default_factory=list)
    dropped: list[Move] = field(default_factory=list)
    retagged: list[tuple[str, str, str]] = field(default_factory=list)  # version, from, to
    clear: list[tuple[str, str]] = field(default_factory=list)  # (version, move id) to untag

    @property
    def changed(self) -> bool:
        return bool(self.completed or self.dropped or self.retagged)


def begin(registry: ModelRegistry, move: Move) -> None:
    """Write the intent, then move the alias (MLflow; each call durable on its own)."""
    client = registry.client
    with mlflow_errors():
        client.set_model_version_tag(move.model, move.version, PENDING, move.to_tag())
        client.set_registered_model_alias(move.model, move.alias, move.version)


def finish(registry: ModelRegistry, move: Move, conn: Connection, done: Settled) -> None:
    """Complete a move whose alias is in place: stage tag, staging alias, audit events (once),
    and the versions it replaced. Runs inside the model's store lock; ``conn`` commits the
    events, after which ``clear`` removes the pending tag."""
    client = registry.client
    name, version, alias = move.model, move.version, move.alias
    with mlflow_errors():
        client.set_model_version_tag(name, version, T.STAGE, alias)
        if alias == T.PRODUCTION and _alias_holder(registry, name, T.STAGING) == version:
            client.delete_registered_model_alias(name, T.STAGING)
    recorded = {
        (e.version, e.to_stage)
        for e in registry.audit.history(name, limit=_AUDIT_LOOKBACK, conn=conn)
        if e.details.get("move") == move.id
    }
    if (version, alias) not in recorded:
        registry.audit.record(
            AuditEvent(
                name,
                version,
                move.action,
                move.actor,
                move.from_stage,
                alias,
                move.reason,
                details={**move.details, "move": move.id},
            ),
            conn,
        )
    for stale in _stale(registry, name, alias, version):
        with mlflow_errors():
            client.set_model_version_tag(name, stale.version, T.STAGE, move.replaced_stage)
        done.retagged.append((stale.version, alias, move.replaced_stage))
        if (stale.version, move.replaced_stage) in recorded:
            continue
        registry.audit.record(
            AuditEvent(
                name,
                stale.version,
                move.replaced_action or move.action,
                move.actor,
                stale.stage,
                move.replaced_stage,
                move.reason,
                details={"replaced_by": version, "move": move.id},
            ),
            conn,
        )
    done.clear.append((version, move.id))


def resume(registry: ModelRegistry, name: str, conn: Connection) -> Settled:
    """Finish or drop every interrupted move of ``name``; then settle stale stage tags.
    Runs inside the model's store lock, before any new move."""
    done = Settled()
    for info in registry.versions(name):
        text = info.tags.get(PENDING)
        if text is None:
            continue
        move = Move.from_tag(text)
        if move is None or move.model != name or move.version != info.version:
            done.clear.append((info.version, ""))
            continue
        if _alias_holder(registry, name, move.alias) == move.version:
            finish(registry, move, conn, done)
            done.completed.append(move)
        else:  # the crash came before the alias moved: nothing visible happened
            done.dropped.append(move)
            done.clear.append((info.version, move.id))
    # production is settled to its alias always; a staging tag only by a move of staging (a
    # version may be registered tagged staging without the alias, as older Conveyors did)
    for alias in (T.PRODUCTION,):
        found = registry.by_alias(name, alias)
        holder = found.version if found is not None else None
        if found is not None and found.stage != alias:
            # production moved with no record of it (a crash before this kind of move existed)
            _reconcile(registry, found, alias, f"holds the {alias} alias", conn, done)
        for stale in _stale(registry, name, alias, holder):
            why = f"tagged {alias} without holding the {alias} alias"
            _reconcile(registry, stale, T.ARCHIVED, why, conn, done, {"holder": holder})
    return done


def _reconcile(
    registry: ModelRegistry,
    info: VersionInfo,
    stage: str,
    why: str,
    conn: Connection,
    done: Settled,
    details: dict[str, Any] | None = None,
) -> None:
    """Tag ``info`` with ``stage`` as the aliases say, audited as a reconciliation."""
    with mlflow_errors():
        registry.client.set_model_version_tag(info.name, info.version, T.STAGE, stage)
    event = AuditEvent(
        info.name, info.version, "reconcile", "conveyor", info.stage, stage, why,
        details=details or {},
    )  # fmt: skip
    registry.audit.record(event, conn)
    done.retagged.append((info.version, info.stage, stage))


def clear(registry: ModelRegistry, name: str, done: Settled) -> None:
    """Remove the pending tags of completed or dropped moves (after their events committed).
    A tag already replaced by a newer move on the same version is left alone."""
    client = registry.client
    for version, move_id in done.clear:
        with mlflow_errors():
            text = client.get_model_version(name, version).tags.get(PENDING)
        if text is None:
            continue
        pending = Move.from_tag(text)
        if move_id and pending is not None and pending.id != move_id:
            continue
        try:
            with mlflow_errors():
                client.delete_model_version_tag(name, version, PENDING)
        except NotFoundError:  # removed meanwhile by another finisher
            continue


def _alias_holder(registry: ModelRegistry, name: str, alias: str) -> str | None:
    found = registry.by_alias(name, alias)
    return found.version if found is not None else None


def _stale(registry: ModelRegistry, name: str, alias: str, holder: str | None) -> list[VersionInfo]:
    """Versions tagged with ``alias``'s stage that do not hold the alias."""
    return [v for v in registry.versions(name) if v.stage == alias and v.version != holder]


def diagnose(registry: ModelRegistry, name: str) -> list[str]:
    """What ``resume`` would change, in words; reads only."""
    problems = []
    versions = registry.versions(name)
    holders = {alias: _alias_holder(registry, name, alias) for alias in T.ALIASES}
    for info in versions:
        text = info.tags.get(PENDING)
        if text is None:
            continue
        move = Move.from_tag(text)
        if move is None:
            problems.append(f"version {info.version} carries an unreadable {PENDING} tag")
        elif holders.get(move.alias) == move.version:
            problems.append(
                f"an interrupted {move.action} of version {move.version} to {move.alias} "
                f"(by {move.actor}): the alias moved, its audit and stage tags are unfinished"
            )
        else:
            problems.append(
                f"an interrupted {move.action} of version {move.version} to {move.alias} "
                f"(by {move.actor}): the alias never moved"
            )
    holder = holders[T.PRODUCTION]
    by_version = {v.version: v for v in versions}
    if holder is not None and by_version[holder].stage != T.PRODUCTION:
        problems.append(
            f"version {holder} holds production but is tagged {by_version[holder].stage}"
        )
    stale = [v.version for v in versions if v.stage == T.PRODUCTION and v.version != holder]
    if stale:
        noun = "versions" if len(stale) > 1 else "version"
        verb = "are" if len(stale) > 1 else "is"
        problems.append(f"{noun} {', '.join(stale)} {verb} tagged production without the alias")
    return problems
