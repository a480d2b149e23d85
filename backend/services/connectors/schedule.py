"""Per-source schedules: ``hourly``, ``daily`` or a 5-field cron expression (pure).

``hourly`` and ``daily`` spread sources over the hour by their id (minute = id mod 60), so
a thousand sources do not all fire at :00; ``daily`` runs at 03:MM in the tenant's time zone.
Cron expressions are read in the tenant's time zone too.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from croniter import croniter

DAILY_HOUR = 3


def cron_for(schedule: str, source_id: uuid.UUID) -> str:
    minute = source_id.int % 60
    if schedule == "hourly":
        return f"{minute} * * * *"
    if schedule == "daily":
        return f"{minute} {DAILY_HOUR} * * *"
    return schedule


def schedule_problem(schedule: str) -> str | None:
    if schedule in ("hourly", "daily"):
        return None
    if len(schedule.split()) != 5 or not croniter.is_valid(schedule):
        return "schedule must be 'hourly', 'daily' or a 5-field cron expression such as '30 6 * * 1-5'"
    return None


def next_run(schedule: str, source_id: uuid.UUID, *, after: datetime, zone: ZoneInfo) -> datetime:
    """The first time strictly after ``after`` at which the schedule fires (UTC)."""
    start = after.astimezone(zone)
    fire: datetime = croniter(cron_for(schedule, source_id), start).get_next(datetime)
    return fire.astimezone(UTC)
