"""Exchange rates per tenant (under forced RLS), and the tenant's reporting currency.

Revision ID: 20261204_06
Revises: 20261204_05
Create Date: 2026-12-04 22:00:00+00:00
"""

import sqlalchemy as sa
from alembic import op
from migration_kit import enable_tenant_rls, tenant_constraints, timestamps

revision: str = "20261204_06"
down_revision: str | None = "20261204_05"


def upgrade() -> None:
    op.create_table(
        "exchange_rates",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("base", sa.String(length=3), nullable=False),
        sa.Column("quote", sa.String(length=3), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("rate", sa.Double(), nullable=False),
        *timestamps(),
        sa.CheckConstraint(
            "rate > 0 and rate < 'infinity'::float8", name=op.f("ck_exchange_rates_rate_positive_finite")
        ),
        sa.CheckConstraint("base <> quote", name=op.f("ck_exchange_rates_distinct_currencies")),
        sa.CheckConstraint(
            "base ~ '^[A-Z]{3}$' and quote ~ '^[A-Z]{3}$'", name=op.f("ck_exchange_rates_iso_codes")
        ),
        *tenant_constraints("exchange_rates", "base", "quote", "day"),
    )
    enable_tenant_rls("exchange_rates")
    # DML grants to the app and worker roles come from the default privileges of earlier revisions.
    op.add_column("tenants", sa.Column("reporting_currency", sa.String(length=3), nullable=True))
    op.create_check_constraint("reporting_currency_iso", "tenants", "reporting_currency ~ '^[A-Z]{3}$'")


def downgrade() -> None:
    op.drop_constraint(op.f("ck_tenants_reporting_currency_iso"), "tenants", type_="check")
    op.drop_column("tenants", "reporting_currency")
    op.drop_table("exchange_rates")
