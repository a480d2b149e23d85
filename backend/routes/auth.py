"""Sign-in, token refresh and logout, activation, and who am I."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from fastapi import APIRouter, BackgroundTasks, Request, status
from pydantic import ValidationError

from backend.config import Settings
from backend.dependencies import (
    AppDatabase,
    AppRateLimiter,
    AppSettings,
    CurrentPrincipal,
    Guest,
    GuestCaller,
    TenantSession,
)
from backend.routes import examples
from backend.schemas.auth import (
    ActivateRequest,
    LoginRequest,
    MeResponse,
    PasswordChange,
    PasswordResetAccepted,
    PasswordResetConfirm,
    PasswordResetRequest,
    RefreshRequest,
    TokenResponse,
)
from backend.services.auth import password_reset, service
from backend.services.auth.service import OneTimeToken, TokenPair
from backend.services.errors import Problem, ValidationFailed
from backend.services.users.service import get_user
from backend.utils.error_handlers import error_responses
from backend.utils.responses import NO_CONTENT

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])

_Result = TypeVar("_Result")

_LOGIN_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "required": ["username", "password"],
                    "properties": {
                        "username": {"type": "string", "description": "Your email"},
                        "password": {"type": "string", "format": "password"},
                        "tenant_id": {"type": "string", "format": "uuid"},
                    },
                },
                "examples": examples.LOGIN_FORM,
            },
            "application/json": {"schema": LoginRequest.model_json_schema(), "examples": examples.LOGIN},
        },
    }
}


def token_response(settings: Settings, tokens: TokenPair) -> TokenResponse:
    expires_in = int((tokens.access_expires_at - datetime.now(UTC)).total_seconds())
    return TokenResponse(
        access_token=tokens.access_token,
        expires_in=max(expires_in, 0),
        refresh_token=tokens.refresh_token,
        refresh_expires_at=tokens.refresh_expires_at,
    )


async def _read_login(request: Request) -> LoginRequest:
    content_type = request.headers.get("content-type", "")
    try:
        if content_type.startswith("application/json"):
            return LoginRequest.model_validate(await request.json())
        form = await request.form()
        return LoginRequest.model_validate(
            {
                "email": form.get("username"),
                "password": form.get("password"),
                "tenant_id": form.get("tenant_id") or None,
            }
        )
    except ValidationError as error:
        raise ValidationFailed(
            "Send email (or OAuth2 'username') and password",
            problems=Problem.from_pydantic(
                error.errors(include_url=False, include_input=False), prefix=["body"]
            ),
        ) from error
    except (ValueError, RecursionError) as error:  # RecursionError: JSON nested too deep
        raise ValidationFailed("The login body is not valid JSON or form data") from error


async def _with_one_time_token(
    flow: Callable[..., Awaitable[_Result]], body: ActivateRequest | PasswordResetConfirm, guest: Guest
) -> _Result:
    """Run a one-time-token flow (activation, password reset): both set the password the body names."""
    presented = OneTimeToken(body.token, body.password, client_ip=guest.ip)
    return await flow(guest.database, guest.settings.auth, guest.limiter, presented)


@router.post(
    "/login",
    summary="Sign in with email and password (OAuth2 password form or JSON)",
    openapi_extra=_LOGIN_BODY,
    responses=error_responses(401, 422, 429),
)
async def login(request: Request, guest: GuestCaller) -> TokenResponse:
    """Send JSON `{email, password}` or the OAuth2 password form (`username` is the email), which Swagger
    UI's Authorize dialog uses. Returns a short-lived access token (send it as `Authorization: Bearer …`)
    and a refresh token. `tenant_id` is needed only when the email belongs to users of several tenants.
    401 for a wrong email or password (the same answer for both); 429 after too many failed attempts from
    the address or for the account (see `Retry-After`)."""
    body = await _read_login(request)
    tokens = await service.login(
        guest.database,
        guest.settings.auth,
        guest.limiter,
        email=str(body.email),
        password=body.password,
        client_ip=guest.ip,
        tenant_id=body.tenant_id,
    )
    return token_response(guest.settings, tokens)


@router.post(
    "/refresh",
    summary="Exchange a refresh token for new tokens (rotation)",
    responses=error_responses(401, 422, 429),
)
async def refresh(body: RefreshRequest, guest: GuestCaller) -> TokenResponse:
    """Each refresh token works once. Presenting a used one revokes every token of that sign-in."""
    tokens = await service.refresh(
        guest.database, guest.settings.auth, guest.limiter, body.refresh_token, client_ip=guest.ip
    )
    return token_response(guest.settings, tokens)


@router.post(
    "/logout",
    **NO_CONTENT,
    summary="Sign out: revoke a refresh token's sign-in and its access tokens",
    responses=error_responses(422),
)
async def logout(body: RefreshRequest, database: AppDatabase) -> None:
    """Revokes the sign-in the refresh token belongs to: that refresh token and the access tokens issued
    with it stop working. No bearer token needed (the refresh token is the credential); an unknown or
    already revoked token also answers 204, so the call can be repeated safely."""
    await service.logout(database, body.refresh_token)


@router.post(
    "/logout-all",
    **NO_CONTENT,
    summary="Sign out everywhere: every access and refresh token of the caller stops working",
    responses=error_responses(401, 403),
)
async def logout_all(session: TenantSession, principal: CurrentPrincipal) -> None:
    """Revokes every sign-in of the calling user (all devices): every refresh and access token stops
    working, this one included. 403 for an API key, which signs in nothing (revoke the key instead)."""
    await service.logout_everywhere(session, principal)


@router.post(
    "/password",
    summary="Change your password (ends every other sign-in; returns fresh tokens)",
    responses=error_responses(401, 403, 422, 429),
)
async def change_password(
    body: PasswordChange,
    session: TenantSession,
    principal: CurrentPrincipal,
    settings: AppSettings,
    limiter: AppRateLimiter,
) -> TokenResponse:
    """Needs the current password (403 `wrong_password` if it is wrong; 429 after repeated failures). Ends
    every other sign-in of the user and returns a fresh token pair for this one. 403 for an API key; 422
    when the new password is too short."""
    tokens = await service.change_password(
        session,
        settings.auth,
        limiter,
        principal,
        current_password=body.current_password,
        new_password=body.new_password,
    )
    return token_response(settings, tokens)


@router.post(
    "/activate",
    summary="Set the first password with a one-time activation token",
    responses=error_responses(401, 422, 429),
)
async def activate(body: ActivateRequest, guest: GuestCaller) -> TokenResponse:
    """For an invited user or an owner who signed up without a password: the one-time token from the
    activation link sets the first password and returns a token pair. 401 for an unknown, used or expired
    token; 422 for a too-short password."""
    tokens = await _with_one_time_token(service.activate, body, guest)
    return token_response(guest.settings, tokens)


@router.post(
    "/password-reset",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Ask for a password reset link by email (same answer whether or not the account exists)",
    responses=error_responses(422, 429),
)
async def request_password_reset(
    body: PasswordResetRequest, guest: GuestCaller, after_response: BackgroundTasks
) -> PasswordResetAccepted:
    """Emails a one-time link (`PUBLIC_APP_URL`/reset-password?token=…) valid for
    `PASSWORD_RESET_TOKEN_MINUTES`, when an active account uses the email and a mail transport
    is configured. Limited per client address and per email. The account is looked up after
    this answer is sent, so the answer and its timing are the same for every email."""
    email = str(body.email)
    await password_reset.limit_reset_requests(
        guest.settings.auth, guest.limiter, email=email, client_ip=guest.ip
    )
    after_response.add_task(
        password_reset.send_reset_link,
        guest.database,
        guest.settings.auth,
        guest.settings.mail,
        email=email,
        tenant_id=body.tenant_id,
    )
    return PasswordResetAccepted()


@router.post(
    "/password-reset/confirm",
    **NO_CONTENT,
    summary="Set a new password with the token of a reset link (ends every sign-in)",
    responses=error_responses(401, 422, 429),
)
async def confirm_password_reset(body: PasswordResetConfirm, guest: GuestCaller) -> None:
    """The token works once and expires. Every refresh and access token of the user stops
    working; sign in with the new password."""
    await _with_one_time_token(password_reset.confirm_password_reset, body, guest)


@router.get("/me", summary="The signed-in caller", responses=error_responses(401))
async def me(session: TenantSession, principal: CurrentPrincipal) -> MeResponse:
    """Who the credential belongs to: user id, email, name, role and tenant, and whether it is an API key
    (then the key's role applies)."""
    user = await get_user(session, principal.actor_id)
    return MeResponse.from_row(principal, user, user_id=user.id, via_api_key=principal.api_key_id is not None)
