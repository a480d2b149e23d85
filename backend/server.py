"""Serve the API: ``python -m backend.server [--host H] [--port P] [--reload] [--workers N]``.

uvicorn on its own rewrites the client address from ``X-Forwarded-For`` for requests from
127.0.0.1 (``proxy_headers`` on, ``forwarded_allow_ips=127.0.0.1``), before the app sees
it: a client on the same host could then pick the address every per-IP limit keys on,
whatever ``TRUST_FORWARDED_FOR`` says. This launcher makes the server's trust follow the
settings: proxy headers only with ``TRUST_FORWARDED_FOR=true``, and only from
``FORWARDED_ALLOW_IPS``.
"""

from __future__ import annotations

import argparse
from typing import Any

import uvicorn

from backend.config import Settings, get_settings

APP = "backend.main:app"


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """The server options that follow the app's settings (proxy-header trust)."""
    if not settings.trust_forwarded_for:
        return {"proxy_headers": False}
    return {"proxy_headers": True, "forwarded_allow_ips": settings.forwarded_allow_ips}


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m backend.server", description="Serve the API; proxy-header trust follows the settings."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--reload", action="store_true", help="Restart on code changes (development).")
    parser.add_argument("--reload-dir", action="append", dest="reload_dirs", help="Watch this directory.")
    parser.add_argument(
        "--workers", type=int, default=None, help="Processes (default: $WEB_CONCURRENCY or 1)."
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    arguments = _arguments(argv)
    uvicorn.run(
        APP,
        host=arguments.host,
        port=arguments.port,
        reload=arguments.reload,
        reload_dirs=arguments.reload_dirs,
        workers=arguments.workers,
        **uvicorn_options(get_settings()),
    )


if __name__ == "__main__":
    main()
