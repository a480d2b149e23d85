"""Every setting the app reads is documented in .env.external.example."""

from __future__ import annotations

from pydantic_settings import BaseSettings

from backend.config import PROJECT_ROOT, Settings


def _env_names(model: type[BaseSettings]) -> set[str]:
    names: set[str] = set()
    for name, info in model.model_fields.items():
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseSettings):
            names |= _env_names(annotation)
        elif isinstance(info.validation_alias, str):
            names.add(info.validation_alias)
        elif name not in {"version"}:
            names.add(name.upper())
    return names


def test_every_setting_is_in_the_env_example() -> None:
    example = (PROJECT_ROOT / ".env.external.example").read_text()
    documented = {
        line.lstrip("# ").split("=", 1)[0].strip()
        for line in example.splitlines()
        if "=" in line and line.lstrip("# ").split("=", 1)[0].strip().isupper()
    }
    names = _env_names(Settings)
    # The walk reaches every group (a broken walk would pass with nothing to check).
    assert {
        "DATABASE_URL",
        "SECRET_KEY",
        "LOCAL_LLM_URL",
        "CONNECTOR_ENCRYPTION_KEYS",
        "WORKER_METRICS_PORT",
    } <= names
    missing = sorted(names - documented)
    assert missing == [], f"settings missing from .env.external.example: {missing}"
