"""The ``AUTHD`` settings dict, checked once and cached; and the clients built from it.

``settings.AUTHD`` keys (only ``TARGET`` is required)::

    AUTHD = {
        "TARGET": "127.0.0.1:50051",        # authd's gRPC address, host:port
        "TLS": None,                          # True (system roots), or a dict:
                                              # {"CA_FILE", "CERT_FILE", "KEY_FILE", "SERVER_NAME"}
        "TIMEOUT": 5.0,                       # seconds per call
        "RETRIES": 2,                         # extra tries of Verify on UNAVAILABLE (never of Login)
        "AUTH_HEADER_TYPES": ("Bearer", "Token"),  # Authorization keywords accepted
        "CREATE_USERS": False,                # make a local user on first sight
        "VERIFY_CACHE_SECONDS": 2,            # how long a valid Verify answer is reused (0: never)
        "VERIFY_CACHE_SIZE": 10000,           # tokens remembered at most, per process
        "RETRY_AFTER": 5,                     # seconds in the Retry-After of a 503
        "LOCAL_VERIFIER": None,               # AuthdStatelessAuthentication's authd.LocalVerifier:
                                              # {"CLIENT_ID", "CLIENT_SECRET" or "CLIENT_SECRET_FILE",
                                              #  "STALENESS_SECONDS": 3, "CACHE_SIZE": 100000,
                                              #  "START_TIMEOUT": 5}
    }

A bad value raises ``ImproperlyConfigured`` naming the key, at start-up when
``authd.django`` is in ``INSTALLED_APPS`` (its ``AppConfig.ready``), else at first use.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import threading
import weakref
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed

import authd
import authd.aio
from authd.django import _cache

_KEYS = frozenset(
    {
        "TARGET",
        "TLS",
        "TIMEOUT",
        "RETRIES",
        "AUTH_HEADER_TYPES",
        "CREATE_USERS",
        "VERIFY_CACHE_SECONDS",
        "VERIFY_CACHE_SIZE",
        "RETRY_AFTER",
        "LOCAL_VERIFIER",
    }
)
_TLS_KEYS = frozenset({"CA_FILE", "CERT_FILE", "KEY_FILE", "SERVER_NAME"})
_LOCAL_KEYS = frozenset(
    {"CLIENT_ID", "CLIENT_SECRET", "CLIENT_SECRET_FILE", "STALENESS_SECONDS", "CACHE_SIZE", "START_TIMEOUT"}
)


@dataclasses.dataclass(frozen=True)
class LocalSettings:
    """``settings.AUTHD['LOCAL_VERIFIER']``, checked: the service account the process's
    :class:`authd.LocalVerifier` watches revocations as, and its bounds."""

    client_id: str
    client_secret: str = dataclasses.field(repr=False)
    staleness_seconds: float
    cache_size: int
    start_timeout: float


@dataclasses.dataclass(frozen=True)
class Settings:
    """``settings.AUTHD``, checked."""

    target: str
    tls: authd.Tls | None
    timeout: float
    retries: int
    auth_header_types: tuple[str, ...]
    create_users: bool
    verify_cache_seconds: float
    verify_cache_size: int
    retry_after: int
    local: LocalSettings | None = None
    """``LOCAL_VERIFIER``; ``None`` when not set (AuthdStatelessAuthentication then refuses to run)."""


def _bad(key: str, why: str) -> ImproperlyConfigured:
    return ImproperlyConfigured(f"settings.AUTHD[{key!r}] {why}")


def _bad_in(where: str | None, key: str, why: str) -> ImproperlyConfigured:
    """``_bad`` for ``key``, or for ``where``'s member ``key`` (a nested dict)."""
    return _bad(key, why) if where is None else _bad(where, f"{key} {why}")


def _number(
    raw: Mapping[str, Any],
    key: str,
    default: float,
    *,
    minimum: float,
    positive: bool,
    where: str | None = None,
) -> float:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _bad_in(where, key, f"must be a number of seconds, got {type(value).__name__} {value!r}")
    if value < minimum or (positive and value <= 0):
        limit = "greater than 0" if positive else f"at least {minimum}"
        raise _bad_in(where, key, f"must be {limit}, got {value!r}")
    return float(value)


def _integer(
    raw: Mapping[str, Any], key: str, default: int, *, minimum: int, where: str | None = None
) -> int:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad_in(where, key, f"must be an integer, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise _bad_in(where, key, f"must be at least {minimum}, got {value!r}")
    return value


def _tls(value: object) -> authd.Tls | None:
    if value is None or value is False:
        return None
    if value is True:
        return authd.Tls()
    if not isinstance(value, Mapping):
        raise _bad("TLS", f"must be None, True or a dict with {sorted(_TLS_KEYS)}, got {value!r}")
    unknown = set(value) - _TLS_KEYS
    if unknown:
        raise _bad("TLS", f"has unknown keys {sorted(unknown)}; known: {sorted(_TLS_KEYS)}")
    for key in ("CA_FILE", "CERT_FILE", "KEY_FILE"):
        path = value.get(key)
        if path is not None and not Path(path).is_file():
            raise _bad("TLS", f"{key} {str(path)!r} is not a readable file")
    try:
        return authd.Tls(
            ca_file=value.get("CA_FILE"),
            cert_file=value.get("CERT_FILE"),
            key_file=value.get("KEY_FILE"),
            server_name=value.get("SERVER_NAME"),
        )
    except ValueError as error:
        raise _bad("TLS", str(error)) from None


def _local(value: object) -> LocalSettings | None:
    key = "LOCAL_VERIFIER"
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise _bad(key, f"must be None or a dict with {sorted(_LOCAL_KEYS)}, got {type(value).__name__}")
    unknown = set(value) - _LOCAL_KEYS
    if unknown:
        raise _bad(key, f"has unknown keys {sorted(unknown)}; known: {sorted(_LOCAL_KEYS)}")
    client_id = value.get("CLIENT_ID")
    if not isinstance(client_id, str) or not client_id.strip():
        raise _bad(
            key,
            "CLIENT_ID must be a service account's client id (`authd service-account add NAME` "
            f"prints it), got {client_id!r}",
        )
    secret, secret_file = value.get("CLIENT_SECRET"), value.get("CLIENT_SECRET_FILE")
    if (secret is None) == (secret_file is None):
        raise _bad(key, "needs exactly one of CLIENT_SECRET and CLIENT_SECRET_FILE")
    if secret_file is not None:
        try:
            secret = Path(secret_file).read_text().strip()
        except (OSError, TypeError, UnicodeError) as error:
            raise _bad(
                key, f"CLIENT_SECRET_FILE {str(secret_file)!r} is not a readable file: {error}"
            ) from None
    if not isinstance(secret, str) or not secret:
        raise _bad(key, "CLIENT_SECRET must be the service account's secret, a non-empty string")
    staleness = _number(value, "STALENESS_SECONDS", 3.0, minimum=0, positive=True, where=key)
    return LocalSettings(
        client_id=client_id,
        client_secret=secret,
        staleness_seconds=staleness,
        cache_size=_integer(value, "CACHE_SIZE", 100_000, minimum=0, where=key),
        start_timeout=_number(value, "START_TIMEOUT", 5.0, minimum=0, positive=False, where=key),
    )


def parse(raw: object) -> Settings:
    """Checks a ``settings.AUTHD`` value; raises ``ImproperlyConfigured`` naming the bad key."""
    if not isinstance(raw, Mapping):
        raise ImproperlyConfigured(
            f"settings.AUTHD must be a dict with at least 'TARGET', got {type(raw).__name__}"
        )
    unknown = set(raw) - _KEYS
    if unknown:
        raise ImproperlyConfigured(
            f"settings.AUTHD has unknown keys {sorted(unknown)}; known: {sorted(_KEYS)}"
        )
    target = raw.get("TARGET")
    if target is None:
        raise _bad("TARGET", "is missing: set it to authd's gRPC address, e.g. '127.0.0.1:50051'")
    if not isinstance(target, str) or not target.strip():
        raise _bad("TARGET", f"must be a non-empty 'host:port' string, got {target!r}")
    types = raw.get("AUTH_HEADER_TYPES", ("Bearer", "Token"))
    if isinstance(types, str):
        types = (types,)
    if (
        not isinstance(types, (list, tuple))
        or not types
        or not all(isinstance(t, str) and t and t.isascii() and " " not in t for t in types)
    ):
        raise _bad(
            "AUTH_HEADER_TYPES", f"must be a non-empty tuple of keywords like ('Bearer',), got {types!r}"
        )
    create = raw.get("CREATE_USERS", False)
    if not isinstance(create, bool):
        raise _bad("CREATE_USERS", f"must be True or False, got {create!r}")
    return Settings(
        target=target,
        tls=_tls(raw.get("TLS")),
        timeout=_number(raw, "TIMEOUT", 5.0, minimum=0, positive=True),
        retries=_integer(raw, "RETRIES", 2, minimum=0),
        auth_header_types=tuple(types),
        create_users=create,
        verify_cache_seconds=_number(raw, "VERIFY_CACHE_SECONDS", 2.0, minimum=0, positive=False),
        verify_cache_size=_integer(raw, "VERIFY_CACHE_SIZE", 10000, minimum=1),
        retry_after=_integer(raw, "RETRY_AFTER", 5, minimum=1),
        local=_local(raw.get("LOCAL_VERIFIER")),
    )


_lock = threading.Lock()
_settings: Settings | None = None
_client: authd.Client | None = None
_aio_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, authd.aio.Client] = (
    weakref.WeakKeyDictionary()
)
# The process's LocalVerifier and the process id that made it: a forked
# worker (gunicorn --preload) has no stream thread, so it makes its own.
_local_verifier: tuple[int, authd.LocalVerifier] | None = None


def get() -> Settings:
    """The checked settings (checked once, again after ``override_settings``)."""
    global _settings  # noqa: PLW0603 (a process-wide cache, reset by setting_changed)
    if _settings is None:
        _settings = parse(getattr(django_settings, "AUTHD", None))
    return _settings


def client() -> authd.Client:
    """The process's blocking client for ``settings.AUTHD``."""
    global _client  # noqa: PLW0603
    with _lock:
        if _client is None:
            s = get()
            _client = authd.Client(
                s.target, tls=s.tls, timeout=s.timeout, retry=authd.Retry(attempts=s.retries + 1)
            )
        return _client


def aio_client() -> authd.aio.Client:
    """The asyncio client of the running event loop for ``settings.AUTHD``."""
    loop = asyncio.get_running_loop()
    with _lock:
        found = _aio_clients.get(loop)
        if found is None:
            s = get()
            found = authd.aio.Client(
                s.target, tls=s.tls, timeout=s.timeout, retry=authd.Retry(attempts=s.retries + 1)
            )
            _aio_clients[loop] = found
        return found


def local_verifier() -> authd.LocalVerifier:
    """The process's :class:`authd.LocalVerifier` for ``settings.AUTHD`` (made on first use,
    waiting up to ``START_TIMEOUT`` for its first snapshot)."""
    global _local_verifier  # noqa: PLW0603
    s = get()
    if s.local is None:
        raise _bad(
            "LOCAL_VERIFIER",
            "is missing: AuthdStatelessAuthentication needs a service account to watch revocations "
            "as: {'CLIENT_ID': ..., 'CLIENT_SECRET_FILE': ...}",
        )
    with _lock:
        if _local_verifier is not None and _local_verifier[0] == os.getpid():
            return _local_verifier[1]
        verifier = authd.LocalVerifier(
            s.target,
            client_id=s.local.client_id,
            client_secret=s.local.client_secret,
            tls=s.tls,
            timeout=s.timeout,
            staleness=s.local.staleness_seconds,
            cache_size=s.local.cache_size,
        )
        _local_verifier = (os.getpid(), verifier)
    if s.local.start_timeout > 0:
        # Not ready in time: verify() raises it again, a 503 with Retry-After.
        with contextlib.suppress(authd.Unavailable):
            verifier.wait_ready(s.local.start_timeout)
    return verifier


def reset() -> None:
    """Forgets the checked settings and the clients (their channels close when collected)."""
    global _settings, _client, _local_verifier  # noqa: PLW0603
    with _lock:
        _settings = None
        if _client is not None:
            _client.close()
        _client = None
        _aio_clients.clear()
        if _local_verifier is not None and _local_verifier[0] == os.getpid():
            _local_verifier[1].close()
        _local_verifier = None
    _cache.clear()


def _on_setting_changed(*, setting: str, **_: object) -> None:
    if setting == "AUTHD":
        reset()


setting_changed.connect(_on_setting_changed)
