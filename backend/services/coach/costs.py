"""Cost of one LLM call: tokens × the configured list price of the model (pure)."""

from __future__ import annotations

from collections.abc import Mapping

from backend.config import ModelPrice
from backend.services.coach.providers.base import TokenUsage

TOKENS_PER_PRICE_UNIT = 1_000_000


def cost_dollars(prices: Mapping[str, ModelPrice], *, model: str, is_local: bool, usage: TokenUsage) -> float:
    """Dollars for ``usage`` of ``model``. Local providers cost nothing; cloud models must have a price.

    Settings refuse a cloud model without a price at startup, so a missing entry here is a bug.
    """
    if is_local:
        return 0.0
    price = prices.get(model)
    if price is None:
        raise KeyError(f"no price configured for cloud model {model!r} (LLM_PRICES)")
    return (
        usage.tokens_in * price.input_per_million + usage.tokens_out * price.output_per_million
    ) / TOKENS_PER_PRICE_UNIT
