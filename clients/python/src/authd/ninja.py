"""django-ninja authentication by authd's Verify: ``AuthdBearer`` (sync views)
and ``AsyncAuthdBearer`` (async views).

::

    api = NinjaAPI(auth=AuthdBearer())
    authd.ninja.install(api)   # 503 answers with Retry-After when authd is down

``request.auth`` is the local Django user (or a
:class:`authd.django.ServiceAccountUser`), ``request.authd_claims`` the
:class:`authd.Claims`. A missing, malformed or invalid token: ninja's 401.
authd down: 503 (:class:`AuthdUnavailableError`); never anonymous.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import HttpError
from ninja.security import HttpBearer

import authd
from authd.django import _core, conf

__all__ = ["AsyncAuthdBearer", "AuthdBearer", "AuthdUnavailableError", "install"]


class AuthdUnavailableError(HttpError):
    """authd could not answer: a 503 (with ``Retry-After`` once :func:`install` ran)."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(503, "The authentication service is unavailable; try again later.")
        self.retry_after = retry_after


def install(api: NinjaAPI) -> None:
    """Makes ``api`` answer :class:`AuthdUnavailableError` with a ``Retry-After`` header."""

    def unavailable(request: HttpRequest, error: Any) -> HttpResponse:
        assert isinstance(error, AuthdUnavailableError)  # noqa: S101 (registered for it only)
        response = api.create_response(request, {"detail": error.message}, status=503)
        response["Retry-After"] = str(error.retry_after)
        return response

    api.add_exception_handler(AuthdUnavailableError, unavailable)


def _token(request: HttpRequest) -> str | None:
    try:
        return _core.token_from_header(request.META.get("HTTP_AUTHORIZATION"), conf.get().auth_header_types)
    except _core.BadCredentials:
        return None


class AuthdBearer(HttpBearer):
    """For sync ninja operations; see the module."""

    def __call__(self, request: HttpRequest) -> Any:
        # Our own parser, so `Bearer` with no token, two tokens or a non-ASCII
        # one is refused exactly as the DRF class refuses it.
        token = _token(request)
        return None if token is None else self.authenticate(request, token)

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        """The local principal of a valid token, else ``None`` (ninja's 401)."""
        try:
            user, claims = _core.principal(token)
        except _core.BadCredentials:
            return None
        except authd.AuthdError:
            raise AuthdUnavailableError(conf.get().retry_after) from None
        request.authd_claims = claims  # type: ignore[attr-defined]
        return user


class AsyncAuthdBearer(HttpBearer):
    """For async ninja operations; see the module."""

    async def __call__(self, request: HttpRequest) -> Any:
        token = _token(request)
        return None if token is None else await self.authenticate(request, token)

    async def authenticate(self, request: HttpRequest, token: str) -> Any:
        """The local principal of a valid token, else ``None`` (ninja's 401)."""
        try:
            user, claims = await _core.aprincipal(token)
        except _core.BadCredentials:
            return None
        except authd.AuthdError:
            raise AuthdUnavailableError(conf.get().retry_after) from None
        request.authd_claims = claims  # type: ignore[attr-defined]
        return user
