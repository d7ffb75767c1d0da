"""What the backend, the DRF class, the middleware and the ninja classes share:
the ``Authorization`` header parser, Verify through the cache, and the mapping
of an authd user to the local Django user."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import ValidationError

import authd
from authd.django import _cache, conf

# Longer than any token authd accepts (--max-token-bytes is at most 65536):
# the server decides below it, nothing above it is sent.
MAX_TOKEN_BYTES = 65536


class BadCredentials(Exception):
    """The request's credentials are unusable: a bad header or an invalid token (a 401)."""

    def __init__(self, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason


def token_from_header(value: str | bytes | None, types: tuple[str, ...]) -> str | None:
    """The token of an ``Authorization`` value with one of ``types`` (any case).

    ``None`` when there is no header or another scheme (another authenticator's
    business). :class:`BadCredentials` for a header of ours that is malformed:
    no token, more than one, or a token that is not ASCII.
    """
    if not value:
        return None
    raw = value if isinstance(value, bytes) else value.encode("latin-1", errors="replace")
    parts = raw.split()
    if not parts:
        return None
    wanted = {t.lower().encode() for t in types}
    if parts[0].lower() not in wanted:
        return None
    if len(parts) == 1:
        raise BadCredentials("Invalid Authorization header: no token given after the keyword.")
    if len(parts) > 2:
        raise BadCredentials("Invalid Authorization header: the token must not contain spaces.")
    token = parts[1]
    if len(token) > MAX_TOKEN_BYTES:
        raise BadCredentials("Invalid token: too long.")
    try:
        return token.decode("ascii")
    except UnicodeDecodeError:
        raise BadCredentials("Invalid token: it contains non-ASCII characters.") from None


def verify(token: str) -> authd.Verification:
    """Verify, through the cache. Raises :class:`authd.AuthdError` when authd fails."""
    cached = _cache.get(token)
    if cached is not None:
        return cached
    s = conf.get()
    try:
        answer = conf.client().verify(token)
    except authd.InvalidArgument:
        # authd refused the request itself (a token over its message limit).
        raise BadCredentials("Invalid token: refused by authd as malformed.", "MALFORMED") from None
    _cache.put(token, answer, seconds=s.verify_cache_seconds, size=s.verify_cache_size)
    return answer


async def averify(token: str) -> authd.Verification:
    """:func:`verify` for async code."""
    cached = _cache.get(token)
    if cached is not None:
        return cached
    s = conf.get()
    try:
        answer = await conf.aio_client().verify(token)
    except authd.InvalidArgument:
        raise BadCredentials("Invalid token: refused by authd as malformed.", "MALFORMED") from None
    _cache.put(token, answer, seconds=s.verify_cache_seconds, size=s.verify_cache_size)
    return answer


class ServiceAccountUser:
    """The principal of a service account's token: authenticated, not a database row.

    ``roles`` are the token's; ``is_staff`` and ``is_superuser`` are False and it
    has no Django permissions, so views decide by role."""

    is_active = True
    is_authenticated = True
    is_anonymous = False
    is_staff = False
    is_superuser = False
    pk = None
    id = None

    def __init__(self, account: authd.ServiceAccount, claims: authd.Claims) -> None:
        self.account = account
        # A locally checked token names no account name: its client id stands in.
        self.username = account.name or account.client_id
        self.roles = claims.roles

    def __str__(self) -> str:
        return self.username

    def __repr__(self) -> str:
        return f"ServiceAccountUser({self.account.name!r})"

    def get_username(self) -> str:
        """The service account's name."""
        return self.username

    def has_perm(self, perm: str, obj: object = None) -> bool:  # noqa: ARG002
        """Service accounts hold no Django permissions."""
        return False

    def has_perms(self, perms: object, obj: object = None) -> bool:  # noqa: ARG002
        """Service accounts hold no Django permissions."""
        return False

    def has_module_perms(self, app_label: str) -> bool:  # noqa: ARG002
        """Service accounts hold no Django permissions."""
        return False


class AuthdTokenUser:
    """The user of a token checked locally (``AuthdStatelessAuthentication``): built from
    the token's claims alone, with no database row and no call to authd.

    ``id`` and ``pk`` are authd's user id (``sub``); ``external_id`` the id the
    user had where they were imported from (``ext``, e.g. a Django primary
    key; ``""`` if none); ``roles`` the token's. The token carries no
    username, so ``username`` is the user id. It holds no Django permissions:
    views decide by role, or look the row up by ``external_id`` themselves."""

    is_active = True
    is_authenticated = True
    is_anonymous = False
    is_staff = False
    is_superuser = False

    def __init__(self, claims: authd.Claims) -> None:
        self.id = claims.sub
        self.pk = claims.sub
        self.username = claims.sub
        self.external_id = claims.external_id
        self.roles = claims.roles
        self.claims = claims

    def __str__(self) -> str:
        return self.username

    def __repr__(self) -> str:
        return f"AuthdTokenUser({self.id!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AuthdTokenUser) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)

    def get_username(self) -> str:
        """The authd user id (the token names no username)."""
        return self.username

    def has_perm(self, perm: str, obj: object = None) -> bool:  # noqa: ARG002
        """A token user holds no Django permissions."""
        return False

    def has_perms(self, perms: object, obj: object = None) -> bool:  # noqa: ARG002
        """A token user holds no Django permissions."""
        return False

    def has_module_perms(self, app_label: str) -> bool:  # noqa: ARG002
        """A token user holds no Django permissions."""
        return False


def _by_external_id(model: Any, external_id: str) -> dict[str, Any] | None:
    if not external_id:
        return None
    try:
        return {"pk": model._meta.pk.to_python(external_id)}
    except (ValidationError, ValueError, TypeError):
        return None


def _creation(model: Any, user: authd.User) -> tuple[dict[str, Any], dict[str, Any]]:
    defaults: dict[str, Any] = {}
    if user.email and any(f.name == "email" for f in model._meta.get_fields()):
        defaults["email"] = user.email
    return {model.USERNAME_FIELD: user.username}, defaults


def local_user(user: authd.User, *, create: bool) -> AbstractBaseUser | None:
    """The Django user for an authd user: the row whose primary key is the
    ``external_id`` (an imported user), else the one with the same username,
    else (``create``) a new one with an unusable password; ``None`` if none."""
    model: Any = get_user_model()
    manager = model._default_manager
    by_id = _by_external_id(model, user.external_id)
    if by_id is not None:
        found = manager.filter(**by_id).first()
        if found is not None:
            return found  # type: ignore[no-any-return]
    found = manager.filter(**{model.USERNAME_FIELD: user.username}).first()
    if found is not None or not create:
        return found  # type: ignore[no-any-return]
    lookup, defaults = _creation(model, user)
    made, created = manager.get_or_create(**lookup, defaults=defaults)
    if created:
        made.set_unusable_password()
        made.save(update_fields=["password"])
    return made  # type: ignore[no-any-return]


async def alocal_user(user: authd.User, *, create: bool) -> AbstractBaseUser | None:
    """:func:`local_user` for async code."""
    model: Any = get_user_model()
    manager = model._default_manager
    by_id = _by_external_id(model, user.external_id)
    if by_id is not None:
        found = await manager.filter(**by_id).afirst()
        if found is not None:
            return found  # type: ignore[no-any-return]
    found = await manager.filter(**{model.USERNAME_FIELD: user.username}).afirst()
    if found is not None or not create:
        return found  # type: ignore[no-any-return]
    lookup, defaults = _creation(model, user)
    made, created = await manager.aget_or_create(**lookup, defaults=defaults)
    if created:
        made.set_unusable_password()
        await made.asave(update_fields=["password"])
    return made  # type: ignore[no-any-return]


def _checked(answer: authd.Verification) -> authd.Claims:
    if not answer.valid or answer.claims is None:
        raise BadCredentials(f"Invalid token: {answer.reason or 'refused by authd'}.", answer.reason)
    return answer.claims


def _usable(found: AbstractBaseUser | None) -> AbstractBaseUser:
    if found is None:
        raise BadCredentials("No local user for this token (AUTHD['CREATE_USERS'] is off).", "NO_LOCAL_USER")
    if not getattr(found, "is_active", True):
        raise BadCredentials("User is inactive.", "USER_INACTIVE")
    return found


Principal = AbstractBaseUser | ServiceAccountUser


def principal(token: str) -> tuple[Principal, authd.Claims]:
    """The local principal and claims of a token. Raises :class:`BadCredentials`
    (a 401) or :class:`authd.AuthdError` (authd failed: a 503, never anonymous)."""
    answer = verify(token)
    claims = _checked(answer)
    if answer.service_account is not None:
        return ServiceAccountUser(answer.service_account, claims), claims
    if answer.user is None:
        raise BadCredentials("Invalid token: no principal.")
    return _usable(local_user(answer.user, create=conf.get().create_users)), claims


async def aprincipal(token: str) -> tuple[Principal, authd.Claims]:
    """:func:`principal` for async code."""
    answer = await averify(token)
    claims = _checked(answer)
    if answer.service_account is not None:
        return ServiceAccountUser(answer.service_account, claims), claims
    if answer.user is None:
        raise BadCredentials("Invalid token: no principal.")
    return _usable(await alocal_user(answer.user, create=conf.get().create_users)), claims
