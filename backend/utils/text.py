"""One rule for all text that enters: no NUL characters (U+0000).

PostgreSQL text cannot hold U+0000, so a NUL that reached a query was a 500. Requests are
checked by ``backend.utils.input_guard`` (every operation, every parameter and body field);
file parsers apply ``nul_problem`` to each cell. Pure: no I/O, no HTTP.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

NUL = "\x00"
NUL_MESSAGE = "text must not contain NUL characters (\\u0000)"


def nul_problem(text: str) -> str | None:
    return NUL_MESSAGE if NUL in text else None


def nul_paths(value: Any) -> Iterator[list[str]]:
    """Where NUL appears in decoded JSON, as paths of keys and indexes (iterative: any depth)."""
    stack: list[tuple[list[str], Any]] = [([], value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            if NUL in item:
                yield path
        elif isinstance(item, dict):
            for key, child in reversed(item.items()):
                if NUL in key:
                    yield [*path, key]
                stack.append(([*path, key], child))
        elif isinstance(item, list):
            stack.extend(([*path, str(index)], child) for index, child in reversed(list(enumerate(item))))
