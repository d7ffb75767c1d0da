"""authd.Client and authd.aio.Client against the real server."""

from __future__ import annotations

import asyncio
import json

import grpc
import pytest
from authd_server import Authd
from conftest import SLOW, Person, eventually

import authd
import authd.aio
from authd import _options


def test_login_verify_get_user_refresh_and_logout(client: authd.Client, person: Person) -> None:
    tokens = client.login(person.username, person.password)
    assert tokens.token_type == "Bearer"
    assert tokens.expires_in > 0
    assert tokens.user is not None
    assert tokens.user.username == person.username
    assert tokens.user.email == person.email
    assert tokens.user.roles == ("viewer",)
    assert tokens.session_id
    assert tokens.access_token not in repr(tokens)
    assert tokens.refresh_token not in repr(tokens)

    answer = client.verify(tokens.access_token)
    assert answer.valid
    assert answer.reason == ""
    assert answer.claims is not None
    assert answer.claims.sub == tokens.user.id
    assert answer.claims.sid == tokens.session_id
    assert answer.claims.principal_type == "USER"
    assert answer.user is not None
    assert answer.user.username == person.username

    me = client.get_user(tokens.access_token, username=person.username)
    assert me.id == tokens.user.id

    renewed = client.refresh(tokens.refresh_token)
    assert client.verify(renewed.access_token).valid
    with pytest.raises(authd.Unauthenticated):
        client.refresh("rt_not-a-refresh-token")

    client.logout(access_token=renewed.access_token)
    ended = client.verify(renewed.access_token)
    assert not ended.valid
    assert ended.reason == "SESSION_ENDED"
    assert ended.claims is None


def test_login_failures_are_typed_errors(client: authd.Client, person: Person) -> None:
    with pytest.raises(authd.Unauthenticated) as wrong:
        client.login(person.username, "not the password")
    assert wrong.value.code == grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(authd.InvalidArgument):
        client.login(person.username, "")
    with pytest.raises(authd.InvalidArgument):
        client.login(person.username, "x" * 1025)


def test_garbage_token_is_an_answer_not_an_error(client: authd.Client) -> None:
    answer = client.verify("garbage")
    assert not answer.valid
    assert answer.reason == "MALFORMED"


def test_get_user_needs_exactly_one_selector(client: authd.Client, person: Person) -> None:
    tokens = client.login(person.username, person.password)
    with pytest.raises(authd.InvalidArgument):
        client.get_user(tokens.access_token)
    with pytest.raises(authd.PermissionDenied):
        client.get_user(tokens.access_token, id="00000000-0000-0000-0000-000000000000")


def test_jwks_lists_the_signing_key(client: authd.Client) -> None:
    keys = json.loads(client.get_jwks())["keys"]
    assert keys
    assert {k["alg"] for k in keys} <= {"EdDSA", "ES256", "RS256"}


def test_asyncio_client_does_the_same(authd_server: Authd, person: Person) -> None:
    async def scenario() -> None:
        async with authd.aio.Client(authd_server.target, timeout=SLOW) as c:
            tokens = await c.login(person.username, person.password)
            assert (await c.verify(tokens.access_token)).valid
            assert (
                await c.get_user(tokens.access_token, username=person.username)
            ).username == person.username
            assert await c.logout_all(tokens.access_token) == 1
            assert (await c.verify(tokens.access_token)).reason == "SESSION_ENDED"
            with pytest.raises(authd.Unauthenticated):
                await c.login(person.username, "wrong password here")

    asyncio.run(scenario())


def test_unreachable_authd_is_unavailable_after_retries(make_authd) -> None:  # type: ignore[no-untyped-def]
    server = make_authd()
    server.stop()
    with authd.Client(server.target, timeout=1, retry=authd.Retry(attempts=3, backoff=0.01)) as c:
        with pytest.raises(authd.Unavailable) as down:
            c.verify("whatever")
        assert down.value.code == grpc.StatusCode.UNAVAILABLE
        with pytest.raises(authd.Unavailable):
            c.login("someone", "some password")


def test_the_client_reconnects_when_authd_is_back(make_authd, client: authd.Client) -> None:  # type: ignore[no-untyped-def]
    server = make_authd()
    with authd.Client(server.target, timeout=2) as c:
        assert not c.verify("garbage").valid
        server.stop()
        with pytest.raises(authd.Unavailable):
            c.verify("garbage")
        server.start()
        # Back within grpc's reconnect back-off (at most 1 s here).
        assert eventually(lambda: c.verify("garbage").reason == "MALFORMED")


def test_only_idempotent_calls_are_retried() -> None:
    down = authd.Unavailable("down", code=grpc.StatusCode.UNAVAILABLE)
    late = authd.Unavailable("late", code=grpc.StatusCode.DEADLINE_EXCEEDED)
    for method in ("Verify", "GetUser", "GetJwks", "ListSessions"):
        assert _options.retryable(down, method)
        assert not _options.retryable(late, method)
    for method in ("Login", "Refresh", "Logout", "LogoutAll", "IssueServiceToken"):
        assert not _options.retryable(down, method)
    assert not _options.retryable(authd.Unauthenticated("no"), "Verify")


def test_bad_options_are_refused() -> None:
    with pytest.raises(ValueError, match="timeout"):
        authd.Client("127.0.0.1:1", timeout=0)
    with pytest.raises(ValueError, match="both cert_file and key_file"):
        authd.Tls(cert_file="client.pem")
    with pytest.raises(ValueError, match="attempts"):
        authd.Retry(attempts=0)
