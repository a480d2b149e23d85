"""A real browser EventSource (headless Chromium) receives the coach's streamed answer.

The page is served from another origin than the API, as a single-page app would be: the API's
CORS settings name that origin. Chromium (Debian package ``chromium``, in the Makefile's
SYSTEM_PACKAGES) loads it, the page opens ``new EventSource(…/chat/stream?ticket=…)`` and writes
what arrived into the DOM, and ``--dump-dom`` prints that DOM.
"""

from __future__ import annotations

import html
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from backend.utils.database_urls import DatabaseUrls
from tests.factories import DEFAULT_PASSWORD, unique_email
from tests.live_server import free_port, live_server

PAGE = """<!doctype html>
<html><body>
<div id="state">waiting</div><div id="answer"></div><div id="deltas"></div>
<div id="last-id"></div><div id="session"></div>
<script>
  function show(id, text) { document.getElementById(id).textContent = text; }
  var deltas = "";
  var url = API + "/api/v1/coach/chat/stream?ticket=" + encodeURIComponent(TICKET)
    + "&message=" + encodeURIComponent(QUESTION);
  var source = new EventSource(url);
  source.addEventListener("delta", function (e) { deltas += JSON.parse(e.data).text; });
  source.addEventListener("final", function (e) {
    var body = JSON.parse(e.data);
    source.close();
    show("answer", body.reply); show("deltas", deltas); show("last-id", e.lastEventId);
    show("session", body.session_id); show("state", "final");
  });
  source.addEventListener("error", function (e) {
    if (e.data) { source.close(); show("state", "error event: " + e.data); }
    else if (source.readyState === EventSource.CLOSED) { show("state", "connection failed"); }
  });
</script>
</body></html>
"""


def _serve_page(body: str, port: int) -> ThreadingHTTPServer:
    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            data = body.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", port), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="module")
def page_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def api(
    database_urls: DatabaseUrls, tmp_path_factory: pytest.TempPathFactory, page_port: int
) -> Iterator[str]:
    origin = f"http://127.0.0.1:{page_port}"
    with live_server(database_urls, tmp_path_factory.mktemp("browser-api"), CORS_ORIGINS=origin) as base:
        yield base


def _text(dom: str, element_id: str) -> str:
    found = re.search(rf'<div id="{element_id}">(.*?)</div>', dom, re.DOTALL)
    assert found is not None, dom
    return html.unescape(found.group(1))


def test_headless_chromium_eventsource_receives_the_streamed_answer(
    api: str, page_port: int, tmp_path: Path
) -> None:
    chromium = shutil.which("chromium")
    assert chromium is not None, "install the Debian package chromium (make system-deps)"
    email = unique_email()
    with httpx.Client(base_url=api, timeout=60) as http:
        signup = http.post(
            "/api/v1/tenants",
            json={"name": "Browser Co", "owner_email": email, "owner_password": DEFAULT_PASSWORD},
        )
        assert signup.status_code == 201, signup.text
        headers = {"Authorization": f"Bearer {signup.json()['tokens']['access_token']}"}
        ticket = http.post("/api/v1/coach/chat/stream/tickets", headers=headers).json()["ticket"]

        constants = f"var API = {api!r}; var TICKET = {ticket!r}; var QUESTION = 'How is revenue doing?';"
        server = _serve_page(PAGE.replace("<script>", f"<script>{constants}", 1), page_port)
        try:
            done = subprocess.run(
                [
                    chromium,
                    "--headless",
                    "--no-sandbox",  # the tests run as root in CI
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    f"--user-data-dir={tmp_path / 'profile'}",
                    "--virtual-time-budget=60000",
                    "--dump-dom",
                    f"http://127.0.0.1:{page_port}/",
                ],
                capture_output=True,
                text=True,
                timeout=180,
                check=False,
            )
        finally:
            server.shutdown()
        dom = done.stdout
        assert _text(dom, "state") == "final", (dom, done.stderr[-2000:])
        answer = _text(dom, "answer")
        assert answer and _text(dom, "deltas") == answer
        session_id = _text(dom, "session")
        assert _text(dom, "last-id") == f"{session_id}:0:end"

        stored = http.get(f"/api/v1/coach/sessions/{session_id}", headers=headers).json()
        assert [m["content"] for m in stored["messages"] if m["role"] == "assistant"] == [answer]
