"""``AuthdBackend``: Django's ``authenticate()`` checks the password with authd's Login."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.base_user import AbstractBaseUser
from django.http import HttpRequest

import authd
from authd.django import _core, conf


class AuthdBackend(ModelBackend):
    """For ``AUTHENTICATION_BACKENDS``: the password is checked by authd's Login.

    - right password: the local user (:func:`authd.django` maps authd's
      ``external_id`` to the primary key, then the username; ``CREATE_USERS``
      makes a missing one), with the login's :class:`authd.Tokens` as
      ``user.authd_tokens`` for a view that hands them to the client;
    - wrong password, unknown or disabled user, a refused request (empty, over
      1024 bytes): ``None``, as Django expects;
    - authd unreachable, failing or throttling the login: the
      :class:`authd.AuthdError` is **raised**. Returning ``None`` would make
      Django try the next backend, which may still accept an old hash from
      Django's own table.

    Permissions and ``get_user`` (sessions) are ``ModelBackend``'s: local.
    """

    def _credentials(
        self, username: str | None, password: str | None, kwargs: dict[str, Any]
    ) -> tuple[str, str] | None:
        if username is None:
            model: Any = get_user_model()
            username = kwargs.get(model.USERNAME_FIELD)
        if not username or not password:
            return None
        return username, password

    def authenticate(
        self,
        request: HttpRequest | None,  # noqa: ARG002 (Django's signature)
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> AbstractBaseUser | None:
        """Logs in through authd; see the class."""
        credentials = self._credentials(username, password, kwargs)
        if credentials is None:
            return None
        try:
            tokens = conf.client().login(*credentials)
        except (authd.Unauthenticated, authd.InvalidArgument):
            return None
        return self._local(
            tokens, _core.local_user(tokens.user, create=conf.get().create_users) if tokens.user else None
        )

    async def aauthenticate(
        self,
        request: HttpRequest | None,  # noqa: ARG002 (Django's signature)
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> AbstractBaseUser | None:
        """:meth:`authenticate` for async views (``django.contrib.auth.aauthenticate``)."""
        credentials = self._credentials(username, password, kwargs)
        if credentials is None:
            return None
        try:
            tokens = await conf.aio_client().login(*credentials)
        except (authd.Unauthenticated, authd.InvalidArgument):
            return None
        found = await _core.alocal_user(tokens.user, create=conf.get().create_users) if tokens.user else None
        return self._local(tokens, found)

    def _local(self, tokens: authd.Tokens, found: AbstractBaseUser | None) -> AbstractBaseUser | None:
        if found is None or not self.user_can_authenticate(found):
            return None
        found.authd_tokens = tokens  # type: ignore[attr-defined]
        return found
