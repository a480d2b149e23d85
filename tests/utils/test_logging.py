"""Logging never blocks the event loop, keeps one bounded traceback, and writes no secret.

The first tests run the real app under uvicorn (``tests.utils.failing_app``: a route that
fails with big local variables, an API key and a registered credential in flight) with
its output in a file, once with console lines (development) and once with JSON lines
(production). The rest check the pipeline in this process.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
import secrets
import statistics
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import structlog
from fastapi import BackgroundTasks, FastAPI
from fastapi.responses import StreamingResponse

from backend.config import Environment, ObservabilitySettings, Settings
from backend.main import create_app
from backend.utils import logging as logging_setup
from backend.utils.database_urls import DatabaseUrls
from backend.utils.logging import MAX_TRACEBACK_LINES, flush_logs
from backend.utils.redaction import REDACTED, register_secrets
from tests.conftest import logs_into
from tests.services.connectors.fakes import free_port
from tests.utils.failing_app import CREDENTIAL_HEADER, serve_command

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Server:
    base_url: str
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@dataclass
class Planted:
    """Secrets a failing request carries: none of them may reach the log."""

    api_key: str
    credential: str
    bearer: str
    request_id: str

    @classmethod
    def new(cls) -> Planted:
        return cls(
            api_key=f"dyo_{secrets.token_urlsafe(24)}",
            credential=f"cred-{secrets.token_hex(12)}",
            bearer=f"tok{secrets.token_hex(16)}",
            request_id=f"planted-{uuid.uuid4().hex}",
        )

    @property
    def headers(self) -> dict[str, str]:
        return {
            "X-API-Key": self.api_key,
            "Authorization": f"Bearer {self.bearer}",
            "Cookie": f"session={self.bearer}",
            CREDENTIAL_HEADER: self.credential,
            "X-Request-ID": self.request_id,
        }

    def leaked(self, text: str) -> list[str]:
        return [value for value in (self.api_key, self.credential, self.bearer) if value in text]


@pytest.fixture(scope="module", params=["console", "json"])
def server(
    request: pytest.FixtureRequest, database_urls: DatabaseUrls, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    log_path = tmp_path_factory.mktemp("logs") / f"api-{request.param}.log"
    port = free_port()
    command, env = serve_command(database_urls, port, log_json=request.param == "json")
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            assert process.poll() is None, log_path.read_text(errors="replace")[-3000:]
            assert time.monotonic() < deadline, "the API server did not start"
            try:
                if httpx.get(f"{base_url}/api/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        yield Server(base_url, log_path)
    finally:
        process.terminate()
        process.wait(timeout=60)


def _wait_for_request_line(server: Server, request_id: str) -> str:
    """The log once the request's own line is written (it comes after its error's)."""
    finished = re.compile(rf"{re.escape(request_id)}.*status[\"=:\s]+500|status[\"=:\s]+500.*{request_id}")
    deadline = time.monotonic() + 60
    while True:
        text = server.log()
        if any(finished.search(line) for line in text.splitlines()):
            return text
        assert time.monotonic() < deadline, text[-3000:]
        time.sleep(0.1)


def test_a_500_logs_one_bounded_traceback_with_the_request_id_and_no_secret(server: Server) -> None:
    planted = Planted.new()
    before = server.log()

    response = httpx.get(f"{server.base_url}/test/explode", headers=planted.headers, timeout=60)

    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"
    assert response.json()["error"]["details"]["problems"][0]["request_id"] == planted.request_id
    assert response.headers.get_list("x-request-id") == [planted.request_id]
    written = _wait_for_request_line(server, planted.request_id)[len(before) :]
    assert not planted.leaked(written), written
    assert REDACTED in written
    error_lines = [line for line in written.splitlines() if "unhandled_error" in line]
    assert len(error_lines) == 1 and planted.request_id in error_lines[0], written
    # One traceback (not the server's second copy), its innermost frames, no local variables.
    assert written.count("Traceback (most recent call last)") == 1, written
    assert "RuntimeError: upstream refused credential" in written.replace("\\n", "\n")
    assert "c4999" not in written  # a value only the frames' local variables hold
    assert len(written.splitlines()) < 200
    assert len(written) < 30_000


def test_a_500_keeps_the_connection_alive(server: Server) -> None:
    planted = Planted.new()
    with httpx.Client(base_url=server.base_url, timeout=60) as client:
        failed = client.get("/test/explode", headers=planted.headers)
        healthy = client.get("/api/health")

    assert failed.status_code == 500 and healthy.status_code == 200
    assert failed.headers.get("connection") != "close"
    # The same network stream: the server did not close the connection after the 500.
    assert failed.extensions["network_stream"] is healthy.extensions["network_stream"]


async def _timed_health(client: httpx.AsyncClient) -> float:
    started = time.perf_counter()
    response = await client.get("/api/health")
    assert response.status_code == 200
    return time.perf_counter() - started


async def test_health_answers_while_a_500_is_logged(server: Server) -> None:
    async with (
        httpx.AsyncClient(base_url=server.base_url, timeout=120) as failing,
        httpx.AsyncClient(base_url=server.base_url, timeout=120) as healthy,
    ):
        # Warm-up: the first request of a fresh process pays one-off costs.
        assert (await failing.get("/test/explode", headers=Planted.new().headers)).status_code == 500
        alone = statistics.median([await _timed_health(healthy) for _ in range(10)])
        during = []
        for _ in range(5):
            error = asyncio.create_task(failing.get("/test/explode", headers=Planted.new().headers))
            await asyncio.sleep(0.05)  # the failing request reaches the server first
            during.append(await _timed_health(healthy))
            assert (await error).status_code == 500
    # Generous: logging a 500 used to hold every request for seconds (hundreds of times this).
    assert statistics.median(during) < 25 * alone, (during, alone)


# --------------------------------------------------------------------------- in this process


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    flush_logs()
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{")]


class _StuckOutput(io.StringIO):
    """An output whose writes wait until released, like a full pipe to a stalled log shipper."""

    def __init__(self) -> None:
        super().__init__()
        self.released = threading.Event()

    def write(self, text: str) -> int:
        self.released.wait()
        return super().write(text)


def test_logging_returns_while_the_output_is_stuck() -> None:
    logger = structlog.get_logger("stuck")

    def log_errors() -> None:
        for attempt in range(50):
            try:
                raise RuntimeError(f"attempt {attempt}")
            except RuntimeError:
                logger.exception("failed", attempt=attempt)
            logging.getLogger("uvicorn.error").error("foreign %d", attempt)

    caller = threading.Thread(target=log_errors, daemon=True)
    with logs_into(_StuckOutput(), json=True) as output:
        try:
            caller.start()
            caller.join(timeout=60)
            assert not caller.is_alive(), "a log call waited for the output"
        finally:
            output.released.set()
            flush_logs()
    written = [json.loads(line) for line in output.getvalue().splitlines()]
    assert len(written) == 100
    assert written[-2]["event"] == "failed" and "RuntimeError: attempt 49" in str(written[-2]["exception"])


def test_records_beyond_the_queue_are_dropped_and_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(logging_setup, "QUEUE_CAPACITY", 10)
    logger = structlog.get_logger("flood")
    with logs_into(_StuckOutput(), json=True) as output:
        try:
            for number in range(100):  # the writer is stuck on the first: the queue fills at once
                logger.warning("flood", number=number)
            output.released.set()
            flush_logs()
            logger.warning("after_the_flood")
            flush_logs()
        finally:
            output.released.set()
    events = [str(json.loads(line)["event"]) for line in output.getvalue().splitlines()]
    kept = events.count("flood")
    dropped = [int(match[1]) for event in events if (match := re.match(r"log_records_dropped: (\d+)", event))]
    assert kept < 20 and dropped and kept + sum(dropped) == 100
    assert events[-1] == "after_the_flood"


def _ping(depth: int, message: str) -> None:
    padding = ["x" * 1_000] * 1_000  # a big local in every frame
    if depth == 0:
        raise ValueError(message + f" ({len(padding)})")
    _pong(depth - 1, message)


def _pong(depth: int, message: str) -> None:
    # Two functions in turn: Python cannot fold the frames into "[Previous line repeated…]".
    _ping(depth, message)


def test_a_foreign_record_is_bounded_redacted_and_keeps_the_request_context(
    json_logs: io.StringIO,
) -> None:
    credential = f"stored-{secrets.token_hex(10)}"
    register_secrets({"dsn": f"postgresql://reader:{credential}@db.example:5432/shop"})
    with structlog.contextvars.bound_contextvars(request_id="foreign-1"):
        try:
            _ping(200, f"could not connect with {credential}")
        except ValueError:
            # procrastinate logs a failed job this way (stdlib logger, exc_info, extra fields)
            logging.getLogger("procrastinate.worker").error(
                "Job failed", exc_info=True, extra={"action": "job_error"}
            )

    (line,) = [line for line in _lines(json_logs) if line["event"] == "Job failed"]
    assert line["request_id"] == "foreign-1" and line["level"] == "error"
    exception = str(line["exception"])
    assert credential not in exception and f"could not connect with {REDACTED}" in exception
    assert "x" * 1_000 not in exception
    assert len(exception.splitlines()) <= MAX_TRACEBACK_LINES + 1


def test_secret_keys_headers_and_tokens_are_redacted_in_events(json_logs: io.StringIO) -> None:
    api_key, jwt = f"dyo_{secrets.token_urlsafe(20)}", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
    structlog.get_logger("events").warning(
        "call_failed",
        headers={"Authorization": f"Bearer {jwt}", "X-API-Key": api_key, "Accept": "application/json"},
        scope_headers=[(b"x-api-key", api_key.encode()), (b"cookie", b"session=abc123456")],
        password="hunter2-hunter2",
        access_token="a-token-value",
        note=f"retrying with key {api_key} and token={jwt}",
        url="https://api.example/orders?api_key=querysecret1&limit=5",
        prompt_tokens=42,
        body="y" * 100_000,
    )

    (line,) = [line for line in _lines(json_logs) if line["event"] == "call_failed"]
    text = json.dumps(line)
    for secret in (api_key, jwt, "hunter2", "a-token-value", "abc123456", "querysecret1"):
        assert secret not in text, secret
    assert line["headers"] == {"Authorization": REDACTED, "X-API-Key": REDACTED, "Accept": "application/json"}
    assert line["prompt_tokens"] == 42 and "limit=5" in str(line["url"])
    assert len(str(line["body"])) < 5_000


def test_the_console_output_renders_the_same_bounded_traceback() -> None:
    with logs_into(io.StringIO(), json=False) as stream:
        try:
            _ping(200, "console failure")
        except ValueError:
            # as uvicorn logs an exception that escaped the app
            logging.getLogger("uvicorn.error").error("Exception in ASGI application", exc_info=True)
            structlog.get_logger("console").exception("console_failed")
        flush_logs()
    text = stream.getvalue()
    assert text.count("ValueError: console failure") == 2
    assert "x" * 80 not in text and "padding =" not in text  # no local variables
    assert len(text.splitlines()) <= 2 * (MAX_TRACEBACK_LINES + 3)


# --------------------------------------------------------------------------- the 500 path


@pytest.fixture
def failing_app(settings: Settings) -> FastAPI:
    app = create_app(settings)

    def fail_later() -> None:
        raise RuntimeError("background task failed")

    async def answered_then_failed(tasks: BackgroundTasks) -> dict[str, str]:
        tasks.add_task(fail_later)
        return {"status": "accepted"}

    async def cut_off_stream() -> StreamingResponse:
        async def chunks() -> object:
            yield b"first chunk\n"
            raise RuntimeError("stream failed")

        return StreamingResponse(chunks())

    app.add_api_route("/test/background", answered_then_failed, methods=["POST"])
    app.add_api_route("/test/stream", cut_off_stream)
    return app


async def test_an_error_after_the_response_is_logged_not_raised_to_the_server(
    failing_app: FastAPI, json_logs: io.StringIO
) -> None:
    # raise_app_exceptions: an exception escaping the app fails the request here, as the
    # server would close the connection.
    transport = httpx.ASGITransport(app=failing_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.post("/test/background", headers={"X-Request-ID": "after-response-1"})
    assert response.status_code == 200
    (line,) = [line for line in _lines(json_logs) if line["event"] == "unhandled_error"]
    assert line["request_id"] == "after-response-1"
    assert "RuntimeError: background task failed" in str(line["exception"])


async def test_an_error_in_the_middle_of_a_response_still_cuts_it_off(failing_app: FastAPI) -> None:
    # Half a body cannot become a 500: the error reaches the server, which closes the connection.
    transport = httpx.ASGITransport(app=failing_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        with pytest.raises(RuntimeError, match="stream failed"):
            await client.get("/test/stream")


@pytest.mark.parametrize(
    ("environment", "explicit", "json_lines"),
    [
        (Environment.DEVELOPMENT, None, False),
        (Environment.TEST, None, True),
        (Environment.PRODUCTION, None, True),
        (Environment.PRODUCTION, False, False),
        (Environment.DEVELOPMENT, True, True),
    ],
)
def test_logs_are_json_lines_outside_development_unless_log_json_says_otherwise(
    environment: Environment, explicit: bool | None, json_lines: bool
) -> None:
    settings = Settings.model_construct(
        environment=environment, observability=ObservabilitySettings(log_json=explicit)
    )
    assert settings.log_json is json_lines
