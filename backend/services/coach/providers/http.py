"""The one HTTP call every remote provider makes, with errors mapped to provider errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx

from backend.services.coach.providers.base import ProviderError, ProviderTimeout
from backend.utils.observability import outbound_http_span, record_http_status


def _span_attributes(provider: str, payload: dict[str, Any]) -> dict[str, str]:
    """Provider and model for the client span (never the prompt)."""
    model = payload.get("model")
    return {"gen_ai.system": provider, **({"gen_ai.request.model": model} if isinstance(model, str) else {})}


async def post_json(client: httpx.AsyncClient, provider: str, path: str, payload: dict[str, Any]) -> Any:
    """POST ``payload`` and return the decoded JSON body; timeouts and failures raise provider errors.

    Error bodies are not echoed: they can quote the prompt, and the message ends up in logs.
    The call is a client span (provider and model, never the prompt).
    """
    attributes = _span_attributes(provider, payload)
    request = client.build_request("POST", path, json=payload)
    with outbound_http_span("POST", request.url, attributes=attributes) as span:
        try:
            response = await client.send(request)
        except httpx.TimeoutException as error:
            raise ProviderTimeout(provider, f"no answer within {client.timeout.read}s") from error
        except httpx.HTTPError as error:
            raise ProviderError(provider, f"request failed ({type(error).__name__})") from error
        record_http_status(span, response.status_code)
    if response.status_code >= 400:
        raise ProviderError(provider, f"HTTP {response.status_code} from {path}")
    try:
        return response.json()
    except ValueError as error:
        raise ProviderError(provider, f"{path} returned a body that is not JSON") from error


async def post_stream(
    client: httpx.AsyncClient, provider: str, path: str, payload: dict[str, Any]
) -> AsyncIterator[str]:
    """POST ``payload`` and yield the streamed response line by line (NDJSON or SSE).

    The same error mapping as ``post_json``; a connection that fails mid-stream is a provider
    error too, so the router can fall back (after telling the client to discard the partial text).
    """
    attributes = _span_attributes(provider, payload)
    request = client.build_request("POST", path, json=payload)
    with outbound_http_span("POST", request.url, attributes=attributes) as span:
        try:
            response = await client.send(request, stream=True)
        except httpx.TimeoutException as error:
            raise ProviderTimeout(provider, f"no answer within {client.timeout.read}s") from error
        except httpx.HTTPError as error:
            raise ProviderError(provider, f"request failed ({type(error).__name__})") from error
        record_http_status(span, response.status_code)
        try:
            if response.status_code >= 400:
                raise ProviderError(provider, f"HTTP {response.status_code} from {path}")
            async for line in response.aiter_lines():
                if line.strip():
                    yield line
        except httpx.TimeoutException as error:
            raise ProviderTimeout(provider, f"the stream stalled for {client.timeout.read}s") from error
        except httpx.HTTPError as error:
            raise ProviderError(provider, f"the stream broke ({type(error).__name__})") from error
        finally:
            await response.aclose()


def require(provider: str, condition: bool, what: str) -> None:
    if not condition:
        raise ProviderError(provider, f"malformed response: {what}")
