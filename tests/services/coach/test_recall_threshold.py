"""The recall threshold is the best-F1 one on the labelled set, scored with the real local model."""

from __future__ import annotations

import pytest

from backend.config import LlmSettings
from backend.services.coach.embeddings import BUNDLED_MODEL, LocalEmbedder
from backend.services.coach.relevance import ScoredPair, calibrate, quality_at
from tests.services.coach.relevance_set import load, score


def test_calibration_picks_the_best_f1_threshold_between_observed_scores() -> None:
    pairs = [ScoredPair(s, r) for s, r in [(0.9, True), (0.7, True), (0.6, False), (0.5, True), (0.2, False)]]
    best = calibrate(pairs)
    # Recalling 0.9, 0.7 and 0.5 (threshold between 0.2 and 0.5) scores F1 0.857 and beats 0.65 (0.8).
    assert best.threshold == pytest.approx(0.35) and best.f1 == pytest.approx(6 / 7)
    assert (best.precision, best.recall) == (pytest.approx(0.75), 1.0)
    assert quality_at(pairs, 0.65).f1 == pytest.approx(0.8)
    with pytest.raises(ValueError, match="both relevant and irrelevant"):
        calibrate([ScoredPair(0.5, True)])


def test_the_labelled_set_is_large_enough_and_mixed() -> None:
    data = load()
    pairs = data["pairs"]
    assert 30 <= len(pairs) <= 60
    assert 0.25 <= sum(pair["relevant"] for pair in pairs) / len(pairs) <= 0.6
    assert all(pair["memory"] in data["memories"] for pair in pairs)


async def test_the_configured_threshold_maximises_f1_and_unrelated_queries_recall_nothing() -> None:
    scored = await score(LocalEmbedder(BUNDLED_MODEL, 384))
    threshold = LlmSettings().recall_min_similarity
    best = calibrate(scored.pairs)
    configured = quality_at(scored.pairs, threshold)
    assert configured.f1 == pytest.approx(best.f1)
    assert configured.precision >= 0.85 and configured.recall >= 0.9
    assert max(scored.unrelated_best.values()) < threshold
