"""Table definitions. One MetaData; ``Store.create`` creates what is missing."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

audit_events = sa.Table(
    "audit_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False, index=True),
    sa.Column("model", sa.String(200), nullable=False, index=True),
    sa.Column("version", sa.String(50), nullable=True),
    sa.Column("action", sa.String(50), nullable=False),
    sa.Column("from_stage", sa.String(50), nullable=True),
    sa.Column("to_stage", sa.String(50), nullable=True),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("reason", sa.Text, nullable=False, default=""),
    sa.Column("details", sa.JSON, nullable=False, default=dict),
)

locks = sa.Table(
    "locks",
    metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("holder", sa.String(200), nullable=False, default=""),
)

inference_log = sa.Table(
    "inference_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("request_id", sa.String(100), nullable=False, index=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False, index=True),
    sa.Column("model", sa.String(200), nullable=False),
    sa.Column("version", sa.String(50), nullable=False),
    sa.Column("arm", sa.String(50), nullable=False, default="production"),
    sa.Column("rows", sa.Integer, nullable=False),
    sa.Column("inputs", sa.JSON, nullable=False),
    sa.Column("outputs", sa.JSON, nullable=False),
    sa.Column("latency_ms", sa.Float, nullable=False),
    sa.Column("status", sa.Integer, nullable=False),
    sa.Index("ix_inference_model_version_at", "model", "version", "at"),
)

# spooled inference-log segments already ingested: makes ingestion exactly-once
inference_log_segments = sa.Table(
    "inference_log_segments",
    metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("rows", sa.Integer, nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False, index=True),
)

feedback = sa.Table(
    "feedback",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("request_id", sa.String(100), nullable=False, index=True),
    sa.Column("row", sa.Integer, nullable=False, default=0),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("label", sa.JSON, nullable=False),
    sa.UniqueConstraint("request_id", "row", name="uq_feedback_request_row"),
)

# labels whose prediction was not (yet) in the inference log when they arrived: the log
# reaches the store through a spool, so a label may overtake its prediction. Bounded in
# rows (CONVEYOR_FEEDBACK_PENDING_MAX) and age (CONVEYOR_FEEDBACK_PENDING_SECONDS); the
# ingester moves a label into `feedback` once its prediction is logged, else it expires.
feedback_pending = sa.Table(
    "feedback_pending",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("request_id", sa.String(100), nullable=False, index=True),
    sa.Column("row", sa.Integer, nullable=False, default=0),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False, index=True),
    sa.Column("label", sa.JSON, nullable=False),
    sa.UniqueConstraint("request_id", "row", name="uq_feedback_pending_request_row"),
)

# one row per (model, version, minute, process): the live monitor's counts for that minute —
# drift bins over the version's reference profile, requests, errors and a latency histogram —
# so a window of any length is a merge of small rows, never a rescan of the inference log
monitor_buckets = sa.Table(
    "monitor_buckets",
    metadata,
    sa.Column("model", sa.String(200), primary_key=True),
    sa.Column("version", sa.String(50), primary_key=True),
    sa.Column("minute", sa.DateTime(timezone=True), primary_key=True),
    sa.Column("process", sa.String(100), primary_key=True),
    sa.Column("counts", sa.JSON, nullable=False),
)

alerts = sa.Table(
    "alerts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("model", sa.String(200), nullable=False, index=True),
    sa.Column("version", sa.String(50), nullable=False),
    sa.Column("rule", sa.String(100), nullable=False),
    sa.Column("severity", sa.String(20), nullable=False),
    sa.Column("state", sa.String(20), nullable=False),  # firing | resolved
    sa.Column("value", sa.Float, nullable=True),
    sa.Column("threshold", sa.Float, nullable=True),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("details", sa.JSON, nullable=False, default=dict),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False, index=True),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
)

# a person's decision to stop notifying about a model's alerts (one rule, or every rule when
# `rule` is NULL) until a time, with the reason: alerts still open and resolve, webhooks wait
alert_silences = sa.Table(
    "alert_silences",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("model", sa.String(200), nullable=False, index=True),
    sa.Column("rule", sa.String(100), nullable=True),
    sa.Column("until", sa.DateTime(timezone=True), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("created_by", sa.String(200), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
)

# one row per rollout of a candidate version against the production champion. `active_model`
# holds the model's name while the rollout is unfinished and NULL afterwards: its unique
# constraint (NULLs never collide) lets the database refuse a second active rollout of a model.
# `revision` grows with every change; writers compare-and-set it, so a stale controller or a
# concurrent command cannot overwrite a newer state. `pending` names registry work still owed
# after a transition committed (tagging a rolled-back candidate rejected), retried by the leader.
rollouts = sa.Table(
    "rollouts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("model", sa.String(200), nullable=False, index=True),
    sa.Column("active_model", sa.String(200), nullable=True, unique=True),
    sa.Column("candidate_version", sa.String(50), nullable=False),
    sa.Column("champion_version", sa.String(50), nullable=False),
    sa.Column("strategy", sa.String(20), nullable=False),
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("step", sa.Integer, nullable=False, default=0),
    sa.Column("weights", sa.JSON, nullable=False),
    sa.Column("spec", sa.JSON, nullable=False),
    sa.Column("revision", sa.Integer, nullable=False, default=0),
    sa.Column("actor", sa.String(200), nullable=False, default=""),
    sa.Column("reason", sa.Text, nullable=False, default=""),
    sa.Column("pending", sa.String(20), nullable=True),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False, index=True),
    sa.Column("step_started_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
)

# every transition and every analysis of a rollout, with the evidence behind it
rollout_events = sa.Table(
    "rollout_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("rollout_id", sa.Integer, nullable=False, index=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),  # transition | analysis
    sa.Column("from_state", sa.String(20), nullable=True),
    sa.Column("to_state", sa.String(20), nullable=True),
    sa.Column("step", sa.Integer, nullable=False),
    sa.Column("verdict", sa.String(20), nullable=True),
    sa.Column("actor", sa.String(200), nullable=False, default=""),
    sa.Column("reason", sa.Text, nullable=False, default=""),
    sa.Column("evidence", sa.JSON, nullable=False, default=dict),
)

# leader election: a named lease held by one holder until it expires unless renewed
leases = sa.Table(
    "leases",
    metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("holder", sa.String(200), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
)
