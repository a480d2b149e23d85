"""Insight digests: each user's choice of a daily or weekly email of what the engine found.

- ``digest_subscriptions``: one row per user who chose a frequency (``daily``/``weekly``, or
  ``off`` after an unsubscribe link), and the local day the last digest was sent, which the
  sending job claims under a row lock so a day's digest goes out once.

Revision ID: 20261207_20
Revises: 20261207_10
Create Date: 2026-12-07 18:50:00+00:00
"""

import sqlalchemy as sa
from alembic import op
from migration_kit import enable_tenant_rls, tenant_constraints, tenant_reference, timestamps

revision: str = "20261207_20"
down_revision: str | None = "20261207_10"


def upgrade() -> None:
    op.create_table(
        "digest_subscriptions",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("frequency", sa.String(length=10), nullable=False),
        sa.Column("last_sent_on", sa.Date(), nullable=True),
        *timestamps(),
        *tenant_constraints("digest_subscriptions", "user_id"),
        tenant_reference("digest_subscriptions", "user_id", "users", on_delete="cascade"),
        sa.CheckConstraint(
            "frequency in ('off', 'daily', 'weekly')", name=op.f("ck_digest_subscriptions_frequency_valid")
        ),
    )
    enable_tenant_rls("digest_subscriptions")


def downgrade() -> None:
    op.drop_table("digest_subscriptions")
