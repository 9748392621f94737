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
