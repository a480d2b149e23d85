"""Two years of daily shop data with a known marketing-mix truth (for the MMM test and benchmark)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from backend.services.evidence.mmm import adstock, saturation


@dataclass(frozen=True)
class TrueChannel:
    name: str
    mean_spend: float
    decay: float
    saturation: float  # λ on spend / mean spend
    coefficient: float  # outcome units per bucket at full saturation


CHANNELS = (
    TrueChannel("search_spend", 300.0, 0.3, 0.8, 900.0),
    TrueChannel("social_spend", 200.0, 0.6, 2.5, 250.0),
    TrueChannel("display_spend", 150.0, 0.5, 1.2, 200.0),
)


@dataclass(frozen=True)
class MmmTruth:
    frame: pd.DataFrame
    roi: dict[str, float]
    marginal_roi: dict[str, float]


def simulate_mmm(seed: int, days: int = 730, channels: tuple[TrueChannel, ...] = CHANNELS) -> MmmTruth:
    """Revenue = baseline (trend, weekly and yearly season) + Σ β sat(adstock(spend)) + noise."""
    rng = np.random.default_rng(seed)
    index = pd.date_range("2024-01-01", periods=days, freq="D")
    t = np.arange(days)
    baseline = 2000 + 0.5 * t + 150 * np.sin(2 * np.pi * t / 365.25) + 80 * (index.day_of_week >= 5)
    frame = pd.DataFrame(index=index)
    revenue = baseline.astype("float64")
    roi: dict[str, float] = {}
    marginal: dict[str, float] = {}
    for channel in channels:
        # Campaign weeks on and off, and day-to-day noise: spend that varies enough to learn from.
        level = np.repeat(rng.choice([0.3, 1.0, 1.7], size=days // 7 + 1), 7)[:days]
        spend = channel.mean_spend * level * rng.lognormal(0, 0.3, days)
        scaled = spend / spend.mean()
        contribution = channel.coefficient * saturation(adstock(scaled, channel.decay), channel.saturation)
        revenue = revenue + contribution
        frame[channel.name] = spend
        roi[channel.name] = float(contribution.sum() / spend.sum())
        e = np.exp(-channel.saturation)  # at the mean spend, scaled spend 1
        marginal[channel.name] = float(
            channel.coefficient * 2 * channel.saturation * e / (1 + e) ** 2 / spend.mean()
        )
    frame["revenue"] = revenue + rng.normal(0, 60, days)
    return MmmTruth(frame=frame, roi=roi, marginal_roi=marginal)
