"""Exchange rates: what a load sends, what a read returns; and the ISO 4217 field type."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, BeforeValidator, Field, model_validator

from backend.schemas.common import ReadModel, SupportedDate
from backend.services.metrics.types import MAX_BATCH_RATES, MAX_RATE, MIN_RATE, pair_problem
from backend.utils.currencies import currency_problem


def _upper(value: object) -> object:
    return value.strip().upper() if isinstance(value, str) else value


def _iso_currency(value: str) -> str:
    problem = currency_problem(value)
    if problem:
        raise ValueError(problem)
    return value


# Case-insensitive on the way in ("eur" is EUR), always upper case on the way out.
CurrencyCode = Annotated[
    str,
    BeforeValidator(_upper),
    AfterValidator(_iso_currency),
    Field(examples=["EUR"], description="ISO 4217 code."),
]


class ExchangeRateIn(BaseModel):
    day: SupportedDate = Field(description="The day the rate applies to.", examples=["2026-03-02"])
    base: CurrencyCode
    quote: CurrencyCode = Field(examples=["USD"])
    rate: float = Field(
        ge=MIN_RATE,
        le=MAX_RATE,
        allow_inf_nan=False,
        examples=[1.0842],
        description="Units of quote one unit of base buys (1 EUR = 1.0842 USD).",
    )

    @model_validator(mode="after")
    def _distinct_currencies(self) -> ExchangeRateIn:
        problem = pair_problem(self.base, self.quote)
        if problem:
            raise ValueError(problem)
        return self


class ExchangeRateBatchIn(BaseModel):
    rates: list[ExchangeRateIn] = Field(min_length=1, max_length=MAX_BATCH_RATES)


class ExchangeRateLoadRead(BaseModel):
    received: int
    inserted: int
    updated: int = Field(description="Stored days whose rate changed.")
    unchanged: int = Field(description="Rates identical to what was stored.")


class ExchangeRateUploadRead(BaseModel):
    dry_run: bool
    rows_read: int
    pairs: list[str] = Field(description="The currency pairs in the file, as BASE/QUOTE.")
    first_day: date
    last_day: date
    result: ExchangeRateLoadRead | None = Field(description="What was stored (absent on a dry run).")


class ExchangeRateRead(ReadModel):
    day: date
    base: str
    quote: str
    rate: float
    updated_at: datetime
