"""Shapes shared by every feature: the error body and pagination."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")


class ErrorDetail(BaseModel):
    code: str = Field(examples=["not_found"], description="Stable machine-readable error code.")
    message: str = Field(examples=["Goal not found"], description="Human-readable explanation.")
    details: dict[str, Any] = Field(
        default_factory=dict, description="Structured context (fields, limits, ids)."
    )


class ErrorResponse(BaseModel):
    """Every error the API returns has this body."""

    error: ErrorDetail


class Page(BaseModel, Generic[T]):
    """A page of results; ``total`` counts all matches, ``items`` holds at most ``limit``."""

    items: list[T]
    total: int
    limit: int
    offset: int


class ReadModel(BaseModel):
    """Base for response models built from ORM rows."""

    model_config = ConfigDict(from_attributes=True)
