"""Python client of authd, the authentication service, with Django, DRF and django-ninja classes.

- :class:`Client` (blocking) and :class:`authd.aio.Client` (asyncio) wrap
  ``auth.v1.AuthService``: ``login``, ``verify``, ``get_user``, ``refresh``,
  ``logout``, ``logout_all``, ``get_jwks``, ``issue_service_token``, with
  typed answers (:class:`Tokens`, :class:`Verification`, :class:`User`,
  :class:`Claims`), per-call deadlines, TLS (:class:`Tls`) and retries of
  idempotent calls on ``UNAVAILABLE`` (:class:`Retry`).
- :class:`LocalVerifier` answers like ``verify`` without a call per token:
  the keys from GetJwks and the revocations from WatchRevocations, kept
  current on a background thread; it raises :class:`Unavailable` when it
  cannot be sure (fails closed).
- Failures raise :class:`AuthdError` subclasses; an invalid token is an
  answer, not an exception.
- ``authd.django``: ``AuthdBackend``, ``AuthdAuthentication`` and
  ``AuthdStatelessAuthentication`` (DRF), ``AuthdMiddleware``;
  ``authd.ninja``: ``AuthdBearer``, ``AsyncAuthdBearer``.
- The generated gRPC stubs are in ``authd._proto`` (``authd.Client.stub`` for
  the RPCs not wrapped here).
"""

from authd._client import Client
from authd._errors import (
    AuthdError,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
)
from authd._local import LocalVerifier
from authd._options import Retry, Tls
from authd._types import Claims, ServiceAccount, Tokens, User, Verification

__all__ = [
    "AuthdError",
    "Claims",
    "Client",
    "InvalidArgument",
    "LocalVerifier",
    "NotFound",
    "PermissionDenied",
    "ResourceExhausted",
    "Retry",
    "ServiceAccount",
    "Tls",
    "Tokens",
    "Unauthenticated",
    "Unavailable",
    "User",
    "Verification",
]
