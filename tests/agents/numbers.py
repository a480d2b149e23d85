"""An independent check that every number in an answer is backed by its citations."""

from __future__ import annotations

import re
from typing import Any

_DATE = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_LABEL = re.compile(r"\b[A-Za-z][A-Za-z_]*[-_]?\d[\w-]*")
_NUMBER = re.compile(r"(?<![\w.])-?\d[\d,]*(?:\.\d+)?")


def numbers(text: str) -> list[float]:
    text = _LABEL.sub(" ", _DATE.sub(r"\1 \2 \3", text))
    return [float(token.replace(",", "")) for token in _NUMBER.findall(text)]


def unbacked(reply: str, citations: list[dict[str, Any]]) -> list[float]:
    backed: set[float] = set()
    for citation in citations:
        backed.update(numbers(citation["display"]))
        backed.update(numbers(citation["period"] or ""))
        backed.update(numbers(citation["method"]))
    return [value for value in numbers(reply) if value not in backed]
