"""Metric uploads too large for a request: the file kept per tenant, under forced RLS, for its job.

Revision ID: 20261204_07
Revises: 20261204_06
Create Date: 2026-12-04 22:00:00+00:00
"""

import sqlalchemy as sa
from alembic import op
from migration_kit import created_now, enable_tenant_rls, tenant_constraints, tenant_key
from sqlalchemy.dialects import postgresql

revision: str = "20261204_07"
down_revision: str | None = "20261204_06"


def upgrade() -> None:
    op.create_table(
        "metric_uploads",
        *tenant_key(),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("layout", sa.String(length=10), nullable=False),
        sa.Column("dimensions", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        created_now(),
        *tenant_constraints("metric_uploads"),
    )
    enable_tenant_rls("metric_uploads")
    # DML grants to the app and worker roles come from the default privileges of earlier revisions.


def downgrade() -> None:
    op.drop_table("metric_uploads")
