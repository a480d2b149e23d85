"""Figures in an answer against the tools' citations, and the sentence gate of the stream: pure parts."""

from __future__ import annotations

from typing import Any

from backend.agents.citations import Backing, Citation, written_figures
from backend.agents.fact_check import (
    MASK,
    CheckedReplyStream,
    complete_sentences,
    drop_unbacked_sentences,
    removed_notice,
    split_sentences,
)

CITED = [
    Citation("revenue", "2026-11-01 to 2026-11-30", "sum", 35412.7, "35,413", "forecaster"),
    Citation("revenue", "2026-10-01 to 2026-10-31", "sum", 32000.0, "32,000", "forecaster"),
    Citation("revenue", None, "median monthly change", 4.0, "4%", "goal_planner", unit="%"),
    Citation("conversion", None, "share of visits", 0.125, "0.125", "evidence_analyzer"),
]


def test_roundings_and_restatements_of_cited_figures_are_backed() -> None:
    backing = Backing(CITED)
    text = "Revenue was 35,413 — call it 35,400, 35.4k, $35k or 35 thousand — and grows 4% a month."
    assert backing.unbacked(text) == []
    # A conversion share of 0.125 restated as a percentage, and the change between two months.
    assert backing.unbacked("Conversion is 12.5% and revenue rose 10.7% (3,413 more) on October.") == []


def test_invented_and_too_loosely_rounded_figures_are_not_backed() -> None:
    backing = Backing(CITED)
    text = "Expect 987,654 next year, a 73.2% jump; revenue is about 40k; 100 new buyers."
    assert backing.unbacked(text) == ["987,654", "73.2%", "40k", "100"]
    # A difference between two amounts is not a percentage, and a rounding is never more than 5% off.
    assert backing.unbacked("It rose 3,413%.") == ["3,413%"]
    assert backing.unbacked("Revenue was 30k.") == ["30k"]


def test_labels_dates_and_the_owners_own_figures() -> None:
    backing = Backing(CITED, allowed=["Can I spend $2,500 on ads?"])
    assert backing.unbacked("For SKU-17 in Q4, from 2026-11-01, spend the 2,500.") == []
    assert backing.unbacked("On 2026-11-07 do it.") == ["07"]
    figures = written_figures("1.2 million and 7.5%")
    assert [(f.value, f.precision, f.percent) for f in figures] == [(1.2e6, 1e5, False), (7.5, 0.1, True)]


def test_sentences_split_the_same_way_however_the_text_arrives() -> None:
    text = "Revenue was 35,413. It grew 4%!\nNext: order 1.5 units per day? Yes (see below). Done"
    whole = split_sentences(text)
    assert "".join(whole) == text
    assert whole == [
        "Revenue was 35,413. ",
        "It grew 4%!\n",
        "Next: order 1.5 units per day? ",
        "Yes (see below). ",
        "Done",
    ]
    for cut in range(len(text) + 1):
        complete, rest = complete_sentences(text[:cut])
        assert whole[: len(complete)] == complete
        assert "".join(complete) + rest == text[:cut]


def test_unbacked_sentences_are_dropped_and_the_notice_masks_their_figures() -> None:
    backing = Backing(CITED)
    pruned = drop_unbacked_sentences("Revenue was 35,413. You will hit 987,654 by May. Keep going.", backing)
    assert pruned.text == "Revenue was 35,413. Keep going."
    assert pruned.removed == ["You will hit 987,654 by May."]
    notice = removed_notice(pruned.removed, backing)
    assert "987,654" not in notice and f"You will hit {MASK} by May." in notice


async def test_the_gate_sends_only_complete_backed_sentences_and_exactly_what_is_kept() -> None:
    sent: list[tuple[str, dict[str, Any]]] = []

    async def emit(event: str, payload: dict[str, Any]) -> None:
        sent.append((event, payload))

    gate = CheckedReplyStream(emit)
    gate.backing = Backing(CITED)
    answer = "Revenue was 35,413. You will hit 987,654 by May. Grow 4% a month"
    for piece in ["Reve", "nue was 35,", "413. You will hit 98", "7,654 by May. Grow 4", "% a month"]:
        await gate.delta(piece)
    assert [p["text"] for _, p in sent] == ["Revenue was 35,413. "]
    await gate.finish()
    texts = [p["text"] for e, p in sent if e == "delta"]
    assert "".join(texts) == drop_unbacked_sentences(answer, gate.backing).text
    assert not any("987" in text for text in texts)
    await gate.reset()
    assert sent[-1] == ("reset", {}) and not gate.active
