"""The typed TypeScript client as a contract: types generated from the app's /openapi.json with
``openapi-typescript``, and ``tests/typescript/client.ts`` (an SPA's sign-in, paging, forecast,
error problems and coach stream ticket) type-checked with ``tsc --strict``.

A change to the API that breaks that usage fails here, and so does a usage that reads what the API
does not have: both are checked, so the check itself can fail. Node.js and npm are Debian packages in
the Makefile's SYSTEM_PACKAGES; ``make ts-deps`` (a step of ``make test``) runs ``npm ci`` in
tests/typescript.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

PROJECT = Path(__file__).resolve().parent / "typescript"
pytestmark = pytest.mark.slow
# A field with a default is optional to send: without this flag a request body's defaulted fields
# would be typed as required.
FLAGS = ("--default-non-nullable", "false")


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=300, check=False)


def _workspace(root: Path, document: dict[str, Any]) -> Path:
    """client.ts and tsconfig.json beside types generated from ``document``."""
    root.mkdir()
    (root / "openapi.json").write_text(json.dumps(document))
    for name in ("client.ts", "tsconfig.json"):
        shutil.copy(PROJECT / name, root / name)
    (root / "node_modules").symlink_to(PROJECT / "node_modules")
    generate = ("npx", "--no-install", "openapi-typescript", "openapi.json", "-o", "api.ts", *FLAGS)
    generated = _run(*generate, cwd=root)
    assert generated.returncode == 0, generated.stdout + generated.stderr
    return root


def _tsc(root: Path) -> subprocess.CompletedProcess[str]:
    return _run("npx", "--no-install", "tsc", "--strict", "--noEmit", "-p", "tsconfig.json", cwd=root)


@pytest.fixture(scope="module")
def toolchain() -> None:
    assert shutil.which("npx") is not None, "install the Debian packages nodejs and npm (make system-deps)"
    if not (PROJECT / "node_modules" / ".bin" / "tsc").exists():
        installed = _run("npm", "ci", "--no-audit", "--no-fund", cwd=PROJECT)
        assert installed.returncode == 0, installed.stderr


async def test_the_client_type_checks_against_the_api(
    client: httpx.AsyncClient, toolchain: None, tmp_path: Path
) -> None:
    document = (await client.get("/openapi.json")).json()
    root = _workspace(tmp_path / "api", document)
    checked = _tsc(root)
    assert checked.returncode == 0, checked.stdout + checked.stderr

    # The usage reads a field the API does not have: the same check refuses it.
    (root / "client.ts").write_text(
        (root / "client.ts").read_text()
        + "\nexport const misread = (page: Schemas['Page_MetricRead_']): number => page.count;\n"
    )
    misread = _tsc(root)
    assert misread.returncode != 0 and "'count' does not exist" in misread.stdout, misread.stdout


async def test_a_breaking_api_change_fails_the_check(
    client: httpx.AsyncClient, toolchain: None, tmp_path: Path
) -> None:
    document = (await client.get("/openapi.json")).json()
    # The API renames the problems list: every SPA reading details.problems would break.
    details = document["components"]["schemas"]["ErrorDetails"]
    details["properties"]["errors"] = details["properties"].pop("problems")
    details["required"] = ["errors"]
    checked = _tsc(_workspace(tmp_path / "broken", document))
    assert checked.returncode != 0
    assert "Property 'problems' does not exist" in checked.stdout, checked.stdout
