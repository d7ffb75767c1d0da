"""``AuthdMiddleware``: ``request.user`` from a bearer token, for plain Django views."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest, HttpResponse
from django.utils.functional import SimpleLazyObject

import authd
from authd.django import _core, conf

logger = logging.getLogger("authd.django")


class AuthdMiddleware:
    """For ``MIDDLEWARE``, after ``AuthenticationMiddleware``.

    A request with ``Authorization: Bearer <token>`` (or another
    ``AUTH_HEADER_TYPES`` keyword) gets a lazy ``request.user``: the token is
    verified when the view first looks. A valid token gives the local user
    and ``request.authd_claims``; an invalid one or a malformed header gives
    ``AnonymousUser`` (``login_required`` and friends then refuse). Requests
    without such a header keep the session's user. When authd cannot answer,
    looking at ``request.user`` raises :class:`authd.Unavailable`, which this
    middleware turns into a 503 with ``Retry-After``: never anonymous, never
    a 500.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        s = conf.get()
        try:
            token = _core.token_from_header(request.META.get("HTTP_AUTHORIZATION"), s.auth_header_types)
        except _core.BadCredentials:
            request.user = AnonymousUser()
            request.authd_claims = None  # type: ignore[attr-defined]
        else:
            if token is not None:
                self._lazy(request, token)
        return self.get_response(request)

    def _lazy(self, request: HttpRequest, token: str) -> None:
        answer: dict[str, Any] = {}

        def resolve() -> Any:
            if "user" not in answer:
                try:
                    answer["user"], answer["claims"] = _core.principal(token)
                except _core.BadCredentials:
                    answer["user"], answer["claims"] = AnonymousUser(), None
            return answer["user"]

        def claims() -> Any:
            resolve()
            return answer["claims"]

        request.user = SimpleLazyObject(resolve)  # type: ignore[assignment]
        request.authd_claims = SimpleLazyObject(claims)  # type: ignore[attr-defined]

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:  # noqa: ARG002
        """authd failed while the view looked at ``request.user``: 503 with ``Retry-After``."""
        if not isinstance(exception, authd.AuthdError):
            return None
        logger.warning("authd could not verify a token: %s", exception)
        response = HttpResponse(
            "The authentication service is unavailable; try again later.\n",
            status=503,
            content_type="text/plain",
        )
        response["Retry-After"] = str(conf.get().retry_after)
        return response
