"""The one HTTP call every remote provider makes, with errors mapped to provider errors."""

from __future__ import annotations

from typing import Any

import httpx

from backend.services.coach.providers.base import ProviderError, ProviderTimeout


async def post_json(client: httpx.AsyncClient, provider: str, path: str, payload: dict[str, Any]) -> Any:
    """POST ``payload`` and return the decoded JSON body; timeouts and failures raise provider errors.

    Error bodies are not echoed: they can quote the prompt, and the message ends up in logs.
    """
    try:
        response = await client.post(path, json=payload)
    except httpx.TimeoutException as error:
        raise ProviderTimeout(provider, f"no answer within {client.timeout.read}s") from error
    except httpx.HTTPError as error:
        raise ProviderError(provider, f"request failed ({type(error).__name__})") from error
    if response.status_code >= 400:
        raise ProviderError(provider, f"HTTP {response.status_code} from {path}")
    try:
        return response.json()
    except ValueError as error:
        raise ProviderError(provider, f"{path} returned a body that is not JSON") from error


def require(provider: str, condition: bool, what: str) -> None:
    if not condition:
        raise ProviderError(provider, f"malformed response: {what}")
