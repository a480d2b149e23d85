"""Replay the hostile inputs of the hardening issue against a running server and count 5xx.

    python -m tests.load.hostile_inputs http://127.0.0.1:8001

Signs up a fresh tenant, then sends each input the issue reproduced (year-one timestamps
through upload and ingest, NUL characters in six text fields, out-of-range dates and offsets,
a goal handed to an unknown owner, a malformed body) and reads the tenant's metrics and goals
afterwards. Prints one line per request (status, seconds, what it was) and the count of 5xx
or dropped connections. The regression tests in tests/routes/test_bad_input.py assert each
case; this is the same list against a real server, for before/after figures.
"""

import asyncio
import sys
import time
import uuid

import httpx

BASE = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8001"


# A valid goal on the seeded metric; each call adds what it tests.
GOAL = {"title": "g", "metric": "revenue", "target_value": 5000, "deadline": "2027-03-31"}


async def main() -> None:
    async with httpx.AsyncClient(base_url=BASE, timeout=200) as c:
        email = f"owner-{uuid.uuid4().hex[:8]}@example.com"
        r = await c.post(
            "/api/v1/tenants",
            json={"name": "Hostile", "owner_email": email, "owner_password": "a-long-password-123"},
        )
        r.raise_for_status()
        token = r.json()["tokens"]["access_token"]
        h = {"Authorization": f"Bearer {token}"}
        results = []

        async def call(label, method, url, **kw):
            t = time.perf_counter()
            try:
                resp = await c.request(method, url, headers={**h, **kw.pop("headers", {})}, **kw)
            except httpx.TransportError as exc:
                results.append((label, f"dropped ({type(exc).__name__})", round(time.perf_counter() - t, 2)))
                return None
            results.append((label, resp.status_code, round(time.perf_counter() - t, 2)))
            return resp

        await call(
            "ingest ok",
            "POST",
            "/api/v1/metrics",
            json={
                "points": [
                    {"metric": "revenue", "ts": f"2026-10-{d:02d}", "value": 100 + d} for d in range(1, 29)
                ]
            },
        )
        goal = await call(
            "goal ok",
            "POST",
            "/api/v1/goals",
            json={**GOAL, "direction": "increase"},
        )
        gid = goal.json().get("id") if goal else None
        await call(
            "5 upload year 1",
            "POST",
            "/api/v1/metrics/upload",
            files={"file": ("x.csv", b"metric,ts,value\nrevenue,0001-01-01T00:00:00+05:00,1\n", "text/csv")},
        )
        await call(
            "5 ingest year 1 +14",
            "POST",
            "/api/v1/metrics",
            json={"points": [{"metric": "revenue", "ts": "0001-01-01T00:00:00+14:00", "value": 1}]},
        )
        await call("5 read catalog after", "GET", "/api/v1/metrics")
        await call("5 read rollup after", "GET", "/api/v1/metrics/revenue?bucket=month&agg=sum")
        nul = "a\u0000b"
        await call(
            "6 goal title NUL",
            "POST",
            "/api/v1/goals",
            json={"title": nul, "metric": "revenue", "target_value": 5000, "deadline": "2027-03-31"},
        )
        await call(
            "6 dimension NUL",
            "POST",
            "/api/v1/metrics",
            json={
                "points": [
                    {"metric": "revenue", "ts": "2026-10-01", "value": 1, "dimensions": {"store": nul}}
                ]
            },
        )
        await call(
            "6 data source NUL",
            "POST",
            "/api/v1/data-sources",
            json={"name": nul, "connector_type": "rest_json", "config": {}},
        )
        await call("6 coach NUL", "POST", "/api/v1/coach/chat", json={"message": nul})
        await call("6 definition NUL", "PUT", "/api/v1/metrics/revenue/definition", json={"description": nul})
        await call("6 tenant NUL", "PATCH", "/api/v1/tenants/me", json={"name": nul})
        await call(
            "6 signup NUL",
            "POST",
            "/api/v1/tenants",
            json={"name": nul, "owner_email": f"x{uuid.uuid4().hex[:6]}@example.com"},
        )
        await call(
            "7 goal start 0001",
            "POST",
            "/api/v1/goals",
            json={**GOAL, "start_date": "0001-01-01"},
        )
        await call("7 goals offset 2^63", "GET", "/api/v1/goals?offset=9223372036854775808")
        await call(
            "7 fill year 1..9999",
            "GET",
            "/api/v1/metrics/revenue?bucket=year&start=0001-01-01&end=9999-12-31&fill=zero",
        )
        await call(
            "7/1 patch owner random", "PATCH", f"/api/v1/goals/{gid}", json={"owner_id": str(uuid.uuid4())}
        )
        await call(
            "9 malformed json",
            "POST",
            "/api/v1/goals",
            content=b"{not json",
            headers={"Content-Type": "application/json"},
        )
        await call("read goals after", "GET", "/api/v1/goals")
        await call("read catalog end", "GET", "/api/v1/metrics")
        for row in results:
            print(f"{row[1]!s:>4}  {row[2]:>6}s  {row[0]}")
        print("5xx:", sum(1 for r in results if not isinstance(r[1], int) or r[1] >= 500), "of", len(results))


if __name__ == "__main__":
    asyncio.run(main())
