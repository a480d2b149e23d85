"""One frequency vocabulary (day, week, month, quarter, year) on every endpoint; pandas codes as aliases."""

from __future__ import annotations

import httpx
import pytest

from backend.schemas.mmm import MmmCreate
from backend.services.evidence.types import TableReport
from backend.utils.frequency import ALIASES, FREQUENCIES, normalise, pandas_code, vocabulary_of
from tests.factories import create_forecast, create_tenant
from tests.routes.test_evidence import _seeded_tenant as _evidence_tenant
from tests.routes.test_forecaster import _seeded_tenant as _forecast_tenant

VOCABULARY = ["day", "week", "month", "quarter", "year"]


async def _granger(client: httpx.AsyncClient, headers: dict[str, str], frequency: str) -> httpx.Response:
    body = {"cause": "ad_spend", "effect": "revenue", "max_lag": 2, "frequency": frequency}
    return await client.post("/api/v1/evidence/granger", json=body, headers=headers)


def test_aliases_map_to_the_vocabulary_and_back_to_pandas_codes() -> None:
    assert list(FREQUENCIES) == VOCABULARY
    assert {normalise(code) for code in ("D", "W", "W-MON", "MS", "M", "QS", "Q", "YS", "A")} == set(
        VOCABULARY
    )
    assert normalise("Month") == "month" and normalise("fortnight") == "fortnight"
    assert [pandas_code(word) for word in VOCABULARY] == ["D", "W-MON", "MS", "QS-JAN", "YS-JAN"]
    assert all(normalise(alias) == word for alias, word in ALIASES.items())
    # Results stored before the vocabulary read in it.
    assert vocabulary_of("MS") == "month" and vocabulary_of("W-MON") == "week"
    report = TableReport.model_validate(
        {
            "frequency": "D",
            "rows": 1,
            "start": None,
            "end": None,
            "columns": [],
            "buckets_seen": 1,
            "dropped_rows": 0,
            "dropped_by_column": {},
            "treatment_lag_columns": [],
        }
    )
    assert report.frequency == "day"


async def test_evidence_takes_the_vocabulary_and_answers_in_it_whatever_the_spelling(
    client: httpx.AsyncClient,
) -> None:
    tenant = await _evidence_tenant(client)
    by_word = await _granger(client, tenant.headers, "day")
    by_alias = await _granger(client, tenant.headers, "D")
    assert by_word.status_code == by_alias.status_code == 200, (by_word.text, by_alias.text)
    assert by_word.json()["table"]["frequency"] == by_alias.json()["table"]["frequency"] == "day"
    assert by_word.json()["lags"] == by_alias.json()["lags"]
    # 150 days are 22 weeks: too few for the test either way, the same answer by word or by alias.
    weekly = await _granger(client, tenant.headers, "week")
    weekly_alias = await _granger(client, tenant.headers, "W-MON")
    assert weekly.status_code == weekly_alias.status_code == 422
    assert weekly.json()["error"]["details"] == weekly_alias.json()["error"]["details"]
    assert weekly.json()["error"]["details"]["problems"][0]["observations"] == 22


@pytest.mark.parametrize("frequency", ["fortnight", "W-SUN", "2D", "h"])
async def test_an_unknown_frequency_is_a_422_listing_the_vocabulary(
    client: httpx.AsyncClient, frequency: str
) -> None:
    tenant = await create_tenant(client)  # refused before any read
    response = await _granger(client, tenant.headers, frequency)
    assert response.status_code == 422, response.text
    error = response.json()["error"]["details"]["problems"][0]
    assert error["field"].split(".")[-1] == "frequency"
    assert all(f"'{word}'" in error["message"] for word in VOCABULARY), error


def test_marketing_mix_takes_day_or_week_and_their_aliases() -> None:
    base = {"outcome": "revenue", "channels": ["ad_spend"]}
    assert MmmCreate.model_validate({**base, "frequency": "W"}).frequency == "week"
    assert MmmCreate.model_validate({**base, "frequency": "D"}).to_spec().frequency == "day"
    assert MmmCreate.model_validate(base).frequency == "day"
    with pytest.raises(ValueError, match="'day' or 'week'"):
        MmmCreate.model_validate({**base, "frequency": "month"})


async def test_the_forecaster_takes_a_pandas_alias_and_answers_in_the_vocabulary(
    client: httpx.AsyncClient,
) -> None:
    tenant = await _forecast_tenant(client)
    created = await create_forecast(client, tenant.headers, metric="revenue", horizon=2, frequency="MS")
    assert created["frequency"] == "month"
    refused = await client.post(
        "/api/v1/forecasts",
        headers=tenant.headers,
        json={"metric": "revenue", "horizon": 2, "frequency": "monthly"},
    )
    assert refused.status_code == 422 and "'quarter'" in refused.text


async def test_metric_buckets_take_the_aliases_too(client: httpx.AsyncClient) -> None:
    tenant = await _forecast_tenant(client)
    by_alias = await client.get("/api/v1/metrics/revenue", headers=tenant.headers, params={"bucket": "QS"})
    by_word = await client.get(
        "/api/v1/metrics/revenue", headers=tenant.headers, params={"bucket": "quarter"}
    )
    assert by_alias.status_code == 200, by_alias.text
    assert by_alias.json()["bucket"] == "quarter" and by_alias.json()["series"] == by_word.json()["series"]


async def test_openapi_documents_the_aliases(client: httpx.AsyncClient) -> None:
    schemas = (await client.get("/openapi.json")).json()["components"]["schemas"]
    granger = schemas["GrangerCreate"]["properties"]["frequency"]
    assert granger["enum"] == VOCABULARY and "MS → month" in granger["description"]
