"""What every template provides, and the helpers their parameter models share."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, JsonValue

from backend.services.optimizer.model import BuiltModel
from backend.services.optimizer.solve import SolveOutcome
from backend.services.optimizer.types import ObjectiveSense


@dataclass
class Interpretation:
    """A template's reading of a solved model: headline totals and sentences about its decisions."""

    summary: dict[str, float] = field(default_factory=dict)
    sentences: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class TemplateSpec:
    """A problem template: its parameter model, how to build the model and how to read the answer."""

    name: str
    title: str
    description: str
    sense: ObjectiveSense
    params_model: type[BaseModel]
    build: Callable[[Any], BuiltModel]
    interpret: Callable[[Any, BuiltModel, SolveOutcome], Interpretation]
    example: Callable[[], dict[str, JsonValue]]


def require_unique(names: Iterable[str], what: str) -> None:
    """Raise ``ValueError`` (which Pydantic reports as a validation error) on a repeated name."""
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ValueError(f"{what} names must be unique; {name!r} appears more than once")
        seen.add(name)


def value_of(outcome: SolveOutcome, var_name: str) -> float:
    """A variable's value in the solution, 0 when the solve produced none."""
    return outcome.values.get(var_name, 0.0)
