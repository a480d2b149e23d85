"""Shapes shared by the coach graph and its agents."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from backend.agents.citations import Citation, display_number, display_percent
from backend.services.auth.service import Principal
from backend.utils.compute import ComputePool

AgentName = Literal["goal_planner", "evidence_analyzer", "forecaster", "optimizer"]
AGENT_NAMES: tuple[AgentName, ...] = ("goal_planner", "evidence_analyzer", "forecaster", "optimizer")
_MESSAGE_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")
AgentStatus = Literal["ok", "needs_input", "unavailable", "not_allowed"]

# Progress events for streaming: ``emit(event_type, payload)``.
Emit = Callable[[str, dict[str, Any]], Awaitable[None]]


async def no_emit(event: str, payload: dict[str, Any]) -> None:
    return None


@dataclass(frozen=True)
class AgentCall:
    """One agent to run with its arguments (from the model's tool call, or parsed from the question)."""

    agent: AgentName
    arguments: dict[str, Any] = field(default_factory=dict)
    call_id: str | None = None


@dataclass
class SuggestedAction:
    """Something the user can do next, as an API call they can accept (nothing is done for them)."""

    label: str
    method: str
    path: str
    body: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"label": self.label, "method": self.method, "path": self.path, "body": self.body}


@dataclass
class AgentResult:
    """What an agent found: report lines (numbers only as cited), structured data, citations, actions."""

    agent: AgentName
    status: AgentStatus
    report: list[str]
    data: dict[str, Any] = field(default_factory=dict)
    citations: list[Citation] = field(default_factory=list)
    suggested_actions: list[SuggestedAction] = field(default_factory=list)
    call_id: str | None = None

    def tool_payload(self) -> dict[str, Any]:
        """The result as the models see it: data, never instructions."""
        return {
            "agent": self.agent,
            "status": self.status,
            "report": self.report,
            "data": self.data,
            "citations": [{k: v for k, v in c.as_dict().items() if k != "source"} for c in self.citations],
        }

    def tool_message_content(self) -> str:
        return json.dumps(self.tool_payload(), default=str)


@dataclass
class AgentDeps:
    """Everything an agent may use: the caller's tenant session (RLS), principal and compute pool.

    Agents call services with this session only, so no tool can reach another tenant's data.
    """

    session: AsyncSession
    principal: Principal
    pool: ComputePool
    today: date
    timezone: str
    emit: Emit = no_emit

    @property
    def tenant_id(self) -> uuid.UUID:
        return self.principal.tenant_id


class Citations:
    """Collects citations while an agent writes its report: ``cite`` returns the text to print."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.items: list[Citation] = []

    def number(
        self,
        value: float,
        *,
        metric: str | None,
        period: str | None,
        method: str,
        unit: str | None = None,
        display: str | None = None,
    ) -> str:
        text = display if display is not None else display_number(value)
        self.items.append(Citation(metric, period, method, float(value), text, self.source, unit))
        return text

    def percent(self, fraction: float, *, metric: str | None, period: str | None, method: str) -> str:
        return self.number(
            fraction * 100,
            metric=metric,
            period=period,
            method=method,
            unit="%",
            display=display_percent(fraction),
        )

    def quote(self, message: str, *, method: str) -> str:
        """A tool's own sentence quoted in a report; each number in it is cited as written to ``method``."""
        for token in _MESSAGE_NUMBER.findall(message):
            try:
                value = float(token.replace(",", ""))
            except ValueError:
                continue
            self.number(value, metric=None, period=None, method=method, display=token)
        return message
