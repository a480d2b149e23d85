"""Problems found row by row in a table a client sent: every one counted, the first ones kept.

Uploads of metric points, exchange rates and unit-level studies report each bad cell by row and
column; a file with a million bad rows still answers with a bounded list and the full count.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from backend.services.errors import Problem, ValidationFailed

# How many problems a response lists (the count says how many there are in all).
MAX_REPORTED_ERRORS: Final = 100


@dataclass(frozen=True)
class RowError:
    row: int  # line number in the file, the header being row 1
    column: str | None
    message: str


@dataclass(kw_only=True)
class RowErrors:
    """The problems of one table: ``error_count`` of them, the first ``MAX_REPORTED_ERRORS`` kept."""

    errors: list[RowError] = field(default_factory=list)
    error_count: int = 0

    def add_error(self, row: int, column: str | None, message: str) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append(RowError(row, column, message))

    def raise_if_any(self, what: str, *, code: str | None = None) -> None:
        """``ValidationFailed`` ("{count} {what}") with a problem per bad cell kept, when any was
        counted: a table with a bad row is refused whole."""
        if self.error_count:
            raise ValidationFailed(
                f"{self.error_count} {what}",
                code=code,
                problems=[Problem.cell(e.row, e.column, e.message) for e in self.errors],
            )
