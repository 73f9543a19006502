"""Real processes for tests: gunicorn, Celery workers, and private PostgreSQL and Redis servers.

Every server a test starts listens on a free port chosen by the kernel and is stopped by the test, so
test runs of several checkouts never meet. The fault tests start *private* PostgreSQL clusters and Redis
servers to restart or kill: the machine's shared ones are never touched.
"""

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import requests
from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent
LOG_DIR = ROOT / "var" / "log"
PG_BIN = Path("/usr/lib/postgresql") / max(
    (p.name for p in Path("/usr/lib/postgresql").iterdir() if p.name.isdigit()), key=int, default="15"
) / "bin"  # fmt: skip


def free_port() -> int:
    """A TCP port nobody listens on right now (bound to port 0, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(check: Callable[[], bool], *, timeout: float, what: str, interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(interval)
    raise TimeoutError(f"{what} not reached within {timeout} s")


def database_url(name: str, *, host: str | None = None, port: int | None = None) -> str:
    """A DATABASE_URL for database ``name`` on the configured server (or on ``host:port``)."""
    db = settings.DATABASES["default"]
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgis://{auth}@{host or db['HOST'] or '127.0.0.1'}:{port or db['PORT'] or 5432}/{name}"


def service_env(*, database_url: str, **extra: str) -> dict[str, str]:
    """The environment of a server process of this run: this run's queues, cache prefix and Redis unless overridden."""
    env = dict(os.environ)
    env["DATABASE_URL"] = database_url
    env.pop("DJANGO_TEST_DB_NAME", None)
    env.update(extra)
    return env


def _log(name: str) -> Path:
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    return LOG_DIR / f"test-{name}.log"


def stop(proc: subprocess.Popen, *, timeout: float = 20) -> None:
    """Stop a process started here: SIGTERM, then SIGKILL if it lingers."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=timeout)


def children(pid: int) -> list[int]:
    """Direct child process ids of ``pid`` (gunicorn or Celery pool workers)."""
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


class Gunicorn:
    """A real gunicorn serving the project on a free port."""

    def __init__(self, env: dict[str, str], *, workers: int = 2, timeout: int = 30, name: str = "gunicorn") -> None:
        self.env = env
        self.workers = workers
        self.timeout = timeout
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = _log(f"{name}-{os.getpid()}")
        self.proc: subprocess.Popen | None = None

    def start(self) -> "Gunicorn":
        log = open(self.log_path, "a")  # noqa: SIM115 - the process owns it until it exits
        self.proc = subprocess.Popen(
            [
                sys.executable, "-m", "gunicorn", "fieldcollect.wsgi",
                "--bind", f"127.0.0.1:{self.port}",
                "--workers", str(self.workers),
                "--timeout", str(self.timeout),
                "--graceful-timeout", "5",
                "--access-logfile", "-",
            ],
            cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        log.close()

        def answers() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.proc.returncode}; see {self.log_path}")
            try:
                requests.get(f"{self.url}/api/v1/auth/me/", timeout=10)
            except (requests.ConnectionError, requests.Timeout):
                return False
            return True

        try:
            wait_for(answers, timeout=60, what=f"gunicorn on {self.url}")
        except BaseException:
            self.stop()
            raise
        return self

    def kill(self) -> None:
        """SIGKILL the master and its workers at once, as the OOM killer or a power cut would."""
        assert self.proc is not None
        pids = [self.proc.pid, *children(self.proc.pid)]
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc)


class CeleryWorker:
    """A real ``celery worker`` consuming the given queues."""

    def __init__(self, env: dict[str, str], *, queues: list[str], concurrency: int = 2, name: str = "celery") -> None:
        self.env = env
        self.queues = queues
        self.concurrency = concurrency
        self.nodename = f"{name}-{os.getpid()}-{uuid.uuid4().hex[:6]}@{os.uname().nodename}"
        self.log_path = _log(f"{name}-{os.getpid()}")
        self.proc: subprocess.Popen | None = None

    def start(self, *, ready: Callable[["CeleryWorker"], bool] | None = None) -> "CeleryWorker":
        """Start and wait until ready: ``ready(worker)`` if given, else the worker's own "ready." log line."""
        self.log_path.write_text("")
        log = open(self.log_path, "a")  # noqa: SIM115 - the process owns it until it exits
        self.proc = subprocess.Popen(
            [
                sys.executable, "-m", "celery", "-A", "fieldcollect", "worker",
                "--loglevel", "INFO",
                "--concurrency", str(self.concurrency),
                "-Q", ",".join(self.queues),
                "--without-heartbeat", "--without-mingle", "--without-gossip",
                "-n", self.nodename,
            ],
            cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        log.close()

        def is_ready() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"Celery worker exited with {self.proc.returncode}; see {self.log_path}")
            if ready is not None:
                return ready(self)
            return " ready." in self.log_path.read_text()

        try:
            wait_for(is_ready, timeout=60, what=f"Celery worker {self.nodename}", interval=0.3)
        except TimeoutError:
            self.kill()
            raise
        return self

    def pool_pids(self) -> list[int]:
        assert self.proc is not None
        return children(self.proc.pid)

    def kill(self) -> None:
        """SIGKILL the worker and its pool processes."""
        assert self.proc is not None
        for pid in [self.proc.pid, *self.pool_pids()]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc)


def _as_postgres(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run a PostgreSQL binary as the postgres user when we are root (PostgreSQL refuses root)."""
    cmd = ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else list(args)
    return subprocess.run(cmd, cwd="/", capture_output=True, text=True, check=check, timeout=120)


class PrivatePostgres:
    """A throw-away PostgreSQL cluster on a free port, to stop and restart without disturbing anyone.

    Its data lives where the postgres user can enter (``/var/lib/postgresql`` when we are root).
    """

    def __init__(self) -> None:
        base = Path("/var/lib/postgresql") if os.geteuid() == 0 else Path(tempfile.gettempdir())
        self.home = Path(tempfile.mkdtemp(prefix="fc-fault-pg-", dir=base))
        if os.geteuid() == 0:
            shutil.chown(self.home, "postgres")
        self.data = self.home / "data"
        self.port = free_port()
        self.log_path = self.home / "postgresql.log"

    def init(self) -> "PrivatePostgres":
        _as_postgres(str(PG_BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")
        return self

    def start(self) -> None:
        _as_postgres(
            str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.log_path), "-w", "-t", "60",
            "-o", f"-p {self.port} -k {self.home} -c listen_addresses=127.0.0.1 -c fsync=off "
                  "-c full_page_writes=off -c max_connections=60",
            "start",
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        _as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop", check=False)

    def restart(self, mode: str = "fast") -> None:
        self.stop(mode)
        self.start()

    def create_database(self, name: str) -> str:
        """Create ``name`` with PostGIS; return its DATABASE_URL."""
        psql = [
            str(PG_BIN / "psql"),
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            "postgres",
            "-v",
            "ON_ERROR_STOP=1",
        ]
        _as_postgres(*psql, "-d", "postgres", "-c", f'CREATE DATABASE "{name}"')
        _as_postgres(*psql, "-d", name, "-c", "CREATE EXTENSION postgis")
        return f"postgis://postgres@127.0.0.1:{self.port}/{name}"

    def destroy(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.home, ignore_errors=True)


class PrivateRedis:
    """A throw-away redis-server on a free port, to kill at will."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.dir = Path(tempfile.mkdtemp(prefix="fc-fault-redis-"))
        self.proc: subprocess.Popen | None = None

    def start(self) -> "PrivateRedis":
        self.proc = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no",
             "--dir", str(self.dir), "--logfile", str(self.dir / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip

        def pong() -> bool:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                    sock.sendall(b"PING\r\n")
                    return sock.recv(16).startswith(b"+PONG")
            except OSError:
                return False

        wait_for(pong, timeout=20, what=f"redis-server on port {self.port}")
        return self

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def destroy(self) -> None:
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)
