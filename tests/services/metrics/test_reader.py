"""The source rule itself: which of a window's sources a read uses."""

from __future__ import annotations

from backend.services.metrics.reader import choose_sources


def test_priority_takes_the_first_listed_source_with_data_in_the_window() -> None:
    assert choose_sources("priority", ["manual", "stripe"], ["manual", "stripe"], None) == ("manual",)
    assert choose_sources("priority", ["manual", "stripe"], ["stripe"], None) == ("stripe",)


def test_priority_falls_back_to_unlisted_sources_by_name_and_reads_nothing_without_data() -> None:
    assert choose_sources("priority", ["manual"], ["zeta", "alpha"], None) == ("alpha",)
    assert choose_sources("priority", [], ["upload", "manual"], None) == ("manual",)
    assert choose_sources("priority", ["manual"], [], None) == ()


def test_additive_sums_only_the_listed_sources_or_all_when_none_are_listed() -> None:
    assert choose_sources("additive", ["a", "b"], ["a", "b", "c"], None) == ("a", "b")
    assert choose_sources("additive", [], ["a", "c"], None) == ("a", "c")


def test_an_explicit_source_overrides_the_rule() -> None:
    assert choose_sources("priority", ["manual"], ["manual", "stripe"], "stripe") == ("stripe",)
    assert choose_sources("additive", ["manual"], ["manual"], "other") == ("other",)
