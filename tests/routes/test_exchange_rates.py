"""Exchange rates through the API: JSON and file loads, bad input, listing, isolation; and the
tenant's reporting currency."""

from __future__ import annotations

import io
from datetime import date
from typing import Any

import httpx
import pytest
from openpyxl import Workbook

from tests.factories import TenantContext, create_tenant, invite_and_activate, problem_locations

URL = "/api/v1/exchange-rates"


def rate(
    day: str = "2026-03-02", base: str = "EUR", quote: str = "USD", value: Any = 1.0842
) -> dict[str, Any]:
    return {"day": day, "base": base, "quote": quote, "rate": value}


async def stored(client: httpx.AsyncClient, tenant: TenantContext, **params: Any) -> dict[str, Any]:
    response = await client.get(URL, headers=tenant.headers, params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def upload(
    client: httpx.AsyncClient, tenant: TenantContext, content: bytes, *, name: str = "rates.csv", **form: str
) -> httpx.Response:
    return await client.post(
        f"{URL}/upload", headers=tenant.headers, files={"file": (name, content)}, data=form
    )


async def test_rates_load_idempotently_and_list_newest_first(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    batch = [rate("2026-03-02", value=1.08), rate("2026-03-03", "usd", "jpy", 150.25)]
    first = await client.post(URL, headers=tenant.headers, json={"rates": batch})
    assert first.status_code == 200, first.text
    assert first.json() == {"received": 2, "inserted": 2, "updated": 0, "unchanged": 0}
    again = await client.post(
        URL, headers=tenant.headers, json={"rates": [*batch[:1], rate("2026-03-03", "USD", "JPY", 151.0)]}
    )
    assert again.json() == {"received": 2, "inserted": 0, "updated": 1, "unchanged": 1}
    page = await stored(client, tenant)
    assert page["total"] == 2
    assert [(r["day"], r["base"], r["quote"], r["rate"]) for r in page["items"]] == [
        ("2026-03-03", "USD", "JPY", 151.0),
        ("2026-03-02", "EUR", "USD", 1.08),
    ]


async def test_listing_filters_and_pages(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    batch = [rate(f"2026-03-{day:02d}", value=1 + day / 100) for day in range(1, 11)] + [rate(base="GBP")]
    assert (await client.post(URL, headers=tenant.headers, json={"rates": batch})).status_code == 200
    page = await stored(client, tenant, base="eur", start="2026-03-03", end="2026-03-08", limit=2, offset=1)
    assert page["total"] == 5
    assert [r["day"] for r in page["items"]] == ["2026-03-06", "2026-03-05"]
    assert (await stored(client, tenant, quote="USD", base="GBP"))["total"] == 1
    bad = await client.get(URL, headers=tenant.headers, params={"base": "EURO"})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "validation_failed"
    backwards = await client.get(
        URL, headers=tenant.headers, params={"start": "2026-03-05", "end": "2026-03-05"}
    )
    assert backwards.status_code == 422


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        (rate(base="XYZ"), "base"),
        (rate(quote="US"), "quote"),
        (rate(value=0), "rate"),
        (rate(value=-1.5), "rate"),
        (rate(value="NaN"), "rate"),
        (rate(value="Infinity"), "rate"),
        (rate(value=1e12), "rate"),
        (rate(day="2026-02-30"), "day"),
        (rate(day="1969-12-31"), "day"),
        (rate(base="USD", quote="usd"), None),
    ],
)
async def test_a_bad_rate_is_a_422_naming_it_and_stores_nothing(
    client: httpx.AsyncClient, bad: dict[str, Any], field: str | None
) -> None:
    tenant = await create_tenant(client)
    response = await client.post(URL, headers=tenant.headers, json={"rates": [rate("2026-01-05"), bad]})
    assert response.status_code == 422, response.text
    errors = problem_locations(response.json()["error"])
    assert errors[0][:4] == ["body", "rates", "1", *([field] if field else [])][:4]
    assert (await stored(client, tenant))["total"] == 0


async def test_a_pair_and_day_given_twice_is_refused(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    response = await client.post(
        URL, headers=tenant.headers, json={"rates": [rate(value=1.1), rate("2026-03-03"), rate(value=1.2)]}
    )
    assert response.status_code == 422, response.text
    (error,) = response.json()["error"]["details"]["problems"]
    assert problem_locations(response.json()["error"]) == [["body", "rates", "2", "day"]]
    assert error["code"] == "duplicate_rate" and "rates[0]" in error["message"]
    assert (await stored(client, tenant))["total"] == 0


async def test_a_batch_over_ten_thousand_rates_is_refused(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    response = await client.post(URL, headers=tenant.headers, json={"rates": [rate()] * 10_001})
    assert response.status_code == 422


async def test_a_csv_upload_stores_every_row_and_a_dry_run_nothing(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    content = (
        b"\xef\xbb\xbfDate,Base,Quote,Rate\n"
        b"2026-03-02,EUR,USD,1.08\n2026-03-03,eur,usd,1.09\n\n2026-03-02,USD,JPY,150\n"
    )
    dry = await upload(client, tenant, content, dry_run="true")
    assert dry.status_code == 200, dry.text
    assert dry.json() == {
        "dry_run": True,
        "rows_read": 3,
        "pairs": ["EUR/USD", "USD/JPY"],
        "first_day": "2026-03-02",
        "last_day": "2026-03-03",
        "result": None,
    }
    assert (await stored(client, tenant))["total"] == 0
    done = await upload(client, tenant, content)
    assert done.json()["result"] == {"received": 3, "inserted": 3, "updated": 0, "unchanged": 0}
    assert (await stored(client, tenant, base="EUR"))["items"][0]["rate"] == 1.09


async def test_an_xlsx_upload_reads_date_cells_and_numbers(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["rate", "quote", "base", "day"])
    sheet.append([0.85, "GBP", "EUR", date(2026, 3, 2)])
    buffer = io.BytesIO()
    workbook.save(buffer)
    response = await upload(client, tenant, buffer.getvalue(), name="rates.xlsx")
    assert response.status_code == 200, response.text
    (item,) = (await stored(client, tenant))["items"]
    assert (item["day"], item["base"], item["quote"], item["rate"]) == ("2026-03-02", "EUR", "GBP", 0.85)


async def test_every_bad_cell_of_an_upload_is_named_by_row_and_column_and_nothing_is_stored(
    client: httpx.AsyncClient,
) -> None:
    tenant = await create_tenant(client)
    content = (
        b"day,base,quote,rate\n"
        b"2026-03-02,EUR,USD,1.08\n"
        b"2026-13-01,EURO,USD,abc\n"  # three bad cells in one row
        b"2026-03-03,USD,USD,1\n"
        b"2026-03-04,EUR,USD,0\n"
        b"2026-03-05,EUR,USD,\n"
        b"2026-03-02,EUR,USD,1.1\n"  # repeats row 2
    )
    response = await upload(client, tenant, content)
    assert response.status_code == 422, response.text
    details = response.json()["error"]["details"]
    assert [(e["row"], e.get("column")) for e in details["problems"]] == [
        (3, "day"),
        (3, "base"),
        (3, "rate"),
        (4, "quote"),
        (5, "rate"),
        (6, "rate"),
        (7, None),
    ]
    assert "row 2" in details["problems"][-1]["message"]
    assert response.json()["error"]["message"].startswith("7 problem(s)")
    assert (await stored(client, tenant))["total"] == 0


@pytest.mark.parametrize(
    ("content", "name"),
    [
        (b"", "rates.csv"),
        (b"day,currency,rate\n2026-03-02,EUR,1\n", "rates.csv"),
        (b"\xff\xfe\x00garbage", "rates.csv"),
        (b"not a workbook", "rates.xlsx"),
        (b"day,base,quote,rate\n", "rates.csv"),
        (b"day,base,quote,rate\n2026-03-02,EUR,USD,1\n", "rates.pdf"),
    ],
)
async def test_an_unreadable_file_is_a_422(client: httpx.AsyncClient, content: bytes, name: str) -> None:
    tenant = await create_tenant(client)
    response = await upload(client, tenant, content, name=name)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "validation_failed"


async def test_another_tenants_rates_are_not_listed(client: httpx.AsyncClient) -> None:
    a, b = await create_tenant(client), await create_tenant(client)
    assert (await client.post(URL, headers=a.headers, json={"rates": [rate()]})).status_code == 200
    assert (await stored(client, b))["total"] == 0
    assert (await stored(client, a))["total"] == 1


async def test_a_viewer_lists_rates_but_cannot_load_them(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    _, viewer = await invite_and_activate(client, tenant, role="viewer")
    assert (await client.post(URL, headers=viewer, json={"rates": [rate()]})).status_code == 403
    assert (await client.get(URL, headers=viewer)).status_code == 200


async def test_the_reporting_currency_is_set_validated_and_cleared(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    me = "/api/v1/tenants/me"
    assert (await client.get(me, headers=tenant.headers)).json()["reporting_currency"] is None
    response = await client.patch(me, headers=tenant.headers, json={"reporting_currency": "eur"})
    assert response.status_code == 200 and response.json()["reporting_currency"] == "EUR"
    for bad in ("XYZ", "EURO", 7):
        refused = await client.patch(me, headers=tenant.headers, json={"reporting_currency": bad})
        assert refused.status_code == 422, refused.text
        assert problem_locations(refused.json()["error"])[0] == ["body", "reporting_currency"]
    assert (await client.get(me, headers=tenant.headers)).json()["reporting_currency"] == "EUR"
    # Other fields leave it alone; null clears it (while a null name still changes nothing).
    renamed = await client.patch(
        me, headers=tenant.headers, json={"name": "Renamed", "reporting_currency": None}
    )
    assert renamed.status_code == 200
    assert (renamed.json()["name"], renamed.json()["reporting_currency"]) == ("Renamed", None)
    kept = await client.patch(me, headers=tenant.headers, json={"name": None})
    assert kept.json()["name"] == "Renamed"


async def test_an_upload_cell_with_nul_is_named_and_nothing_is_stored(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    response = await upload(client, tenant, b"day,base,quote,rate\n2026-03-02,E\x00R,USD,1\n")
    assert response.status_code == 422, response.text
    (error,) = response.json()["error"]["details"]["problems"]
    assert (error["row"], error["column"]) == (2, "base")
    assert (await stored(client, tenant))["total"] == 0
