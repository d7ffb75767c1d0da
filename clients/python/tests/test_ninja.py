"""authd.ninja.AuthdBearer (sync) and AsyncAuthdBearer on django-ninja views, against the real authd."""

from __future__ import annotations

import pytest
from authd_server import Authd
from conftest import SLOW, Person
from django.test import Client

import authd

pytestmark = pytest.mark.django_db

PATHS = ["/ninja/me", "/ninja/async/me"]


def _get(path: str, authorization: str | None = None):  # type: ignore[no-untyped-def]
    extra = {} if authorization is None else {"HTTP_AUTHORIZATION": authorization}
    return Client().get(path, **extra)


@pytest.mark.usefixtures("authd_settings")
@pytest.mark.parametrize("path", PATHS)
def test_valid_revoked_garbage_and_disabled(
    authd_server: Authd, client: authd.Client, person: Person, path: str
) -> None:
    tokens = client.login(person.username, person.password)
    answer = _get(path, f"Bearer {tokens.access_token}")
    assert answer.status_code == 200, answer.content
    assert answer.json()["username"] == person.username
    assert answer.json()["roles"] == ["viewer"]

    client.logout(access_token=tokens.access_token)
    assert _get(path, f"Bearer {tokens.access_token}").status_code == 401
    assert _get(path, "Bearer garbage").status_code == 401
    assert _get(path).status_code == 401

    again = client.login(person.username, person.password)
    authd_server.cli("user", "disable", person.username)
    assert _get(path, f"Bearer {again.access_token}").status_code == 401


@pytest.mark.usefixtures("authd_settings")
@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("header", ["Token a.b.c d.e.f", "Bearer", "Bearer t\u00f6k\u00e9n"])
def test_bad_headers_are_401(path: str, header: str) -> None:
    assert _get(path, header).status_code == 401


@pytest.mark.parametrize("path", PATHS)
def test_authd_down_is_503_with_retry_after(settings, make_authd, person: Person, path: str) -> None:  # type: ignore[no-untyped-def]
    server = make_authd()
    server.add_user(person.username, person.password)
    settings.AUTHD = {
        "TARGET": server.target,
        "CREATE_USERS": True,
        "TIMEOUT": 5,
        "VERIFY_CACHE_SECONDS": 0,
        "RETRY_AFTER": 3,
    }
    with authd.Client(server.target, timeout=SLOW) as c:
        tokens = c.login(person.username, person.password)
    assert _get(path, f"Bearer {tokens.access_token}").status_code == 200
    server.stop()
    answer = _get(path, f"Bearer {tokens.access_token}")
    assert answer.status_code == 503, answer.content
    assert answer["Retry-After"] == "3"
