"""Price elasticity of demand per product, and what a price change does to units and margin.

Pure computation (no I/O). The elasticity is the slope of a log-log regression of daily units
sold on the day's price (ordinary least squares, statsmodels), with its confidence interval;
days with no sale are left out (log of zero). A product whose price never varied enough has no
elasticity to estimate: :func:`estimate_elasticity` refuses it rather than assume one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import statsmodels.api as sm

from backend.services.optimizer.inputs import MissingInputs

MIN_DAYS = 14
"""Days with a sale and a price needed before a slope means anything."""
MIN_DISTINCT_PRICES = 3
MIN_PRICE_SPREAD = 0.02
"""The highest price must be at least 2% above the lowest: below that the slope is noise."""
CONFIDENCE = 0.95


@dataclass(frozen=True)
class Elasticity:
    """% change in units per 1% change in price, with its interval and what it was fitted on."""

    product: str
    value: float
    low: float
    high: float
    days: int
    price_low: float
    price_high: float
    r2: float


@dataclass(frozen=True)
class Band:
    """A quantity at the elasticity's estimate and at its interval's ends (low <= value <= high)."""

    value: float
    low: float
    high: float

    @classmethod
    def of(cls, *values: float) -> Band:
        return cls(values[0], min(values), max(values))


@dataclass(frozen=True)
class PriceEffect:
    """Units and margin per period before and after a price change, the 'after' as bands."""

    product: str
    price_before: float
    price_after: float
    units_before: float
    units_after: Band
    margin_before: float
    margin_after: Band
    outside_history: bool
    """The new price lies outside the prices the elasticity was fitted on (an extrapolation)."""

    @property
    def units_factor(self) -> Band:
        """Units after over units before (1 when nothing sold before)."""
        if self.units_before <= 0:
            return Band(1.0, 1.0, 1.0)
        u = self.units_after
        return Band(u.value / self.units_before, u.low / self.units_before, u.high / self.units_before)

    @property
    def margin_delta(self) -> Band:
        m = self.margin_after
        return Band(m.value - self.margin_before, m.low - self.margin_before, m.high - self.margin_before)


def _never_varied(product: str, reason: str) -> MissingInputs:
    return MissingInputs(
        [f"days with different prices of {product} (a 'price' metric per SKU that has varied)"],
        f"{reason} How demand answers a price change cannot be estimated from this history; "
        "try the new price for a few weeks (or on part of the range) and ask again.",
    )


def estimate_elasticity(product: str, prices: Sequence[float], units: Sequence[float]) -> Elasticity:
    """Log-log OLS of units on price over paired days; ``MissingInputs`` when price never varied."""
    pairs = [(p, u) for p, u in zip(prices, units, strict=True) if p > 0 and u > 0]
    if len(pairs) < MIN_DAYS:
        raise _never_varied(product, f"Only {len(pairs)} days have both a sale and a price of {product}.")
    price = np.array([p for p, _ in pairs])
    low, high = float(price.min()), float(price.max())
    distinct = len(np.unique(np.round(price, 2)))
    if distinct < MIN_DISTINCT_PRICES or high < low * (1 + MIN_PRICE_SPREAD):
        raise _never_varied(
            product, f"The price of {product} stayed between {low:.2f} and {high:.2f} ({distinct} distinct)."
        )
    design = sm.add_constant(np.log(price))
    fit = sm.OLS(np.log(np.array([u for _, u in pairs])), design).fit()
    ci_low, ci_high = fit.conf_int(alpha=1 - CONFIDENCE)[1]
    return Elasticity(
        product=product,
        value=float(fit.params[1]),
        low=float(ci_low),
        high=float(ci_high),
        days=len(pairs),
        price_low=low,
        price_high=high,
        r2=float(fit.rsquared),
    )


def price_effect(
    elasticity: Elasticity, *, price: float, new_price: float, unit_cost: float, units: float
) -> PriceEffect:
    """Constant-elasticity demand: units x (new/old)^e, margin (price - cost) x units, per period."""
    if price <= 0 or new_price <= 0:
        raise MissingInputs(
            [f"a positive current and new price of {elasticity.product}"], "Prices must be > 0."
        )
    ratio = new_price / price

    def units_at(e: float) -> float:
        return units * math.pow(ratio, e)

    after = [units_at(e) for e in (elasticity.value, elasticity.low, elasticity.high)]
    return PriceEffect(
        product=elasticity.product,
        price_before=price,
        price_after=new_price,
        units_before=units,
        units_after=Band.of(*after),
        margin_before=(price - unit_cost) * units,
        margin_after=Band.of(*((new_price - unit_cost) * u for u in after)),
        outside_history=not elasticity.price_low <= new_price <= elasticity.price_high,
    )
