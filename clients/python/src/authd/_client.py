"""``authd.Client``: the blocking client (one gRPC channel, safe to share between threads)."""

from __future__ import annotations

import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar

import grpc

from authd import _options as o
from authd._errors import AuthdError, from_status
from authd._proto.auth.v1 import auth_pb2, auth_pb2_grpc
from authd._types import Tokens, User, Verification

_T = TypeVar("_T")


def _error(error: grpc.RpcError) -> AuthdError:
    call: Any = error
    return from_status(call.code(), call.details(), call.trailing_metadata())


class Client:
    """A blocking client of ``auth.v1.AuthService``.

    ``target`` is ``host:port`` (``127.0.0.1:50051``); ``tls`` turns on TLS
    (plaintext without it, for loopback or a sidecar); ``timeout`` is each
    call's deadline in seconds unless the call gives its own; ``retry`` is the
    policy for idempotent calls (Verify, GetUser, GetJwks, ListSessions) when
    authd is ``UNAVAILABLE``; Login and Refresh are never retried.

    Failures raise :class:`authd.AuthdError` subclasses; an invalid token is
    an answer (:class:`authd.Verification` with ``valid=False``).
    """

    def __init__(
        self,
        target: str,
        *,
        tls: o.Tls | None = None,
        timeout: float = 5.0,
        retry: o.Retry | None = None,
        channel_options: o.ChannelOptions = (),
    ) -> None:
        self.target = target
        self.timeout = o.check_timeout(timeout)
        self.retry = retry or o.Retry()
        options = o.channel_options(tls, channel_options)
        if tls is None:
            self._channel = grpc.insecure_channel(target, options=options)
        else:
            self._channel = grpc.secure_channel(target, tls.credentials(), options=options)
        self.stub = auth_pb2_grpc.AuthServiceStub(self._channel)
        """The generated stub, for the RPCs this class does not wrap."""

    def close(self) -> None:
        """Closes the channel."""
        self._channel.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"authd.Client({self.target!r})"

    def _call(self, method: str, send: Callable[[float], _T], timeout: float | None) -> _T:
        deadline = o.check_timeout(timeout) if timeout is not None else self.timeout
        attempt = 0
        while True:
            try:
                return send(deadline)
            except grpc.RpcError as raw:
                error = _error(raw)
            if attempt + 1 >= self.retry.attempts or not o.retryable(error, method):
                raise error
            time.sleep(self.retry.delay(attempt))
            attempt += 1

    def login(self, username: str, password: str, *, timeout: float | None = None) -> Tokens:
        """Logs a user in (by username or email). Wrong credentials:
        :class:`authd.Unauthenticated`; throttled: :class:`authd.ResourceExhausted`."""
        request = auth_pb2.LoginRequest(username=username, password=password)
        answer = self._call("Login", lambda t: self.stub.Login(request, timeout=t), timeout)
        return o.login_tokens(answer)

    def verify(self, token: str, *, timeout: float | None = None) -> Verification:
        """Checks an access token (without any ``Bearer`` prefix)."""
        request = auth_pb2.VerifyRequest(token=token)
        answer = self._call("Verify", lambda t: self.stub.Verify(request, timeout=t), timeout)
        return Verification.from_proto(answer)

    def get_user(
        self,
        access_token: str,
        *,
        id: str | None = None,  # noqa: A002 (the proto's name)
        username: str | None = None,
        timeout: float | None = None,
    ) -> User:
        """Reads a user (by ``id`` or ``username``) with the caller's access token."""
        request = o.user_selector(id, username)
        metadata = o.bearer(access_token)
        answer = self._call(
            "GetUser", lambda t: self.stub.GetUser(request, timeout=t, metadata=metadata), timeout
        )
        return User.from_proto(answer.user)

    def refresh(self, refresh_token: str, *, timeout: float | None = None) -> Tokens:
        """Exchanges a refresh token for new tokens (the presented one is spent)."""
        request = auth_pb2.RefreshRequest(refresh_token=refresh_token)
        answer = self._call("Refresh", lambda t: self.stub.Refresh(request, timeout=t), timeout)
        return o.refresh_tokens(answer)

    def logout(
        self,
        *,
        refresh_token: str | None = None,
        access_token: str | None = None,
        timeout: float | None = None,
    ) -> None:
        """Ends one session: the refresh token's, or else the access token's."""
        request = auth_pb2.LogoutRequest(refresh_token=refresh_token or "")
        metadata = o.bearer(access_token) if access_token else ()
        self._call("Logout", lambda t: self.stub.Logout(request, timeout=t, metadata=metadata), timeout)

    def logout_all(self, access_token: str, *, timeout: float | None = None) -> int:
        """Ends every session of the token's user; answers how many."""
        metadata = o.bearer(access_token)
        answer = self._call(
            "LogoutAll",
            lambda t: self.stub.LogoutAll(auth_pb2.LogoutAllRequest(), timeout=t, metadata=metadata),
            timeout,
        )
        return answer.ended

    def get_jwks(self, *, timeout: float | None = None) -> str:
        """The JWK Set (JSON) of the keys that verify authd's tokens."""
        answer = self._call(
            "GetJwks", lambda t: self.stub.GetJwks(auth_pb2.GetJwksRequest(), timeout=t), timeout
        )
        return answer.jwks_json

    def issue_service_token(
        self, client_id: str, client_secret: str, *, timeout: float | None = None
    ) -> Tokens:
        """A service account's access token (OAuth2 client credentials over gRPC)."""
        request = auth_pb2.IssueServiceTokenRequest(client_id=client_id, client_secret=client_secret)
        answer = self._call(
            "IssueServiceToken", lambda t: self.stub.IssueServiceToken(request, timeout=t), timeout
        )
        return o.service_tokens(answer)
