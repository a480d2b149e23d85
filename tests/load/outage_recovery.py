"""Measure how the API rides out a PostgreSQL restart: ``python -m tests.load.outage_recovery``.

Starts a PRIVATE embedded PostgreSQL (temporary data directory, free port), migrates it, serves
the API with uvicorn on loopback as ``make dev`` does (development settings, console logs),
keeps ``--clients`` writers posting metric points, stops PostgreSQL for ``--outage`` seconds and
starts it again. Prints the status codes seen before, during and after the outage, the seconds
from PostgreSQL accepting connections again to the first 2xx, and whether every acknowledged
write is stored. Bounded: it gives up waiting for recovery after ``--give-up`` seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import os
import subprocess
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import text

from backend.config import PROJECT_ROOT, DatabaseSettings
from backend.utils.database import Database
from tests.benchmarks.support import server_command
from tests.private_database import PrivateDatabase, free_port, private_database

BASE = datetime(2026, 1, 1, tzinfo=UTC)


class Run:
    def __init__(self) -> None:
        self.phase = "before"
        self.back_at: float | None = None
        self.first_ok: float | None = None
        self.statuses: collections.Counter[tuple[str, str]] = collections.Counter()
        self.acknowledged: set[tuple[str, datetime]] = set()
        self.recovered = asyncio.Event()


async def _writer(http: httpx.AsyncClient, headers: dict[str, str], client: int, run: Run) -> None:
    for i in range(10**6):
        if run.phase == "done":
            return
        metric, ts = f"outage_probe_{client}", BASE + timedelta(seconds=i)
        point = {"metric": metric, "ts": ts.isoformat(), "value": i}
        try:
            response = await http.post("/api/v1/metrics", headers=headers, json={"points": [point]})
            status = str(response.status_code)
        except httpx.HTTPError as error:
            response, status = None, type(error).__name__
        run.statuses[(run.phase, status)] += 1
        if response is not None and response.is_success:
            run.acknowledged.add((metric, ts))
            if run.phase == "after" and run.first_ok is None and run.back_at is not None:
                run.first_ok = time.monotonic() - run.back_at
                run.recovered.set()
        await asyncio.sleep(0.05)


async def _stored(app_url: str, tenant_id: str) -> set[tuple[str, datetime]]:
    database = Database(app_url, DatabaseSettings())
    try:
        async with database.tenant_session(uuid.UUID(tenant_id)) as session:
            rows = await session.execute(
                text("select metric, ts from business_metrics where metric like 'outage_probe_%'")
            )
            return {(metric, ts) for metric, ts in rows}
    finally:
        await database.dispose()


def measure(clients: int, outage: float, give_up: float) -> None:
    with tempfile.TemporaryDirectory(prefix="outage-recovery-") as root, private_database(Path(root)) as db:
        port = free_port()
        env = {
            **os.environ,
            "PYTHONPATH": str(PROJECT_ROOT),
            "ENVIRONMENT": "development",
            "DATABASE_URL": db.urls.app,
            "DATABASE_OWNER_URL": db.urls.owner,
            "SIGNUP_RATE_LIMIT_PER_HOUR": "100000",
            "LOG_JSON": "false",
        }
        log_path = Path(root) / "uvicorn.log"
        argv = server_command(port)
        with log_path.open("w") as log:
            server = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
            try:
                asyncio.run(_drive(f"http://127.0.0.1:{port}", db, clients, outage, give_up))
            finally:
                server.terminate()
                try:
                    server.wait(30)
                except subprocess.TimeoutExpired:
                    server.kill()
        print(f"API log: {sum(1 for _ in log_path.open())} lines")


async def _drive(base: str, db: PrivateDatabase, clients: int, outage: float, give_up: float) -> None:
    run = Run()
    async with httpx.AsyncClient(base_url=base, timeout=give_up) as http:
        for _ in range(300):
            try:
                if (await http.get("/api/health")).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
        signup = await http.post(
            "/api/v1/tenants",
            json={
                "name": "Outage",
                "owner_email": "outage@example.com",
                "owner_password": "correct-horse-battery",
            },
        )
        signup.raise_for_status()
        headers = {"Authorization": f"Bearer {signup.json()['tokens']['access_token']}"}
        writers = [asyncio.create_task(_writer(http, headers, client, run)) for client in range(clients)]
        await asyncio.sleep(3)
        run.phase = "during"
        await asyncio.to_thread(db.stop)
        started = time.monotonic()
        ready = await http.get("/api/ready")
        print(f"/api/ready during the outage: {ready.status_code} in {time.monotonic() - started:.2f} s")
        await asyncio.sleep(outage)
        await asyncio.to_thread(db.start)
        run.back_at, run.phase = time.monotonic(), "after"
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(run.recovered.wait(), timeout=give_up)
        await asyncio.sleep(2)
        run.phase = "done"
        await asyncio.gather(*writers)
        ready = await http.get("/api/ready")
        print(f"/api/ready after: {ready.status_code} {ready.json()['status']}")
        tenant_id = signup.json()["tenant"]["id"]
    first_ok = "none" if run.first_ok is None else f"{run.first_ok:.2f} s"
    print(f"first 2xx after PostgreSQL was back: {first_ok} (gave up after {give_up:g} s)")
    for (phase, status), count in sorted(run.statuses.items()):
        print(f"  {phase:>6} {status:>12}: {count}")
    lost = run.acknowledged - await _stored(db.urls.app, tenant_id)
    print(f"acknowledged writes: {len(run.acknowledged)}, lost: {len(lost)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--outage", type=float, default=10.0, help="seconds PostgreSQL stays down")
    parser.add_argument("--give-up", type=float, default=300.0, help="seconds to wait for a 2xx")
    args = parser.parse_args()
    measure(args.clients, args.outage, args.give_up)


if __name__ == "__main__":
    main()
