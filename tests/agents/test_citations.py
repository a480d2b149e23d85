"""Citations and question parsing: pure functions."""

from __future__ import annotations

from datetime import date

from backend.agents.citations import Citation, display_number, display_percent, uncited_numbers
from backend.agents.question import match_metrics, parse_deadline, parse_horizon, parse_money, parse_percent


def citation(display: str, value: float, period: str | None = None, method: str = "sum") -> Citation:
    return Citation("revenue", period, method, value, display, "test")


def test_numbers_are_displayed_readably() -> None:
    assert display_number(1234567.891) == "1,234,568"
    assert (
        display_number(12.5) == "12.5" and display_number(3.0) == "3" and display_number(0.01234) == "0.0123"
    )
    assert display_percent(0.2) == "20%" and display_percent(-0.125) == "-12.5%"


def test_uncited_numbers_are_found_and_cited_ones_pass() -> None:
    cited = [citation("1,310", 1310, period="2026-01-01 to 2026-01-31"), citation("20%", 20, method="change")]
    text = "Revenue was 1,310 in 2026-01-01 to 2026-01-31; grow it 20% to reach 1,572 for SKU-7."
    assert uncited_numbers(text, cited) == ["1,572"]
    assert uncited_numbers("Reach 1,572", cited, allowed=["I want 1572"]) == []


def test_metrics_are_matched_by_name_phrase_and_synonym_in_question_order() -> None:
    names = ["ad_spend", "revenue", "units_sold"]
    assert match_metrics("Does ad spend drive sales?", names) == ["ad_spend", "revenue"]
    assert match_metrics("forecast units_sold", names) == ["units_sold"]
    assert match_metrics("how are we doing", names) == []


def test_amounts_horizons_and_deadlines_are_read_from_the_question() -> None:
    today = date(2026, 11, 26)
    assert parse_percent("grow revenue 20% this year") == 0.2
    assert parse_money("split $5,000 across channels") == 5000 and parse_money("a 3k dollars budget") == 3000
    horizon = parse_horizon("forecast the next 3 months")
    assert horizon is not None and (horizon.count, horizon.unit) == (3, "month")
    assert parse_deadline("grow revenue this year", today) == (date(2026, 12, 31), "this year")
    assert parse_deadline("by March", today) == (date(2027, 3, 31), "by March")
    assert parse_deadline("in 6 months", today) == (date(2027, 5, 31), "in 6 months")
    assert parse_deadline("grow revenue", today) is None
