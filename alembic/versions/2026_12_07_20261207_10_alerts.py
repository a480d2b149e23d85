"""Alerts: rules, delivery channels, the alerts rules raised, the outbox and its delivery log.

- ``alert_rules`` (per user, or per tenant when ``user_id`` is null) and ``alert_rule_channels``;
- ``alert_channels``: a signed webhook, a Slack incoming webhook or an email address. A webhook's
  URL and signing secret, and a Slack URL (which is itself the credential), are stored
  AES-256-GCM encrypted in ``sealed_config`` (the signer needs the secret back, so a hash will
  not do);
- ``alerts``: one per rule, subject and period (``uq_alerts_tenant_id_rule_id_subject_period_key``);
- ``alert_deliveries``: the outbox, one row per alert and channel, claimed ``FOR UPDATE SKIP
  LOCKED`` by the delivery job, ``deliver_after`` the end of quiet hours;
- ``alert_delivery_attempts``: what each attempt got (status code, latency, error).

``defer_tenant_job_at`` is ``defer_tenant_job`` (its tenant checks) with a time to run at:
quiet hours defer a delivery to their end.

Revision ID: 20261207_10
Revises: 20261207_01
Create Date: 2026-12-07 17:40:00+00:00
"""

import sqlalchemy as sa
from alembic import op
from migration_kit import (
    created_now,
    enable_tenant_rls,
    existing_role,
    tenant_constraints,
    tenant_key,
    tenant_reference,
    timestamps,
)

revision: str = "20261207_10"
down_revision: str | None = "20261207_01"

RULE_KINDS = ("threshold", "change", "anomaly", "goal_status", "data_health")
CHANNEL_KINDS = ("webhook", "slack", "email")
DELIVERY_STATUSES = ("pending", "delivered", "failed")
TABLES = (
    "alert_channels",
    "alert_rules",
    "alert_rule_channels",
    "alerts",
    "alert_deliveries",
    "alert_delivery_attempts",
)
DEFER_AT = "defer_tenant_job_at(varchar, varchar, text, text, jsonb, timestamptz)"


def _one_of(values: tuple[str, ...]) -> str:
    return "(" + ", ".join(f"'{value}'" for value in values) + ")"


def _channels_and_rules() -> None:
    op.create_table(
        "alert_channels",
        *tenant_key(),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("display_target", sa.String(length=300), nullable=False),
        sa.Column("sealed_config", sa.LargeBinary(), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        *timestamps(),
        *tenant_constraints("alert_channels"),
        tenant_reference("alert_channels", "created_by", "users", on_delete="set null"),
        sa.CheckConstraint(f"kind in {_one_of(CHANNEL_KINDS)}", name=op.f("ck_alert_channels_kind_valid")),
        sa.UniqueConstraint("tenant_id", "name", name=op.f("uq_alert_channels_tenant_id_name")),
    )
    op.create_table(
        "alert_rules",
        *tenant_key(),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("metric", sa.String(length=100), nullable=True),
        sa.Column("operator", sa.String(length=5), nullable=True),
        sa.Column("threshold", sa.Float(), nullable=True),
        sa.Column("min_severity", sa.String(length=10), nullable=False, server_default="low"),
        sa.Column("quiet_start", sa.Time(), nullable=True),
        sa.Column("quiet_end", sa.Time(), nullable=True),
        sa.Column("snoozed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False, server_default=sa.true()),
        *timestamps(),
        *tenant_constraints("alert_rules"),
        tenant_reference("alert_rules", "user_id", "users", on_delete="cascade"),
        sa.ForeignKeyConstraint(
            ["tenant_id", "metric"],
            ["metric_definitions.tenant_id", "metric_definitions.name"],
            name=op.f("fk_alert_rules_tenant_id_metric_metric_definitions"),
            ondelete="CASCADE",
        ),
        sa.CheckConstraint(f"kind in {_one_of(RULE_KINDS)}", name=op.f("ck_alert_rules_kind_valid")),
        sa.CheckConstraint(
            "(quiet_start is null) = (quiet_end is null)", name=op.f("ck_alert_rules_quiet_hours_paired")
        ),
    )
    op.create_index("ix_alert_rules_tenant_id_user_id", "alert_rules", ["tenant_id", "user_id"])
    op.create_table(
        "alert_rule_channels",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("rule_id", sa.Uuid(), nullable=False),
        sa.Column("channel_id", sa.Uuid(), nullable=False),
        *tenant_constraints("alert_rule_channels", "rule_id", "channel_id"),
        tenant_reference("alert_rule_channels", "rule_id", "alert_rules", on_delete="cascade"),
        tenant_reference("alert_rule_channels", "channel_id", "alert_channels", on_delete="cascade"),
    )
    op.create_index(
        "ix_alert_rule_channels_tenant_id_channel_id", "alert_rule_channels", ["tenant_id", "channel_id"]
    )


def _alerts_and_outbox() -> None:
    op.create_table(
        "alerts",
        *tenant_key(),
        sa.Column("rule_id", sa.Uuid(), nullable=False),
        sa.Column("insight_id", sa.Uuid(), nullable=True),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("period_key", sa.String(length=50), nullable=False),
        sa.Column("severity", sa.String(length=10), nullable=False),
        sa.Column("sentence", sa.Text(), nullable=False),
        created_now(),
        *tenant_constraints("alerts"),
        tenant_reference("alerts", "rule_id", "alert_rules", on_delete="cascade"),
        tenant_reference("alerts", "insight_id", "insights", on_delete="set null"),
        sa.UniqueConstraint(
            "tenant_id", "rule_id", "subject", "period_key", name=op.f("uq_alerts_tenant_id_rule_id_subject_period_key")
        ),
    )
    op.create_index("ix_alerts_tenant_id_created_at", "alerts", ["tenant_id", "created_at"])
    op.create_table(
        "alert_deliveries",
        *tenant_key(),
        sa.Column("alert_id", sa.Uuid(), nullable=False),
        sa.Column("channel_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False, server_default="pending"),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("deliver_after", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("job_id", sa.Uuid(), nullable=True),
        created_now(),
        *tenant_constraints("alert_deliveries"),
        tenant_reference("alert_deliveries", "alert_id", "alerts", on_delete="cascade"),
        tenant_reference("alert_deliveries", "channel_id", "alert_channels", on_delete="cascade"),
        sa.CheckConstraint(
            f"status in {_one_of(DELIVERY_STATUSES)}", name=op.f("ck_alert_deliveries_status_valid")
        ),
        sa.UniqueConstraint(
            "tenant_id", "alert_id", "channel_id", name=op.f("uq_alert_deliveries_tenant_id_alert_id_channel_id")
        ),
    )
    op.create_index(
        "ix_alert_deliveries_tenant_id_channel_id_created_at",
        "alert_deliveries",
        ["tenant_id", "channel_id", "created_at"],
    )
    op.create_table(
        "alert_delivery_attempts",
        *tenant_key(),
        sa.Column("delivery_id", sa.Uuid(), nullable=False),
        sa.Column("channel_id", sa.Uuid(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(length=10), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        created_now(),
        *tenant_constraints("alert_delivery_attempts"),
        tenant_reference("alert_delivery_attempts", "delivery_id", "alert_deliveries", on_delete="cascade"),
        tenant_reference("alert_delivery_attempts", "channel_id", "alert_channels", on_delete="cascade"),
        sa.CheckConstraint(
            "outcome in ('delivered', 'retry', 'failed')", name=op.f("ck_alert_delivery_attempts_outcome_valid")
        ),
    )
    op.create_index(
        "ix_alert_delivery_attempts_tenant_id_channel_id_created_at",
        "alert_delivery_attempts",
        ["tenant_id", "channel_id", "created_at"],
    )


def upgrade() -> None:
    _channels_and_rules()
    _alerts_and_outbox()
    for table in TABLES:
        enable_tenant_rls(table)
    app, worker = existing_role("app_role"), existing_role("worker_role")
    # defer_tenant_job's checks, then the time to run at: the job is not committed yet, so no
    # worker sees it before its scheduled_at is set.
    op.execute(
        """
        create function defer_tenant_job_at(
          queue_name varchar, task_name varchar, lock text, queueing_lock text, args jsonb,
          run_at timestamptz
        ) returns bigint
        language plpgsql volatile security definer
        set search_path = pg_catalog, procrastinate
        as $$
        declare
          job bigint := public.defer_tenant_job(queue_name, task_name, lock, queueing_lock, args);
        begin
          update procrastinate.procrastinate_jobs set scheduled_at = run_at where id = job;
          return job;
        end
        $$
        """
    )
    op.execute(f"revoke all on function {DEFER_AT} from public")
    op.execute(f"grant execute on function {DEFER_AT} to {app}, {worker}")


def downgrade() -> None:
    op.execute(f"drop function {DEFER_AT}")
    for table in reversed(TABLES):
        op.drop_table(table)
