from __future__ import annotations

import io
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from openpyxl import Workbook

from backend.services.errors import ValidationFailed
from backend.services.metrics.service import parse_upload

UTC_ZONE = ZoneInfo("UTC")


def _parse(text: str, layout: str = "auto", filename: str = "data.csv"):  # type: ignore[no-untyped-def]
    return parse_upload(io.BytesIO(text.encode()), filename=filename, zone=UTC_ZONE, layout=layout)


def test_long_layout_with_dimensions() -> None:
    parsed = _parse(
        "metric,timestamp,value,channel\nrevenue,2026-01-01,100.5,ads\norders,2026-01-01T10:00:00Z,3,\n"
    )
    assert parsed.layout == "long" and parsed.error_count == 0
    assert [(p.metric, p.value, dict(p.dimensions)) for p in parsed.points] == [
        ("revenue", 100.5, {"channel": "ads"}),
        ("orders", 3.0, {}),
    ]
    assert parsed.points[0].ts == datetime(2026, 1, 1, tzinfo=UTC)


def test_wide_layout_skips_empty_cells() -> None:
    parsed = _parse("date,revenue,orders\n2026-01-01,100,4\n2026-01-02,,5\n")
    assert parsed.layout == "wide"
    assert [(p.metric, p.ts.day, p.value) for p in parsed.points] == [
        ("revenue", 1, 100.0),
        ("orders", 1, 4.0),
        ("orders", 2, 5.0),
    ]


def test_errors_name_file_rows_and_columns() -> None:
    parsed = _parse(
        "metric,timestamp,value\nrevenue,2026-01-01,10\nRevenue!,2026-01-02,1\nrevenue,yesterday,2\nrevenue,2026-01-04,1,000\n"
    )
    rows = [(e.row, e.column) for e in parsed.errors]
    assert rows == [(3, "metric"), (4, "timestamp"), (5, None)]
    assert "4 cells" in parsed.errors[2].message
    assert parsed.error_count == 3
    bad_number = _parse("metric,timestamp,value\nrevenue,2026-01-04,12k\n")
    assert [(e.row, e.column) for e in bad_number.errors] == [(2, "value")]
    assert "12k" in bad_number.errors[0].message


def test_unknown_layout_and_bad_wide_header_are_refused() -> None:
    with pytest.raises(ValidationFailed, match="cannot tell the layout"):
        _parse("when,what\n1,2\n")
    with pytest.raises(ValidationFailed, match="wide-layout columns"):
        _parse("date,Revenue ($)\n2026-01-01,5\n")


def test_xlsx_wide_layout() -> None:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["date", "revenue"])
    sheet.append([datetime(2026, 2, 1), 250])
    sheet.append([datetime(2026, 2, 2), 260.5])
    buffer = io.BytesIO()
    workbook.save(buffer)
    buffer.seek(0)
    parsed = parse_upload(buffer, filename="book.xlsx", zone=ZoneInfo("Europe/Paris"), layout="auto")
    assert [p.value for p in parsed.points] == [250.0, 260.5]
    assert parsed.points[0].ts == datetime(2026, 1, 31, 23, tzinfo=UTC)  # Paris midnight


def test_non_utf8_csv_is_refused() -> None:
    with pytest.raises(ValidationFailed, match="UTF-8"):
        parse_upload(
            io.BytesIO("date,revenue\n2026-01-01,5\u00e9\n".encode("latin-1")),
            filename="x.csv",
            zone=UTC_ZONE,
            layout="auto",
        )
