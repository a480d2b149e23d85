"""Reading one cell of a table a client sent: CSV text, or a spreadsheet's typed value.

Each upload (metric points, exchange rates, unit-level studies) reads its numbers the same way:
a true/false cell is refused (a spreadsheet's TRUE is not 1), a number stays a number, text is
stripped and parsed with ``float`` ('.' for decimals); then the column's own rule checks the value.
Only the wording and that rule differ, so each column kind is one ``NumberCell``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from backend.utils.text import nul_problem


def cell_text(cell: Any, empty: str) -> str:
    """The cell as stripped text; ``ValueError(empty)`` when nothing is left."""
    text = str(cell).strip() if cell is not None else ""
    if not text:
        raise ValueError(empty)
    return text


@dataclass(frozen=True)
class NumberCell:
    """How one kind of numeric cell is read, and what its problems say (``ValueError``)."""

    true_false: str  # said of a true/false cell
    empty: str  # said of an empty cell
    hint: str  # how to write a number, after "'…' is not a number"
    check: Callable[[float], str | None]  # the value's own rule: its problem, or None
    refuse_nul: bool = False  # a NUL in the text is named as such (not "not a number")
    shown: int | None = None  # at most this many characters of the text are quoted back

    def read(self, cell: Any) -> float:
        if isinstance(cell, bool):
            raise ValueError(self.true_false)
        value = float(cell) if isinstance(cell, int | float) else self._parsed(cell_text(cell, self.empty))
        problem = self.check(value)
        if problem:
            raise ValueError(problem)
        return value

    def _parsed(self, text: str) -> float:
        problem = nul_problem(text) if self.refuse_nul else None
        if problem:
            raise ValueError(problem)
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"{text[: self.shown]!r} is not a number ({self.hint})") from None
