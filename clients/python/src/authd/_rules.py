"""authd's token rules, applied in this process: what :class:`authd.LocalVerifier` checks
before it looks at the revocation state.

The rules are the server's (``crates/authd-token``: ``Checker::verify`` and
``principal_kind``), step for step and in the same order, so a token gets
the same reason here as from Verify:

1. the token is at most ``max_token_bytes`` long (else ``MALFORMED``), checked
   before anything is parsed;
2. three segments of strict base64url without padding; header and claims no
   deeper than 8 levels of JSON nesting (counted before a JSON parser runs);
3. the header: ``alg`` a string, ``kid`` a string (or absent), no ``crit``,
   ``alg`` a JWS name (else ``ALGORITHM_MISMATCH``), a ``kid`` this process
   holds (else ``UNKNOWN_KEY``: keys come only from GetJwks, never from the
   token's ``jwk``/``jku``/``x5u``/``x5c``), and ``alg`` equal to that key's
   pinned ``alg`` (so ``none`` and HMAC with a public key are refused);
4. the signature (PyJWT's algorithms on ``cryptography``);
5. the claims with their JSON types: ``iss``, ``sub``, ``jti`` strings,
   ``aud`` a string or a list of strings, ``exp``/``nbf`` non-negative
   integers, ``iat`` an integer, ``sid``/``ptyp``/``client_id``/``ext``
   strings, ``roles`` a list of strings; a claim given twice is malformed;
6. ``iss`` equal to the issuer, ``aud`` including the audience;
7. time with the leeway: ``EXPIRED``, then ``NOT_YET_VALID`` for an ``nbf`` or
   an ``iat`` in the future;
8. the shape (:func:`principal_kind`): a user's token names its session, a
   service account's says ``ptyp`` and carries its ``client_id``.

Nothing here holds state, reads the clock or does I/O: the caller passes
the rules (from WatchRevocations' hello), the keys (from GetJwks) and ``now``.
:class:`VerifiedTokens` remembers the claims of tokens that passed, keyed by
the token's SHA-256, so a token seen before costs a hash and a lookup.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import json
import re
import threading
from collections.abc import Mapping
from typing import Any

import jwt

# Names of auth.v1.InvalidReason values, without the prefix (as Verification.reason).
MALFORMED = "MALFORMED"
BAD_SIGNATURE = "BAD_SIGNATURE"
UNKNOWN_KEY = "UNKNOWN_KEY"
EXPIRED = "EXPIRED"
NOT_YET_VALID = "NOT_YET_VALID"
WRONG_ISSUER = "WRONG_ISSUER"
WRONG_AUDIENCE = "WRONG_AUDIENCE"
ALGORITHM_MISMATCH = "ALGORITHM_MISMATCH"

SERVICE_ACCOUNT_PTYP = "service_account"

# The JWS algorithm names the server's parser knows (jsonwebtoken's
# `Algorithm::from_str`); any other `alg`, `none` included, is a mismatch.
JWS_ALGORITHMS = frozenset(
    {"HS256", "HS384", "HS512", "ES256", "ES384", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
    | {"EdDSA"}
)
# The algorithms authd signs with and publishes keys for; a key of the set
# with another `alg` is not used (the server would refuse its tokens too).
KEY_ALGORITHMS = frozenset({"EdDSA", "ES256", "RS256"})

MAX_JSON_DEPTH = 8
_I64_MAX = 2**63 - 1
_I64_MIN = -(2**63)

# The header members the server's JOSE header parser knows, with the JSON
# type each must have when present (null counts as absent). A member given
# twice among these is malformed; unknown members are ignored.
_HEADER_STRINGS = ("typ", "cty", "jku", "kid", "x5u", "x5t", "x5t#S256", "url", "nonce", "enc", "zip")
_HEADER_KNOWN = frozenset({*_HEADER_STRINGS, "alg", "jwk", "x5c", "crit"})
# The claims the server's Claims type has: given twice, malformed.
_CLAIMS_KNOWN = frozenset(
    {"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "sid", "roles", "ptyp", "client_id", "ext"}
)
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*\Z")


class Invalid(Exception):
    """The token is invalid; ``reason`` is the InvalidReason name without its prefix."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclasses.dataclass(frozen=True)
class Rules:
    """What every token must say (the hello of WatchRevocations)."""

    issuer: str
    audience: str
    leeway: int
    """Seconds of clock skew allowed on ``exp``, ``nbf`` and ``iat``."""
    max_token_bytes: int


@dataclasses.dataclass(frozen=True)
class Key:
    """A published verification key and the one algorithm it is pinned to."""

    kid: str
    alg: str
    key: Any = dataclasses.field(repr=False)
    algorithm: Any = dataclasses.field(repr=False)
    """PyJWT's algorithm object, whose ``verify(message, key, signature)`` checks a signature."""


@dataclasses.dataclass(frozen=True)
class TokenClaims:
    """The claims of a token whose signature and claims checked out."""

    iss: str
    sub: str
    aud: tuple[str, ...]
    exp: int
    nbf: int
    iat: int
    jti: str
    sid: str
    roles: tuple[str, ...]
    ptyp: str | None
    client_id: str | None
    ext: str | None


def parse_jwks(jwks_json: str) -> dict[str, Key]:
    """The keys of a JWK Set (GetJwks' ``jwks_json``) by ``kid``.

    A key without a ``kid``, without an ``alg`` authd signs with, or that
    PyJWT cannot read is left out: a token naming it is then ``UNKNOWN_KEY``,
    as nothing may be guessed about a key. Raises ``ValueError`` when the
    text is not a JWK Set at all.
    """
    document = json.loads(jwks_json)
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError("not a JWK Set: no 'keys' list")
    keys: dict[str, Key] = {}
    for entry in document["keys"]:
        if not isinstance(entry, dict):
            continue
        kid, alg = entry.get("kid"), entry.get("alg")
        if not isinstance(kid, str) or alg not in KEY_ALGORITHMS or entry.get("use", "sig") != "sig":
            continue
        try:
            parsed = jwt.PyJWK(entry, algorithm=alg)
        except jwt.PyJWTError:
            continue
        keys[kid] = Key(kid=kid, alg=alg, key=parsed.key, algorithm=parsed.Algorithm)
    return keys


def _b64(segment: str) -> bytes:
    """Strict base64url without padding, as the server decodes it: no ``=``,
    no characters outside the alphabet, no non-zero trailing bits."""
    if not _BASE64URL.match(segment) or len(segment) % 4 == 1:
        raise Invalid(MALFORMED)
    try:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        raise Invalid(MALFORMED) from None
    if base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii") != segment:
        raise Invalid(MALFORMED)
    return raw


def shallow_json(data: bytes) -> bool:
    """Whether ``data`` nests no deeper than :data:`MAX_JSON_DEPTH`, counting
    brackets outside strings (the server's check, before any JSON parser)."""
    depth = 0
    in_string = escaped = False
    for byte in data:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
            continue
        if byte == 0x22:
            in_string = True
        elif byte in (0x7B, 0x5B):  # { [
            depth += 1
            if depth > MAX_JSON_DEPTH:
                return False
        elif byte in (0x7D, 0x5D):  # } ]
            depth = max(0, depth - 1)
    return True


class _Object(dict[str, Any]):
    """A JSON object that remembers which of its members were given twice."""

    twice: frozenset[str] = frozenset()


def _object(pairs: list[tuple[str, Any]]) -> _Object:
    found = _Object()
    twice = set()
    for name, value in pairs:
        if name in found:
            twice.add(name)
        found[name] = value
    found.twice = frozenset(twice)
    return found


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _strict_strings(value: object) -> None:
    """Refuses lone surrogates (``"\\ud800"``), which Python's parser lets through and
    the server's refuses. The depth is already bounded."""
    if isinstance(value, str):
        value.encode("utf-8")
    elif isinstance(value, dict):
        for name, member in value.items():
            name.encode("utf-8")
            _strict_strings(member)
    elif isinstance(value, list):
        for item in value:
            _strict_strings(item)


def _json_object(data: bytes) -> _Object:
    """``data`` as a JSON object: strict UTF-8, strict JSON (no NaN), else MALFORMED."""
    try:
        value = json.loads(data.decode("utf-8"), object_pairs_hook=_object, parse_constant=_no_constant)
        _strict_strings(value)
    except (UnicodeError, ValueError, RecursionError):
        raise Invalid(MALFORMED) from None
    if not isinstance(value, _Object):
        raise Invalid(MALFORMED)
    return value


def _string(value: object, *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise Invalid(MALFORMED)
    return value


def _integer(value: object, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise Invalid(MALFORMED)
    return value


def _strings(value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise Invalid(MALFORMED)
    return tuple(value)


def _check_full_header(header: _Object) -> None:
    """The server's second, complete parse of the header (after the key matched)."""
    if header.twice & _HEADER_KNOWN:
        raise Invalid(MALFORMED)
    for name in _HEADER_STRINGS:
        _string(header.get(name), optional=True)
    x5c = header.get("x5c")
    if x5c is not None:
        _strings(x5c)
    jwk_member = header.get("jwk")
    if jwk_member is not None and not isinstance(jwk_member, dict):
        raise Invalid(MALFORMED)
    if "b64" in header and header["b64"] is not True:
        # RFC 7797's unencoded payload: refused unless it says true.
        raise Invalid(MALFORMED)


def _claims(payload: _Object) -> TokenClaims:
    if payload.twice & _CLAIMS_KNOWN:
        raise Invalid(MALFORMED)
    required = ("iss", "sub", "aud", "exp", "nbf", "iat", "jti")
    if any(name not in payload for name in required):
        raise Invalid(MALFORMED)
    aud = payload["aud"]
    audiences = (aud,) if isinstance(aud, str) else _strings(aud)
    return TokenClaims(
        iss=_string(payload["iss"]) or "",
        sub=_string(payload["sub"]) or "",
        aud=audiences,
        # exp and nbf are also read as unsigned by the server's validation:
        # a negative one counts as missing.
        exp=_integer(payload["exp"], 0, _I64_MAX),
        nbf=_integer(payload["nbf"], 0, _I64_MAX),
        iat=_integer(payload["iat"], _I64_MIN, _I64_MAX),
        jti=_string(payload["jti"]) or "",
        sid=_string(payload.get("sid", "")) or "",
        roles=_strings(payload.get("roles", [])),
        ptyp=_string(payload.get("ptyp"), optional=True),
        client_id=_string(payload.get("client_id"), optional=True),
        ext=_string(payload.get("ext"), optional=True),
    )


def check_time(claims: TokenClaims, now: int, leeway: int) -> None:
    """Raises ``EXPIRED`` or ``NOT_YET_VALID`` (an ``iat`` in the future too)."""
    if now >= claims.exp + leeway:
        raise Invalid(EXPIRED)
    if claims.nbf > now + leeway or claims.iat > now + leeway:
        raise Invalid(NOT_YET_VALID)


def _header(header_json: bytes, keys: Mapping[str, Key]) -> tuple[Key, _Object]:
    """The key the header names, checked as the server does before the signature."""
    header = _json_object(header_json)
    if header.twice & {"alg", "kid", "crit"}:
        raise Invalid(MALFORMED)
    alg = _string(header.get("alg"))
    kid = _string(header.get("kid"), optional=True)
    if header.get("crit") is not None:
        # RFC 7515 4.1.11: extensions the recipient must understand; authd knows none.
        raise Invalid(MALFORMED)
    if alg not in JWS_ALGORITHMS:
        raise Invalid(ALGORITHM_MISMATCH)
    key = keys.get(kid) if kid is not None else None
    if key is None:
        raise Invalid(UNKNOWN_KEY)
    if key.alg != alg:
        raise Invalid(ALGORITHM_MISMATCH)
    return key, header


def _signed(key: Key, message: bytes, signature: bytes) -> bool:
    try:
        return bool(key.algorithm.verify(message, key.key, signature))
    except Exception:  # any failure of the signature check is a bad signature
        return False


def check(token: str, now: int, rules: Rules, keys: Mapping[str, Key]) -> tuple[TokenClaims, str]:
    """The claims of ``token`` and the ``kid`` that signed it, or :class:`Invalid` with
    the first reason found, in the server's order (see the module)."""
    try:
        size = len(token.encode("utf-8"))
    except UnicodeError:
        raise Invalid(MALFORMED) from None
    if size == 0 or size > rules.max_token_bytes:
        raise Invalid(MALFORMED)
    segments = token.split(".")
    if len(segments) != 3:
        raise Invalid(MALFORMED)
    header_b64, payload_b64, signature_b64 = segments
    header_json, payload_json = _b64(header_b64), _b64(payload_b64)
    if not shallow_json(header_json) or not shallow_json(payload_json):
        raise Invalid(MALFORMED)
    key, header = _header(header_json, keys)
    _check_full_header(header)
    signature = _b64(signature_b64)
    if not _signed(key, f"{header_b64}.{payload_b64}".encode("ascii"), signature):
        raise Invalid(BAD_SIGNATURE)
    claims = _claims(_json_object(payload_json))
    if claims.iss != rules.issuer:
        raise Invalid(WRONG_ISSUER)
    if rules.audience not in claims.aud:
        raise Invalid(WRONG_AUDIENCE)
    check_time(claims, now, rules.leeway)
    return claims, key.kid


USER = "USER"
SERVICE_ACCOUNT = "SERVICE_ACCOUNT"


def principal_kind(claims: TokenClaims) -> str:
    """``USER`` or ``SERVICE_ACCOUNT``; ``MALFORMED`` (raised) when the claims fit neither
    shape: a user's token names its session, a service account's says so in ``ptyp``,
    carries its ``client_id`` and names no session."""
    if claims.ptyp is None:
        if not claims.sid:
            raise Invalid(MALFORMED)
        return USER
    if claims.ptyp != SERVICE_ACCOUNT_PTYP or claims.sid or claims.client_id is None:
        raise Invalid(MALFORMED)
    return SERVICE_ACCOUNT


class VerifiedTokens:
    """A bounded cache of tokens whose signature and claims checked out, keyed by the
    token's SHA-256 (the token itself is not kept).

    It remembers only what cannot change: a hit still re-checks that the
    key is held, the time, and (the caller) the revocation state. An entry
    lives until the token's ``exp`` plus leeway or ``ttl`` seconds, whichever
    is first; when ``size`` entries are held the oldest goes. ``size`` 0 turns
    it off.
    """

    def __init__(self, size: int, ttl: int = 300) -> None:
        self.size = size
        self.ttl = ttl
        self._lock = threading.Lock()
        self._entries: dict[bytes, tuple[int, TokenClaims, str, Any]] = {}

    @staticmethod
    def key(token: str) -> bytes:
        """The cache key of ``token``."""
        return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()

    def get(self, key: bytes, now: int) -> tuple[TokenClaims, str, Any] | None:
        """``(claims, kid, extra)`` of a token verified before, while its entry is good."""
        found = self._entries.get(key)
        if found is None:
            return None
        until, claims, kid, extra = found
        if now >= until:
            with self._lock:
                self._entries.pop(key, None)
            return None
        return claims, kid, extra

    def put(self, key: bytes, claims: TokenClaims, kid: str, extra: Any, *, now: int, leeway: int) -> None:
        """Remembers a token that passed; ``extra`` is the caller's (its answer)."""
        if self.size <= 0:
            return
        until = min(claims.exp + leeway, now + self.ttl)
        with self._lock:
            self._entries[key] = (until, claims, kid, extra)
            while len(self._entries) > self.size:
                self._entries.pop(next(iter(self._entries)))

    def clear(self) -> None:
        """Forgets every token (the rules changed)."""
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
