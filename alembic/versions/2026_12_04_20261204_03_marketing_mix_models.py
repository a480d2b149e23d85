"""Marketing-mix models: fitted channel curves kept per tenant, under forced RLS.

Revision ID: 20261204_03
Revises: 20261204_02
Create Date: 2026-12-04 20:00:00+00:00
"""

import sqlalchemy as sa
from alembic import op
from migration_kit import created_now, enable_tenant_rls, tenant_constraints, tenant_key
from sqlalchemy.dialects import postgresql

revision: str = "20261204_03"
down_revision: str | None = "20261204_02"


def upgrade() -> None:
    op.create_table(
        "marketing_mix_models",
        *tenant_key(),
        sa.Column("outcome", sa.String(length=100), nullable=False),
        sa.Column("channels", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("frequency", sa.String(length=10), nullable=False),
        sa.Column("result", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("inputs", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("data_start", sa.DateTime(timezone=True), nullable=True),
        sa.Column("data_end", sa.DateTime(timezone=True), nullable=True),
        created_now(),
        *tenant_constraints("marketing_mix_models"),
    )
    op.create_index(
        "ix_marketing_mix_models_tenant_id_created_at", "marketing_mix_models", ["tenant_id", "created_at"]
    )
    enable_tenant_rls("marketing_mix_models")
    # DML grants to the app and worker roles come from the default privileges of earlier revisions.


def downgrade() -> None:
    op.drop_index("ix_marketing_mix_models_tenant_id_created_at", table_name="marketing_mix_models")
    op.drop_table("marketing_mix_models")
