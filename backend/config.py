"""Application settings: one ``Settings`` object, grouped, read once at startup.

Every group reads flat environment variable names (``DATABASE_URL``, ``SECRET_KEY``, …)
so the names in ``.env.external.example`` and the developer guide work unchanged.
Values also come from a ``.env`` file in the working directory when present.
"""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# The development secret is public (it is in this file); production refuses it.
DEVELOPMENT_SECRET_KEY = "dev-insecure-secret-key-change-me-0000000000000000"  # noqa: S105


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


def _group_config() -> SettingsConfigDict:
    return SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)


class DatabaseSettings(BaseSettings):
    """Where PostgreSQL is. With no ``DATABASE_URL``, the embedded server is used."""

    model_config = _group_config()

    url: SecretStr | None = Field(
        default=None,
        validation_alias="DATABASE_URL",
        description="Application-role URL (postgresql+asyncpg://…). Unset: embedded PostgreSQL.",
    )
    owner_url: SecretStr | None = Field(
        default=None,
        validation_alias="DATABASE_OWNER_URL",
        description="Owner-role URL used by Alembic migrations. Required with DATABASE_URL.",
    )
    app_role: str = Field(
        default="dyocense_app",
        validation_alias="DATABASE_APP_ROLE",
        description="Name of the application role that migrations grant DML to.",
    )
    pool_size: int = Field(default=10, ge=1, validation_alias="DATABASE_POOL_SIZE")
    max_overflow: int = Field(default=10, ge=0, validation_alias="DATABASE_MAX_OVERFLOW")
    pool_timeout_seconds: float = Field(default=10.0, gt=0, validation_alias="DATABASE_POOL_TIMEOUT")
    statement_timeout_ms: int = Field(default=30_000, ge=0, validation_alias="DATABASE_STATEMENT_TIMEOUT_MS")
    echo: bool = Field(default=False, validation_alias="DATABASE_ECHO")

    embedded_port: int = Field(default=54329, ge=1024, le=65535, validation_alias="EMBEDDED_PG_PORT")
    embedded_data_dir: Path = Field(default=PROJECT_ROOT / ".data", validation_alias="EMBEDDED_PG_DATA_DIR")
    embedded_database: str = Field(default="dyocense", validation_alias="EMBEDDED_PG_DATABASE")

    @property
    def uses_embedded(self) -> bool:
        return self.url is None

    @model_validator(mode="after")
    def _owner_url_goes_with_url(self) -> DatabaseSettings:
        if (self.url is None) != (self.owner_url is None):
            raise ValueError("DATABASE_URL and DATABASE_OWNER_URL must be set together (or neither)")
        return self


class AuthSettings(BaseSettings):
    model_config = _group_config()

    secret_key: SecretStr = Field(default=SecretStr(DEVELOPMENT_SECRET_KEY), validation_alias="SECRET_KEY")
    algorithm: str = Field(default="HS256", validation_alias="JWT_ALGORITHM")
    issuer: str = Field(default="dyocense", validation_alias="JWT_ISSUER")
    audience: str = Field(default="dyocense-api", validation_alias="JWT_AUDIENCE")
    access_token_minutes: int = Field(default=15, ge=1, le=120, validation_alias="ACCESS_TOKEN_MINUTES")
    refresh_token_days: int = Field(default=14, ge=1, le=90, validation_alias="REFRESH_TOKEN_DAYS")
    activation_token_hours: int = Field(default=72, ge=1, validation_alias="ACTIVATION_TOKEN_HOURS")
    signup_enabled: bool = Field(default=True, validation_alias="SIGNUP_ENABLED")
    signup_per_ip_per_hour: int = Field(default=20, ge=1, validation_alias="SIGNUP_RATE_LIMIT_PER_HOUR")
    login_per_account_per_15min: int = Field(
        default=10, ge=1, validation_alias="LOGIN_RATE_LIMIT_PER_ACCOUNT"
    )
    login_per_ip_per_15min: int = Field(default=50, ge=1, validation_alias="LOGIN_RATE_LIMIT_PER_IP")
    min_password_length: int = Field(default=10, ge=8, validation_alias="MIN_PASSWORD_LENGTH")


class ObservabilitySettings(BaseSettings):
    model_config = _group_config()

    enable_prometheus: bool = Field(default=True, validation_alias="ENABLE_PROMETHEUS")
    enable_tracing: bool = Field(default=False, validation_alias="ENABLE_TRACING")
    otlp_endpoint: str | None = Field(default=None, validation_alias="OTEL_EXPORTER_OTLP_ENDPOINT")
    service_name: str = Field(default="dyocense-backend", validation_alias="OTEL_SERVICE_NAME")
    log_level: str = Field(default="INFO", validation_alias="LOG_LEVEL")
    log_json: bool | None = Field(
        default=None,
        validation_alias="LOG_JSON",
        description="JSON log lines; unset means JSON in production, console text otherwise.",
    )


class Settings(BaseSettings):
    """All settings. Build with ``get_settings()`` in the app; tests pass overrides."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    environment: Environment = Field(default=Environment.DEVELOPMENT, validation_alias="ENVIRONMENT")
    app_name: str = Field(default="Dyocense", validation_alias="APP_NAME")
    version: str = "4.0.0"
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["http://localhost:3000", "http://localhost:8001"],
        validation_alias="CORS_ORIGINS",
    )
    trust_forwarded_for: bool = Field(
        default=False,
        validation_alias="TRUST_FORWARDED_FOR",
        description="Take the client IP from X-Forwarded-For (only behind a trusted proxy).",
    )
    max_request_body_bytes: int = Field(default=25 * 1024 * 1024, validation_alias="MAX_REQUEST_BODY_BYTES")

    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    observability: ObservabilitySettings = Field(default_factory=ObservabilitySettings)

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    @property
    def is_production(self) -> bool:
        return self.environment is Environment.PRODUCTION

    @property
    def log_json(self) -> bool:
        if self.observability.log_json is not None:
            return self.observability.log_json
        return self.is_production

    @model_validator(mode="after")
    def _refuse_unsafe_production_defaults(self) -> Settings:
        if not self.is_production:
            return self
        problems = []
        secret = self.auth.secret_key.get_secret_value()
        if secret == DEVELOPMENT_SECRET_KEY or len(secret) < 32:
            problems.append("SECRET_KEY must be set to a random value of at least 32 characters")
        if "*" in self.cors_origins:
            problems.append("CORS_ORIGINS must list origins explicitly, not '*'")
        if self.database.uses_embedded:
            problems.append("DATABASE_URL must point at a managed PostgreSQL in production")
        if problems:
            raise ValueError("unsafe production settings: " + "; ".join(problems))
        return self


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
