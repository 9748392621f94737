"""A rollout's moves in the registry, through ``ModelRegistry``: who may roll out against
which champion, promotion of the candidate, and rejection of a rolled-back one (with its
reason)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from conveyor.errors import ApprovalRequiredError, UserError
from conveyor.registry import tags as T

if TYPE_CHECKING:
    from conveyor.registry.stages import ModelRegistry, VersionInfo
    from conveyor.rollout.state import Rollout

REJECTED_REASON = "conveyor.rejected_reason"
REJECTED_BY_ROLLOUT = "conveyor.rejected_by_rollout"


def candidate_and_champion(
    registry: ModelRegistry, model: str, candidate: str
) -> tuple[VersionInfo, VersionInfo]:
    """The version to roll out and the production version it is judged against; refused when
    there is no production version, the candidate is it, or it may not roll out."""
    info = registry.get(model, candidate)
    champion = registry.by_alias(model, T.PRODUCTION)
    if champion is None:
        raise UserError(
            f"{model} has no production version to roll out against; promote one first: "
            f"conveyor promote {model} <version> --to production"
        )
    if champion.version == info.version:
        raise UserError(f"{model} version {candidate} is already in production")
    check_candidate(info)
    return info, champion


def check_candidate(info: VersionInfo) -> None:
    """Refuse a version that may not roll out: rejected, without passing gates, unapproved."""
    where = f"{info.name} version {info.version}"
    if info.stage == T.REJECTED:
        raise UserError(f"{where} was rejected; register a new version instead")
    gates = info.tags.get(T.GATES)
    if gates is None:
        raise UserError(
            f"{where} has no gate report ({T.GATES}): run the project's gates on it with "
            f"conveyor gate {info.name} {info.version} --data FILE (or conveyor adopt ... "
            "--target COL), or register it with conveyor run"
        )
    if "failed" in gates:
        raise UserError(f"{where} failed its quality gates ({gates})")
    if info.tags.get(T.REQUIRE_APPROVAL) == "true" and T.APPROVED_BY not in info.tags:
        raise ApprovalRequiredError(
            f"{where} needs approval before it can roll out to production: "
            f"conveyor approve {info.name} {info.version} --by <name> --reason <why>"
        )


def promote_candidate(registry: ModelRegistry, rollout: Rollout, actor: str, reason: str) -> None:
    """Point ``production`` at the candidate; the version it replaces becomes ``archived``.

    Idempotent: a retry after a crash finishes a half-done move (``registry.moves``) and does
    not move or record again one that completed."""
    registry.promote(rollout.model, rollout.candidate, T.PRODUCTION, actor, reason)


def reject_candidate(registry: ModelRegistry, rollout: Rollout, actor: str, reason: str) -> None:
    """Tag the candidate ``conveyor.stage=rejected`` with the reason, and audit it once, under
    the registry's store lock for the model (as every stage change)."""
    from conveyor.registry.client import mlflow_errors
    from conveyor.store.audit import AuditEvent

    model, version = rollout.model, rollout.candidate
    info = registry.get(model, version)
    with registry.store.locked(f"model:{model}") as conn, mlflow_errors():
        client = registry.client
        client.set_model_version_tag(model, version, T.STAGE, T.REJECTED)
        client.set_model_version_tag(model, version, REJECTED_REASON, reason[:5000])
        client.set_model_version_tag(model, version, REJECTED_BY_ROLLOUT, str(rollout.id))
        # a rejected version must not stay "the next one to try": staging moves off it
        if T.STAGING in info.aliases:
            client.delete_registered_model_alias(model, T.STAGING)
        # once per rollout, decided by the audit (the stage tag may have been written by a
        # crashed attempt whose event was never committed)
        recorded = any(
            e.action == "reject" and e.version == version and e.details.get("rollout") == rollout.id
            for e in registry.audit.history(model, limit=500, conn=conn)
        )
        if not recorded:
            registry.audit.record(
                AuditEvent(
                    model,
                    version,
                    "reject",
                    actor,
                    info.stage,
                    T.REJECTED,
                    reason,
                    details={"rollout": rollout.id},
                ),
                conn,
            )
