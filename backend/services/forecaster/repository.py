"""Queries of the forecaster feature."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from backend.models import Forecast
from backend.services.forecaster.types import ForecastDocument, ForecastInputs, ForecastScores
from backend.utils.database import session_tenant
from backend.utils.repository import PageWindow, paginate, tenant_select, where_given


async def add(
    session: AsyncSession,
    forecast: Forecast,
    *,
    inputs: ForecastInputs,
    result: ForecastDocument,
    scores: ForecastScores,
) -> None:
    """Store a forecast; the only writer of its JSON columns (``set_scores`` aside)."""
    forecast.tenant_id = session_tenant(session)
    forecast.inputs = inputs.model_dump(mode="json")
    forecast.result = result.model_dump(mode="json")
    set_scores(forecast, scores)
    session.add(forecast)
    await session.flush()
    await session.refresh(forecast)


def set_scores(forecast: Forecast, scores: ForecastScores) -> None:
    forecast.scores = scores.model_dump(mode="json")


def inputs_of(forecast: Forecast) -> ForecastInputs:
    """The typed ``inputs`` of a stored forecast; the only reader of that column."""
    return ForecastInputs.model_validate(forecast.inputs)


def result_of(forecast: Forecast) -> ForecastDocument:
    """The typed ``result`` of a stored forecast; the only reader of that column."""
    return ForecastDocument.model_validate(forecast.result)


def scores_of(forecast: Forecast) -> ForecastScores:
    """The typed ``scores`` of a stored forecast; the only reader of that column."""
    return ForecastScores.model_validate(forecast.scores)


async def list_forecasts(
    session: AsyncSession, window: PageWindow, *, metric: str | None
) -> tuple[list[Forecast], int]:
    statement = where_given(tenant_select(session, Forecast), (Forecast.metric, metric))
    order = (Forecast.created_at.desc(), Forecast.id)
    return await paginate(session, statement, order_by=order, window=window)
