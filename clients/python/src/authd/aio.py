"""``authd.aio.Client``: the asyncio client, the same calls as :class:`authd.Client`.

A ``grpc.aio`` channel belongs to the event loop it was made in: make one
client per loop (``authd.django`` does).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, TypeVar

import grpc
import grpc.aio

from authd import _options as o
from authd._errors import AuthdError, from_status
from authd._options import Retry, Tls
from authd._proto.auth.v1 import auth_pb2, auth_pb2_grpc
from authd._types import Tokens, User, Verification

__all__ = ["Client", "Retry", "Tls"]

_T = TypeVar("_T")


def _error(error: grpc.aio.AioRpcError) -> AuthdError:
    raw: Any = error
    return from_status(raw.code(), raw.details(), raw.trailing_metadata())


class Client:
    """An asyncio client of ``auth.v1.AuthService``; see :class:`authd.Client` for the options."""

    def __init__(
        self,
        target: str,
        *,
        tls: Tls | None = None,
        timeout: float = 5.0,
        retry: Retry | None = None,
        channel_options: o.ChannelOptions = (),
    ) -> None:
        self.target = target
        self.timeout = o.check_timeout(timeout)
        self.retry = retry or Retry()
        options = o.channel_options(tls, channel_options)
        if tls is None:
            self._channel = grpc.aio.insecure_channel(target, options=options)
        else:
            self._channel = grpc.aio.secure_channel(target, tls.credentials(), options=options)
        self.stub = auth_pb2_grpc.AuthServiceStub(self._channel)
        """The generated stub, for the RPCs this class does not wrap."""

    async def close(self) -> None:
        """Closes the channel."""
        await self._channel.close(grace=None)

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"authd.aio.Client({self.target!r})"

    async def _call(self, method: str, send: Callable[[float], Awaitable[_T]], timeout: float | None) -> _T:
        deadline = o.check_timeout(timeout) if timeout is not None else self.timeout
        attempt = 0
        while True:
            try:
                return await send(deadline)
            except grpc.aio.AioRpcError as raw:
                error = _error(raw)
            if attempt + 1 >= self.retry.attempts or not o.retryable(error, method):
                raise error
            await asyncio.sleep(self.retry.delay(attempt))
            attempt += 1

    async def login(self, username: str, password: str, *, timeout: float | None = None) -> Tokens:
        """Logs a user in; see :meth:`authd.Client.login`."""
        request = auth_pb2.LoginRequest(username=username, password=password)
        answer = await self._call("Login", lambda t: self.stub.Login(request, timeout=t), timeout)
        return o.login_tokens(answer)

    async def verify(self, token: str, *, timeout: float | None = None) -> Verification:
        """Checks an access token; see :meth:`authd.Client.verify`."""
        request = auth_pb2.VerifyRequest(token=token)
        answer = await self._call("Verify", lambda t: self.stub.Verify(request, timeout=t), timeout)
        return Verification.from_proto(answer)

    async def get_user(
        self,
        access_token: str,
        *,
        id: str | None = None,  # noqa: A002 (the proto's name)
        username: str | None = None,
        timeout: float | None = None,
    ) -> User:
        """Reads a user; see :meth:`authd.Client.get_user`."""
        request = o.user_selector(id, username)
        metadata = o.bearer(access_token)
        answer = await self._call(
            "GetUser", lambda t: self.stub.GetUser(request, timeout=t, metadata=metadata), timeout
        )
        return User.from_proto(answer.user)

    async def refresh(self, refresh_token: str, *, timeout: float | None = None) -> Tokens:
        """New tokens for a refresh token; see :meth:`authd.Client.refresh`."""
        request = auth_pb2.RefreshRequest(refresh_token=refresh_token)
        answer = await self._call("Refresh", lambda t: self.stub.Refresh(request, timeout=t), timeout)
        return o.refresh_tokens(answer)

    async def logout(
        self,
        *,
        refresh_token: str | None = None,
        access_token: str | None = None,
        timeout: float | None = None,
    ) -> None:
        """Ends one session; see :meth:`authd.Client.logout`."""
        request = auth_pb2.LogoutRequest(refresh_token=refresh_token or "")
        metadata = o.bearer(access_token) if access_token else ()
        await self._call("Logout", lambda t: self.stub.Logout(request, timeout=t, metadata=metadata), timeout)

    async def logout_all(self, access_token: str, *, timeout: float | None = None) -> int:
        """Ends every session of the token's user; answers how many."""
        metadata = o.bearer(access_token)
        answer = await self._call(
            "LogoutAll",
            lambda t: self.stub.LogoutAll(auth_pb2.LogoutAllRequest(), timeout=t, metadata=metadata),
            timeout,
        )
        return answer.ended

    async def get_jwks(self, *, timeout: float | None = None) -> str:
        """The JWK Set (JSON) of the keys that verify authd's tokens."""
        answer = await self._call(
            "GetJwks", lambda t: self.stub.GetJwks(auth_pb2.GetJwksRequest(), timeout=t), timeout
        )
        return answer.jwks_json

    async def issue_service_token(
        self, client_id: str, client_secret: str, *, timeout: float | None = None
    ) -> Tokens:
        """A service account's access token."""
        request = auth_pb2.IssueServiceTokenRequest(client_id=client_id, client_secret=client_secret)
        answer = await self._call(
            "IssueServiceToken", lambda t: self.stub.IssueServiceToken(request, timeout=t), timeout
        )
        return o.service_tokens(answer)
