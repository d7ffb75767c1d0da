"""AuthdBackend through django.contrib.auth.authenticate, against the real authd."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from authd_server import Authd
from conftest import SLOW, Person
from django.contrib.auth import aauthenticate, authenticate, get_user_model
from django.test import Client

import authd

pytestmark = pytest.mark.django_db


@pytest.mark.usefixtures("authd_settings")
def test_right_password_logs_in_and_creates_the_local_user(person: Person) -> None:
    user = authenticate(None, username=person.username, password=person.password)
    assert user is not None
    assert user.get_username() == person.username
    assert user.email == person.email
    assert not user.has_usable_password(), "the password lives in authd only"
    assert user.authd_tokens.access_token
    # The same local row the next time, found by username.
    again = authenticate(None, username=person.username, password=person.password)
    assert again is not None
    assert again.pk == user.pk
    assert get_user_model().objects.filter(username=person.username).count() == 1


@pytest.mark.usefixtures("authd_settings")
def test_login_by_email_finds_the_same_user(person: Person) -> None:
    user = authenticate(None, username=person.email, password=person.password)
    assert user is not None
    assert user.get_username() == person.username


@pytest.mark.usefixtures("authd_settings")
def test_wrong_password_unknown_user_and_empty_password_are_none(person: Person) -> None:
    assert authenticate(None, username=person.username, password="not the password") is None
    assert authenticate(None, username="nobody-here", password=person.password) is None
    assert authenticate(None, username=person.username, password="") is None
    assert authenticate(None, username=person.username, password="x" * 1025) is None


@pytest.mark.usefixtures("authd_settings")
def test_disabled_user_cannot_log_in(authd_server: Authd, person: Person) -> None:
    authd_server.cli("user", "disable", person.username)
    assert authenticate(None, username=person.username, password=person.password) is None


def test_without_create_users_an_unknown_local_user_is_none(
    settings, authd_server: Authd, person: Person
) -> None:  # type: ignore[no-untyped-def]
    settings.AUTHD = {"TARGET": authd_server.target, "CREATE_USERS": False, "TIMEOUT": SLOW}
    assert authenticate(None, username=person.username, password=person.password) is None
    local = get_user_model().objects.create_user(person.username)
    found = authenticate(None, username=person.username, password=person.password)
    assert found is not None
    assert found.pk == local.pk


def test_inactive_local_user_is_refused(settings, authd_server: Authd, person: Person) -> None:  # type: ignore[no-untyped-def]
    settings.AUTHD = {"TARGET": authd_server.target, "TIMEOUT": SLOW}
    get_user_model().objects.create_user(person.username, is_active=False)
    assert authenticate(None, username=person.username, password=person.password) is None


def test_unreachable_authd_raises_instead_of_trying_the_next_backend(settings, make_authd) -> None:  # type: ignore[no-untyped-def]
    server = make_authd()
    server.stop()
    settings.AUTHD = {"TARGET": server.target, "TIMEOUT": 5, "CREATE_USERS": True}
    # The next backend would accept this user's old local hash.
    settings.AUTHENTICATION_BACKENDS = [
        "authd.django.AuthdBackend",
        "django.contrib.auth.backends.ModelBackend",
    ]
    get_user_model().objects.create_user("olduser", password="old local password")
    with pytest.raises(authd.Unavailable):
        authenticate(None, username="olduser", password="old local password")
    with pytest.raises(authd.Unavailable):
        async_to_sync(aauthenticate)(None, username="olduser", password="old local password")


@pytest.mark.usefixtures("authd_settings")
def test_a_throttled_login_raises_with_retry_after(person: Person) -> None:
    # authd's default: 5 free failures per login name, then a block of 1 s,
    # doubling with each further failure. A slow machine may outlast the
    # first blocks, so fail until the right password is refused too.
    refused: authd.ResourceExhausted | None = None
    for _ in range(12):
        try:
            assert authenticate(None, username=person.username, password="a wrong guess") is None
            continue
        except authd.ResourceExhausted:
            pass
        try:
            authenticate(None, username=person.username, password=person.password)
        except authd.ResourceExhausted as error:
            refused = error
            break
    assert refused is not None, "the right password was never throttled"
    assert refused.retry_after is not None
    assert refused.retry_after >= 1


@pytest.mark.usefixtures("authd_settings")
def test_aauthenticate_logs_in_for_async_views(person: Person) -> None:
    user = async_to_sync(aauthenticate)(None, username=person.username, password=person.password)
    assert user is not None
    assert user.get_username() == person.username
    assert async_to_sync(aauthenticate)(None, username=person.username, password="wrong one") is None


@pytest.mark.usefixtures("authd_settings")
def test_login_view_hands_out_a_token_the_drf_view_accepts(person: Person) -> None:
    web = Client()
    answer = web.post(
        "/login", {"username": person.username, "password": person.password}, content_type="application/json"
    )
    assert answer.status_code == 200, answer.content
    token = answer.json()["access_token"]
    me = web.get("/drf/me", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert me.status_code == 200
    assert me.json()["username"] == person.username
    wrong = web.post(
        "/login", {"username": person.username, "password": "nope nope"}, content_type="application/json"
    )
    assert wrong.status_code == 401
