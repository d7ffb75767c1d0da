"""AuthdMiddleware: request.user from a bearer token on plain Django views."""

from __future__ import annotations

import pytest
from conftest import Person
from django.test import Client

import authd

pytestmark = pytest.mark.django_db


def _get(authorization: str | None = None):  # type: ignore[no-untyped-def]
    extra = {} if authorization is None else {"HTTP_AUTHORIZATION": authorization}
    return Client().get("/plain/me", **extra)


@pytest.mark.usefixtures("authd_settings")
def test_bearer_token_sets_request_user(client: authd.Client, person: Person) -> None:
    tokens = client.login(person.username, person.password)
    answer = _get(f"Bearer {tokens.access_token}")
    assert answer.status_code == 200, answer.content
    assert answer.json()["username"] == person.username
    assert tokens.user is not None
    assert answer.json()["sub"] == tokens.user.id
    client.logout(access_token=tokens.access_token)
    assert _get(f"Bearer {tokens.access_token}").status_code == 401


@pytest.mark.usefixtures("authd_settings")
@pytest.mark.parametrize("header", [None, "Bearer garbage", "Bearer", "Token a b", "Bearer t\u00f6k\u00e9n"])
def test_no_or_bad_token_is_anonymous(header: str | None) -> None:
    assert _get(header).status_code == 401


def test_authd_down_is_503_not_anonymous(settings, make_authd) -> None:  # type: ignore[no-untyped-def]
    server = make_authd()
    server.stop()
    settings.AUTHD = {"TARGET": server.target, "TIMEOUT": 5}
    answer = _get("Bearer some.token.here")
    assert answer.status_code == 503
    assert answer["Retry-After"] == "5"
