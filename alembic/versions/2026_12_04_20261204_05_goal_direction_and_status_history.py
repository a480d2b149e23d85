"""Goals state their direction, and keep the history of their computed status.

``smart_goals.direction`` ('increase' | 'decrease') is stored instead of being guessed from
baseline vs target on every read; existing goals get the direction their baseline and target
implied (a goal without a baseline takes its metric's favourable direction, else increase).
``goal_status_history`` holds one row per change of a goal's computed status, tenant-scoped
under forced RLS, with a composite foreign key to its goal.

Revision ID: 20261204_05
Revises: 20261204_04
Create Date: 2026-12-04 22:00:00+00:00
"""

import sqlalchemy as sa
from alembic import op
from migration_kit import (
    created_now,
    enable_tenant_rls,
    forced_rls_lifted,
    tenant_constraints,
    tenant_key,
    tenant_reference,
)

revision: str = "20261204_05"
down_revision: str | None = "20261204_04"


def _add_direction() -> None:
    op.add_column("smart_goals", sa.Column("direction", sa.String(length=8), nullable=True))
    with forced_rls_lifted("smart_goals", "metric_definitions"):
        op.execute(
            """
            update smart_goals g set direction = case
                when g.baseline_value is not null and g.target_value > g.baseline_value then 'increase'
                when g.baseline_value is not null and g.target_value < g.baseline_value then 'decrease'
                when d.favourable_direction = 'down' then 'decrease'
                else 'increase'
            end
            from smart_goals s
            left join metric_definitions d on d.tenant_id = s.tenant_id and d.name = s.metric
            where s.tenant_id = g.tenant_id and s.id = g.id
            """
        )
    op.alter_column("smart_goals", "direction", nullable=False)
    op.create_check_constraint("direction_valid", "smart_goals", "direction in ('increase', 'decrease')")


def _create_status_history() -> None:
    op.create_table(
        "goal_status_history",
        *tenant_key(),
        sa.Column("goal_id", sa.Uuid(), nullable=False),
        sa.Column("signal", sa.String(length=20), nullable=False),
        sa.Column("previous_signal", sa.String(length=20), nullable=True),
        sa.Column("percent_complete", sa.Double(), nullable=True),
        sa.Column("current_value", sa.Double(), nullable=True),
        sa.Column("expected_at_deadline", sa.Double(), nullable=True),
        sa.Column("projection_method", sa.String(length=10), nullable=True),
        created_now("recorded_at"),
        *tenant_constraints("goal_status_history"),
        tenant_reference("goal_status_history", "goal_id", "smart_goals", on_delete="cascade"),
    )
    op.create_index(
        "ix_goal_status_history_tenant_id_goal_id_recorded_at",
        "goal_status_history",
        ["tenant_id", "goal_id", "recorded_at"],
    )
    enable_tenant_rls("goal_status_history")
    # DML grants to the app and worker roles come from the default privileges of earlier revisions.


def upgrade() -> None:
    _add_direction()
    _create_status_history()


def downgrade() -> None:
    op.drop_index("ix_goal_status_history_tenant_id_goal_id_recorded_at", table_name="goal_status_history")
    op.drop_table("goal_status_history")
    op.drop_constraint(op.f("ck_smart_goals_direction_valid"), "smart_goals", type_="check")
    op.drop_column("smart_goals", "direction")
