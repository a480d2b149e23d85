"""Jobs fan out into child jobs; tenants mark calendar events the forecaster uses as regressors.

``background_jobs.parent_id`` links a child job to the job that queued it (a batch forecast
queues one child per series); a composite foreign key keeps both in one tenant, and the parent
completes when its last child has. ``calendar_events`` holds the events a tenant marks (a
promotion, a closure, Black Friday), each over a date range and optionally for one metric only,
tenant-scoped under forced RLS.

Revision ID: 20261207_03
Revises: 20261204_07
Create Date: 2026-12-07 15:00:00+00:00
"""

import sqlalchemy as sa
from alembic import op
from migration_kit import enable_tenant_rls, tenant_constraints, tenant_key, tenant_reference, timestamps

revision: str = "20261207_03"
down_revision: str | None = "20261204_07"


def _add_job_parent() -> None:
    op.add_column("background_jobs", sa.Column("parent_id", sa.Uuid(), nullable=True))
    op.create_foreign_key(
        op.f("fk_background_jobs_tenant_id_parent_id_background_jobs"),
        "background_jobs",
        "background_jobs",
        ["tenant_id", "parent_id"],
        ["tenant_id", "id"],
        ondelete="CASCADE",
    )
    op.create_index("ix_background_jobs_tenant_id_parent_id", "background_jobs", ["tenant_id", "parent_id"])


def _create_calendar_events() -> None:
    op.create_table(
        "calendar_events",
        *tenant_key(),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=False),
        sa.Column("metric", sa.String(length=100), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        *timestamps(),
        sa.CheckConstraint("end_date >= start_date", name=op.f("ck_calendar_events_dates_ordered")),
        *tenant_constraints("calendar_events"),
        tenant_reference("calendar_events", "created_by", "users", on_delete="set null"),
    )
    op.create_index("ix_calendar_events_tenant_id_start_date", "calendar_events", ["tenant_id", "start_date"])
    enable_tenant_rls("calendar_events")
    # DML grants to the app and worker roles come from the default privileges of earlier revisions.


def upgrade() -> None:
    _add_job_parent()
    _create_calendar_events()


def downgrade() -> None:
    op.drop_index("ix_calendar_events_tenant_id_start_date", table_name="calendar_events")
    op.drop_table("calendar_events")
    op.drop_index("ix_background_jobs_tenant_id_parent_id", table_name="background_jobs")
    op.drop_constraint(
        op.f("fk_background_jobs_tenant_id_parent_id_background_jobs"), "background_jobs", type_="foreignkey"
    )
    op.drop_column("background_jobs", "parent_id")
