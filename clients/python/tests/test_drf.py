"""AuthdAuthentication on DRF views (APIClient), against the real authd."""

from __future__ import annotations

import time

import pytest
from authd_server import Authd
from conftest import SLOW, Person, eventually
from rest_framework.test import APIClient

import authd

pytestmark = pytest.mark.django_db


def _get(path: str, authorization: str | None = None):  # type: ignore[no-untyped-def]
    api = APIClient()
    if authorization is not None:
        api.credentials(HTTP_AUTHORIZATION=authorization)
    return api.get(path)


@pytest.mark.usefixtures("authd_settings")
@pytest.mark.parametrize("keyword", ["Bearer", "Token", "bearer"])
def test_valid_token_gives_the_local_user_and_claims(
    client: authd.Client, person: Person, keyword: str
) -> None:
    tokens = client.login(person.username, person.password)
    answer = _get("/drf/me", f"{keyword} {tokens.access_token}")
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert body["username"] == person.username
    assert tokens.user is not None
    assert body["sub"] == tokens.user.id
    assert body["roles"] == ["viewer"]
    assert body["principal_type"] == "USER"


def _refused(answer) -> None:  # type: ignore[no-untyped-def]
    assert answer.status_code == 401, answer.content
    assert answer["WWW-Authenticate"] == 'Bearer realm="api"'


@pytest.mark.usefixtures("authd_settings")
def test_revoked_token_is_refused_at_once(client: authd.Client, person: Person) -> None:
    tokens = client.login(person.username, person.password)
    assert _get("/drf/me", f"Bearer {tokens.access_token}").status_code == 200
    client.logout(access_token=tokens.access_token)
    answer = _get("/drf/me", f"Bearer {tokens.access_token}")
    _refused(answer)
    assert "SESSION_ENDED" in answer.json()["detail"]


@pytest.mark.usefixtures("authd_settings")
def test_garbage_and_disabled_users_tokens_are_refused(
    authd_server: Authd, client: authd.Client, person: Person
) -> None:
    _refused(_get("/drf/me", "Bearer garbage"))
    _refused(_get("/drf/open", "Bearer garbage"))
    tokens = client.login(person.username, person.password)
    authd_server.cli("user", "disable", person.username)
    answer = _get("/drf/me", f"Bearer {tokens.access_token}")
    _refused(answer)
    assert "USER_DISABLED" in answer.json()["detail"] or "SESSION_ENDED" in answer.json()["detail"]


@pytest.mark.usefixtures("authd_settings")
@pytest.mark.parametrize(
    "header",
    [
        "Token abc.def.ghi extra",  # two tokens
        "Bearer",  # no token
        "Bearer ",  # no token
        "Bearer t\u00f6k\u00e9n",  # not ASCII
    ],
)
def test_bad_authorization_headers_are_401(header: str) -> None:
    _refused(_get("/drf/me", header))
    _refused(_get("/drf/open", header))


@pytest.mark.usefixtures("authd_settings")
def test_no_header_or_another_scheme_is_left_to_others() -> None:
    # Not authenticated by us: anonymous on an open view, 401 on a protected one.
    assert _get("/drf/open").json() == {"authenticated": False}
    assert _get("/drf/open", "Basic dXNlcjpwYXNz").json() == {"authenticated": False}
    _refused(_get("/drf/me"))


def test_header_types_are_configurable(
    settings, authd_server: Authd, client: authd.Client, person: Person
) -> None:  # type: ignore[no-untyped-def]
    settings.AUTHD = {
        "TARGET": authd_server.target,
        "CREATE_USERS": True,
        "AUTH_HEADER_TYPES": ("JWT",),
        "TIMEOUT": SLOW,
    }
    tokens = client.login(person.username, person.password)
    assert _get("/drf/me", f"JWT {tokens.access_token}").status_code == 200
    _refused(_get("/drf/me", f"Bearer {tokens.access_token}"))


def test_expired_token_is_refused(settings, make_authd, person: Person) -> None:  # type: ignore[no-untyped-def]
    server = make_authd("--access-token-ttl", "10s", "--leeway", "0s")
    server.add_user(person.username, person.password)
    settings.AUTHD = {
        "TARGET": server.target,
        "CREATE_USERS": True,
        "VERIFY_CACHE_SECONDS": 60,
        "TIMEOUT": SLOW,
    }
    with authd.Client(server.target, timeout=SLOW) as c:
        tokens = c.login(person.username, person.password)
    assert _get("/drf/me", f"Bearer {tokens.access_token}").status_code == 200
    assert _get("/ninja/me", f"Bearer {tokens.access_token}").status_code == 200
    # The cache never outlives exp, even with a long VERIFY_CACHE_SECONDS.
    assert tokens.expires_at is not None
    time.sleep(max(0.0, tokens.expires_at.timestamp() - time.time()) + 1.5)
    answer = _get("/drf/me", f"Bearer {tokens.access_token}")
    _refused(answer)
    assert "EXPIRED" in answer.json()["detail"]
    assert _get("/ninja/me", f"Bearer {tokens.access_token}").status_code == 401


def test_valid_answers_are_cached_for_verify_cache_seconds_only(  # type: ignore[no-untyped-def]
    settings, authd_server: Authd, client: authd.Client, person: Person
) -> None:
    settings.AUTHD = {
        "TARGET": authd_server.target,
        "CREATE_USERS": True,
        "VERIFY_CACHE_SECONDS": 2,
        "TIMEOUT": SLOW,
    }
    tokens = client.login(person.username, person.password)
    started = time.monotonic()
    assert _get("/drf/me", f"Bearer {tokens.access_token}").status_code == 200
    client.logout(access_token=tokens.access_token)
    # Within the cache bound the valid answer may be reused...
    if time.monotonic() - started < 1.5:
        assert _get("/drf/me", f"Bearer {tokens.access_token}").status_code == 200
    # ...and not after it.
    time.sleep(max(0.0, 2.2 - (time.monotonic() - started)))
    _refused(_get("/drf/me", f"Bearer {tokens.access_token}"))
    # A refusal is never cached: the next look asks authd again (still refused).
    _refused(_get("/drf/me", f"Bearer {tokens.access_token}"))


def test_authd_down_is_503_with_retry_after_never_anonymous(settings, make_authd, person: Person) -> None:  # type: ignore[no-untyped-def]
    server = make_authd()
    server.add_user(person.username, person.password)
    settings.AUTHD = {
        "TARGET": server.target,
        "CREATE_USERS": True,
        "TIMEOUT": 5,
        "VERIFY_CACHE_SECONDS": 0,
        "RETRY_AFTER": 7,
    }
    with authd.Client(server.target, timeout=SLOW) as c:
        tokens = c.login(person.username, person.password)
    assert _get("/drf/me", f"Bearer {tokens.access_token}").status_code == 200
    server.stop()
    for path in ("/drf/me", "/drf/open"):
        answer = _get(path, f"Bearer {tokens.access_token}")
        assert answer.status_code == 503, answer.content
        assert answer["Retry-After"] == "7"
    server.start()
    assert eventually(lambda: _get("/drf/me", f"Bearer {tokens.access_token}").status_code == 200)


@pytest.mark.usefixtures("authd_settings")
def test_service_account_token_is_a_service_principal(authd_server: Authd, client: authd.Client) -> None:
    out = authd_server.cli("service-account", "add", "billing-job", "--role", "billing")
    fields = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
    tokens = client.issue_service_token(fields["client id"].strip(), fields["client secret"].strip())
    answer = _get("/drf/me", f"Bearer {tokens.access_token}")
    assert answer.status_code == 200, answer.content
    assert answer.json()["username"] == "billing-job"
    assert answer.json()["principal_type"] == "SERVICE_ACCOUNT"
    assert answer.json()["roles"] == ["billing"]
