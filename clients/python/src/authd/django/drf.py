"""``AuthdAuthentication``: DRF authentication by authd's Verify."""

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
