"""Secrets out of log lines (and out of error text the API stores).

Three fences, applied to every value of a log event (nested ones, the message and the
rendered traceback included):

- by key: a value under a secret-looking key (``password``, ``authorization``,
  ``x-api-key``, ``cookie``, ``*_token``, ``credentials``, ``dsn``…) is replaced whole;
- by shape: our API keys (``dyo_…``), JWTs, ``Bearer``/``Basic`` credentials, passwords in
  URLs, ``key=value`` / header pairs with a secret-looking name;
- by value: strings registered with ``register_secrets`` (decrypted connector
  credentials, whatever their shape) are replaced wherever they appear. The registry
  keeps the most recent values of the process, not only during a sync: a job's failure
  is logged after the sync code has returned.

Long values are cut, so one log call cannot write megabytes.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

REDACTED = "[redacted]"
MAX_VALUE_CHARS = 4_000
MAX_EXCEPTION_CHARS = 16_000  # the traceback formatter bounds it first
# Shorter registered values would redact ordinary words; none of our credentials is that short.
MIN_SECRET_CHARS = 6
# Bounded so the matcher stays small (compiled, on the logging thread, after new registrations).
SECRET_REGISTRY_CAPACITY = 512

_SECRET_KEYS = frozenset(
    {
        "password",
        "passwd",
        "passphrase",
        "secret",
        "token",
        "api_key",
        "apikey",
        "x_api_key",
        "authorization",
        "proxy_authorization",
        "cookie",
        "set_cookie",
        "credential",
        "credentials",
        "dsn",
        "private_key",
        "secret_key",
        "access_key",
    }
)
_SECRET_KEY_SUFFIXES = (
    "_password",
    "_secret",
    "_token",
    "_api_key",
    "_credentials",
    "_dsn",
    "_private_key",
    "_secret_key",
    "_access_key",
)
_HEADER_NAMES = r"authorization|proxy-authorization|x-api-key|api-key|cookie|set-cookie"
_NAMES = "|".join(
    [
        "password",
        "passwd",
        "secret",
        "token",
        r"(?:api|secret|access|private)[_-]?key",
        "authorization",
        "cookie",
        "credentials?",
        "dsn",
    ]
)

# (pattern, replacement, words one of which the lower-cased text must hold for the pattern to run)
_SECRET_SHAPES: tuple[tuple[re.Pattern[str], str, tuple[str, ...]], ...] = (
    # A header in a repr: ('x-api-key', 'dyo_…'), (b'authorization', b'Bearer …'), {'cookie': '…'}
    (
        re.compile(rf"(?i)(b?['\"](?:{_HEADER_NAMES})['\"]\s*[,:]\s*b?)(['\"])(?:(?!\2).)*\2"),
        rf"\1\2{REDACTED}\2",
        ("authorization", "api-key", "cookie"),
    ),
    # name=value, name: value (query strings, messages, headers in text)
    (
        re.compile(rf"(?i)((?:{_NAMES})['\"]?\s*[:=]\s*['\"]?)(?!{re.escape(REDACTED)})[^\s'\",;&)}}\]]+"),
        rf"\1{REDACTED}",
        ("pass", "secret", "token", "key", "authorization", "cookie", "credential", "dsn"),
    ),
    (
        re.compile(r"(?i)\b(bearer|basic)\s+(?!\[redacted\])[A-Za-z0-9._~+/=-]{6,}"),
        rf"\1 {REDACTED}",
        ("bearer", "basic"),
    ),
    (re.compile(r"\bdyo_[A-Za-z0-9_-]{6,}"), f"dyo_{REDACTED}", ("dyo_",)),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]*"), REDACTED, ("eyj",)),
    # scheme://user:password@host
    (re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://[^\s:/@]*:)[^\s@/]+@"), rf"\1{REDACTED}@", ("://",)),
)


class _SecretRegistry:
    """Values known to be secret in this process, the newest ``capacity`` of them.

    Registering is cheap (it runs where credentials are decrypted, on the event loop); the
    matcher is compiled when a line is next redacted, on the logging thread.
    """

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._values: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()
        self._version = 0
        self._compiled: tuple[int, re.Pattern[str] | None] = (0, None)

    def register(self, values: Iterable[str]) -> None:
        with self._lock:
            for value in values:
                if value in self._values:
                    self._values.move_to_end(value)
                else:
                    self._values[value] = None
                    self._version += 1
            while len(self._values) > self._capacity:
                self._values.popitem(last=False)

    def pattern(self) -> re.Pattern[str] | None:
        with self._lock:
            version, values = self._version, tuple(self._values)
            if self._compiled[0] == version:
                return self._compiled[1]
        compiled = re.compile(_alternatives(_trie(values))) if values else None
        with self._lock:
            if version > self._compiled[0]:
                self._compiled = (version, compiled)
        return compiled


_Trie = dict[str, Any]
_END = ""


def _trie(values: Iterable[str]) -> _Trie:
    root: _Trie = {}
    for value in values:
        node = root
        for char in value:
            node = node.setdefault(char, {})
        node[_END] = {}
    return root


def _alternatives(node: _Trie) -> str:
    """A regex matching every value of the trie, longest first, with shared prefixes factored.

    Plain ``a|b|c…`` tries each value at each position; factored, ``re`` follows one branch.
    """
    branches = []
    for char, child in sorted(node.items()):
        if char == _END:
            continue
        literal = char
        while len(child) == 1 and _END not in child:  # a chain without a fork: one literal
            ((char, child),) = child.items()
            literal += char
        branches.append(re.escape(literal) + _alternatives(child))
    if not branches:
        return ""
    body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
    return f"(?:{body})?" if _END in node else body


_registry = _SecretRegistry(SECRET_REGISTRY_CAPACITY)


def register_secrets(*values: Any) -> None:
    """Never log these: each string (nested in dicts/lists too) and a URL's password in it."""
    _registry.register(_secret_strings(values))


def _secret_strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        if len(value) >= MIN_SECRET_CHARS:
            yield value
        if "://" in value:
            password = urlsplit(value).password
            if password and len(password) >= MIN_SECRET_CHARS:
                yield password
                yield unquote(password)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _secret_strings(item)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            yield from _secret_strings(item)


def redact_text(text: str) -> str:
    """``text`` with registered secrets and secret-shaped substrings replaced."""
    pattern = _registry.pattern()
    if pattern is not None:
        text = pattern.sub(REDACTED, text)
    lowered = text.lower()
    for shape, replacement, words in _SECRET_SHAPES:
        if any(word in lowered for word in words):  # most text holds none: skip the regex
            text = shape.sub(replacement, text)
    return text


def is_secret_key(key: object) -> bool:
    if isinstance(key, bytes):
        key = key.decode("latin-1")
    if not isinstance(key, str):
        return False
    name = key.lower().replace("-", "_")
    return name in _SECRET_KEYS or name.endswith(_SECRET_KEY_SUFFIXES)


def redact_value(value: Any, *, max_chars: int = MAX_VALUE_CHARS, depth: int = 0) -> Any:
    """A loggable copy of ``value``: secrets redacted, long strings cut, other objects as repr."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return _cut(redact_text(value), max_chars)
    if depth < 4 and isinstance(value, dict):
        return {
            key: REDACTED if is_secret_key(key) else redact_value(item, max_chars=max_chars, depth=depth + 1)
            for key, item in list(value.items())[:100]
        }
    if depth < 4 and isinstance(value, list | tuple):
        if len(value) == 2 and is_secret_key(value[0]):  # a header pair: (b"authorization", b"…")
            return [redact_value(value[0]), REDACTED]
        return [redact_value(item, max_chars=max_chars, depth=depth + 1) for item in value[:100]]
    return _cut(redact_text(repr(value)), max_chars)


def _cut(text: str, max_chars: int) -> str:
    if len(text) <= max_chars:
        return text
    return f"{text[:max_chars]}… [{len(text) - max_chars} characters cut]"


def redact_event(event_dict: Mapping[str, Any]) -> dict[str, Any]:
    """A log event with every value passed through ``redact_value`` (the traceback is already bounded)."""
    return {
        key: REDACTED
        if is_secret_key(key)
        else redact_value(value, max_chars=MAX_EXCEPTION_CHARS if key == "exception" else MAX_VALUE_CHARS)
        for key, value in event_dict.items()
    }
