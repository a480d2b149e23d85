"""The staffing template's inputs from the tenant's data: demand per day (and hour), the rate at
which staff serve it, and the roster.

Next week's demand per day is the weekday pattern of the last ``STAFF_HISTORY_WEEKS`` weeks of an
orders-like metric (:func:`backend.services.optimizer.scenarios.day_needs`), served at the tenant's
own rate (demand per staff hour from ``staff_hours``). When the demand is recorded by the hour, each
day is cut into shifts staffed for their busiest hour (:mod:`backend.services.optimizer.hourly`).
The roster is everyone in ``staff_hours`` per ``employee``, with an hourly wage metric; without
one, the staff count per day is still given.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from backend.services.metrics.buckets import FilledValue
from backend.services.metrics.repository import CatalogEntry
from backend.services.optimizer.hourly import (
    ShiftNeed,
    hour_history,
    is_hourly,
    opening_hours,
    shift_blocks,
    shift_needs,
)
from backend.services.optimizer.inputs import (
    MissingInputs,
    Observed,
    latest_values,
    need_metric,
    rollup_by,
    span_label,
    tenant_catalog,
)
from backend.services.optimizer.scenarios import DayNeed, day_needs
from backend.services.optimizer.types import DerivedInputs, FromDataAsk, InputSource

STAFF_DEMAND_METRICS = ("orders", "transactions", "customers", "footfall", "visits")
STAFF_HOURS_METRICS = ("staff_hours", "labour_hours", "labor_hours", "hours_worked")
WAGE_METRICS = ("hourly_wage", "hourly_cost", "wage_rate")
EMPLOYEE_DIMENSION = "employee"
ROSTER_WHY = "Without a roster only the staff count per day can be given, not a schedule."
STAFF_HISTORY_WEEKS = 8


@dataclass(frozen=True)
class StaffingInputs:
    demand_metric: str
    hours_metric: str
    per_staff_hour: float
    history: str
    needs: list[DayNeed]
    shift_hours: float
    derived: DerivedInputs | None
    """The template's inputs, or None when no roster can be read (``roster_missing`` says why)."""
    roster_missing: MissingInputs | None
    shifts: dict[date, list[ShiftNeed]] = field(default_factory=dict)
    """Per planned day, its shifts by the hour when the demand is recorded by the hour (else empty:
    one shift a day of ``shift_hours``)."""


def _week_of(ask: FromDataAsk, now: datetime) -> list[date]:
    start = ask.week_start
    if start is None:
        today = now.date()
        start = today + timedelta(days=7 - today.weekday())
    start -= timedelta(days=start.weekday())
    return [start + timedelta(days=i) for i in range(7)]


def _daily(values: dict[str, list[FilledValue]]) -> list[tuple[date, float]]:
    return [(v.ts.date(), v.value) for v in values.get("", []) if v.value is not None]


async def _employees(
    session: AsyncSession,
    catalog: dict[str, CatalogEntry],
    hours_metric: str,
    zone: ZoneInfo,
    window: tuple[datetime, datetime],
) -> list[dict[str, float | str]]:
    """The roster: everyone with staff hours in the window, their most weekly hours and wage."""
    weekly = await rollup_by(
        session,
        hours_metric,
        zone,
        bucket="week",
        aggregation="sum",
        window=window,
        fill="none",
        group_by=EMPLOYEE_DIMENSION,
    )
    if not weekly:
        raise MissingInputs(
            [f"{hours_metric} per person (with an '{EMPLOYEE_DIMENSION}' dimension)"],
            ROSTER_WHY,
        )
    wage_metric = need_metric(catalog, WAGE_METRICS, "an hourly wage (per employee or for everyone)")

    async def latest_wages(group_by: str | None) -> dict[str, Observed]:
        daily = await rollup_by(
            session,
            wage_metric,
            zone,
            bucket="day",
            aggregation="last",
            window=window,
            fill="none",
            group_by=group_by,
        )
        return latest_values(daily)

    wages = await latest_wages(EMPLOYEE_DIMENSION)
    shared = (await latest_wages(None)).get("")
    roster: list[dict[str, float | str]] = []
    for name in sorted(weekly):
        hours = [v.value for v in weekly[name] if v.value is not None]
        wage = wages.get(name) or shared
        if not hours or wage is None:
            continue
        roster.append({"name": name, "hourly_cost": wage.value, "max_hours": max(hours)})
    if not roster:
        raise MissingInputs(
            [f"{wage_metric} for the people in {hours_metric}"],
            ROSTER_WHY,
        )
    return roster


def _staffing_params(
    found: StaffingInputs, roster: list[dict[str, float | str]], ask: FromDataAsk
) -> dict[str, object]:
    days = [need.weekday for need in found.needs]
    if not found.shifts:
        return {
            "days": days,
            "shifts": [{"name": "day", "start_hour": ask.shift_start_hour, "hours": ask.shift_hours}],
            "employees": roster,
            "requirements": [
                {"day": n.weekday, "shift": "day", "staff": n.staff} for n in found.needs if n.staff > 0
            ],
        }
    blocks = next(iter(found.shifts.values()))
    return {
        "days": days,
        "shifts": [
            {"name": s.shift.name, "start_hour": s.shift.start_hour, "hours": s.shift.hours} for s in blocks
        ],
        "employees": roster,
        "requirements": [
            {"day": need.weekday, "shift": s.shift.name, "staff": s.staff}
            for need in found.needs
            for s in found.shifts[need.day]
            if s.staff > 0
        ],
    }


def busiest_hour_label(metric: str, when: str, shift: str) -> str:
    """The source label of a shift's busiest-hour forecast (``when``: "Saturday 2026-12-12")."""
    return f"{metric} forecast for the busiest hour of {when} {shift}"


def shift_staff_label(when: str, shift: str) -> str:
    """The source label of a shift's staff need."""
    return f"staff needed on {when} {shift}"


def _shift_sources(found: StaffingInputs, need: DayNeed) -> list[InputSource]:
    """A planned day's shifts: the busiest hour's forecast and the staff it takes, each cited."""
    sources = []
    when = f"{need.weekday_name} {need.day.isoformat()}"
    for s in found.shifts.get(need.day, []):
        sources.append(
            InputSource.of_band(
                busiest_hour_label(found.demand_metric, when, s.shift.name),
                s.peak,
                metric=found.demand_metric,
                period=found.history,
                method=f"mean of {s.peak_hour:02d}:00-{s.peak_hour + 1:02d}:00 on the {need.history_days} "
                f"{need.weekday_name}s in the history; range mean ± 1.96 sd",
            )
        )
        sources.append(
            InputSource(
                label=shift_staff_label(when, s.shift.name),
                value=s.staff,
                low=s.staff_low,
                high=s.staff_high,
                method=f"the {s.shift.name} h shift's busiest hour ({s.peak_hour:02d}:00) forecast / "
                f"{found.demand_metric} per staff hour, rounded up",
            )
        )
    return sources


def staffing_sources(found: StaffingInputs) -> list[InputSource]:
    """The rate, each day's forecast and staff count as cited sources."""
    sources = [
        InputSource(
            label=f"{found.demand_metric} served per staff hour",
            value=found.per_staff_hour,
            metric=found.hours_metric,
            period=found.history,
            method=f"total {found.demand_metric} / total {found.hours_metric} over the days with both",
        )
    ]
    for need in found.needs:
        label = f"{found.demand_metric} forecast for {need.weekday_name} {need.day.isoformat()}"
        sources.append(
            InputSource.of_band(
                label,
                need.demand,
                metric=found.demand_metric,
                period=found.history,
                method=f"mean of the {need.history_days} {need.weekday_name}s in the history; "
                "range mean ± 1.96 sd",
            )
        )
        per_shift = f"forecast / ({found.demand_metric} per staff hour x {found.shift_hours:g} h shift)"
        method = "sum of the day's shifts" if found.shifts else f"{per_shift}, rounded up"
        sources.append(
            InputSource(
                label=f"staff needed on {need.weekday_name} {need.day.isoformat()}",
                value=need.staff,
                low=need.staff_low,
                high=need.staff_high,
                method=method,
            )
        )
        sources += _shift_sources(found, need)
    return sources


async def staffing_inputs(
    session: AsyncSession, zone: ZoneInfo, ask: FromDataAsk, now: datetime | None = None
) -> StaffingInputs:
    """Staff needed per day of the planned week, and the staffing template's inputs when a roster exists."""
    catalog = await tenant_catalog(session)
    demand_metric = need_metric(catalog, STAFF_DEMAND_METRICS, "demand per day such as orders or customers")
    hours_metric = need_metric(catalog, STAFF_HOURS_METRICS, "staff hours worked per day")
    local = (now or datetime.now(UTC)).astimezone(zone)
    end = datetime.combine(local.date(), datetime.min.time(), tzinfo=zone)
    window = (end - timedelta(weeks=STAFF_HISTORY_WEEKS), end)
    series = {}
    for metric in (demand_metric, hours_metric):
        rolled = await rollup_by(
            session, metric, zone, bucket="day", aggregation="sum", window=window, fill="none", group_by=None
        )
        series[metric] = dict(_daily(rolled))
    both = [d for d in series[demand_metric] if series[hours_metric].get(d, 0.0) > 0]
    hours = sum(series[hours_metric][d] for d in both)
    if not both or hours <= 0:
        raise MissingInputs(
            [f"days with both {demand_metric} and {hours_metric} in the last {STAFF_HISTORY_WEEKS} weeks"],
            "The rate at which your staff serve demand is measured on them.",
        )
    per_staff_hour = sum(series[demand_metric][d] for d in both) / hours
    history = sorted(series[demand_metric].items())
    needs = day_needs(history, _week_of(ask, local), per_staff_hour, ask.shift_hours)
    found = StaffingInputs(
        demand_metric, hours_metric, per_staff_hour, span_label(*window), needs, ask.shift_hours, None, None
    )
    found = await _by_the_hour(session, found, zone, window)
    sources = staffing_sources(found)
    try:
        roster = await _employees(session, catalog, hours_metric, zone, window)
    except MissingInputs as missing:
        return replace(found, roster_missing=missing)
    if not any(need.staff for need in needs):
        raise MissingInputs(
            [f"{demand_metric} on the weekdays of the planned week"], "No day has demand to staff."
        )
    derived = DerivedInputs(template="staffing", params=_staffing_params(found, roster, ask), sources=sources)
    return replace(found, derived=derived)


async def _by_the_hour(
    session: AsyncSession, found: StaffingInputs, zone: ZoneInfo, window: tuple[datetime, datetime]
) -> StaffingInputs:
    """The day plan split into shifts by the hour, when the demand metric is recorded by the hour."""
    hourly = await rollup_by(
        session,
        found.demand_metric,
        zone,
        bucket="hour",
        aggregation="sum",
        window=window,
        fill="none",
        group_by=None,
    )
    history = hour_history(((v.ts, v.value) for v in hourly.get("", []) if v.value is not None), zone)
    if not is_hourly(history):
        return found
    blocks = shift_blocks(opening_hours(history), found.shift_hours)
    shifts = {need.day: shift_needs(history, need.day, blocks, found.per_staff_hour) for need in found.needs}
    needs = [
        replace(
            need,
            staff=sum(s.staff for s in shifts[need.day]),
            staff_low=sum(s.staff_low for s in shifts[need.day]),
            staff_high=sum(s.staff_high for s in shifts[need.day]),
        )
        for need in found.needs
    ]
    return replace(found, needs=needs, shifts=shifts)
