"""Build a regular, gap-free series from irregular (timestamp, value) points.

The metric rollups hand us points bucketed by day/week/month/quarter; this module
turns them into an evenly spaced array the models can use, and reports every
decision it took (frequency inferred, periods missing and how they were filled,
an incomplete current period held out) so the caller can show them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal, TypeAlias

import numpy as np
import numpy.typing as npt
import pandas as pd

from backend.services.errors import ValidationFailed
from backend.services.forecaster.types import Frequency

GapRule = Literal["interpolate", "zero", "ffill", "error"]
Aggregate = Literal["sum", "mean", "last"]

# pandas period aliases; weeks are ISO weeks (Monday start, ending Sunday).
PERIOD_ALIAS: dict[str, str] = {"day": "D", "week": "W-SUN", "month": "M", "quarter": "Q", "year": "Y"}
SEASON_LENGTH: dict[str, int] = {"day": 7, "week": 52, "month": 12, "quarter": 4, "year": 1}
# Typical spacing in days and the tolerance band used when inferring the frequency.
_SPACING_DAYS: tuple[tuple[str, float, float], ...] = (
    ("day", 0.5, 1.5),
    ("week", 6.0, 8.0),
    ("month", 27.0, 32.0),
    ("quarter", 88.0, 93.0),
    ("year", 360.0, 370.0),
)

TimestampLike: TypeAlias = datetime | date | str | pd.Timestamp


@dataclass(frozen=True)
class RegularSeries:
    """An evenly spaced series: ``timestamps[i]`` is the start of the period of ``values[i]``."""

    timestamps: list[pd.Timestamp]
    values: npt.NDArray[np.float64]
    frequency: Frequency
    season_length: int
    missing_periods: list[pd.Timestamp] = field(default_factory=list)
    gap_rule: GapRule = "interpolate"
    held_out: tuple[pd.Timestamp, float] | None = None
    warnings: list[str] = field(default_factory=list)

    def future_timestamps(self, horizon: int) -> list[pd.Timestamp]:
        """Start of each of the ``horizon`` periods after the last observation."""
        last = pd.Period(self.timestamps[-1], freq=PERIOD_ALIAS[self.frequency])
        tz = self.timestamps[-1].tz
        return [_period_start(last + k, tz) for k in range(1, horizon + 1)]


def _to_utc(ts: TimestampLike) -> pd.Timestamp:
    stamp = pd.Timestamp(ts)
    return stamp.tz_convert("UTC") if stamp.tzinfo is not None else stamp


def _period_start(period: pd.Period, tz: object) -> pd.Timestamp:
    start = period.start_time
    return start.tz_localize(tz) if tz is not None else start


def infer_frequency(timestamps: Sequence[TimestampLike]) -> Frequency:
    """Guess day/week/month/quarter/year from the spacing of distinct timestamps.

    The smallest spacing decides, since missing periods only ever widen spacings; the
    median is the fallback for timestamps not aligned to period starts.
    """
    stamps = sorted({_to_utc(t).tz_localize(None) if _to_utc(t).tzinfo else _to_utc(t) for t in timestamps})
    if len(stamps) < 3:
        raise ValidationFailed(
            "Cannot infer the frequency from fewer than 3 distinct timestamps; pass it explicitly.",
            context={"needed": 3, "got": len(stamps)},
        )
    gaps = np.diff(np.array([s.value for s in stamps], dtype=np.float64)) / 86_400e9
    for spacing in (float(np.min(gaps)), float(np.median(gaps))):
        for name, low, high in _SPACING_DAYS:
            if low <= spacing <= high:
                return name  # type: ignore[return-value]
    raise ValidationFailed(
        "Cannot infer a day/week/month/quarter/year frequency from the timestamps; pass it explicitly.",
        context={"median_spacing_days": round(float(np.median(gaps)), 3)},
    )


def build_series(
    points: Iterable[tuple[TimestampLike, float | None]],
    *,
    frequency: Frequency | None = None,
    gap_rule: GapRule = "interpolate",
    aggregate: Aggregate = "sum",
    as_of: TimestampLike | None = None,
) -> RegularSeries:
    """Bucket points into periods, fill or reject gaps, and hold out an incomplete last period.

    - ``frequency``: inferred from the spacing when not given.
    - ``aggregate``: how several points in one period combine (rollups give one per period).
    - ``gap_rule``: ``interpolate`` (linear), ``zero`` (flows such as sales with no sale),
      ``ffill`` (levels such as stock), or ``error`` to refuse a series with gaps.
    - ``as_of``: when the last period has not ended by this instant it is held out,
      because a partial month of revenue would read as a collapse.
    """
    rows = [(_to_utc(ts), value) for ts, value in points if value is not None]
    rows = [(ts, float(v)) for ts, v in rows if np.isfinite(float(v))]
    if not rows:
        raise ValidationFailed("The series has no finite values.", context={"got": 0})
    tz = rows[0][0].tz
    freq = frequency or infer_frequency([ts for ts, _ in rows])
    if freq not in PERIOD_ALIAS:
        raise ValidationFailed(f"Unknown frequency {freq!r}.", context={"allowed": sorted(PERIOD_ALIAS)})
    alias = PERIOD_ALIAS[freq]
    naive = [ts.tz_localize(None) if ts.tzinfo is not None else ts for ts, _ in rows]
    frame = pd.DataFrame({"period": pd.PeriodIndex(naive, freq=alias), "value": [v for _, v in rows]})
    grouped = frame.groupby("period")["value"]
    warnings: list[str] = []
    if grouped.size().max() > 1:
        warnings.append(f"Several points fell in one {freq}; they were combined by {aggregate}.")
    per_period = getattr(grouped, aggregate)().sort_index()

    held_out: tuple[pd.Timestamp, float] | None = None
    if as_of is not None:
        cutoff = _to_utc(as_of)
        cutoff = cutoff.tz_localize(None) if cutoff.tzinfo is not None else cutoff
        last = per_period.index[-1]
        if last.end_time >= cutoff:
            held_out = (_period_start(last, tz), float(per_period.iloc[-1]))
            per_period = per_period.iloc[:-1]
            warnings.append(f"The current {freq} ({last}) is incomplete and was held out.")
        if per_period.empty:
            raise ValidationFailed("No complete period remains after holding out the current one.")

    full_index = pd.period_range(per_period.index[0], per_period.index[-1], freq=alias)
    regular = per_period.reindex(full_index)
    missing = [_period_start(p, tz) for p in regular.index[regular.isna()]]
    if missing:
        if gap_rule == "error":
            raise ValidationFailed(
                f"The series has {len(missing)} missing {freq}(s); fill them or choose a gap rule.",
                context={"missing_periods": [m.isoformat() for m in missing[:50]], "count": len(missing)},
            )
        regular = _fill(regular, gap_rule)
        warnings.append(f"{len(missing)} missing {freq}(s) filled by rule '{gap_rule}'.")
        if len(missing) > 0.2 * len(regular):
            warnings.append("More than 20% of the periods were missing; treat the forecast with caution.")

    return RegularSeries(
        timestamps=[_period_start(p, tz) for p in regular.index],
        values=regular.to_numpy(dtype=np.float64),
        frequency=freq,
        season_length=SEASON_LENGTH[freq],
        missing_periods=missing,
        gap_rule=gap_rule,
        held_out=held_out,
        warnings=warnings,
    )


def _fill(regular: pd.Series, rule: GapRule) -> pd.Series:
    if rule == "zero":
        return regular.fillna(0.0)
    if rule == "ffill":
        return regular.ffill()
    # Linear in position; ends cannot be missing because the range spans observed periods.
    return regular.interpolate(method="linear")
