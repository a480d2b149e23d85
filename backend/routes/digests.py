"""Insight digests: your daily or weekly email of the insights in the metrics you follow.

The unsubscribe endpoints take no sign-in: the signed token in the email's link names the person.
The GET shows a confirmation page (mail scanners prefetch links); the POST, from that page or from
a mail client's one-click unsubscribe (RFC 8058), turns the digest off.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status
from fastapi.responses import HTMLResponse, JSONResponse

from backend.dependencies import AppDatabase, AppSettings, CurrentPrincipal, TenantSession
from backend.routes.jobs import job_accepted
from backend.schemas.insights import DigestChoice, DigestRead, UnsubscribeRead
from backend.schemas.jobs import JobAccepted
from backend.services.insights import digest
from backend.services.workload import Queued
from backend.utils.error_handlers import error_responses

router = APIRouter(prefix="/api/v1/insights/digest", tags=["insights"])

UnsubscribeToken = Annotated[
    str, Query(min_length=20, max_length=2_000, description="The token of the email's unsubscribe link.")
]


@router.get("", summary="Your digest choice", responses=error_responses(401))
async def get_digest(session: TenantSession, principal: CurrentPrincipal) -> DigestRead:
    """`off` until you choose `daily` or `weekly`; and the local day the last digest went out."""
    found = await digest.subscription(session, principal.actor_id)
    if found is None:
        return DigestRead(frequency="off", last_sent_on=None)
    return DigestRead.model_validate(found, from_attributes=True)


@router.put("", summary="Choose a daily or weekly digest, or none", responses=error_responses(401, 422))
async def choose_digest(
    body: DigestChoice, session: TenantSession, principal: CurrentPrincipal
) -> DigestRead:
    """The digest is an email to your address, each morning (`daily`) or Monday morning (`weekly`) in the
    tenant's time zone, with the insights found in the metrics you follow and a chart of each. `off`
    stops it."""
    found = await digest.choose(session, principal.actor_id, body.frequency)
    return DigestRead.model_validate(found, from_attributes=True)


@router.post(
    "/send",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Send your digest now",
    responses={202: {"model": JobAccepted, "description": "Queued"}, **error_responses(401, 409, 422)},
)
async def send_digest_now(session: TenantSession, principal: CurrentPrincipal) -> JSONResponse:
    """Queues today's digest for you (what the schedule sends, with your current choice; 422 while it is
    `off`). It goes out once a day: if today's was sent already, the job reports `already_sent`.
    202 with the job; 409 while one is still waiting."""
    job_id = await digest.queue_mine(session, principal.actor_id)
    return job_accepted(Queued(job_id, reason="digests are sent by a job"))


_CONFIRM_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>Unsubscribe</title></head>
<body><p>Stop the insight digest emails?</p>
<form method="post"><input type="hidden" name="List-Unsubscribe" value="One-Click">
<button type="submit">Unsubscribe</button></form></body></html>"""


@router.get(
    "/unsubscribe",
    response_model=None,
    summary="The unsubscribe link's confirmation page (no sign-in)",
    responses={
        200: {"description": "A page with the unsubscribe button", "content": {"text/html": {}}},
        **error_responses(422),
    },
)
async def unsubscribe_page(token: UnsubscribeToken, settings: AppSettings) -> HTMLResponse:
    """Checks the link (422 `invalid_unsubscribe_link` for a forged or expired one) and shows a button that
    posts to the same address; nothing changes on GET, so link scanners do not unsubscribe anyone."""
    digest.read_unsubscribe_token(settings, token)
    return HTMLResponse(_CONFIRM_PAGE)


@router.post(
    "/unsubscribe",
    summary="Unsubscribe from digests with the email's link (no sign-in; RFC 8058 one-click)",
    responses=error_responses(404, 422),
)
async def unsubscribe(
    token: UnsubscribeToken, settings: AppSettings, database: AppDatabase
) -> UnsubscribeRead:
    """Sets the digest of the person the signed token names to `off` (repeating it changes nothing). 422
    `invalid_unsubscribe_link` for a forged or expired token; 404 when that person no longer exists."""
    who = digest.read_unsubscribe_token(settings, token)
    async with database.tenant_session(who.tenant_id) as session:
        await digest.unsubscribe(session, who.user_id)
    return UnsubscribeRead(frequency="off", message="You will get no more digests.")
