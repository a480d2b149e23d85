"""Citations: every number an answer uses, with the metric, period, method and tool it came from.

Agents never print a number directly: they format it once with :func:`display_number` (or
:func:`display_percent`), record a :class:`Citation` holding that exact text, and write the
text into their report. :func:`uncited_numbers` checks an answer against its citations, so
a model-written answer that uses a number no tool returned is flagged.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

# A number as people write it: optional sign, thousands separators, decimals, percent.
_NUMBER = re.compile(r"(?<![\w.])[-+−]?\d[\d,]*(?:\.\d+)?%?")
_ISO_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")
# Names with digits in them (SKU-12, Q4, p95) are labels, not quantities.
_IDENTIFIER = re.compile(r"\b[A-Za-z][A-Za-z_]*[-_]?\d[\w-]*")


@dataclass(frozen=True)
class Citation:
    """One number used in an answer and where it came from.

    ``display`` is the exact text the answer shows; ``value`` the unrounded number.
    ``period`` names the time range (ISO dates) and ``method`` how it was computed.
    """

    metric: str | None
    period: str | None
    method: str
    value: float
    display: str
    source: str
    unit: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def display_number(value: float) -> str:
    """A readable rendering: thousands separators, at most two decimals, no trailing zeros."""
    if not math.isfinite(value):
        return "n/a"
    magnitude = abs(value)
    decimals = 0 if magnitude >= 1000 else 2 if magnitude >= 1 else 4
    text = f"{value:,.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def display_percent(fraction: float) -> str:
    """``0.2`` → ``"20%"``; one decimal when needed."""
    text = f"{fraction * 100:.1f}".rstrip("0").rstrip(".")
    return f"{'0' if text == '-0' else text}%"


def number_tokens(text: str) -> list[str]:
    """Numbers written in ``text`` (dates are split into their parts), normalised for comparison."""
    text = _IDENTIFIER.sub(" ", _ISO_DATE.sub(_date_parts, text))
    return [_normalise(token) for token in _NUMBER.findall(text)]


def _date_parts(match: re.Match[str]) -> str:
    return " ".join(match.group(0).split("-"))


def _normalise(token: str) -> str:
    token = token.replace("−", "-").lstrip("+").rstrip("%").replace(",", "")
    try:
        value = float(token)
    except ValueError:
        return token
    return repr(round(value, 6))


def cited_tokens(citations: Iterable[Citation]) -> set[str]:
    """Every number a set of citations backs: the displayed values and the numbers in periods and methods."""
    tokens: set[str] = set()
    for citation in citations:
        for text in (citation.display, citation.period or "", citation.method):
            tokens.update(number_tokens(text))
    return tokens


def uncited_numbers(text: str, citations: Sequence[Citation], *, allowed: Iterable[str] = ()) -> list[str]:
    """Numbers in ``text`` that no citation backs (numbers in ``allowed`` texts, e.g. the question, pass)."""
    backed = cited_tokens(citations)
    for extra in allowed:
        backed.update(number_tokens(extra))
    stripped = _IDENTIFIER.sub(" ", _ISO_DATE.sub(_date_parts, text))
    return [token for token in _NUMBER.findall(stripped) if _normalise(token) not in backed]
