"""AuthdStatelessAuthentication: DRF views behind the process's LocalVerifier, against the real authd."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from authd_server import Authd
from conftest import PASSWORD, SLOW
from django.core.exceptions import ImproperlyConfigured
from rest_framework.test import APIClient
from test_local import REVOCATION_WAIT, add_service_account

import authd
from authd.django import conf

pytestmark = pytest.mark.django_db

STALENESS = 1.0


def _get(token: str):  # type: ignore[no-untyped-def]
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return api.get("/drf/stateless")


def _stateless_settings(settings, server: Authd) -> None:  # type: ignore[no-untyped-def]
    account = add_service_account(server)
    settings.AUTHD = {
        "TARGET": server.target,
        "TIMEOUT": SLOW,
        "RETRY_AFTER": 7,
        "LOCAL_VERIFIER": {
            "CLIENT_ID": account.client_id,
            "CLIENT_SECRET": account.client_secret,
            "STALENESS_SECONDS": STALENESS,
            "START_TIMEOUT": SLOW,
        },
    }


def _verify_calls(server: Authd) -> float:
    return server.metric("authd_rpc_requests_total", method="Verify")


def test_a_good_token_is_accepted_without_a_verify_call_and_a_revoked_one_refused(
    settings, make_authd: Callable[..., Authd]
) -> None:  # type: ignore[no-untyped-def]
    server = make_authd(http=True)
    _stateless_settings(settings, server)
    server.add_user("alice", PASSWORD, roles=["viewer"])
    with authd.Client(server.target, timeout=SLOW) as client:
        tokens = client.login("alice", PASSWORD)
        assert tokens.user is not None
        before = _verify_calls(server)
        for _ in range(5):
            answer = _get(tokens.access_token)
            assert answer.status_code == 200, answer.content
        body = answer.json()
        assert body["sub"] == tokens.user.id
        assert body["pk"] == tokens.user.id
        assert body["roles"] == ["viewer"]
        assert body["principal_type"] == "USER"
        assert _verify_calls(server) == before, "a Verify call was made"

        client.logout(access_token=tokens.access_token)
        deadline = time.monotonic() + REVOCATION_WAIT
        while (answer := _get(tokens.access_token)).status_code == 200:
            assert time.monotonic() < deadline, "the revoked token is still accepted"
            time.sleep(0.01)
        assert answer.status_code == 401, answer.content
        assert answer["WWW-Authenticate"] == 'Bearer realm="api"'
        assert "SESSION_ENDED" in answer.json()["detail"]
        assert _verify_calls(server) == before


def test_a_service_accounts_token_is_its_account(settings, make_authd: Callable[..., Authd]) -> None:  # type: ignore[no-untyped-def]
    server = make_authd()
    _stateless_settings(settings, server)
    account = add_service_account(server, "reporting")
    with authd.Client(server.target, timeout=SLOW) as client:
        token = client.issue_service_token(account.client_id, account.client_secret).access_token
    answer = _get(token)
    assert answer.status_code == 200, answer.content
    assert answer.json()["username"] == account.client_id
    assert answer.json()["principal_type"] == "SERVICE_ACCOUNT"
    assert answer.json()["roles"] == ["reporting"]


def test_garbage_and_bad_headers_are_401(settings, make_authd: Callable[..., Authd]) -> None:  # type: ignore[no-untyped-def]
    server = make_authd()
    _stateless_settings(settings, server)
    answer = _get("garbage")
    assert answer.status_code == 401
    assert "MALFORMED" in answer.json()["detail"]
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION="Bearer")
    assert api.get("/drf/stateless").status_code == 401
    assert APIClient().get("/drf/stateless").status_code in {401, 403}  # no credentials at all


def test_authd_gone_is_503_with_retry_after_never_anonymous(
    settings, make_authd: Callable[..., Authd]
) -> None:  # type: ignore[no-untyped-def]
    server = make_authd()
    _stateless_settings(settings, server)
    server.add_user("alice", PASSWORD)
    with authd.Client(server.target, timeout=SLOW) as client:
        token = client.login("alice", PASSWORD).access_token
    assert _get(token).status_code == 200
    server.stop()
    deadline = time.monotonic() + STALENESS + 1.0
    while (answer := _get(token)).status_code == 200:
        assert time.monotonic() < deadline, "still accepted with authd gone"
        time.sleep(0.02)
    assert answer.status_code == 503, answer.content
    assert answer["Retry-After"] == "7"


@pytest.mark.parametrize(
    ("local", "message"),
    [
        ("yes", "'LOCAL_VERIFIER'] must be None or a dict"),
        ({"CLIENT_SECRET": "s"}, "CLIENT_ID must be a service account's client id"),
        ({"CLIENT_ID": "c"}, "needs exactly one of CLIENT_SECRET and CLIENT_SECRET_FILE"),
        ({"CLIENT_ID": "c", "CLIENT_SECRET": "s", "CLIENT_SECRET_FILE": "/f"}, "needs exactly one"),
        ({"CLIENT_ID": "c", "CLIENT_SECRET_FILE": "/no/such/secret"}, "is not a readable file"),
        ({"CLIENT_ID": "c", "CLIENT_SECRET": ""}, "CLIENT_SECRET must be"),
        (
            {"CLIENT_ID": "c", "CLIENT_SECRET": "s", "STALENESS_SECONDS": 0},
            "STALENESS_SECONDS must be greater",
        ),
        ({"CLIENT_ID": "c", "CLIENT_SECRET": "s", "CACHE_SIZE": -1}, "CACHE_SIZE must be at least 0"),
        ({"CLIENT_ID": "c", "CLIENT_SECRET": "s", "STALE": 1}, "unknown keys ['STALE']"),
    ],
)
def test_bad_local_verifier_settings_name_the_key(local: object, message: str) -> None:
    with pytest.raises(ImproperlyConfigured) as error:
        conf.parse({"TARGET": "h:1", "LOCAL_VERIFIER": local})
    assert message in str(error.value)


def test_the_secret_can_come_from_a_file_and_is_never_shown(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("s3cr3t-value\n")
    parsed = conf.parse(
        {"TARGET": "h:1", "LOCAL_VERIFIER": {"CLIENT_ID": "c", "CLIENT_SECRET_FILE": str(secret)}}
    )
    assert parsed.local is not None
    assert parsed.local.client_secret == "s3cr3t-value"
    assert parsed.local.staleness_seconds == 3.0
    assert "s3cr3t" not in repr(parsed)


def test_without_local_verifier_settings_the_stateless_class_says_what_to_set(settings) -> None:  # type: ignore[no-untyped-def]
    settings.AUTHD = {"TARGET": "127.0.0.1:1"}
    with pytest.raises(ImproperlyConfigured, match="'LOCAL_VERIFIER'] is missing"):
        conf.local_verifier()
