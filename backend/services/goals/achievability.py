"""Plausibility of a goal's target against the growth its metric's history shows.

Plain data in, plain data out (no database, clock or network): warnings, never errors.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Sequence
from datetime import date
from typing import Final

from backend.services.goals.rules import observed, validate_history, validate_spec
from backend.services.goals.types import GoalSpec, PeriodValue
from backend.services.goals.wording import fmt, period_label_of, signed
from backend.utils.calendar import period_index

# Fewer period-over-period changes than this say too little about what growth is normal.
MIN_CHANGES_TO_JUDGE: Final = 4
# "Sustained" change: the best average over this many consecutive changes, so one lucky
# spike does not make any target look achievable.
SUSTAINED_CHANGES: Final = 3
IMPLAUSIBLE_SIGMAS: Final = 3.0
# Relative tolerance for comparisons of rates (fitted numbers land a few ulps off).
_REL_TOL: Final = 1e-9


def achievability_warnings(spec: GoalSpec, history: Sequence[PeriodValue], today: date) -> list[str]:
    """Warnings (never errors) when the target needs growth far beyond what the history shows.

    The growth needed per period takes the baseline to the target over the periods from the one
    containing ``today`` through the one containing the deadline. It is a compound rate when the
    baseline, the target and every historical value are positive, an absolute change otherwise,
    and is compared with the period-over-period changes between complete periods of the history.
    The target is flagged when the needed rate is beyond both the best sustained change seen (the
    best average over up to 3 consecutive changes) and 3 standard deviations from the mean change;
    for a decreasing target, "beyond" means below. Returns an empty list when the target is
    plausible, and a single message when the history is too short to judge.
    """
    validate_spec(spec)
    validate_history(spec.period, history)
    points = observed(spec.period, history, today)
    relative = spec.baseline > 0 and spec.target > 0 and all(value > 0 for _, value in points)
    changes = [
        (current / previous - 1.0) if relative else (current - previous)
        for (previous_index, previous), (current_index, current) in itertools.pairwise(points)
        if current_index == previous_index + 1
    ]
    if len(changes) < MIN_CHANGES_TO_JUDGE:
        return [
            f"History is too short to judge whether the target is achievable: {len(changes)} "
            f"{spec.period}-over-{spec.period} change(s) between complete {spec.period}s, "
            f"at least {MIN_CHANGES_TO_JUDGE} needed."
        ]

    steps = max(1, period_index(spec.period, spec.deadline) - period_index(spec.period, today) + 1)
    if relative:
        required = (spec.target / spec.baseline) ** (1.0 / steps) - 1.0
    else:
        required = (spec.target - spec.baseline) / steps
    window = min(SUSTAINED_CHANGES, steps, len(changes))
    sustained = [statistics.fmean(changes[i : i + window]) for i in range(len(changes) - window + 1)]
    mean_change = statistics.fmean(changes)
    spread = statistics.stdev(changes)
    tolerance = _REL_TOL * max(1.0, abs(required))
    if spec.direction == "increase":
        best = max(sustained)
        implausible = (
            required > best + tolerance and required > mean_change + IMPLAUSIBLE_SIGMAS * spread + tolerance
        )
    else:
        best = min(sustained)
        implausible = (
            required < best - tolerance and required < mean_change - IMPLAUSIBLE_SIGMAS * spread - tolerance
        )
    if not implausible:
        return []

    def rate(value: float) -> str:
        return f"{value * 100:+.1f}%" if relative else signed(value)

    deadline_label = period_label_of(spec.period, spec.deadline)
    plural = "" if steps == 1 else "s"
    return [
        f"Reaching {fmt(spec.target)} from {fmt(spec.baseline)} by {deadline_label} needs about "
        f"{rate(required)} per {spec.period} for {steps} {spec.period}{plural}, far beyond the history: "
        f"the best sustained change was {rate(best)} per {spec.period} (average of {window} in a row) "
        f"and the mean change {rate(mean_change)} with a standard deviation of "
        f"{rate(spread).lstrip('+')}. The target may not be achievable."
    ]
