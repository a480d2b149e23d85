"""Citations: every number an answer uses, with the metric, period, method and tool it came from.

Agents never print a number directly: they format it once with :func:`display_number` (or
:func:`display_percent`), record a :class:`Citation` holding that exact text, and write the
text into their report. :class:`Backing` checks an answer against its citations, so a
model-written answer that uses a number no tool returned is caught (and repaired by
:mod:`backend.agents.fact_check`), while roundings and changes of cited figures pass.
"""

from __future__ import annotations

import bisect
import itertools
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

# A number as people write it: optional sign, thousands separators, decimals, then a percent
# sign or a scale ("35.4k", "1.2 million").
_FIGURE = re.compile(
    r"(?<![\w.])[-+−]?(?P<number>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)"
    r"(?P<suffix>\s?%|\s?percent\b|[kKmM]\b|bn\b|\s?(?:thousand|million|billion)\b)?"
)
_SCALES = {"k": 1e3, "thousand": 1e3, "m": 1e6, "million": 1e6, "bn": 1e9, "billion": 1e9}
# A rounded figure is never more than this fraction off the value it restates.
MAX_ROUNDING = 0.05
# Derived figures (changes between two values of one metric) are formed over at most this many values.
MAX_DERIVED_VALUES = 200
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


@dataclass(frozen=True)
class Figure:
    """A number as written in a text: ``value`` with its suffix applied, ``precision`` as written
    (``35,400`` → 100, ``35.4k`` → 100, ``73.2%`` → 0.1)."""

    text: str
    value: float
    precision: float
    percent: bool


def written_figures(text: str) -> list[Figure]:
    """The figures of ``text`` (a date counts as its parts; labels such as SKU-12 or Q4 do not count)."""
    return [_figure(match) for match in _figure_matches(text)]


def _figure_matches(text: str) -> list[re.Match[str]]:
    labels = [match.span() for match in _IDENTIFIER.finditer(text)]
    return [
        match
        for match in _FIGURE.finditer(text)
        if not any(start <= match.start() < end for start, end in labels)
    ]


def _figure(match: re.Match[str]) -> Figure:
    digits = match.group("number").replace(",", "")
    suffix = (match.group("suffix") or "").strip().lower()
    scale = _SCALES.get(suffix, 1.0)
    if "." in digits:
        precision = 10.0 ** -len(digits.split(".")[1])
    else:
        precision = 10.0 ** (len(digits) - len(digits.rstrip("0"))) if digits.strip("0") else 1.0
    return Figure(
        match.group(0).strip(),
        abs(float(digits)) * scale,
        precision * scale,
        suffix in ("%", "percent"),
    )


class Backing:
    """The figures a set of citations (and texts such as the question) back.

    A written figure is backed when it is one of them as displayed or any rounding of one as
    written (``35,413`` backs ``35,400``, ``35.4k`` and ``35k``; never more than 5% off), and
    a percentage also when it is a cited fraction × 100 or the change between two cited values
    of the same metric and unit (1,000 → 1,220 backs ``22%``; their difference backs ``220``).
    Signs are ignored: "fell 12%" restates a change of −12%.
    """

    def __init__(self, citations: Iterable[Citation] = (), *, allowed: Iterable[str] = ()) -> None:
        stated: set[float] = set()  # as the tools or the owner wrote them
        scaled: set[float] = set()  # fractions as percentages
        series: dict[tuple[str, str | None], set[float]] = {}
        for citation in citations:
            value = abs(citation.value)
            if math.isfinite(value):
                stated.add(value)
                if citation.unit != "%":
                    scaled.add(value * 100)
                if citation.metric is not None:
                    series.setdefault((citation.metric, citation.unit), set()).add(citation.value)
            for text in (citation.display, citation.period or "", citation.method):
                stated.update(figure.value for figure in written_figures(text))
        for text in allowed:
            stated.update(figure.value for figure in written_figures(text))
        differences: set[float] = set()
        changes: set[float] = set()
        for values in series.values():
            ordered = sorted(values)[:MAX_DERIVED_VALUES]
            for first, second in itertools.permutations(ordered, 2):
                differences.add(abs(second - first))
                if first:
                    changes.add(abs((second - first) / first) * 100)
        self._plain = sorted(stated | differences)
        self._percent = sorted(stated | scaled | changes)

    def backs(self, figure: Figure) -> bool:
        candidates = self._percent if figure.percent else self._plain
        x = figure.value
        tolerance = max(min(figure.precision / 2, x * MAX_ROUNDING), 1e-9 * max(1.0, x))
        start = bisect.bisect_left(candidates, x - tolerance)
        return start < len(candidates) and candidates[start] <= x + tolerance

    def unbacked(self, text: str) -> list[str]:
        """The figures of ``text`` this backing does not back, as written."""
        return [figure.text for figure in written_figures(text) if not self.backs(figure)]

    def mask_unbacked(self, text: str, mask: str) -> str:
        """``text`` with each figure this backing does not back replaced by ``mask``."""
        pieces: list[str] = []
        start = 0
        for match in _figure_matches(text):
            if not self.backs(_figure(match)):
                pieces += [text[start : match.start()], mask]
                start = match.end()
        return "".join([*pieces, text[start:]])


def uncited_numbers(text: str, citations: Sequence[Citation], *, allowed: Iterable[str] = ()) -> list[str]:
    """Numbers in ``text`` that no citation backs (numbers in ``allowed`` texts, e.g. the question, pass)."""
    return Backing(citations, allowed=allowed).unbacked(text)
