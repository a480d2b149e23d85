"""The named-to-positional parameter rewrite used for statements sent straight to asyncpg."""

from __future__ import annotations

from backend.services.metrics.repository import _positional


def test_named_parameters_become_numbered_in_first_use_order_and_casts_stay() -> None:
    statement, args = _positional(
        "select date_trunc(:unit, ts, :zone), null::text from t "
        "where a = :tenant and b = :metric and c @> cast(:dims as jsonb) and d = :tenant",
        {"tenant": "T", "metric": "M", "unit": "day", "zone": "UTC", "dims": "{}", "unused": 1},
    )
    assert statement == (
        "select date_trunc($1, ts, $2), null::text from t "
        "where a = $3 and b = $4 and c @> cast($5 as jsonb) and d = $3"
    )
    assert args == ["day", "UTC", "T", "M", "{}"]
