"""Exchange rates per tenant (under forced RLS), and the tenant's reporting currency.

Revision ID: 20261204_06
Revises: 20261204_05
Create Date: 2026-12-04 22:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261204_06"
down_revision: str | None = "20261204_05"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CURRENT_TENANT = "(select nullif(current_setting('app.tenant_id', true), '')::uuid)"


def upgrade() -> None:
    op.create_table(
        "exchange_rates",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("base", sa.String(length=3), nullable=False),
        sa.Column("quote", sa.String(length=3), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("rate", sa.Double(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "rate > 0 and rate < 'infinity'::float8", name=op.f("ck_exchange_rates_rate_positive_finite")
        ),
        sa.CheckConstraint("base <> quote", name=op.f("ck_exchange_rates_distinct_currencies")),
        sa.CheckConstraint(
            "base ~ '^[A-Z]{3}$' and quote ~ '^[A-Z]{3}$'", name=op.f("ck_exchange_rates_iso_codes")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_exchange_rates_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "base", "quote", "day", name=op.f("pk_exchange_rates")),
    )
    op.execute("alter table exchange_rates enable row level security")
    op.execute("alter table exchange_rates force row level security")
    op.execute(
        "create policy tenant_isolation on exchange_rates "
        f"using (tenant_id = {CURRENT_TENANT}) with check (tenant_id = {CURRENT_TENANT})"
    )
    # DML grants to the app and worker roles come from the default privileges of earlier revisions.
    op.add_column("tenants", sa.Column("reporting_currency", sa.String(length=3), nullable=True))
    op.create_check_constraint("reporting_currency_iso", "tenants", "reporting_currency ~ '^[A-Z]{3}$'")


def downgrade() -> None:
    op.drop_constraint(op.f("ck_tenants_reporting_currency_iso"), "tenants", type_="check")
    op.drop_column("tenants", "reporting_currency")
    op.drop_table("exchange_rates")
