"""The real authd binary, started for the tests on loopback, on SQLite or PostgreSQL.

The binary is ``$AUTHD_BIN``, else ``target/debug/authd`` of the repository
(``$CARGO_TARGET_DIR/debug/authd`` when that is set): build it with
``cargo build --bin authd``. PostgreSQL is ``$AUTHD_TEST_DATABASE_URL``
(default ``postgres://postgres@127.0.0.1:5432/postgres``), where each server
gets a database of its own, dropped afterwards. Nothing missing is skipped:
the tests fail saying what to install or start.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Sequence
from pathlib import Path

import psycopg

REPO = Path(__file__).resolve().parents[3]
POSTGRES = os.environ.get("AUTHD_TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
START_TIMEOUT = 60.0


def binary() -> Path:
    """The authd binary to test, or a failure saying how to build it."""
    explicit = os.environ.get("AUTHD_BIN")
    if explicit:
        path = Path(explicit)
    else:
        target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
        path = target / "debug" / "authd"
    if not path.is_file():
        raise AssertionError(
            f"no authd binary at {path}: run `cargo build --bin authd` in {REPO} "
            "(or set AUTHD_BIN to the binary)"
        )
    return path


def _admin_connection():  # type: ignore[no-untyped-def]
    try:
        return psycopg.connect(POSTGRES, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as error:
        raise AssertionError(
            f"PostgreSQL is not reachable at {POSTGRES} ({error}); start it "
            "(`bash tests/run` does) or set AUTHD_TEST_DATABASE_URL"
        ) from error


class Database:
    """An empty database for one authd: an SQLite file, or a fresh PostgreSQL database."""

    def __init__(self, backend: str, directory: Path) -> None:
        self.backend = backend
        self._name: str | None = None
        if backend == "sqlite":
            self.url = f"sqlite://{directory / f'authd-{uuid.uuid4().hex[:8]}.db'}"
        elif backend == "postgres":
            self._name = f"authd_py_{uuid.uuid4().hex[:12]}"
            with _admin_connection() as connection:
                connection.execute(f'CREATE DATABASE "{self._name}"')
            base, _, _ = POSTGRES.rpartition("/")
            self.url = f"{base}/{self._name}"
        else:
            raise ValueError(backend)

    def drop(self) -> None:
        """Drops the PostgreSQL database (the SQLite file goes with the temp dir)."""
        if self._name is None:
            return
        with _admin_connection() as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{self._name}" WITH (FORCE)')
        self._name = None


class Authd:
    """One authd server process on loopback."""

    def __init__(
        self, database: Database, directory: Path, args: Sequence[str] = (), *, http: bool = False
    ) -> None:
        self.database = database
        self.directory = directory
        self.args = list(args)
        self.http = http
        self.port = 0
        self.http_port = 0
        """The HTTP listener's port (``/metrics``) when started with ``http=True``."""
        self.process: subprocess.Popen[bytes] | None = None
        self.log = directory / f"authd-{uuid.uuid4().hex[:8]}.log"

    @property
    def target(self) -> str:
        """``127.0.0.1:PORT``, for ``settings.AUTHD['TARGET']``."""
        return f"127.0.0.1:{self.port}"

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AUTHD_")}
        env["AUTHD_DATABASE_URL"] = self.database.url
        return env

    def start(self) -> Authd:
        """Starts it (on the port it had before, after a stop) and waits until it serves."""
        assert self.process is None, "already running"
        command = [
            str(binary()),
            "serve",
            "--listen",
            f"127.0.0.1:{self.port}",
            "--http-listen",
            f"127.0.0.1:{self.http_port}" if self.http else "off",
            "--log-format",
            "json",
            *self.args,
        ]
        log = self.log.open("ab")
        offset = self.log.stat().st_size
        self.process = subprocess.Popen(
            command, env=self._env(), stdin=subprocess.DEVNULL, stdout=log, stderr=log
        )
        log.close()
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"authd exited with {self.process.returncode}:\n{self.log.read_text()}")
            with self.log.open("rb") as f:
                f.seek(offset)
                for line in f.read().splitlines():
                    try:
                        entry = json.loads(line)
                    except ValueError:
                        continue
                    fields = entry.get("fields", {})
                    if str(fields.get("message", "")).startswith("authd serving HTTP"):
                        self.http_port = int(fields["addr"].rsplit(":", 1)[1])
                    if fields.get("message") == "authd serving gRPC" and (self.http_port or not self.http):
                        self.port = int(fields["addr"].rsplit(":", 1)[1])
                        return self
            time.sleep(0.05)
        self.stop()
        raise AssertionError(f"authd did not start within {START_TIMEOUT}s:\n{self.log.read_text()}")

    def stop(self) -> None:
        """Stops it (SIGTERM, then SIGKILL after 10 s)."""
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None

    def metric(self, name: str, **labels: str) -> float:
        """The sum of the ``/metrics`` samples of ``name`` whose labels include ``labels``
        (needs ``http=True``)."""
        assert self.http_port, "started without http=True"
        with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/metrics", timeout=10) as answer:
            text = answer.read().decode()
        total = 0.0
        wanted = [f'{key}="{value}"' for key, value in labels.items()]
        for line in text.splitlines():
            if line.startswith((f"{name}{{", f"{name} ")) and all(w in line for w in wanted):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def cli(self, *args: str, stdin: str | None = None) -> str:
        """Runs ``authd ARGS...`` against this server's database; answers stdout."""
        done = subprocess.run(
            [str(binary()), *args],
            env=self._env(),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if done.returncode != 0:
            raise AssertionError(f"authd {' '.join(args)} failed: {done.stderr}")
        return done.stdout

    def add_user(
        self, name: str, password: str, *, email: str | None = None, roles: Sequence[str] = ()
    ) -> None:
        """``authd user add`` with the password on stdin."""
        args = ["user", "add", name, "--password-stdin"]
        if email:
            args += ["--email", email]
        for role in roles:
            args += ["--role", role]
        self.cli(*args, stdin=password + "\n")
