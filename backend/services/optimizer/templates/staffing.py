"""staffing: a weekly shift schedule that covers demand at least labour cost (integer program).

One yes/no variable per (employee, day, shift). Rules: coverage per day, shift and
optional skill; availability; weekly minimum and maximum hours; at most N shifts a
day; a minimum rest between shifts; at most K consecutive working days. The week is
planned on its own: rest and consecutive-day rules do not wrap from the last day to
the first.
"""

from __future__ import annotations

from itertools import combinations

import pulp
from pydantic import BaseModel, ConfigDict, Field, JsonValue, model_validator

from backend.services.optimizer.explain import num
from backend.services.optimizer.model import BuiltModel, ConstraintMeta, linear
from backend.services.optimizer.solve import SolveOutcome
from backend.services.optimizer.templates.base import Interpretation, TemplateSpec, require_unique, value_of

WEEK = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


class Shift(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=40)
    start_hour: float = Field(ge=0, lt=24)
    hours: float = Field(gt=0, le=24)


class Requirement(BaseModel):
    """At least ``staff`` people (with ``skill``, when given) on ``shift`` of ``day``."""

    model_config = ConfigDict(extra="forbid")

    day: str
    shift: str
    staff: int = Field(ge=1, le=1000)
    skill: str | None = None


class Unavailability(BaseModel):
    model_config = ConfigDict(extra="forbid")

    day: str
    shift: str | None = Field(None, description="omit for the whole day")


class Employee(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=80)
    hourly_cost: float = Field(ge=0)
    skills: list[str] = Field(default_factory=list)
    min_hours: float = Field(0.0, ge=0)
    max_hours: float | None = Field(None, ge=0)
    unavailable: list[Unavailability] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check(self) -> Employee:
        if self.max_hours is not None and self.min_hours > self.max_hours:
            raise ValueError(f"employee {self.name!r}: min_hours exceeds max_hours")
        return self


class StaffingParams(BaseModel):
    """Inputs of staffing."""

    model_config = ConfigDict(extra="forbid")

    days: list[str] = Field(default_factory=lambda: list(WEEK), min_length=1, max_length=14)
    shifts: list[Shift] = Field(min_length=1, max_length=12)
    employees: list[Employee] = Field(min_length=1, max_length=300)
    requirements: list[Requirement] = Field(min_length=1)
    max_shifts_per_day: int = Field(1, ge=1)
    min_rest_hours: float = Field(
        0.0, ge=0, le=48, description="hours off between the end of one shift and the next"
    )
    max_consecutive_days: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _check(self) -> StaffingParams:
        require_unique(self.days, "day")
        require_unique((s.name for s in self.shifts), "shift")
        require_unique((e.name for e in self.employees), "employee")
        days, shifts = set(self.days), {s.name for s in self.shifts}
        seen: set[tuple[str, str, str | None]] = set()
        for req in self.requirements:
            if req.day not in days or req.shift not in shifts:
                raise ValueError(f"requirement for unknown day/shift {req.day}/{req.shift}")
            key = (req.day, req.shift, req.skill)
            if key in seen:
                raise ValueError(f"requirement {req.day}/{req.shift}/{req.skill or 'any'} is given twice")
            seen.add(key)
        for employee in self.employees:
            for off in employee.unavailable:
                if off.day not in days or (off.shift is not None and off.shift not in shifts):
                    raise ValueError(f"employee {employee.name!r}: unavailability on unknown day/shift")
        return self


# Two (day, shift) slots and whether they overlap (else they leave too little rest between).
Clash = tuple[tuple[str, str], tuple[str, str], bool]


def _slot_interval(day_index: int, shift: Shift) -> tuple[float, float]:
    start = day_index * 24 + shift.start_hour
    return start, start + shift.hours


def _describe_off(items: list[Unavailability]) -> str:
    return ", ".join(f"{u.day} {u.shift}" if u.shift else f"{u.day} (all day)" for u in items)


def build(params: StaffingParams) -> BuiltModel:
    """Binary assignment model with coverage, availability, hours, rest and consecutive-day rules."""
    built = BuiltModel.create("staffing", "minimize", "labour cost")
    slots = [(d, i, s) for i, d in enumerate(params.days) for s in params.shifts]
    x: dict[tuple[str, str, str], pulp.LpVariable] = {}
    cost_terms: list[tuple[pulp.LpVariable, float]] = []
    for emp in params.employees:
        for day, _, shift in slots:
            var = built.variable(f"shift.{emp.name}.{day}.{shift.name}", binary=True)
            x[emp.name, day, shift.name] = var
            cost_terms.append((var, emp.hourly_cost * shift.hours))
    built.problem.setObjective(linear(cost_terms))

    for req in params.requirements:
        qualified = [e for e in params.employees if req.skill is None or req.skill in e.skills]
        who = "staff" if req.skill is None else f"staff with skill '{req.skill}'"
        slot = f"{req.day}.{req.shift}" + (f".{req.skill}" if req.skill else "")
        built.add(
            linear((x[e.name, req.day, req.shift], 1) for e in qualified) >= req.staff,
            ConstraintMeta(
                "coverage", f"coverage[{slot}]", f"at least {req.staff} {who} on {req.day} {req.shift}"
            ),
        )

    clashes = _clashes(params, slots)
    for emp in params.employees:
        _employee_rules(params, built, emp, slots, clashes, x)
    return built


def _clashes(params: StaffingParams, slots: list[tuple[str, int, Shift]]) -> list[Clash]:
    """The pairs of slots nobody may work both of: overlapping, or too little rest between."""
    clashes: list[Clash] = []
    for (d1, i1, s1), (d2, i2, s2) in combinations(slots, 2):
        start1, end1 = _slot_interval(i1, s1)
        start2, end2 = _slot_interval(i2, s2)
        if start2 < start1:
            start1, end1, start2, end2 = start2, end2, start1, end1
        if start2 < end1 or start2 - end1 < params.min_rest_hours:
            clashes.append(((d1, s1.name), (d2, s2.name), start2 < end1))
    return clashes


def _at_most_one(first: pulp.LpVariable, second: pulp.LpVariable) -> pulp.LpConstraint:
    return linear(((first, 1), (second, 1))) <= 1


def _employee_rules(
    params: StaffingParams,
    built: BuiltModel,
    emp: Employee,
    slots: list[tuple[str, int, Shift]],
    clashes: list[Clash],
    x: dict[tuple[str, str, str], pulp.LpVariable],
) -> None:
    name = emp.name
    mine = {(d, s.name): x[name, d, s.name] for d, _, s in slots}
    if emp.unavailable:
        off = [
            v
            for (d, s), v in mine.items()
            if any(u.day == d and u.shift in (None, s) for u in emp.unavailable)
        ]
        built.add(
            linear((v, 1) for v in off) <= 0,
            ConstraintMeta(
                "availability",
                f"availability[{name}]",
                f"{name} is unavailable on {_describe_off(emp.unavailable)}",
                report_binding=False,
            ),
        )
    hours = linear((mine[d, s.name], s.hours) for d, _, s in slots)
    if emp.min_hours > 0:
        built.add(
            hours >= emp.min_hours,
            ConstraintMeta(
                "min_hours", f"min_hours[{name}]", f"{name} works at least {num(emp.min_hours)} hours"
            ),
        )
    if emp.max_hours is not None:
        built.add(
            hours <= emp.max_hours,
            ConstraintMeta(
                "max_hours", f"max_hours[{name}]", f"{name} works at most {num(emp.max_hours)} hours"
            ),
        )
    if params.max_shifts_per_day < len(params.shifts):
        for day in params.days:
            built.add(
                linear((mine[day, s.name], 1) for s in params.shifts) <= params.max_shifts_per_day,
                ConstraintMeta(
                    "shifts_per_day",
                    f"shifts_per_day[{name}]",
                    f"{name} works at most {params.max_shifts_per_day} shift(s) a day",
                    report_binding=False,
                ),
            )
    rest = ConstraintMeta(
        "rest",
        f"rest[{name}]",
        f"{name} rests at least {num(params.min_rest_hours)} hours between shifts",
        report_binding=False,
    )
    for first, second, overlap in clashes:
        pair = _at_most_one(mine[first], mine[second])
        if overlap:
            built.structural(pair, "no_overlap", f"{name} cannot work overlapping shifts")
        else:
            built.add(pair, rest)
    window = params.max_consecutive_days
    if window is not None and window < len(params.days):
        worked = {d: built.variable(None, binary=True) for d in params.days}
        for d, _, s in slots:
            built.structural(
                linear(((mine[d, s.name], 1), (worked[d], -1))) <= 0, "worked_day", f"{name} works on {d}"
            )
        for start in range(len(params.days) - window):
            run = params.days[start : start + window + 1]
            built.add(
                linear((worked[d], 1) for d in run) <= window,
                ConstraintMeta(
                    "consecutive_days",
                    f"consecutive_days[{name}]",
                    f"{name} works at most {window} days in a row",
                    report_binding=False,
                ),
            )


def interpret(params: StaffingParams, built: BuiltModel, outcome: SolveOutcome) -> Interpretation:
    """Cost and hours, who works the most and least, and which slots are over-staffed."""
    if not outcome.has_solution:
        return Interpretation()
    assigned = {
        key: round(value_of(outcome, built.decisions[f"shift.{key[0]}.{key[1]}.{key[2]}"].name))
        for key in ((e.name, d, s.name) for e in params.employees for d in params.days for s in params.shifts)
    }
    shift_hours = {s.name: s.hours for s in params.shifts}
    hours = {
        e.name: sum(
            shift_hours[s.name] * assigned[e.name, d, s.name] for d in params.days for s in params.shifts
        )
        for e in params.employees
    }
    cost = sum(e.hourly_cost * hours[e.name] for e in params.employees)
    summary: dict[str, float] = {
        "labour_cost": cost,
        "total_hours": sum(hours.values()),
        "assigned_shifts": float(sum(assigned.values())),
    }
    summary.update({f"hours.{name}": h for name, h in hours.items()})
    sentences = [
        f"Schedule {num(summary['assigned_shifts'])} shifts ({num(summary['total_hours'])} hours) "
        f"for a labour cost of {num(cost)}."
    ]
    at_max = [
        e.name for e in params.employees if e.max_hours is not None and hours[e.name] >= e.max_hours - 1e-6
    ]
    if at_max:
        sentences.append(f"Working their maximum hours: {', '.join(at_max[:8])}.")
    idle = [e.name for e in params.employees if hours[e.name] == 0]
    if idle:
        sentences.append(
            f"Not scheduled this week: {', '.join(idle[:8])} (others cover the demand more cheaply)."
        )
    over = []
    for req in params.requirements:
        if req.skill is None:
            staffed = sum(assigned[e.name, req.day, req.shift] for e in params.employees)
            if staffed > req.staff:
                over.append(f"{req.day} {req.shift} ({staffed} for {req.staff} needed)")
    if over:
        sentences.append(
            "Staffed above demand, because the hour and skill rules require it: " + ", ".join(over[:6]) + "."
        )
    return Interpretation(summary, sentences)


def example() -> dict[str, JsonValue]:
    """A small café: three shifts a day, one barista skill, weekday and weekend demand."""
    employees: list[JsonValue] = [
        {"name": "ana", "hourly_cost": 18, "skills": ["barista"], "min_hours": 16, "max_hours": 40},
        {
            "name": "ben",
            "hourly_cost": 16,
            "skills": ["barista"],
            "max_hours": 40,
            "unavailable": [{"day": "mon"}],
        },
        {"name": "cleo", "hourly_cost": 14, "max_hours": 32},
        {
            "name": "dev",
            "hourly_cost": 14,
            "max_hours": 24,
            "unavailable": [{"day": "sat", "shift": "evening"}],
        },
        {"name": "eli", "hourly_cost": 15, "skills": ["barista"], "max_hours": 40},
        {"name": "fay", "hourly_cost": 13, "max_hours": 40},
    ]
    requirements: list[JsonValue] = []
    for day in WEEK:
        weekend = day in ("sat", "sun")
        requirements += [
            {"day": day, "shift": "morning", "staff": 2},
            {"day": day, "shift": "morning", "staff": 1, "skill": "barista"},
            {"day": day, "shift": "afternoon", "staff": 2 if weekend else 1},
            {"day": day, "shift": "evening", "staff": 1},
        ]
    return {
        "shifts": [
            {"name": "morning", "start_hour": 6, "hours": 6},
            {"name": "afternoon", "start_hour": 12, "hours": 5},
            {"name": "evening", "start_hour": 17, "hours": 5},
        ],
        "employees": employees,
        "requirements": requirements,
        "max_shifts_per_day": 1,
        "min_rest_hours": 11,
        "max_consecutive_days": 5,
    }


SPEC = TemplateSpec(
    name="staffing",
    title="Weekly staff schedule",
    description=(
        "Assign employees to shifts for a week so every day and shift has enough (skilled) staff, respecting "
        "availability, minimum and maximum hours, shifts per day, rest between shifts and consecutive days, "
        "at least labour cost."
    ),
    sense="minimize",
    params_model=StaffingParams,
    build=build,
    interpret=interpret,
    example=example,
)
