"""DRF authentication: ``AuthdAuthentication`` (authd's Verify per request, through a
short cache) and ``AuthdStatelessAuthentication`` (the process's
:class:`authd.LocalVerifier`: no call per request)."""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.request import Request

import authd
from authd.django import _core, conf


class AuthdUnavailable(exceptions.APIException):
    """authd could not answer: 503 with ``Retry-After`` (DRF's handler sends
    ``wait`` as that header). Fail closed: never a 500, never anonymous."""

    status_code = 503
    default_detail = "The authentication service is unavailable; try again later."
    default_code = "authd_unavailable"

    def __init__(self, wait: int) -> None:
        super().__init__()
        self.wait = wait


class AuthdAuthentication(BaseAuthentication):
    """For ``DEFAULT_AUTHENTICATION_CLASSES``: ``Authorization: Bearer <token>``
    (and the other ``AUTH_HEADER_TYPES``, ``Token`` by default) checked by
    authd's Verify.

    Returns ``(user, claims)``: the local Django user (see
    :class:`authd.django.AuthdBackend` for the mapping) or a
    :class:`authd.django.ServiceAccountUser`, and the token's
    :class:`authd.Claims` (``request.auth``). A request without such a header
    is left to the next class (or anonymous). A malformed header or an invalid
    token: 401 with ``WWW-Authenticate: Bearer``; authd down: 503 with
    ``Retry-After`` (:class:`AuthdUnavailable`). Valid answers are reused for
    ``VERIFY_CACHE_SECONDS``.
    """

    www_authenticate_realm = "api"

    def authenticate(self, request: Request) -> tuple[Any, authd.Claims] | None:
        """See the class."""
        s = conf.get()
        try:
            token = _core.token_from_header(get_authorization_header(request), s.auth_header_types)
            if token is None:
                return None
            return _core.principal(token)
        except _core.BadCredentials as bad:
            raise exceptions.AuthenticationFailed(bad.message) from None
        except authd.AuthdError:
            raise AuthdUnavailable(s.retry_after) from None

    def authenticate_header(self, request: Request) -> str:  # noqa: ARG002
        """The ``WWW-Authenticate`` of a 401 (RFC 6750)."""
        return f'Bearer realm="{self.www_authenticate_realm}"'


class AuthdStatelessAuthentication(BaseAuthentication):
    """For ``DEFAULT_AUTHENTICATION_CLASSES``: the bearer token checked in this process by
    one process-wide :class:`authd.LocalVerifier` (``settings.AUTHD['LOCAL_VERIFIER']``),
    with no Verify call and no database query per request.

    Returns ``(user, claims)``: an :class:`authd.django.AuthdTokenUser` built
    from the claims (or an :class:`authd.django.ServiceAccountUser` for a
    service account's token) and the :class:`authd.Claims`. A revoked token
    is refused as soon as the revocation reaches the verifier (milliseconds);
    a malformed header or an invalid token: 401 with ``WWW-Authenticate:
    Bearer`` and the reason; the verifier not current (authd unreachable for
    longer than ``STALENESS_SECONDS``, or before its first snapshot): 503 with
    ``Retry-After``, never anonymous.
    """

    www_authenticate_realm = "api"

    def authenticate(self, request: Request) -> tuple[Any, authd.Claims] | None:
        """See the class."""
        s = conf.get()
        try:
            token = _core.token_from_header(get_authorization_header(request), s.auth_header_types)
        except _core.BadCredentials as bad:
            raise exceptions.AuthenticationFailed(bad.message) from None
        if token is None:
            return None
        try:
            answer = conf.local_verifier().verify(token)
        except authd.AuthdError:
            raise AuthdUnavailable(s.retry_after) from None
        if not answer.valid or answer.claims is None:
            raise exceptions.AuthenticationFailed(f"Invalid token: {answer.reason or 'refused'}.")
        if answer.service_account is not None:
            return _core.ServiceAccountUser(answer.service_account, answer.claims), answer.claims
        return _core.AuthdTokenUser(answer.claims), answer.claims

    def authenticate_header(self, request: Request) -> str:  # noqa: ARG002
        """The ``WWW-Authenticate`` of a 401 (RFC 6750)."""
        return f'Bearer realm="{self.www_authenticate_realm}"'
