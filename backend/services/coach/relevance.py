"""Calibrating the memory recall threshold on labelled (query, memory, relevant?) pairs: pure functions.

A remembered message is recalled when its cosine similarity to the query reaches a threshold.
:func:`calibrate` picks the threshold that maximises F1 over labelled pairs (ties: the higher
threshold, i.e. the more precise one) and reports its precision and recall. The candidate
thresholds are the midpoints between consecutive observed similarities, so the choice does
not sit on one pair's exact score.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class ScoredPair:
    similarity: float
    relevant: bool


@dataclass(frozen=True)
class ThresholdQuality:
    threshold: float
    precision: float
    recall: float
    f1: float
    true_positives: int
    false_positives: int
    false_negatives: int


def quality_at(pairs: Sequence[ScoredPair], threshold: float) -> ThresholdQuality:
    """Precision, recall and F1 of recalling every pair whose similarity is at least ``threshold``."""
    tp = sum(1 for pair in pairs if pair.relevant and pair.similarity >= threshold)
    fp = sum(1 for pair in pairs if not pair.relevant and pair.similarity >= threshold)
    fn = sum(1 for pair in pairs if pair.relevant and pair.similarity < threshold)
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return ThresholdQuality(threshold, precision, recall, f1, tp, fp, fn)


def calibrate(pairs: Sequence[ScoredPair]) -> ThresholdQuality:
    """The F1-maximising threshold over ``pairs`` (at least one relevant and one irrelevant pair)."""
    if not any(pair.relevant for pair in pairs) or all(pair.relevant for pair in pairs):
        raise ValueError("calibration needs both relevant and irrelevant pairs")
    scores = sorted({pair.similarity for pair in pairs})
    candidates = [(low + high) / 2 for low, high in itertools.pairwise(scores)]
    candidates += [scores[0] - 1e-6, scores[-1] + 1e-6]
    return max(
        (quality_at(pairs, threshold) for threshold in candidates),
        key=lambda quality: (quality.f1, quality.threshold),
    )
