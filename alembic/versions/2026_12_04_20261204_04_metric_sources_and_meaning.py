"""Metric sources side by side, and what a metric means.

``business_metrics`` keys points by source as well, so a connector writing a metric that
manual entry also feeds no longer overwrites (or silently adds to) it; the metric
definition states how sources combine (``source_rule`` + ``source_priority``), its
currency, favourable direction, non-negativity and display format.

Existing data is brought under the rule: every defined metric gets ``priority`` with its
sources ordered by when each first wrote it, so the oldest source stays the source of truth.

Revision ID: 20261204_04
Revises: 20261204_03
Create Date: 2026-12-04 21:00:00+00:00
"""

import sqlalchemy as sa
from alembic import op
from migration_kit import forced_rls_lifted
from sqlalchemy.dialects import postgresql

revision: str = "20261204_04"
down_revision: str | None = "20261204_03"


def upgrade() -> None:
    op.add_column("metric_definitions", sa.Column("currency", sa.String(length=3), nullable=True))
    op.add_column("metric_definitions", sa.Column("favourable_direction", sa.String(length=4), nullable=True))
    op.add_column("metric_definitions", sa.Column("non_negative", sa.Boolean(), nullable=True))
    op.add_column("metric_definitions", sa.Column("display_format", sa.String(length=10), nullable=True))
    op.add_column(
        "metric_definitions",
        sa.Column("source_rule", sa.String(length=10), server_default="priority", nullable=False),
    )
    op.add_column(
        "metric_definitions",
        sa.Column(
            "source_priority",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
    )
    op.create_check_constraint("source_rule", "metric_definitions", "source_rule in ('priority', 'additive')")
    op.create_check_constraint(
        "favourable_direction", "metric_definitions", "favourable_direction in ('up', 'down')"
    )
    op.drop_constraint("pk_business_metrics", "business_metrics", type_="primary")
    op.create_primary_key(
        "pk_business_metrics", "business_metrics", ["tenant_id", "metric", "source", "dimensions_key", "ts"]
    )
    with forced_rls_lifted("metric_definitions", "business_metrics"):
        op.execute(
            """
            update metric_definitions d set source_priority = s.sources
            from (
                select tenant_id, metric, jsonb_agg(source order by first_seen, source) as sources
                from (
                    select tenant_id, metric, source, min(ingested_at) as first_seen
                    from business_metrics group by tenant_id, metric, source
                ) per_source
                group by tenant_id, metric
            ) s
            where d.tenant_id = s.tenant_id and d.name = s.metric
            """
        )


def downgrade() -> None:
    # Points that only differ by source cannot share the old key: keep the first source's.
    with forced_rls_lifted("business_metrics"):
        op.execute(
            """
            delete from business_metrics m using business_metrics o
            where m.tenant_id = o.tenant_id and m.metric = o.metric
              and m.dimensions_key = o.dimensions_key and m.ts = o.ts and m.source > o.source
            """
        )
    op.drop_constraint("pk_business_metrics", "business_metrics", type_="primary")
    op.create_primary_key(
        "pk_business_metrics", "business_metrics", ["tenant_id", "metric", "dimensions_key", "ts"]
    )
    op.drop_constraint(op.f("ck_metric_definitions_favourable_direction"), "metric_definitions", type_="check")
    op.drop_constraint(op.f("ck_metric_definitions_source_rule"), "metric_definitions", type_="check")
    for column in (
        "source_priority",
        "source_rule",
        "display_format",
        "non_negative",
        "favourable_direction",
        "currency",
    ):
        op.drop_column("metric_definitions", column)
