"""The coach's streamed chat, as Server-Sent Events: POST for scripts, GET for a browser EventSource.

A browser ``EventSource`` can only GET and cannot send an ``Authorization`` header, so the GET
stream takes its credential in the URL. Not the access token: URLs land in proxy access logs,
browser history and ``Referer`` headers, and an access token opens the whole API for its
lifetime. The client first POSTs (with its token) for a **stream ticket**: a signed token of
its own type that lives ``STREAM_TICKET_SECONDS`` (60 by default), opens only this stream and is
refused as a bearer token anywhere else. It carries the token's sign-in, so logout ends it too.
Our request log names route templates only, never a query string.

Every event has an ``id:`` ``<session>:<turn>:<n>`` (``<turn>``: answers the session had before
this question); the last one (``final`` or ``error``) ends in ``:end``. When the connection
drops, the EventSource reconnects with ``Last-Event-ID``; the GET stream then never asks the
question again: a turn that was stored is replayed as its ``final`` event (``replayed: true``),
a turn cut off before it was stored gets an ``error`` event ``turn_interrupted``, and a stream
that had ended answers 204, which tells the EventSource to stop reconnecting. A ``: ping``
comment goes out every ``COACH_STREAM_HEARTBEAT_SECONDS`` while agents work.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Body, Header, Query, Response, status
from sqlalchemy.ext.asyncio import AsyncSession
from sse_starlette import EventSourceResponse, ServerSentEvent

from backend.agents.chat import ChatTurn, chat_turn
from backend.agents.runtime import CoachRuntime
from backend.dependencies import (
    AppComputePool,
    AppDatabase,
    AppSettings,
    CurrentPrincipal,
    PresentedCredential,
    TenantSession,
    TicketPrincipal,
    TicketSession,
)
from backend.routes import examples
from backend.routes.coach import Coach, chat_response
from backend.schemas.coach import ChatRequest, ReplayedAnswerRead, StreamTicketRead
from backend.services.auth.service import Principal, issue_stream_ticket
from backend.services.coach import memory
from backend.services.errors import DyocenseError, OperationFailed, ValidationFailed
from backend.utils.compute import ComputePool
from backend.utils.database import Database
from backend.utils.error_handlers import error_responses

logger = structlog.get_logger(__name__)

router = APIRouter(prefix="/api/v1/coach", tags=["coach"], responses=error_responses(401))

_DELTA = re.compile(r"\S+\s*|\s+")
_EVENT_ID = re.compile(
    r"^(?P<session>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}):(?P<turn>\d{1,6}):(?P<n>\d{1,9}|end)$"
)
END = "end"
_STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
_EVENTS = (
    "Events, each with an `id:` `<session>:<turn>:<n>`: `session`, `memory`, `classification`, `agent`, "
    "`tool` (progress), `delta` (the reply as the model writes it, one sentence at a time, each sent "
    "only once every figure in it is backed by a tool result; a templated reply piece by piece), "
    "`reset` (discard the deltas so far: the model failed mid-answer and another one answers, or its "
    "answer used figures no tool returned and is being rewritten), then "
    "`final` (the chat response) or `error`, whose id ends in `:end`. Each `data:` is one JSON object. "
    "A `: ping` comment comes every `COACH_STREAM_HEARTBEAT_SECONDS` while agents work."
)
_EXAMPLE = (
    'id: 5b1f...:0:1\nevent: session\ndata: {"session_id": "5b1f..."}\n\n: ping\n\n'
    'id: 5b1f...:0:9\nevent: delta\ndata: {"text": "Revenue "}\n\n'
    'id: 5b1f...:0:end\nevent: final\ndata: {"session_id": "5b1f...", "reply": "Revenue ...", ...}\n\n'
)


def _stream_responses(*errors: int) -> dict[int | str, dict[str, Any]]:
    return {
        200: {
            "description": _EVENTS,
            "content": {"text/event-stream": {"schema": {"type": "string"}, "example": _EXAMPLE}},
        },
        **error_responses(*errors),
    }


@dataclass
class _EventIds:
    """``<session>:<turn>:<n>``; the session is known from the first (``session``) event on."""

    turn: int
    session: str | None = None
    count: int = 0

    def event(self, name: str, payload: dict[str, Any], *, last: bool = False) -> ServerSentEvent:
        if name == "session":
            self.session = str(payload["session_id"])
        self.count += 1
        event_id = None
        if self.session is not None:
            event_id = f"{self.session}:{self.turn}:{END if last else self.count}"
        return ServerSentEvent(data=json.dumps(payload, default=str), event=name, id=event_id)


def _event_stream(events: AsyncIterator[ServerSentEvent], heartbeat: float) -> EventSourceResponse:
    return EventSourceResponse(
        events,
        headers=_STREAM_HEADERS,
        ping=heartbeat,
        ping_message_factory=lambda: ServerSentEvent(comment="ping"),
        sep="\n",
    )


@router.post(
    "/chat/stream/tickets",
    status_code=status.HTTP_201_CREATED,
    summary="A short-lived ticket for a browser EventSource to open the chat stream",
    responses=error_responses(403),
)
async def create_stream_ticket(
    principal: CurrentPrincipal, credential: PresentedCredential, settings: AppSettings
) -> StreamTicketRead:
    """An `EventSource` cannot send `Authorization`: open `GET /api/v1/coach/chat/stream?ticket=…` with
    this instead. The ticket lives `STREAM_TICKET_SECONDS` (60 s by default), opens only the stream,
    and ends with the sign-in that issued it. Signed-in users only (API-key scripts POST the stream)."""
    ticket, expires = issue_stream_ticket(settings.auth, credential, principal)
    return StreamTicketRead(ticket=ticket, expires_at=expires)


@router.post(
    "/chat/stream",
    response_class=EventSourceResponse,
    summary="Ask the coach, streamed as Server-Sent Events",
    responses=_stream_responses(404, 422),
)
async def chat_with_coach_stream(
    body: Annotated[ChatRequest, Body(openapi_examples=examples.CHAT_STREAM)],
    session: TenantSession,
    principal: CurrentPrincipal,
    database: AppDatabase,
    coach: Coach,
    pool: AppComputePool,
    settings: AppSettings,
) -> EventSourceResponse:
    """The chat turn as it happens. The request's own transaction ends before the body streams, so the
    turn runs in its own tenant unit of work, committed before the `final` event is sent."""
    turn = len(await memory.session_answers(session, body.session_id))  # a 404 before the stream starts
    events = _chat_events(body, principal, database, coach, pool, _EventIds(turn))
    return _event_stream(events, settings.llm.stream_heartbeat_seconds)


@router.get(
    "/chat/stream",
    response_class=EventSourceResponse,
    summary="Ask the coach from a browser EventSource (ticket in the URL, resumable)",
    responses={
        **_stream_responses(404, 422),
        204: {"description": "The stream had ended: stop reconnecting."},
    },
)
async def open_chat_stream(
    session: TicketSession,
    principal: TicketPrincipal,
    database: AppDatabase,
    coach: Coach,
    pool: AppComputePool,
    settings: AppSettings,
    message: Annotated[
        str | None,
        Query(min_length=1, max_length=4000, description="The question (required unless resuming)."),
    ] = None,
    session_id: Annotated[
        uuid.UUID | None, Query(description="Continue a session; omit to start one.")
    ] = None,
    last_event_id: Annotated[
        str | None,
        Header(alias="Last-Event-ID", description="Sent by the EventSource when it reconnects: resume."),
    ] = None,
) -> Response:
    """`new EventSource("/api/v1/coach/chat/stream?ticket=…&message=…")` after
    `POST /api/v1/coach/chat/stream/tickets`. The same events as the POST stream. On a reconnect
    (`Last-Event-ID`) the question is never asked twice: a stored turn is replayed as its `final`
    event (`replayed: true`), a turn cut off before it was stored is an `error` event
    `turn_interrupted` (ask again), and a stream that had ended answers 204."""
    heartbeat = settings.llm.stream_heartbeat_seconds
    if last_event_id is not None:
        return await _resume(session, last_event_id, heartbeat)
    if message is None:
        raise ValidationFailed("message is required (it is the question)", context={"field": "message"})
    body = ChatRequest(message=message, session_id=session_id)
    turn = len(await memory.session_answers(session, session_id))
    return _event_stream(_chat_events(body, principal, database, coach, pool, _EventIds(turn)), heartbeat)


async def _resume(session: AsyncSession, last_event_id: str, heartbeat: float) -> Response:
    match = _EVENT_ID.match(last_event_id.strip().lower())
    if match is None:
        raise ValidationFailed(
            "Last-Event-ID is not an event id of this stream",
            context={"field": "Last-Event-ID", "expected": "<session uuid>:<turn>:<n or end>"},
        )
    if match["n"] == END:
        return Response(status_code=status.HTTP_204_NO_CONTENT)
    session_id, turn = uuid.UUID(match["session"]), int(match["turn"])
    answers = await memory.session_answers(session, session_id)
    ids = _EventIds(turn, session=str(session_id))
    if turn < len(answers):
        stored = answers[turn]
        details = stored.details
        payload = ReplayedAnswerRead.model_validate(
            {
                "session_id": session_id,
                "reply": stored.content,
                "agents": details.get("agents", []),
                "citations": details.get("citations", []),
                "suggested_actions": details.get("suggested_actions", []),
                "usage": details.get("usage", {}),
                "notices": details.get("notices", []),
                "templated": bool(details.get("templated")),
            }
        ).model_dump(mode="json")
        event = ids.event("final", payload, last=True)
    else:
        event = ids.event(
            "error",
            OperationFailed(
                "The answer was cut off before it was stored; ask the question again.",
                code="turn_interrupted",
                context={"session_id": str(session_id)},
            ).as_error(),
            last=True,
        )

    async def replay() -> AsyncIterator[ServerSentEvent]:
        yield event

    return _event_stream(replay(), heartbeat)


async def _chat_events(
    body: ChatRequest,
    principal: Principal,
    database: Database,
    coach: CoachRuntime,
    pool: ComputePool,
    ids: _EventIds,
) -> AsyncIterator[ServerSentEvent]:
    queue: asyncio.Queue[tuple[str, dict[str, object]] | None] = asyncio.Queue()

    async def emit(event: str, payload: dict[str, object]) -> None:
        await queue.put((event, payload))

    async def produce() -> ChatTurn:
        try:
            async with database.tenant_session(principal.tenant_id) as session:
                return await chat_turn(
                    session,
                    principal,
                    coach,
                    pool,
                    body.message,
                    session_id=body.session_id,
                    emit=emit,
                    stream_reply=True,
                )
        finally:
            await queue.put(None)

    task = asyncio.create_task(produce())
    try:
        while (item := await queue.get()) is not None:
            yield ids.event(*item)
        turn = await task
        if not turn.streamed:
            # Templated (offline) replies are not written by a model: piece them out here.
            for piece in _DELTA.findall(turn.reply):
                yield ids.event("delta", {"text": piece})
        yield ids.event("final", chat_response(turn).model_dump(mode="json"), last=True)
    except DyocenseError as error:
        yield ids.event(
            "error", {"code": error.code, "message": error.message, "details": error.details}, last=True
        )
    except Exception:
        logger.exception("coach_stream_failed")
        yield ids.event(
            "error",
            OperationFailed("The coach could not finish this answer.", code="internal_error").as_error(),
            last=True,
        )
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
