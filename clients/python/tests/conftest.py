"""Fixtures: real authd servers (SQLite and PostgreSQL), users, and ``settings.AUTHD`` pointing at them."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from authd_server import Authd, Database

import authd

PASSWORD = "plum orchard lantern"
# Seconds a call may take: Argon2 on a busy two-core CI machine is slow.
SLOW = 60


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def authd_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Authd]:
    """One authd per backend for the whole run (tests that stop a server make their own)."""
    directory = tmp_path_factory.mktemp(f"authd-{request.param}")
    database = Database(request.param, directory)
    server = Authd(database, directory).start()
    yield server
    server.stop()
    database.drop()


@pytest.fixture
def make_authd(tmp_path: Path, authd_server: Authd) -> Iterator[object]:
    """Starts extra authd servers (same backend as ``authd_server``) that a test may stop."""
    started: list[tuple[Authd, Database]] = []

    def make(*args: str, http: bool = False) -> Authd:
        database = Database(authd_server.database.backend, tmp_path)
        server = Authd(database, tmp_path, args, http=http)
        started.append((server, database))
        return server.start()

    yield make
    for server, database in started:
        server.stop()
        database.drop()


def eventually(check: Callable[[], bool], seconds: float = 10.0) -> bool:
    """Whether ``check()`` turns true within ``seconds`` (tried every 0.2 s; errors count as false)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            if check():
                return True
        except authd.AuthdError:
            pass
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.2)


@dataclass
class Person:
    """A user made in authd for one test."""

    username: str
    password: str
    email: str


@pytest.fixture
def person(authd_server: Authd) -> Person:
    """A fresh authd user with a unique name."""
    name = f"u{uuid.uuid4().hex[:10]}"
    authd_server.add_user(name, PASSWORD, email=f"{name}@example.com", roles=["viewer"])
    return Person(name, PASSWORD, f"{name}@example.com")


@pytest.fixture
def client(authd_server: Authd) -> Iterator[authd.Client]:
    """A blocking client of the shared server."""
    with authd.Client(authd_server.target, timeout=SLOW) as c:
        yield c


@pytest.fixture
def authd_settings(settings, authd_server: Authd) -> dict[str, object]:  # type: ignore[no-untyped-def]
    """``settings.AUTHD`` for the shared server: no Verify cache, local users created."""
    settings.AUTHD = {
        "TARGET": authd_server.target,
        "CREATE_USERS": True,
        "VERIFY_CACHE_SECONDS": 0,
        "TIMEOUT": SLOW,
    }
    return settings.AUTHD  # type: ignore[no-any-return]
