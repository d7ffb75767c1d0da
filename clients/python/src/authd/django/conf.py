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
    }

A bad value raises ``ImproperlyConfigured`` naming the key, at start-up when
``authd.django`` is in ``INSTALLED_APPS`` (its ``AppConfig.ready``), else at first use.
"""

from __future__ import annotations

import asyncio
import dataclasses
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
    }
)
_TLS_KEYS = frozenset({"CA_FILE", "CERT_FILE", "KEY_FILE", "SERVER_NAME"})


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


def _bad(key: str, why: str) -> ImproperlyConfigured:
    return ImproperlyConfigured(f"settings.AUTHD[{key!r}] {why}")


def _number(raw: Mapping[str, Any], key: str, default: float, *, minimum: float, positive: bool) -> float:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _bad(key, f"must be a number of seconds, got {type(value).__name__} {value!r}")
    if value < minimum or (positive and value <= 0):
        limit = "greater than 0" if positive else f"at least {minimum}"
        raise _bad(key, f"must be {limit}, got {value!r}")
    return float(value)


def _integer(raw: Mapping[str, Any], key: str, default: int, *, minimum: int) -> int:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad(key, f"must be an integer, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise _bad(key, f"must be at least {minimum}, got {value!r}")
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
    )


_lock = threading.Lock()
_settings: Settings | None = None
_client: authd.Client | None = None
_aio_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, authd.aio.Client] = (
    weakref.WeakKeyDictionary()
)


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


def reset() -> None:
    """Forgets the checked settings and the clients (their channels close when collected)."""
    global _settings, _client  # noqa: PLW0603
    with _lock:
        _settings = None
        if _client is not None:
            _client.close()
        _client = None
        _aio_clients.clear()
    _cache.clear()


def _on_setting_changed(*, setting: str, **_: object) -> None:
    if setting == "AUTHD":
        reset()


setting_changed.connect(_on_setting_changed)
