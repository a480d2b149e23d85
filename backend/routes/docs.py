"""Swagger UI and ReDoc served from this app, not a CDN.

FastAPI's default pages load their JavaScript from a CDN, so on a machine without
internet access (air-gapped servers, locked-down networks) /docs renders blank. The
assets come from the ``fastapi-offline`` wheel and are served under /docs-static.
"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS = Path(fastapi_offline.__file__).parent / "static"
ASSETS_URL = "/docs-static"
OAUTH2_REDIRECT_URL = "/docs/oauth2-redirect"
# The password flow signs in with email and password only: the API has no OAuth clients, so
# Swagger UI's client_id, client_secret and "client credentials location" rows (which it always
# draws for that flow, with no option to leave them out) are hidden. Swagger UI labels each row
# for its input, named after the flow: client_id_password, client_secret_password, password_type.
AUTHORIZE_DIALOG_CSS = """<style>
.auth-container .wrapper:has(> label[for="client_id_password"]),
.auth-container .wrapper:has(> label[for="client_secret_password"]),
.auth-container .wrapper:has(> label[for="password_type"]) { display: none; }
</style>"""


def _with_style(page: HTMLResponse, style: str) -> HTMLResponse:
    html = bytes(page.body).decode().replace("</head>", f"{style}\n</head>", 1)
    return HTMLResponse(html)


def install_docs(app: FastAPI) -> None:
    """Mount the assets and the /docs and /redoc pages (create the app with docs_url=None, redoc_url=None)."""
    app.mount(ASSETS_URL, StaticFiles(directory=ASSETS), name="docs-static")
    openapi_url = app.openapi_url or "/openapi.json"

    async def swagger_ui() -> HTMLResponse:
        page = get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app.title} — Swagger UI",
            oauth2_redirect_url=OAUTH2_REDIRECT_URL,
            swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_URL}/favicon.png",
            swagger_ui_parameters={"persistAuthorization": True},
        )
        return _with_style(page, AUTHORIZE_DIALOG_CSS)

    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    async def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=openapi_url,
            title=f"{app.title} — ReDoc",
            redoc_js_url=f"{ASSETS_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{ASSETS_URL}/favicon.png",
            with_google_fonts=False,
        )

    app.add_api_route("/docs", swagger_ui, include_in_schema=False)
    app.add_api_route(OAUTH2_REDIRECT_URL, swagger_ui_redirect, include_in_schema=False)
    app.add_api_route("/redoc", redoc, include_in_schema=False)
