"""Scale-out on loopback: PgBouncer (transaction mode) in front of PostgreSQL, API processes
behind nginx, job workers — each a real process on its own port.

The API processes reach PostgreSQL through PgBouncer (``DATABASE_POOLER=pgbouncer-transaction``);
job workers connect to PostgreSQL directly, as README's "Scaling out" says: procrastinate's
workers LISTEN for new jobs, a session feature a transaction-mode pooler cannot carry.
nginx adds ``X-Upstream`` (the API process that answered) to every response, so a test can
show that its requests reached both.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

from backend.config import DatabaseSettings
from backend.utils.database_urls import DatabaseUrls
from tests.jobs.support import worker_process
from tests.live_server import free_port, live_server, stop_process

PGBOUNCER = Path("/usr/sbin/pgbouncer")
NGINX = Path("/usr/sbin/nginx")
UPSTREAM_HEADER = "x-upstream"
# Small workers: two of them and two API processes share this machine's cores.
WORKER_SETTINGS = {"COMPUTE_WORKERS": "1", "WORKER_CONCURRENCY": "2"}
# PgBouncer refuses to run as root; it runs as this user then.
_UNPRIVILEGED_USER = "nobody"


def require_system_binaries() -> None:
    """Fail (not skip) with what to install when PgBouncer or nginx is missing."""
    for binary, package in ((PGBOUNCER, "pgbouncer"), (NGINX, "nginx")):
        assert binary.exists(), (
            f"{binary} is missing: install the Debian package {package} (make system-deps)"
        )


def _wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path, what: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, f"{what} exited: {log.read_text() if log.exists() else ''}"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"{what} never listened on {port}")


@contextmanager
def _running(command: list[str], log: Path, what: str, port: int, **popen: object) -> Iterator[None]:
    with log.open("ab") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, **popen)  # type: ignore[call-overload]
    try:
        _wait_for_port(port, process, log, what)
        yield
    finally:
        stop_process(process, timeout=10)


def _statement_settings() -> str:
    """What the app sends at connection start without a pooler, run by PgBouncer on each server
    connection instead (PgBouncer refuses those startup parameters)."""
    timeout = DatabaseSettings(url=None, owner_url=None).statement_timeout_ms
    return f"set statement_timeout = {timeout}; set jit = off"


@contextmanager
def pgbouncer(urls: DatabaseUrls, *, pool_size: int = 8) -> Iterator[str]:
    """PgBouncer in transaction mode in front of the app role's database; yields the app role's
    URL through it. Its files live in a directory of their own (readable by its user)."""
    app = make_url(urls.app)
    port = free_port()
    directory = Path(tempfile.mkdtemp(prefix="pgbouncer-"))
    try:
        (directory / "userlist.txt").write_text(f'"{app.username}" "{app.password}"\n')
        (directory / "pgbouncer.ini").write_text(
            f"""[databases]
{app.database} = host={app.host} port={app.port} dbname={app.database} connect_query='{_statement_settings()}'

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = scram-sha-256
auth_file = {directory / "userlist.txt"}
pool_mode = transaction
default_pool_size = {pool_size}
max_client_conn = 500
logfile = {directory / "pgbouncer.log"}
pidfile = {directory / "pgbouncer.pid"}
"""
        )
        popen: dict[str, object] = {}
        if os.geteuid() == 0:
            user = pwd.getpwnam(_UNPRIVILEGED_USER)
            for path in (directory, *directory.iterdir()):
                os.chown(path, user.pw_uid, user.pw_gid)
            popen = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
        command = [str(PGBOUNCER), str(directory / "pgbouncer.ini")]
        with _running(command, directory / "stdout.log", "pgbouncer", port, **popen):
            yield str(app.set(host="127.0.0.1", port=port).render_as_string(hide_password=False))
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _nginx_conf(directory: Path, port: int, upstreams: list[str]) -> str:
    servers = "\n".join(f"    server {make_url(url).host}:{make_url(url).port};" for url in upstreams)
    return f"""daemon off;
worker_processes 1;
pid {directory}/nginx.pid;
error_log {directory}/error.log warn;
events {{ worker_connections 512; }}
http {{
  access_log off;
  # Above the API's own MAX_REQUEST_BODY_BYTES (25 MiB), so that limit answers with its envelope;
  # bodies stay in memory (started as root, nginx's workers run as nobody, who cannot write a
  # temporary file under the test's private directory: nginx would answer 500).
  client_max_body_size 32m;
  client_body_buffer_size 32m;
  client_body_temp_path {directory}/body;
  proxy_temp_path {directory}/proxy;
  fastcgi_temp_path {directory}/fastcgi;
  uwsgi_temp_path {directory}/uwsgi;
  scgi_temp_path {directory}/scgi;
  upstream api {{
{servers}
    keepalive 16;
  }}
  server {{
    listen 127.0.0.1:{port};
    location / {{
      proxy_pass http://api;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      # Server-Sent Events go out as they are written.
      proxy_buffering off;
      proxy_read_timeout 300s;
      add_header X-Upstream $upstream_addr always;
    }}
  }}
}}
"""


@contextmanager
def nginx(upstreams: list[str], directory: Path) -> Iterator[str]:
    """nginx (foreground, everything under ``directory``) balancing ``upstreams``; yields its URL."""
    port = free_port()
    directory.mkdir(parents=True, exist_ok=True)
    conf = directory / "nginx.conf"
    conf.write_text(_nginx_conf(directory, port, upstreams))
    command = [str(NGINX), "-p", str(directory), "-c", str(conf)]
    with _running(command, directory / "stdout.log", "nginx", port):
        yield f"http://127.0.0.1:{port}"


@dataclass(frozen=True)
class Topology:
    """What runs: nginx's URL, the API processes' URLs, the worker processes and the secret they share."""

    url: str
    api_urls: list[str]
    workers: list[subprocess.Popen[bytes]]
    secret_key: str


def api_environment(pooled_url: str, secret_key: str, **overrides: str) -> dict[str, str]:
    """An API process's settings: the app role through PgBouncer, loopback webhooks allowed."""
    return {
        "DATABASE_URL": pooled_url,
        "DATABASE_POOLER": "pgbouncer-transaction",
        "DATABASE_POOL_SIZE": "4",
        "DATABASE_MAX_OVERFLOW": "4",
        "SECRET_KEY": secret_key,
        "CONNECTOR_ALLOW_PRIVATE_NETWORKS": "true",
        **overrides,
    }


def _worker_ids(urls: DatabaseUrls) -> list[int]:
    """The ids of the workers procrastinate has registered (each registers once started)."""

    async def fetch() -> list[int]:
        connection = await asyncpg.connect(urls.require_worker().replace("+asyncpg", ""))
        try:
            rows = await connection.fetch("select id from procrastinate.procrastinate_workers")
            return [row["id"] for row in rows]
        finally:
            await connection.close()

    return asyncio.run(fetch())


def _start_workers(
    stack: ExitStack, urls: DatabaseUrls, workdir: Path, secret_key: str, count: int
) -> list[subprocess.Popen[bytes]]:
    processes: list[subprocess.Popen[bytes]] = []
    stack.callback(_stop_all, processes)
    for index in range(count):
        log = stack.enter_context((workdir / f"worker-{index}.log").open("wb"))
        processes.append(worker_process(urls, free_port(), "", secret_key, log=log, **WORKER_SETTINGS))
    return processes


def _wait_for_workers(
    urls: DatabaseUrls, processes: list[subprocess.Popen[bytes]], before: list[int]
) -> None:
    deadline = time.monotonic() + 300  # each imports the app and starts its CPU executor
    while len(set(_worker_ids(urls)) - set(before)) < len(processes):
        assert all(process.poll() is None for process in processes), "a job worker exited at start"
        assert time.monotonic() < deadline, "the job workers did not start"
        time.sleep(0.5)


@contextmanager
def scale_out(
    urls: DatabaseUrls, workdir: Path, *, api_processes: int = 2, workers: int = 2, **api_overrides: str
) -> Iterator[Topology]:
    """PgBouncer, ``api_processes`` API processes through it behind nginx, and ``workers`` job
    workers on PostgreSQL directly, all started at once. A secret of its own: its rate-limit
    counters are its own."""
    secret_key = secrets.token_urlsafe(48)
    with ExitStack() as stack:
        pooled = stack.enter_context(pgbouncer(urls))
        registered = _worker_ids(urls)
        processes = _start_workers(stack, urls, workdir, secret_key, workers)
        environment = api_environment(pooled, secret_key, **api_overrides)
        servers = []
        for index in range(api_processes):
            directory = workdir / f"api-{index}"
            directory.mkdir(parents=True)
            servers.append(live_server(urls, directory, **environment))
        # Each waits for its process to answer: start them side by side.
        with ThreadPoolExecutor(max_workers=max(1, api_processes)) as starting:
            api_urls = list(starting.map(stack.enter_context, servers))
        _wait_for_workers(urls, processes, registered)
        url = stack.enter_context(nginx(api_urls, workdir / "nginx"))
        yield Topology(url, api_urls, processes, secret_key)


def _stop_all(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
