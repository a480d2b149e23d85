"""Marketing-mix models: fitted channel curves kept per tenant, under forced RLS.

Revision ID: 20261204_03
Revises: 20261204_02
Create Date: 2026-12-04 20:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "20261204_03"
down_revision: str | None = "20261204_02"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CURRENT_TENANT = "(select nullif(current_setting('app.tenant_id', true), '')::uuid)"


def upgrade() -> None:
    op.create_table(
        "marketing_mix_models",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("outcome", sa.String(length=100), nullable=False),
        sa.Column("channels", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("frequency", sa.String(length=10), nullable=False),
        sa.Column("result", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("inputs", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("data_start", sa.DateTime(timezone=True), nullable=True),
        sa.Column("data_end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_marketing_mix_models_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_marketing_mix_models")),
    )
    op.create_index(
        "ix_marketing_mix_models_tenant_id_created_at", "marketing_mix_models", ["tenant_id", "created_at"]
    )
    op.execute("alter table marketing_mix_models enable row level security")
    op.execute("alter table marketing_mix_models force row level security")
    op.execute(
        "create policy tenant_isolation on marketing_mix_models "
        f"using (tenant_id = {CURRENT_TENANT}) with check (tenant_id = {CURRENT_TENANT})"
    )
    # DML grants to the app and worker roles come from the default privileges of earlier revisions.


def downgrade() -> None:
    op.drop_index("ix_marketing_mix_models_tenant_id_created_at", table_name="marketing_mix_models")
    op.drop_table("marketing_mix_models")
