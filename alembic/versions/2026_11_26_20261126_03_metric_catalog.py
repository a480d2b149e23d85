"""Metric catalog, and when a goal's status last changed.

Revision ID: 20261126_03
Revises: 20261126_02
Create Date: 2026-11-26 15:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261126_03"
down_revision: str | None = "20261126_02"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CURRENT_TENANT = "(select nullif(current_setting('app.tenant_id', true), '')::uuid)"


def upgrade() -> None:
    op.create_table(
        "metric_definitions",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("unit", sa.String(length=30), nullable=True),
        sa.Column("description", sa.String(length=500), nullable=True),
        sa.Column("aggregation", sa.String(length=10), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_metric_definitions_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "name", name=op.f("pk_metric_definitions")),
    )
    op.execute("alter table metric_definitions enable row level security")
    op.execute("alter table metric_definitions force row level security")
    op.execute(
        "create policy tenant_isolation on metric_definitions "
        f"using (tenant_id = {CURRENT_TENANT}) with check (tenant_id = {CURRENT_TENANT})"
    )
    # DML grants to the app role come from the default privileges set in revision 02.
    op.add_column("smart_goals", sa.Column("status_changed_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("smart_goals", "status_changed_at")
    op.drop_table("metric_definitions")
