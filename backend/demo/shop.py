"""The demo shop's data, generated in code: two years of daily metrics with a known story.

A two-store retailer (``downtown``, ``riverside``) sells in store and online (``channel``:
``in_store``, ``online``) and buys ads on three channels. Everything is drawn from one seeded
generator, so the same seed and end date give the same numbers, point for point:

- revenue and orders per store and channel: a trend (+12% a year), a weekly cycle (weekends
  busy in store), a yearly cycle peaking in December, and US public holidays from the
  ``holidays`` package (stores closed on Thanksgiving, Christmas and New Year's Day, busy on the
  others; Black Friday the busiest day of the year);
- footfall per store (in-store visitors; orders convert about 22% of them);
- ad spend per channel (``ad_spend_search``, ``ad_spend_social``, ``ad_spend_email``) that
  drives online revenue with a known return: search 2.5 dollars per dollar the same day, social
  1.5 carried over a few days (geometric adstock 0.5), email 6 on send days;
- planted events: a two-week **anniversary sale** (revenue +30%, orders +40%) about 14 months before the
  end, and a **riverside closure** (a water leak: in-store sales and footfall down 85% for ten days)
  about four months before the end.

Pure computation: no I/O. ``backend.demo.builder`` sends it through the API.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from datetime import date, timedelta

import holidays
import numpy as np

DAYS = 730
STORES = ("downtown", "riverside")
CHANNELS = ("in_store", "online")
AD_CHANNELS = ("search", "social", "email")
HOLIDAY_COUNTRY = "US"

# Base daily revenue (dollars) of each store and sales channel, at the start of the two years.
_BASE_REVENUE = {
    ("downtown", "in_store"): 2400.0,
    ("riverside", "in_store"): 1600.0,
    ("downtown", "online"): 700.0,
    ("riverside", "online"): 450.0,
}
_AVERAGE_ORDER = {"in_store": 42.0, "online": 55.0}
_CONVERSION = 0.22
# Monday .. Sunday.
_WEEKLY = {
    "in_store": (0.85, 0.9, 0.95, 1.0, 1.15, 1.35, 1.05),
    "online": (1.05, 1.0, 1.0, 0.98, 0.95, 0.97, 1.1),
}
_CLOSED_HOLIDAYS = ("Thanksgiving", "Christmas Day", "New Year's Day")
# True returns of ad spend (online revenue per dollar), as the module docstring states.
AD_RETURN = {"search": 2.5, "social": 1.5, "email": 6.0}
SOCIAL_ADSTOCK = 0.5


@dataclass(frozen=True)
class PlantedEvent:
    name: str
    start: date
    days: int
    description: str


@dataclass
class DemoShop:
    """What the builder sends: metric definitions, a wide CSV for the POS data source, JSON points."""

    start: date
    end: date  # the last day with data (inclusive)
    pos_csv: str
    ad_points: list[dict[str, object]]
    footfall_points: list[dict[str, object]]
    events: list[PlantedEvent]
    holidays: dict[date, str] = field(default_factory=dict)

    @property
    def point_count(self) -> int:
        rows = self.pos_csv.count("\n") - 1
        return rows * 2 + len(self.ad_points) + len(self.footfall_points)


METRIC_DEFINITIONS: dict[str, dict[str, object]] = {
    "revenue": {
        "unit": "USD",
        "currency": "USD",
        "aggregation": "sum",
        "favourable_direction": "up",
        "non_negative": True,
        "description": "Sales net of returns, per store and sales channel (POS export).",
    },
    "orders": {
        "unit": "orders",
        "aggregation": "sum",
        "favourable_direction": "up",
        "non_negative": True,
        "description": "Completed orders, per store and sales channel.",
    },
    "footfall": {
        "unit": "visitors",
        "aggregation": "sum",
        "favourable_direction": "up",
        "non_negative": True,
        "description": "Store visitors counted at the door.",
    },
    **{
        f"ad_spend_{channel}": {
            "unit": "USD",
            "currency": "USD",
            "aggregation": "sum",
            "favourable_direction": "down",
            "non_negative": True,
            "description": f"Daily {channel} advertising spend.",
        }
        for channel in AD_CHANNELS
    },
}


def _holiday_factors(days: list[date]) -> tuple[np.ndarray, dict[date, str]]:
    """In-store multiplier of each day: closed, busy holiday, Black Friday or an ordinary day."""
    calendar = holidays.country_holidays(HOLIDAY_COUNTRY, years=sorted({d.year for d in days}))
    factors = np.ones(len(days))
    named: dict[date, str] = {}
    for index, day in enumerate(days):
        name = calendar.get(day)
        if name is not None:
            named[day] = name
            factors[index] = 0.05 if any(closed in name for closed in _CLOSED_HOLIDAYS) else 1.25
        previous = calendar.get(day - timedelta(days=1))
        if previous is not None and "Thanksgiving" in previous:
            named[day] = "Black Friday"
            factors[index] = 2.2
    return factors, named


def _ad_spend(rng: np.random.Generator, days: list[date], growth: np.ndarray) -> dict[str, np.ndarray]:
    n = len(days)
    weekday = np.array([d.weekday() for d in days])
    # Search: steady with a weekday rhythm and a random walk in the bids.
    search = 300 * growth * (1 + 0.08 * (weekday < 5)) * np.exp(np.cumsum(rng.normal(0, 0.02, n)) * 0.3)
    # Social: campaign flights, two weeks on at ~350/day, one to three weeks low.
    social = np.empty(n)
    index = 0
    on = True
    while index < n:
        length = 14 if on else int(rng.integers(7, 22))
        social[index : index + length] = (350.0 if on else 60.0) * growth[index : index + length]
        index += length
        on = not on
    social *= rng.lognormal(0, 0.1, n)
    # Email: a paid send every Tuesday.
    email = np.where(weekday == 1, 180.0, 0.0) * rng.uniform(0.8, 1.2, n)
    return {"search": search.round(2), "social": social.round(2), "email": email.round(2)}


def _adstock(spend: np.ndarray, decay: float) -> np.ndarray:
    carried = np.empty_like(spend)
    level = 0.0
    for index, value in enumerate(spend):
        level = value + decay * level
        carried[index] = level * (1 - decay)
    return carried


def build_shop(end: date, seed: int = 21) -> DemoShop:
    """Two years of days ending on ``end`` (inclusive), drawn from ``seed``."""
    rng = np.random.default_rng(seed)
    start = end - timedelta(days=DAYS - 1)
    days = [start + timedelta(days=i) for i in range(DAYS)]
    t = np.arange(DAYS, dtype=float)
    growth = 1 + 0.12 * t / 365
    day_of_year = np.array([d.timetuple().tm_yday for d in days], dtype=float)
    yearly = 1 + 0.15 * np.cos(2 * math.pi * (day_of_year - 355) / 365.25)
    holiday, named = _holiday_factors(days)
    sale = PlantedEvent("anniversary sale", end - timedelta(days=420), 14, "revenue +30%, orders +40%")
    closure = PlantedEvent(
        "riverside closure", end - timedelta(days=120), 10, "water leak: riverside in-store sales -85%"
    )
    in_sale = np.array([sale.start <= d < sale.start + timedelta(days=sale.days) for d in days])
    closed = np.array([closure.start <= d < closure.start + timedelta(days=closure.days) for d in days])
    ads = _ad_spend(rng, days, growth)
    ad_lift = (
        AD_RETURN["search"] * ads["search"]
        + AD_RETURN["social"] * _adstock(ads["social"], SOCIAL_ADSTOCK)
        + AD_RETURN["email"] * ads["email"]
    )
    weekday = [d.weekday() for d in days]
    revenue: dict[tuple[str, str], np.ndarray] = {}
    orders: dict[tuple[str, str], np.ndarray] = {}
    for (store, channel), base in _BASE_REVENUE.items():
        weekly = np.array([_WEEKLY[channel][w] for w in weekday])
        level = base * growth * yearly * weekly * np.where(in_sale, 1.3, 1.0)
        if channel == "in_store":
            level *= holiday
            if store == "riverside":
                level *= np.where(closed, 0.15, 1.0)
        else:
            level += ad_lift * (0.6 if store == "downtown" else 0.4)
        revenue[store, channel] = (level * rng.lognormal(0, 0.06, DAYS)).round(2)
        basket = _AVERAGE_ORDER[channel] * np.where(in_sale, 1.3 / 1.4, 1.0) * rng.lognormal(0, 0.04, DAYS)
        orders[store, channel] = np.round(revenue[store, channel] / basket)
    footfall = {
        store: np.round(orders[store, "in_store"] / _CONVERSION * rng.lognormal(0, 0.05, DAYS))
        for store in STORES
    }
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["date", "store", "channel", "revenue", "orders"])
    for i, day in enumerate(days):
        for store in STORES:
            for channel in CHANNELS:
                writer.writerow(
                    [
                        day.isoformat(),
                        store,
                        channel,
                        f"{revenue[store, channel][i]:.2f}",
                        int(orders[store, channel][i]),
                    ]
                )
    ad_points: list[dict[str, object]] = [
        {"metric": f"ad_spend_{channel}", "ts": day.isoformat(), "value": float(ads[channel][i])}
        for channel in AD_CHANNELS
        for i, day in enumerate(days)
    ]
    footfall_points: list[dict[str, object]] = [
        {
            "metric": "footfall",
            "ts": day.isoformat(),
            "value": float(footfall[store][i]),
            "dimensions": {"store": store},
        }
        for store in STORES
        for i, day in enumerate(days)
    ]
    return DemoShop(
        start=start,
        end=end,
        pos_csv=out.getvalue(),
        ad_points=ad_points,
        footfall_points=footfall_points,
        events=[sale, closure],
        holidays=named,
    )
