"""Exchange rates a tenant loads, one per currency pair and day."""

from __future__ import annotations

from datetime import date

from sqlalchemy import CheckConstraint, Date, Double, String
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import Base, TenantMixin, TimestampMixin


class ExchangeRate(TenantMixin, TimestampMixin, Base):
    """``1 base = rate quote`` on ``day`` (e.g. base EUR, quote USD, rate 1.08).

    A rate applies to its own day; a day without one uses the most recent earlier rate of the
    7 days before it (see ``backend.services.metrics.rates``). The inverse pair is derived
    (1 / rate), so a tenant loads each pair once, in whichever direction its feed quotes it.
    """

    __tablename__ = "exchange_rates"
    __table_args__ = (
        CheckConstraint("rate > 0 and rate < 'infinity'::float8", name="rate_positive_finite"),
        CheckConstraint("base <> quote", name="distinct_currencies"),
        CheckConstraint("base ~ '^[A-Z]{3}$' and quote ~ '^[A-Z]{3}$'", name="iso_codes"),
    )

    base: Mapped[str] = mapped_column(String(3), primary_key=True)
    quote: Mapped[str] = mapped_column(String(3), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    rate: Mapped[float] = mapped_column(Double)
