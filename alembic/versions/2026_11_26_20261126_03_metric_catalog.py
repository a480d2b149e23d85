"""Metric catalog, and when a goal's status last changed.

Revision ID: 20261126_03
Revises: 20261126_02
Create Date: 2026-11-26 15:00:00+00:00
"""

import sqlalchemy as sa
from alembic import op
from migration_kit import enable_tenant_rls, tenant_constraints, timestamps

revision: str = "20261126_03"
down_revision: str | None = "20261126_02"


def upgrade() -> None:
    op.create_table(
        "metric_definitions",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("unit", sa.String(length=30), nullable=True),
        sa.Column("description", sa.String(length=500), nullable=True),
        sa.Column("aggregation", sa.String(length=10), nullable=False),
        *timestamps(),
        *tenant_constraints("metric_definitions", "name"),
    )
    enable_tenant_rls("metric_definitions")
    # DML grants to the app role come from the default privileges set in revision 02.
    op.add_column("smart_goals", sa.Column("status_changed_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("smart_goals", "status_changed_at")
    op.drop_table("metric_definitions")
