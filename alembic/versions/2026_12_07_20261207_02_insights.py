"""Insights: metric follows, insights (created once per idempotency key), per-user read/snooze state.

All three are tenant tables under forced RLS. ``insights_due_tenants`` lists, across tenants,
those whose local time is at a given hour: the daily insight schedule runs without a tenant, so
one narrow SECURITY DEFINER lookup (executable by the worker role only) tells it which tenants
to queue, like ``connector_due_sources``.

Revision ID: 20261207_02
Revises: 20261207_03
Create Date: 2026-12-07 14:30:00+00:00
"""

import sqlalchemy as sa
from alembic import op
from migration_kit import (
    created_now,
    enable_tenant_rls,
    existing_role,
    grant_execute,
    tenant_constraints,
    tenant_key,
    tenant_reference,
)
from sqlalchemy.dialects import postgresql

revision: str = "20261207_02"
down_revision: str | None = "20261207_03"

INSIGHT_TYPES = (
    "period_change",
    "unusual_value",
    "top_contributors",
    "trend_change",
    "record",
    "goal_at_risk",
    "data_health",
)
SEVERITIES = ("low", "medium", "high")
TABLES = ("metric_follows", "insights", "insight_states")
DUE_TENANTS = "insights_due_tenants(timestamptz, integer)"


def _one_of(values: tuple[str, ...]) -> str:
    return "(" + ", ".join(f"'{value}'" for value in values) + ")"


def upgrade() -> None:
    op.create_table(
        "metric_follows",
        *tenant_key(),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("metric", sa.String(length=100), nullable=False),
        created_now(),
        *tenant_constraints("metric_follows"),
        tenant_reference("metric_follows", "user_id", "users", on_delete="cascade"),
        sa.ForeignKeyConstraint(
            ["tenant_id", "metric"],
            ["metric_definitions.tenant_id", "metric_definitions.name"],
            name=op.f("fk_metric_follows_tenant_id_metric_metric_definitions"),
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("tenant_id", "user_id", "metric", name=op.f("uq_metric_follows_tenant_id_user_id_metric")),
    )
    op.create_index("ix_metric_follows_tenant_id_metric", "metric_follows", ["tenant_id", "metric"])

    op.create_table(
        "insights",
        *tenant_key(),
        sa.Column("metric", sa.String(length=100), nullable=True),
        sa.Column("type", sa.String(length=30), nullable=False),
        sa.Column("severity", sa.String(length=10), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("sentence", sa.Text(), nullable=False),
        sa.Column("numbers", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("links", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("suggested_action", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("idempotency_key", sa.String(length=300), nullable=False),
        created_now(),
        *tenant_constraints("insights"),
        sa.CheckConstraint(f"type in {_one_of(INSIGHT_TYPES)}", name=op.f("ck_insights_type_valid")),
        sa.CheckConstraint(f"severity in {_one_of(SEVERITIES)}", name=op.f("ck_insights_severity_valid")),
        sa.CheckConstraint("period_end > period_start", name=op.f("ck_insights_period_valid")),
        sa.UniqueConstraint("tenant_id", "idempotency_key", name=op.f("uq_insights_tenant_id_idempotency_key")),
    )
    op.create_index("ix_insights_tenant_id_created_at", "insights", ["tenant_id", "created_at"])
    op.create_index(
        "ix_insights_tenant_id_metric_created_at", "insights", ["tenant_id", "metric", "created_at"]
    )

    op.create_table(
        "insight_states",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("insight_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("snoozed_until", sa.DateTime(timezone=True), nullable=True),
        *tenant_constraints("insight_states", "insight_id", "user_id"),
        tenant_reference("insight_states", "insight_id", "insights", on_delete="cascade"),
        tenant_reference("insight_states", "user_id", "users", on_delete="cascade"),
    )
    for table in TABLES:
        enable_tenant_rls(table)
    # DML grants to the app and worker roles come from the default privileges of earlier revisions.

    worker = existing_role("worker_role")
    op.execute("create policy insight_schedule_lookup on tenants for select to current_user using (true)")
    op.execute(
        """
        create function insights_due_tenants(at timestamptz, local_hour integer)
        returns table (tenant_id uuid)
        language sql stable security definer
        set search_path = pg_catalog, public
        as $$
          select id from public.tenants
          where extract(hour from (at at time zone timezone)) = local_hour
          order by id
        $$
        """
    )
    grant_execute(DUE_TENANTS, worker)


def downgrade() -> None:
    op.execute(f"drop function {DUE_TENANTS}")
    op.execute("drop policy insight_schedule_lookup on tenants")
    for table in reversed(TABLES):
        op.drop_table(table)
