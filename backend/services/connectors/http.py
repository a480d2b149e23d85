"""Outbound HTTP for connectors: timeouts, retries with exponential backoff and jitter on 5xx
and network errors, ``429 Retry-After`` honoured, no retry on other 4xx, and a clear error.

Errors name the host, path and status — never the query string or headers, which may
carry credentials. Redirects are followed by hand so every hop passes the address check
(no SSRF into private networks unless ``CONNECTOR_ALLOW_PRIVATE_NETWORKS``).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import random
import socket
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import structlog

from backend.config import ConnectorSettings
from backend.services.errors import OperationFailed
from backend.utils.observability import outbound_http_span, record_http_status

logger = structlog.get_logger(__name__)
# httpx logs every request URL at INFO, query string included (where some APIs take keys).
logging.getLogger("httpx").setLevel(logging.WARNING)

MAX_REDIRECTS = 5
BODY_EXCERPT_CHARS = 300
USER_AGENT = "Dyocense-Connector/1.0"


class ConnectorError(OperationFailed):
    """A sync or test failed for a reason the user can act on; ``retryable`` if trying later may help.
    Every raise names its ``code``."""

    default_code = "connector_error"


def safe_url(url: httpx.URL) -> str:
    """Scheme, host, port and path only: queries may hold API keys."""
    return str(url.copy_with(query=None, fragment=None, username=None, password=None))


def backoff_delay(attempt: int, *, base: float, cap: float) -> float:
    """Exponential backoff with 'equal jitter': half fixed, half random, capped."""
    ceiling = min(cap, base * 2**attempt)
    return float(ceiling / 2 + random.uniform(0, ceiling / 2))  # noqa: S311 - jitter, not cryptography


def retry_after_seconds(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


async def check_address_allowed(host: str, port: int) -> None:
    """Refuse hosts that resolve to loopback, private, link-local or reserved addresses."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise ConnectorError(
            f"cannot resolve host {host!r}", code="host_not_found", context={"host": host}, retryable=True
        ) from error
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            raise ConnectorError(
                f"host {host!r} resolves to a non-public address; connectors only reach public hosts",
                code="address_not_allowed",
                context={"host": host},
            )


class ConnectorHttp:
    def __init__(
        self,
        settings: ConnectorSettings,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self._sleep = sleep
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(settings.http_timeout_seconds),
            follow_redirects=False,
            headers={"User-Agent": USER_AGENT},
            transport=transport,
        )
        self.requests_made = 0
        self.retries = 0

    async def __aenter__(self) -> ConnectorHttp:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._client.aclose()

    async def get(
        self,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        auth: httpx.BasicAuth | None = None,
    ) -> httpx.Response:
        request_url = httpx.URL(url, params=params) if params else httpx.URL(url)
        for _ in range(MAX_REDIRECTS + 1):
            response = await self._get_with_retries(request_url, headers=headers, auth=auth)
            if response.is_redirect and "location" in response.headers:
                request_url = request_url.join(response.headers["location"])
                continue
            return response
        raise ConnectorError(f"too many redirects from {safe_url(request_url)}", code="too_many_redirects")

    async def _get_with_retries(
        self, url: httpx.URL, *, headers: Mapping[str, str] | None, auth: httpx.BasicAuth | None
    ) -> httpx.Response:
        if url.scheme not in ("http", "https"):
            raise ConnectorError("only http and https URLs are supported", code="invalid_url")
        if not self.settings.allow_private_networks:
            await check_address_allowed(url.host, url.port or (443 if url.scheme == "https" else 80))
        attempts = self.settings.http_max_retries + 1
        for attempt in range(attempts):
            last = attempt == attempts - 1
            try:
                self.requests_made += 1
                # One client span per attempt; a retry carries its number (http.request.resend_count).
                with outbound_http_span(
                    "GET", url, attributes={"http.request.resend_count": attempt} if attempt else None
                ) as span:
                    response = await self._client.get(url, headers=headers, auth=auth)
                    record_http_status(span, response.status_code)
            except httpx.TimeoutException as error:
                if last:
                    raise ConnectorError(
                        f"{safe_url(url)} did not answer within {self.settings.http_timeout_seconds:g} s "
                        f"({attempts} attempts)",
                        code="upstream_timeout",
                        context={"url": safe_url(url), "attempts": attempts},
                        retryable=True,
                    ) from error
                await self._back_off(attempt, url, reason="timeout")
                continue
            except httpx.TransportError as error:
                if last:
                    raise ConnectorError(
                        f"cannot reach {safe_url(url)}: {type(error).__name__} ({attempts} attempts)",
                        code="upstream_unreachable",
                        context={"url": safe_url(url), "attempts": attempts},
                        retryable=True,
                    ) from error
                await self._back_off(attempt, url, reason=type(error).__name__)
                continue
            status = response.status_code
            if status == 429 or status >= 500:
                if last:
                    raise self._status_error(response, attempts=attempts)
                if status == 429:
                    wait = retry_after_seconds(response.headers.get("retry-after"))
                    if wait is not None:
                        if wait > self.settings.http_retry_after_max_seconds:
                            raise ConnectorError(
                                f"{url.host} asked to retry after {wait:.0f} s, longer than allowed "
                                f"({self.settings.http_retry_after_max_seconds:.0f} s); "
                                "the sync will be retried",
                                code="rate_limited",
                                context={"url": safe_url(url), "retry_after_seconds": wait},
                                retryable=True,
                            )
                        self.retries += 1
                        logger.info("connector_http_retry", host=url.host, status=429, wait_seconds=wait)
                        await self._sleep(wait)
                        continue
                await self._back_off(attempt, url, reason=str(status))
                continue
            if status >= 400:
                raise self._status_error(response, attempts=attempt + 1)
            return response
        raise AssertionError("unreachable")  # the loop returns or raises

    async def _back_off(self, attempt: int, url: httpx.URL, *, reason: str) -> None:
        delay = backoff_delay(
            attempt, base=self.settings.http_backoff_base_seconds, cap=self.settings.http_backoff_max_seconds
        )
        self.retries += 1
        logger.info("connector_http_retry", host=url.host, reason=reason, wait_seconds=round(delay, 3))
        await self._sleep(delay)

    @staticmethod
    def _status_error(response: httpx.Response, *, attempts: int) -> ConnectorError:
        url = response.request.url
        status = response.status_code
        excerpt = response.text[:BODY_EXCERPT_CHARS] if response.content else ""
        hint = {
            401: "the credentials were rejected",
            403: "the credentials do not allow this",
            404: "the resource does not exist",
            429: "rate limited",
        }.get(status, "server error" if status >= 500 else "request rejected")
        return ConnectorError(
            f"{safe_url(url)} answered {status} ({hint})"
            + (f" after {attempts} attempts" if status >= 500 or status == 429 else ""),
            code="upstream_error" if status >= 500 or status == 429 else "upstream_rejected",
            context={"url": safe_url(url), "status": status, "attempts": attempts, "body": excerpt},
            retryable=status >= 500 or status == 429,
        )
