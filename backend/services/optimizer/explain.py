"""Plain-language sentences built from a result's numbers (status, limits, conflicts).

Template modules add sentences about their own decisions; this module holds the
parts every template shares, so the wording stays consistent across templates.
"""

from __future__ import annotations

from backend.services.optimizer.types import (
    ConflictReport,
    ConstraintReport,
    ObjectiveSense,
    SolveStatus,
)

_MAX_LIMITS_LISTED = 5


def num(value: float, decimals: int = 2) -> str:
    """A number as a person writes it: thousands separators, no trailing ``.00`` on whole values."""
    if abs(value - round(value)) < 10 ** (-decimals) / 2:
        return f"{round(value):,}"
    return f"{value:,.{decimals}f}"


def pct(fraction: float) -> str:
    """A fraction as a percentage with sensible precision."""
    value = fraction * 100
    return f"{value:.2f}%" if abs(value) < 10 else f"{value:.1f}%"


def status_sentences(
    status: SolveStatus,
    objective_label: str,
    objective: float | None,
    gap: float | None,
    best_bound: float | None,
    time_limit_seconds: float,
) -> list[str]:
    """The opening sentence: is this plan optimal, good enough, or impossible, and why."""
    if status == "optimal" and objective is not None:
        return [
            f"This plan is optimal: no plan that respects every rule does better on "
            f"{objective_label} ({num(objective)})."
        ]
    if status == "feasible" and objective is not None:
        sentence = f"The solver stopped at the {num(time_limit_seconds)} s time limit with a valid plan "
        sentence += f"({objective_label} {num(objective)})"
        if gap is not None and best_bound is not None:
            sentence += f" that is at most {pct(gap)} from the best possible ({num(best_bound)})"
        return [sentence + ". A longer time limit may improve it."]
    if status == "infeasible":
        return ["No plan can satisfy all the rules at once."]
    if status == "unbounded":
        return [
            f"The {objective_label} can grow without limit, which means a decision is missing a cap "
            "(a maximum, a demand limit or a capacity); add the limit that holds in reality."
        ]
    if status == "time_limit":
        return [
            f"No valid plan was found within the {num(time_limit_seconds)} s time limit; "
            "allow more time or loosen the rules."
        ]
    return ["The solver could not finish on this model."]


def limit_sentences(
    reports: list[ConstraintReport], sense: ObjectiveSense, objective_label: str
) -> list[str]:
    """Which limits shape the plan, and what one more unit of each would be worth (LPs)."""
    if not reports:
        return []
    listed = reports[:_MAX_LIMITS_LISTED]
    sentences = ["The limits that shape this plan: " + "; ".join(r.description for r in listed) + "."]
    # A binding limit can only help when loosened, so |shadow price| is the gain per unit.
    verb = "raise" if sense == "maximize" else "lower"
    for report in listed:
        price = report.shadow_price
        if price is None or price == 0.0:
            continue
        sentences.append(
            f"Loosening '{report.description}' by one unit would {verb} the {objective_label} "
            f"by {num(abs(price))}."
        )
    if len(reports) > len(listed):
        sentences.append(f"{len(reports) - len(listed)} more limits are also tight.")
    return sentences


def conflict_sentences(conflict: ConflictReport | None) -> list[str]:
    """Name the rules that cannot all hold, so the owner knows which one to relax."""
    if conflict is None:
        return ["No small set of conflicting rules could be isolated."]
    names = "; ".join(g.description for g in conflict.groups)
    if len(conflict.groups) == 1:
        return [f"This rule cannot be met even with every other adjustable rule removed: {names}."]
    qualifier = (
        "" if conflict.minimal else " (the search ran out of time, so the set may be larger than needed)"
    )
    return [
        f"These rules conflict{qualifier}: {names}. At least one of them must be relaxed for a plan to exist."
    ]
