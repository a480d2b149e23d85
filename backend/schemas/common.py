"""Shapes shared by every feature: the error body and pagination."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Annotated, Any, Generic, Self, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict

from backend.services.metrics.types import EARLIEST_TS, LATEST_TS, timestamp_problem
from backend.utils.error_handlers import ErrorDetail as ErrorDetail
from backend.utils.error_handlers import ErrorResponse as ErrorResponse
from backend.utils.repository import PageWindow

T = TypeVar("T")

EARLIEST_DATE = EARLIEST_TS.date()
LATEST_DATE = LATEST_TS.date()  # exclusive


def _supported_datetime(value: datetime) -> datetime:
    problem = timestamp_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def _supported_date(value: date) -> date:
    if not EARLIEST_DATE <= value < LATEST_DATE:
        raise ValueError(f"dates must lie from {EARLIEST_DATE} (inclusive) to {LATEST_DATE} (exclusive)")
    return value


# Every date and timestamp a request may carry lies in the range metrics support (see points.py).
SupportedDatetime = Annotated[datetime, AfterValidator(_supported_datetime)]
SupportedDate = Annotated[date, AfterValidator(_supported_date)]


class Page(BaseModel, Generic[T]):
    """A page of results; ``total`` counts all matches, ``items`` holds at most ``limit``."""

    items: list[T]
    total: int
    limit: int
    offset: int

    @classmethod
    def of(cls, items: Iterable[T], total: int, window: PageWindow) -> Page[T]:
        """The page ``window`` asked for, holding ``items`` of ``total`` matches."""
        return cls(items=list(items), total=total, limit=window.limit, offset=window.offset)

    @classmethod
    def listing(cls, items: Sequence[T], window: PageWindow) -> Page[T]:
        """The page ``window`` asks for of a list held in memory (a catalog, not a query)."""
        return cls.of(items[window.offset : window.offset + window.limit], len(items), window)


class ReadModel(BaseModel):
    """Base for response models built from ORM rows."""

    model_config = ConfigDict(from_attributes=True)

    @classmethod
    def from_row(cls, *rows: object, **values: Any) -> Self:
        """Each field from ``values`` if given there, else from the first of ``rows`` (ORM rows,
        dataclasses) with an attribute of that name: no field is copied by hand."""
        found: dict[str, Any] = {}
        for name in cls.model_fields.keys() - values.keys():
            row = next((row for row in rows if hasattr(row, name)), None)
            if row is not None:
                found[name] = getattr(row, name)
        return cls.model_validate({**found, **values})
