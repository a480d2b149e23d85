"""FastAPI dependencies, as ``Annotated`` aliases that read like types.

    async def list_users(session: TenantSession, principal: AdminPrincipal, page: PageParams) -> ...

The chain per request: the presented credential (JWT or API key) names a tenant → one
``AsyncSession`` bound to that tenant (RLS) that commits when the endpoint returns and
rolls back on error, *before* the response is sent → the database confirms the caller.

Every dependency here is ``async def``, even the ones that never await: FastAPI runs plain
``def`` dependencies in a worker thread, a hand-off that costs more than the work.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Annotated, Any

import structlog
from fastapi import Depends, Query, Request
from fastapi.security import APIKeyHeader, OAuth2PasswordBearer
from sqlalchemy.ext.asyncio import AsyncSession

from backend.config import Settings
from backend.models import Role
from backend.services.auth.service import (
    Credential,
    Principal,
    confirm_principal,
    credential_from_bearer,
    credential_from_stream_ticket,
)
from backend.services.errors import Forbidden, Unauthorized
from backend.services.workload import Requester
from backend.utils.compute import ComputePool
from backend.utils.database import Database
from backend.utils.rate_limit import RateLimiter
from backend.utils.repository import PageWindow
from backend.utils.tenant_slots import TenantSlots

_oauth2 = OAuth2PasswordBearer(
    tokenUrl="/api/v1/auth/login",
    auto_error=False,
    scheme_name="OAuth2Password",
    description="Sign in with email (as username) and password; the access token lasts minutes.",
)
_api_key_header = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    scheme_name="ApiKey",
    description="An API key (dyo_…) for scripts; also accepted as 'Authorization: Bearer dyo_…'.",
)


def _app_state(attribute: str) -> Callable[[Request], Awaitable[Any]]:
    """A dependency returning ``app.state.<attribute>``, which the lifespan built; aliases give its type."""

    async def dependency(request: Request) -> Any:
        return getattr(request.app.state, attribute)

    dependency.__name__ = f"get_{attribute}"
    return dependency


AppSettings = Annotated[Settings, Depends(_app_state("settings"))]
AppDatabase = Annotated[Database, Depends(_app_state("database"))]
AppRateLimiter = Annotated[RateLimiter, Depends(_app_state("rate_limiter"))]
AppComputePool = Annotated[ComputePool, Depends(_app_state("compute_pool"))]


def request_ip(request: Request, settings: Settings) -> str:
    """The caller's IP; X-Forwarded-For only counts behind a trusted proxy.

    The last entry is the one the proxy itself appended (nginx's ``$proxy_add_x_forwarded_for``);
    the entries before it are whatever the client sent, so they never count. With trust off,
    the server does not rewrite the peer address either (``python -m backend.server``).
    """
    if settings.trust_forwarded_for:
        forwarded = request.headers.get("x-forwarded-for", "")
        last = forwarded.rsplit(",", 1)[-1].strip()
        if last:
            return last
    return request.client.host if request.client else "unknown"


async def client_ip(request: Request, settings: AppSettings) -> str:
    return request_ip(request, settings)


ClientIp = Annotated[str, Depends(client_ip)]


@dataclass(frozen=True)
class Guest:
    """What an endpoint called without a credential (sign-up, sign-in, token refresh, activation,
    password reset) works with: its attempts are rate limited by the caller's address."""

    settings: Settings
    database: Database
    limiter: RateLimiter
    ip: str


async def get_guest(
    settings: AppSettings, database: AppDatabase, limiter: AppRateLimiter, ip: ClientIp
) -> Guest:
    return Guest(settings, database, limiter, ip)


GuestCaller = Annotated[Guest, Depends(get_guest)]


# The credential and the tenant session read app.state themselves instead of depending on
# AppDatabase, AppSettings, AppRateLimiter and ClientIp: FastAPI works out a cache key (walking
# the sub-tree for security scopes) for every node of a request's dependency tree, and on the
# authenticated path those four nodes, met twice, cost more CPU than the rest of a short read.
async def get_credential(
    request: Request,
    bearer: Annotated[str | None, Depends(_oauth2)],
    api_key: Annotated[str | None, Depends(_api_key_header)],
) -> Credential:
    token = api_key or bearer
    if not token:
        raise Unauthorized("Authentication required: send 'Authorization: Bearer <token>' or 'X-API-Key'")
    state = request.app.state
    settings: Settings = state.settings
    ip = request_ip(request, settings)
    limiter: RateLimiter = state.rate_limiter
    return await credential_from_bearer(state.database, settings.auth, limiter, token, client_ip=ip)


def _unit_of_work(database: Database, credential: Credential) -> AbstractAsyncContextManager[AsyncSession]:
    """The request's transaction in the caller's tenant (which the logs then name)."""
    structlog.contextvars.bind_contextvars(tenant_id=str(credential.tenant_id))
    return database.tenant_session(credential.tenant_id)


async def get_tenant_session(
    request: Request, credential: Annotated[Credential, Depends(get_credential)]
) -> AsyncIterator[AsyncSession]:
    async with _unit_of_work(request.app.state.database, credential) as session:
        yield session


# scope="function": commit (or roll back) before the response goes out, so a failed
# commit is a 500 the client sees, never a 200 for lost work.
TenantSession = Annotated[AsyncSession, Depends(get_tenant_session, scope="function")]


async def get_principal(
    session: TenantSession, credential: Annotated[Credential, Depends(get_credential)]
) -> Principal:
    return await confirm_principal(session, credential)


CurrentPrincipal = Annotated[Principal, Depends(get_principal, scope="function")]


async def get_stream_ticket_credential(
    settings: AppSettings,
    ticket: Annotated[
        str,
        Query(
            min_length=1,
            max_length=2000,
            description="A stream ticket from `POST /api/v1/coach/chat/stream/tickets` (it lives "
            "seconds and opens only this stream; an access token is refused here).",
        ),
    ],
) -> Credential:
    """The caller of a browser EventSource, which cannot send an Authorization header."""
    return credential_from_stream_ticket(settings.auth, ticket)


async def get_ticket_session(
    database: AppDatabase, credential: Annotated[Credential, Depends(get_stream_ticket_credential)]
) -> AsyncIterator[AsyncSession]:
    async with _unit_of_work(database, credential) as session:
        yield session


TicketSession = Annotated[AsyncSession, Depends(get_ticket_session, scope="function")]


async def get_ticket_principal(
    session: TicketSession, credential: Annotated[Credential, Depends(get_stream_ticket_credential)]
) -> Principal:
    return await confirm_principal(session, credential)


# Only the coach's GET stream takes these: everywhere else a ticket is not a credential.
TicketPrincipal = Annotated[Principal, Depends(get_ticket_principal, scope="function")]
PresentedCredential = Annotated[Credential, Depends(get_credential)]


async def tenant_write_slot(request: Request, credential: PresentedCredential) -> AsyncIterator[None]:
    """Wait for one of the tenant's write slots in this process (``TENANT_WRITES_IN_FLIGHT``),
    before the request opens its transaction, and hold it until the transaction has ended."""
    slots: TenantSlots = request.app.state.tenant_write_slots
    async with slots.hold(credential.tenant_id):
        yield


# Declare it before the session: a request waiting for its turn holds no connection.
TenantWriteSlot = Annotated[None, Depends(tenant_write_slot, scope="function")]


def require_role(minimum: Role) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency that lets through callers whose role is at least ``minimum``."""

    async def check(principal: CurrentPrincipal) -> Principal:
        if not principal.role.at_least(minimum):
            raise Forbidden(
                f"This action needs the '{minimum}' role or higher", context={"your_role": principal.role}
            )
        return principal

    return check


AnalystPrincipal = Annotated[Principal, Depends(require_role(Role.ANALYST), scope="function")]
AdminPrincipal = Annotated[Principal, Depends(require_role(Role.ADMIN), scope="function")]
OwnerPrincipal = Annotated[Principal, Depends(require_role(Role.OWNER), scope="function")]


@dataclass(frozen=True)
class ComputeRequest:
    """An analyst's request for a computation that may run now or queue: the tenant's session, the
    compute pool, and the caller."""

    session: AsyncSession
    principal: Principal
    pool: ComputePool

    def requester(self, wants_job: bool) -> Requester:
        """The caller as the workload kit sees them: who asks, and whether they asked for a job."""
        return Requester(self.principal.user_id, wants_job=wants_job)


async def get_compute_request(
    session: TenantSession, principal: AnalystPrincipal, pool: AppComputePool
) -> ComputeRequest:
    return ComputeRequest(session, principal, pool)


AnalystCompute = Annotated[ComputeRequest, Depends(get_compute_request)]


# Deep offsets scan and discard every skipped row; past this, filter (start/end, status) instead.
MAX_OFFSET = 1_000_000


async def pagination(
    limit: Annotated[int, Query(ge=1, le=200, description="Page size.")] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Items to skip.")] = 0,
) -> PageWindow:
    return PageWindow(limit=limit, offset=offset)


PageParams = Annotated[PageWindow, Depends(pagination)]
