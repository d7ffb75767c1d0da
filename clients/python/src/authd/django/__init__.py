"""Django, DRF and django-ninja classes that log in and verify through authd.

- ``authd.django.AuthdBackend`` for ``AUTHENTICATION_BACKENDS`` (Login);
- ``authd.django.AuthdAuthentication`` for DRF's ``DEFAULT_AUTHENTICATION_CLASSES`` (Verify);
- ``authd.django.AuthdStatelessAuthentication`` for DRF, checking tokens in process with
  an :class:`authd.LocalVerifier` (no call per request; ``AUTHD['LOCAL_VERIFIER']``);
- ``authd.django.AuthdMiddleware`` for ``MIDDLEWARE`` (``request.user`` from a bearer token);
- ``authd.ninja.AuthdBearer`` / ``AsyncAuthdBearer`` for django-ninja.

Settings are one dict, ``settings.AUTHD`` (see :mod:`authd.django.conf`),
checked at start-up when ``"authd.django"`` is in ``INSTALLED_APPS``.

The classes are imported on first use, so a project without DRF can use the
backend and the middleware.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from authd.django._core import AuthdTokenUser, ServiceAccountUser
    from authd.django.backend import AuthdBackend
    from authd.django.drf import AuthdAuthentication, AuthdStatelessAuthentication, AuthdUnavailable
    from authd.django.middleware import AuthdMiddleware

__all__ = [
    "AuthdAuthentication",
    "AuthdBackend",
    "AuthdMiddleware",
    "AuthdStatelessAuthentication",
    "AuthdTokenUser",
    "AuthdUnavailable",
    "ServiceAccountUser",
]

_WHERE = {
    "AuthdBackend": "authd.django.backend",
    "AuthdAuthentication": "authd.django.drf",
    "AuthdStatelessAuthentication": "authd.django.drf",
    "AuthdTokenUser": "authd.django._core",
    "AuthdUnavailable": "authd.django.drf",
    "AuthdMiddleware": "authd.django.middleware",
    "ServiceAccountUser": "authd.django._core",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'authd.django' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
