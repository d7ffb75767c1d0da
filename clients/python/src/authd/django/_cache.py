"""The per-process cache of valid Verify answers (``VERIFY_CACHE_SECONDS``).

Only valid answers are kept, for at most ``VERIFY_CACHE_SECONDS`` and never
past the token's ``exp``; a failure or an invalid answer is never kept, so a
revoked token is refused at most ``VERIFY_CACHE_SECONDS`` after authd
refuses it. Keys are the SHA-256 of the token, not the token.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict

from authd import Verification

_lock = threading.Lock()
_entries: OrderedDict[bytes, tuple[float, Verification]] = OrderedDict()


def _key(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def get(token: str) -> Verification | None:
    """The cached valid answer for ``token``, if still fresh."""
    key = _key(token)
    now = time.monotonic()
    with _lock:
        found = _entries.get(key)
        if found is None:
            return None
        until, answer = found
        if now >= until:
            del _entries[key]
            return None
        _entries.move_to_end(key)
        return answer


def put(token: str, answer: Verification, *, seconds: float, size: int) -> None:
    """Keeps a valid answer for ``seconds``, at most until its ``exp``."""
    if seconds <= 0 or not answer.valid or answer.claims is None:
        return
    lifetime = min(seconds, answer.claims.exp - time.time())
    if lifetime <= 0:
        return
    with _lock:
        _entries[_key(token)] = (time.monotonic() + lifetime, answer)
        _entries.move_to_end(_key(token))
        while len(_entries) > size:
            _entries.popitem(last=False)


def clear() -> None:
    """Forgets every answer."""
    with _lock:
        _entries.clear()
