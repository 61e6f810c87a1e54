"""A throwaway PostgreSQL cluster for the state tests: real server, temp dir, loopback port.

Debian keeps initdb/pg_ctl in a versioned directory (``pg_config --bindir``, or
``/usr/lib/postgresql/<v>/bin``). initdb refuses to run as root, so as root the cluster is
made and run as the ``postgres`` user (``runuser``) in a temp dir that user owns. The
cluster is started once per test session (``postgres_server``) and each test gets a fresh
database (``pg_url``). Without any PostgreSQL the tests skip with the reason, except
under ``CI=true``, where they fail: CI must not skip them (``.ci/run`` installs the server).
"""

from __future__ import annotations

import os
import shlex
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

__all__ = ["PgServer", "pg_url", "postgres_server", "start_server"]


class NoPostgres(Exception):
    pass


@dataclass
class PgServer:
    bindir: Path
    root: Path  # temp dir holding data/, the socket and the log
    port: int
    as_user: list[str]  # command prefix to run as the cluster's owner
    watchdog: subprocess.Popen[bytes] | None = None  # stops the cluster if pytest is killed

    @property
    def admin_url(self) -> str:
        return f"postgresql://mwin@127.0.0.1:{self.port}/postgres"

    def url(self, database: str) -> str:
        return f"postgresql://mwin@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        if self.watchdog is not None:
            self.watchdog.kill()
            self.watchdog.wait(timeout=10)
        subprocess.run([*self.as_user, str(self.bindir / "pg_ctl"), "-D", str(self.root / "data"),
                        "-m", "immediate", "-w", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(self.root, ignore_errors=True)


def _bindir() -> Path:
    candidates = []
    if shutil.which("pg_config"):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True)
        candidates.append(out.stdout.strip())
    candidates += sorted((str(p) for p in Path("/usr/lib/postgresql").glob("*/bin")),
                         reverse=True)
    for candidate in candidates:
        if candidate and (Path(candidate) / "initdb").exists():
            return Path(candidate)
    raise NoPostgres("no PostgreSQL server binaries (initdb) found: install Debian's "
                     "`postgresql` package (`.ci/run` does when it is missing)")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server() -> PgServer:
    bindir = _bindir()
    root = Path(tempfile.mkdtemp(prefix="mwin-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:
        runuser = shutil.which("runuser")
        if runuser is None:
            raise NoPostgres("running as root and `runuser` is missing: initdb refuses root")
        try:
            shutil.chown(root, "postgres", "postgres")
        except (LookupError, OSError) as exc:
            raise NoPostgres(f"running as root and no `postgres` user to run initdb: {exc}") \
                from None
        as_user = [runuser, "-u", "postgres", "--"]
    os.chmod(root, 0o700)
    data = root / "data"
    port = _free_port()

    def run(*argv: str) -> None:
        proc = subprocess.run([*as_user, *argv], capture_output=True, text=True, timeout=90)
        if proc.returncode != 0:
            raise NoPostgres(f"{Path(argv[0]).name} failed ({proc.returncode}): "
                             f"{(proc.stderr or proc.stdout).strip()[-800:]}")

    try:
        run(str(bindir / "initdb"), "-D", str(data), "-U", "mwin", "--auth=trust",
            "--no-sync", "-E", "UTF8", "--locale=C")
        options = (f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_connections=60")
        run(str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(root / "log"),
            "-w", "-t", "60", "start")
    except (NoPostgres, subprocess.TimeoutExpired) as exc:
        log = root / "log"
        tail = log.read_text(errors="replace")[-800:] if log.exists() else ""
        shutil.rmtree(root, ignore_errors=True)
        raise NoPostgres(f"{exc} {tail}".strip()) from None
    return PgServer(bindir, root, port, as_user, _watchdog(bindir, root, as_user))


def _watchdog(bindir: Path, root: Path, as_user: list[str]) -> subprocess.Popen[bytes]:
    """A shell loop that stops the cluster and removes its dir once this process is gone
    (a pytest killed by a timeout runs no cleanup)."""
    stop = shlex.join([*as_user, str(bindir / "pg_ctl"), "-D", str(root / "data"), "-m",
                       "immediate", "-w", "stop"])
    script = (f"while kill -0 {os.getpid()} 2>/dev/null; do sleep 1; done; {stop}; "
              f"rm -rf {shlex.quote(str(root))}")
    return subprocess.Popen(["sh", "-c", script], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


_started: list[PgServer | str] = []  # the one server of this session, or why there is none


@pytest.fixture(scope="session")
def postgres_server(request: pytest.FixtureRequest) -> PgServer:
    if not _started:
        try:
            server = start_server()
        except NoPostgres as exc:
            _started.append(str(exc))
        else:
            _started.append(server)
            request.config.add_cleanup(server.stop)
    found = _started[0]
    if isinstance(found, str):
        reason = f"PostgreSQL cannot be started: {found}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (CI=true: these tests must run, not skip)")
        pytest.skip(reason)
    return found


@pytest.fixture
def pg_url(postgres_server: PgServer) -> Iterator[str]:
    """A URL to a fresh, empty database of the session's cluster."""
    yield postgres_server.new_database()
