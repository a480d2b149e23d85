"""Foundation schema: every table, the pgvector column and (when available) the hypertable.

Reviewed from an autogenerate draft. Row-level security, grants and the credential
lookup functions are in the next revision.

Revision ID: 20261126_01
Revises:
Create Date: 2026-11-26 14:33:34.063184+00:00
"""

import pgvector.sqlalchemy
import sqlalchemy as sa
from alembic import op
from migration_kit import created_now, tenant_constraints, tenant_key, tenant_reference, timestamps
from sqlalchemy.dialects import postgresql

revision: str = "20261126_01"
down_revision: str | None = None


def _require_extension(name: str) -> None:
    """pgvector is not a trusted extension: a superuser must create it (infra/postgres does)."""
    bind = op.get_bind()
    installed = bind.scalar(sa.text("select count(*) from pg_extension where extname = :n"), {"n": name})
    if not installed:
        raise RuntimeError(
            f"extension {name!r} is missing in this database; a superuser must run "
            f"'CREATE EXTENSION {name};' first (see infra/postgres/)"
        )


def _timescaledb_installed() -> bool:
    bind = op.get_bind()
    return bool(bind.scalar(sa.text("select count(*) from pg_extension where extname = 'timescaledb'")))


def upgrade() -> None:
    _require_extension("vector")
    op.create_table(
        "external_benchmarks",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("industry", sa.String(length=100), nullable=False),
        sa.Column("metric", sa.String(length=100), nullable=False),
        sa.Column("period", sa.String(length=20), nullable=False),
        sa.Column("p25", sa.Double(), nullable=True),
        sa.Column("p50", sa.Double(), nullable=True),
        sa.Column("p75", sa.Double(), nullable=True),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("source_url", sa.String(length=500), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        *timestamps(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_external_benchmarks")),
    )
    op.create_index("ix_external_benchmarks_industry_metric", "external_benchmarks", ["industry", "metric"])
    op.create_table(
        "rate_limit_counters",
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key_hash", "window_start", name=op.f("pk_rate_limit_counters")),
    )
    op.create_table(
        "tenants",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("industry", sa.String(length=100), nullable=True),
        sa.Column("timezone", sa.String(length=64), server_default="UTC", nullable=False),
        sa.Column("currency", sa.String(length=3), server_default="USD", nullable=False),
        sa.Column("settings", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        *timestamps(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenants")),
    )
    op.create_table(
        "business_metrics",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("metric", sa.String(length=100), nullable=False),
        sa.Column("dimensions_key", sa.String(length=1000), server_default="", nullable=False),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("value", sa.Double(), nullable=False),
        sa.Column("dimensions", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("source", sa.String(length=100), server_default="manual", nullable=False),
        created_now("ingested_at"),
        *tenant_constraints("business_metrics", "metric", "dimensions_key", "ts"),
    )
    op.create_index("ix_business_metrics_tenant_id_metric_ts", "business_metrics", ["tenant_id", "metric", "ts"])
    if _timescaledb_installed():
        # Weekly chunks suit SMB volumes (thousands of points per tenant per week at most).
        op.execute(
            "select create_hypertable('business_metrics', by_range('ts', interval '7 days'), "
            "create_default_indexes => false, migrate_data => true)"
        )
    op.create_table(
        "data_sources",
        *tenant_key(),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("connector_type", sa.String(length=50), nullable=False),
        sa.Column("config", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("credentials_encrypted", sa.LargeBinary(), nullable=True),
        sa.Column("schedule", sa.String(length=100), nullable=True),
        sa.Column("status", sa.String(length=20), server_default="active", nullable=False),
        sa.Column(
            "sync_cursor", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False
        ),
        sa.Column("last_synced_at", sa.DateTime(timezone=True), nullable=True),
        *timestamps(),
        *tenant_constraints("data_sources"),
    )
    op.create_index("uq_data_sources_tenant_id_name", "data_sources", ["tenant_id", "name"], unique=True)
    op.create_table(
        "evidence_graph",
        *tenant_key(),
        sa.Column("cause", sa.String(length=100), nullable=False),
        sa.Column("effect", sa.String(length=100), nullable=False),
        sa.Column("effect_size", sa.Double(), nullable=True),
        sa.Column("ci_lower", sa.Double(), nullable=True),
        sa.Column("ci_upper", sa.Double(), nullable=True),
        sa.Column("method", sa.String(length=50), nullable=False),
        sa.Column("verdict", sa.String(length=20), nullable=False),
        sa.Column(
            "refutations", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False
        ),
        sa.Column("details", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("data_start", sa.DateTime(timezone=True), nullable=True),
        sa.Column("data_end", sa.DateTime(timezone=True), nullable=True),
        created_now("analysed_at"),
        *tenant_constraints("evidence_graph"),
    )
    op.create_index(
        "ix_evidence_graph_tenant_id_cause_effect",
        "evidence_graph",
        ["tenant_id", "cause", "effect", "analysed_at"],
    )
    op.create_table(
        "forecasts",
        *tenant_key(),
        sa.Column("metric", sa.String(length=100), nullable=False),
        sa.Column("frequency", sa.String(length=16), nullable=False),
        sa.Column("horizon", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(length=50), nullable=True),
        sa.Column("status", sa.String(length=20), server_default="completed", nullable=False),
        sa.Column("inputs", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("result", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("scores", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("data_start", sa.DateTime(timezone=True), nullable=True),
        sa.Column("data_end", sa.DateTime(timezone=True), nullable=True),
        *timestamps(),
        *tenant_constraints("forecasts"),
    )
    op.create_index(
        "ix_forecasts_tenant_id_metric_created_at", "forecasts", ["tenant_id", "metric", "created_at"]
    )
    op.create_table(
        "llm_usage",
        *tenant_key(),
        sa.Column("provider", sa.String(length=30), nullable=False),
        sa.Column("model", sa.String(length=100), nullable=False),
        sa.Column("tokens_in", sa.Integer(), nullable=False),
        sa.Column("tokens_out", sa.Integer(), nullable=False),
        sa.Column("tokens_estimated", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("cost_dollars", sa.Double(), nullable=False),
        sa.Column("latency_ms", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        *timestamps(),
        *tenant_constraints("llm_usage"),
    )
    op.create_index("ix_llm_usage_tenant_id_created_at", "llm_usage", ["tenant_id", "created_at"])
    op.create_table(
        "optimization_runs",
        *tenant_key(),
        sa.Column("template", sa.String(length=50), nullable=False),
        sa.Column("status", sa.String(length=30), nullable=False),
        sa.Column("solver", sa.String(length=20), nullable=True),
        sa.Column("objective", sa.Double(), nullable=True),
        sa.Column("params", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("solution", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("timings", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        *timestamps(),
        *tenant_constraints("optimization_runs"),
    )
    op.create_index(
        "ix_optimization_runs_tenant_id_created_at", "optimization_runs", ["tenant_id", "created_at"]
    )
    op.create_table(
        "users",
        *tenant_key(),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("full_name", sa.String(length=200), nullable=True),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=True),
        sa.Column("is_active", sa.Boolean(), server_default="true", nullable=False),
        sa.Column("activation_token_hash", sa.String(length=64), nullable=True),
        sa.Column("activation_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("activated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=True),
        *timestamps(),
        sa.CheckConstraint(
            "role in ('owner', 'admin', 'analyst', 'viewer')", name=op.f("ck_users_role_valid")
        ),
        *tenant_constraints("users"),
    )
    op.create_index(
        "uq_users_activation_token_hash",
        "users",
        ["activation_token_hash"],
        unique=True,
        postgresql_where=sa.text("activation_token_hash is not null"),
    )
    op.create_index("uq_users_email_lower", "users", [sa.literal_column("lower(email)")], unique=True)
    op.create_table(
        "api_keys",
        *tenant_key(),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        *timestamps(),
        sa.CheckConstraint(
            "role in ('owner', 'admin', 'analyst', 'viewer')", name=op.f("ck_api_keys_role_valid")
        ),
        tenant_reference("api_keys", "created_by", "users", on_delete="cascade"),
        *tenant_constraints("api_keys"),
    )
    op.create_index("uq_api_keys_key_hash", "api_keys", ["key_hash"], unique=True)
    op.create_table(
        "coaching_sessions",
        *tenant_key(),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("title", sa.String(length=200), nullable=True),
        *timestamps(),
        tenant_reference("coaching_sessions", "user_id", "users", on_delete="set null"),
        *tenant_constraints("coaching_sessions"),
    )
    op.create_index("ix_coaching_sessions_tenant_id_user_id", "coaching_sessions", ["tenant_id", "user_id"])
    op.create_table(
        "refresh_tokens",
        *tenant_key(),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("family_id", sa.Uuid(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        tenant_reference("refresh_tokens", "user_id", "users", on_delete="cascade"),
        *tenant_constraints("refresh_tokens"),
    )
    op.create_index("ix_refresh_tokens_tenant_id_family_id", "refresh_tokens", ["tenant_id", "family_id"])
    op.create_index("uq_refresh_tokens_token_hash", "refresh_tokens", ["token_hash"], unique=True)
    op.create_table(
        "smart_goals",
        *tenant_key(),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("metric", sa.String(length=100), nullable=False),
        sa.Column("aggregation", sa.String(length=16), nullable=False),
        sa.Column("period", sa.String(length=16), nullable=False),
        sa.Column("target_value", sa.Double(), nullable=False),
        sa.Column("baseline_value", sa.Double(), nullable=True),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("deadline", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="draft", nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=True),
        sa.Column("parent_id", sa.Uuid(), nullable=True),
        *timestamps(),
        sa.CheckConstraint(
            "status in ('draft', 'active', 'achieved', 'missed', 'abandoned')",
            name=op.f("ck_smart_goals_status_valid"),
        ),
        sa.CheckConstraint("deadline > start_date", name=op.f("ck_smart_goals_deadline_after_start")),
        tenant_reference("smart_goals", "owner_id", "users", on_delete="set null"),
        tenant_reference("smart_goals", "parent_id", "smart_goals", on_delete="set null"),
        *tenant_constraints("smart_goals"),
    )
    op.create_index("ix_smart_goals_tenant_id_metric", "smart_goals", ["tenant_id", "metric"])
    op.create_index("ix_smart_goals_tenant_id_status", "smart_goals", ["tenant_id", "status"])
    op.create_table(
        "coaching_messages",
        *tenant_key(),
        sa.Column("session_id", sa.Uuid(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("embedding", pgvector.sqlalchemy.vector.VECTOR(dim=384), nullable=True),
        sa.Column("details", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        *timestamps(),
        sa.CheckConstraint(
            "role in ('user', 'assistant', 'tool', 'system')", name=op.f("ck_coaching_messages_role_valid")
        ),
        tenant_reference("coaching_messages", "session_id", "coaching_sessions", on_delete="cascade"),
        *tenant_constraints("coaching_messages"),
    )
    op.create_index(
        "ix_coaching_messages_embedding_hnsw",
        "coaching_messages",
        ["embedding"],
        postgresql_using="hnsw",
        postgresql_ops={"embedding": "vector_cosine_ops"},
    )
    op.create_index(
        "ix_coaching_messages_tenant_id_session_id", "coaching_messages", ["tenant_id", "session_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_coaching_messages_tenant_id_session_id", table_name="coaching_messages")
    op.drop_index(
        "ix_coaching_messages_embedding_hnsw",
        table_name="coaching_messages",
        postgresql_using="hnsw",
        postgresql_ops={"embedding": "vector_cosine_ops"},
    )
    op.drop_table("coaching_messages")
    op.drop_index("ix_smart_goals_tenant_id_status", table_name="smart_goals")
    op.drop_index("ix_smart_goals_tenant_id_metric", table_name="smart_goals")
    op.drop_table("smart_goals")
    op.drop_index("uq_refresh_tokens_token_hash", table_name="refresh_tokens")
    op.drop_index("ix_refresh_tokens_tenant_id_family_id", table_name="refresh_tokens")
    op.drop_table("refresh_tokens")
    op.drop_index("ix_coaching_sessions_tenant_id_user_id", table_name="coaching_sessions")
    op.drop_table("coaching_sessions")
    op.drop_index("uq_api_keys_key_hash", table_name="api_keys")
    op.drop_table("api_keys")
    op.drop_index("uq_users_email_lower", table_name="users")
    op.drop_index(
        "uq_users_activation_token_hash",
        table_name="users",
        postgresql_where=sa.text("activation_token_hash is not null"),
    )
    op.drop_table("users")
    op.drop_index("ix_optimization_runs_tenant_id_created_at", table_name="optimization_runs")
    op.drop_table("optimization_runs")
    op.drop_index("ix_llm_usage_tenant_id_created_at", table_name="llm_usage")
    op.drop_table("llm_usage")
    op.drop_index("ix_forecasts_tenant_id_metric_created_at", table_name="forecasts")
    op.drop_table("forecasts")
    op.drop_index("ix_evidence_graph_tenant_id_cause_effect", table_name="evidence_graph")
    op.drop_table("evidence_graph")
    op.drop_index("uq_data_sources_tenant_id_name", table_name="data_sources")
    op.drop_table("data_sources")
    op.drop_index("ix_business_metrics_tenant_id_metric_ts", table_name="business_metrics")
    op.drop_table("business_metrics")
    op.drop_table("tenants")
    op.drop_table("rate_limit_counters")
    op.drop_index("ix_external_benchmarks_industry_metric", table_name="external_benchmarks")
    op.drop_table("external_benchmarks")
