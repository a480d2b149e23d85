"""README's "Try it with curl" walkthrough runs as written against the demo shop on a live server.

The bash blocks that follow a ``<!-- walkthrough -->`` marker are run by bash exactly as a reader
would paste them, with the base URL pointed at a live ``python -m backend.server`` that the
demo builder has just filled. ``curl`` is wrapped by a shell function that records each call's
arguments, status and body: every call must answer 2xx, and each is checked for the JSON (or
event stream) it should return. The README cannot rot without this test failing.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from backend.demo.builder import build_demo
from backend.utils.database_urls import DatabaseUrls
from tests.live_server import REPO, live_server
from tests.sse import parse_sse

README = REPO / "README.md"
MARKER = "<!-- walkthrough -->"
README_BASE = "http://localhost:8001"

# Records each call of the walkthrough (a file counter: calls inside $(…) run in subshells).
CURL_RECORDER = r"""
set -euo pipefail
echo 0 > "$WALK_LOG/count"
curl() {
  local n
  n=$(( $(cat "$WALK_LOG/count") + 1 )); echo "$n" > "$WALK_LOG/count"
  printf '%s\n' "$@" > "$WALK_LOG/$n.args"
  command curl -sS -o "$WALK_LOG/$n.body" -w '%{http_code}' "$@" > "$WALK_LOG/$n.status"
  cat "$WALK_LOG/$n.body"
  case "$(cat "$WALK_LOG/$n.status")" in
    2??) ;;
    *) echo "HTTP $(cat "$WALK_LOG/$n.status") from curl $*: $(cat "$WALK_LOG/$n.body")" >&2; return 22 ;;
  esac
}
"""


def walkthrough_script(readme: str) -> str:
    """The ```bash blocks right after each walkthrough marker, in order."""
    blocks = re.findall(re.escape(MARKER) + r"\s*```bash\n(.*?)```", readme, re.DOTALL)
    assert blocks, f"README.md has no ```bash block after {MARKER}"
    return "\n".join(blocks)


def _json(body: str) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(body)
    assert parsed, "an empty JSON object"
    return parsed


def _catalog(body: str) -> None:
    names = {item["name"] for item in _json(body)["items"]}
    assert {"revenue", "orders", "footfall", "ad_spend_search"} <= names


def _rollup(body: str) -> None:
    series = _json(body)["series"]
    assert {s["group"] for s in series} == {"downtown", "riverside"}
    assert all(len(s["points"]) >= 24 and all(p["value"] > 0 for p in s["points"][:-1]) for s in series)


def _forecast(body: str) -> None:
    forecast = _json(body)
    assert forecast["status"] == "completed", forecast
    assert len(forecast["points"]) == 30


def _evidence(body: str) -> None:
    analysis = _json(body)
    assert analysis["cause"] == "ad_spend_search" and analysis["effect"] == "revenue"
    assert analysis["verdict"] and analysis["effect_size"] is not None, analysis


def _plan(body: str) -> None:
    run = _json(body)
    assert run["status"] == "optimal", run
    assert run["objective"] > 0


def _chat(body: str) -> None:
    reply = _json(body)
    assert reply["reply"] and reply["citations"], reply


def _stream(body: str) -> None:
    events = parse_sse(body).names
    assert events[0] == "session" and events[-1] == "final" and "delta" in events, events


def _ticket(body: str) -> None:
    assert _json(body)["ticket"]


def _signed_in(body: str) -> None:
    assert _json(body)["access_token"]


def _path(path: str, *, get: bool = False) -> Callable[[str, bool], bool]:
    return lambda url, is_get: url.split("?")[0].endswith(path) and is_get == get


# (what the call is, how to recognise its URL, what its body must be), in README order.
EXPECTED: list[tuple[str, Callable[[str, bool], bool], Callable[[str], None]]] = [
    ("sign in", _path("/api/v1/auth/login"), _signed_in),
    ("catalog", _path("/api/v1/metrics"), _catalog),
    ("rollup", _path("/api/v1/metrics/revenue"), _rollup),
    ("forecast", _path("/api/v1/forecasts"), _forecast),
    ("causal analysis", _path("/api/v1/evidence/analyze"), _evidence),
    ("optimizer plan", _path("/api/v1/optimizer/runs"), _plan),
    ("coach chat", _path("/api/v1/coach/chat"), _chat),
    ("streamed chat", _path("/api/v1/coach/chat/stream"), _stream),
    ("stream ticket", _path("/api/v1/coach/chat/stream/tickets"), _ticket),
    ("EventSource stream", _path("/api/v1/coach/chat/stream", get=True), _stream),
]


@pytest.fixture(scope="module")
def demo_api(database_urls: DatabaseUrls, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with live_server(database_urls, tmp_path_factory.mktemp("walkthrough-server")) as base:
        build_demo(base)
        yield base


def test_the_walkthrough_is_found_and_covers_the_story() -> None:
    script = walkthrough_script(README.read_text())
    assert script.count("curl ") == len(EXPECTED)
    assert "$TOKEN" in script and README_BASE in script


def test_readme_walkthrough_runs_against_the_demo_shop(demo_api: str, tmp_path: Path) -> None:
    assert shutil.which("curl") is not None
    script = walkthrough_script(README.read_text()).replace(README_BASE, demo_api)
    log = tmp_path / "calls"
    log.mkdir()
    done = subprocess.run(
        ["bash", "-c", CURL_RECORDER + script],
        env={"PATH": "/usr/bin:/bin:/usr/local/bin", "WALK_LOG": str(log), "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    calls = int((log / "count").read_text())
    assert calls == len(EXPECTED)
    for number, (what, matches, check) in enumerate(EXPECTED, start=1):
        arguments = (log / f"{number}.args").read_text().splitlines()
        url = next(argument for argument in arguments if argument.startswith("http"))
        assert matches(url, "-G" in arguments), (what, arguments)
        status = (log / f"{number}.status").read_text()
        assert status.startswith("2"), (what, status)
        check((log / f"{number}.body").read_text())
