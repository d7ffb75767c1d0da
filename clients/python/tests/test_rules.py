"""authd._rules on tokens made here with a key of our own: the rule each step applies, in the
server's order. (The parity with the server's own Verify on its attack list is
tests/api/python_parity.rs.)"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm

from authd import _rules

NOW = 1_800_000_000
RULES = _rules.Rules(issuer="authd", audience="authd", leeway=10, max_token_bytes=8192)
PRIVATE = Ed25519PrivateKey.generate()


def _jwks(kid: str = "k1", alg: str = "EdDSA") -> str:
    jwk = OKPAlgorithm.to_jwk(PRIVATE.public_key(), as_dict=True)
    return json.dumps({"keys": [{**jwk, "kid": kid, "alg": alg, "use": "sig"}]})


KEYS = _rules.parse_jwks(_jwks())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims(**changes: Any) -> dict[str, Any]:
    """A user's claims, valid at NOW, with ``changes`` (None removes a claim)."""
    base: dict[str, Any] = {
        "iss": "authd",
        "sub": "user-1",
        "aud": "authd",
        "exp": NOW + 600,
        "nbf": NOW - 5,
        "iat": NOW - 5,
        "jti": "j1",
        "sid": "session-1",
        "roles": ["viewer"],
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def raw_token(header: str, payload: str) -> str:
    """Signs raw header and claims text with our key."""
    message = f"{_b64(header.encode())}.{_b64(payload.encode())}"
    return f"{message}.{_b64(PRIVATE.sign(message.encode()))}"


def token(payload: dict[str, Any] | None = None, **header: Any) -> str:
    return raw_token(json.dumps({"alg": "EdDSA", "kid": "k1", **header}), json.dumps(payload or claims()))


def reason(text: str, keys: dict[str, _rules.Key] = KEYS) -> str:
    try:
        checked, _ = _rules.check(text, NOW, RULES, keys)
        _rules.principal_kind(checked)
    except _rules.Invalid as invalid:
        return invalid.reason
    return "VALID"


def test_our_own_token_is_valid() -> None:
    assert reason(token()) == "VALID"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "MALFORMED"),
        ("x" * 8193, "MALFORMED"),
        ("a.b", "MALFORMED"),
        ("a.b.c.d", "MALFORMED"),
        ("..", "MALFORMED"),
    ],
)
def test_framing_is_checked_before_anything_is_parsed(text: str, expected: str) -> None:
    assert reason(text) == expected


def test_base64url_is_strict() -> None:
    header, payload, signature = token().split(".")
    assert reason(f"{header}=.{payload}.{signature}") == "MALFORMED"  # padding
    standard = base64.b64encode(base64.urlsafe_b64decode(header + "==")).decode()
    assert reason(f"{standard}+/.{payload}.{signature}") == "MALFORMED"  # another alphabet
    assert reason(f"{header}.{payload}.{signature}!") == "MALFORMED"  # outside the alphabet
    # Non-zero trailing bits: a second spelling of the same bytes.
    # (64 bytes are 86 characters whose last 4 bits must be zero: A, Q, g or w.)
    twin = signature[:-1] + {"A": "B", "Q": "R", "g": "h", "w": "x"}[signature[-1]]
    assert reason(f"{header}.{payload}.{twin}") == "MALFORMED"
    half = signature[: len(signature) // 2]
    assert reason(f"{header}.{payload}.{half}") in {"MALFORMED", "BAD_SIGNATURE"}


def test_the_header_picks_the_key_and_its_algorithm() -> None:
    assert reason(token(alg="none")) == "ALGORITHM_MISMATCH"
    assert reason(token(alg="HS256")) == "ALGORITHM_MISMATCH"
    assert reason(token(alg="ES256")) == "ALGORITHM_MISMATCH"
    assert reason(token(kid="other")) == "UNKNOWN_KEY"
    assert reason(raw_token('{"alg":"EdDSA"}', json.dumps(claims()))) == "UNKNOWN_KEY"
    assert reason(raw_token('{"alg":"EdDSA","kid":null}', json.dumps(claims()))) == "UNKNOWN_KEY"
    assert reason(raw_token('{"kid":"k1"}', json.dumps(claims()))) == "MALFORMED"
    assert reason(raw_token('{"alg":"EdDSA","kid":7}', json.dumps(claims()))) == "MALFORMED"
    assert reason(token(crit=["exp"])) == "MALFORMED"
    assert reason(token(crit=None)) == "VALID"
    # A key the token offers is never used.
    assert reason(token(kid="evil", jwk={"kty": "OKP", "crv": "Ed25519", "x": "AA"})) == "UNKNOWN_KEY"


def test_the_full_header_is_parsed_after_the_key_matched() -> None:
    assert reason(token(typ=5)) == "MALFORMED"
    assert reason(token(kid="other", typ=5)) == "UNKNOWN_KEY"
    assert reason(token(x5c="not a list")) == "MALFORMED"
    assert reason(token(b64=False)) == "MALFORMED"
    assert reason(token(b64=True)) == "VALID"
    assert reason(token(whatever={"any": [1]})) == "VALID"
    text = json.dumps(claims())
    assert reason(raw_token('{"alg":"EdDSA","kid":"k1","alg":"EdDSA"}', text)) == "MALFORMED"
    assert reason(raw_token('{"alg":"EdDSA","kid":"k1","typ":"JWT","typ":"JWT"}', text)) == "MALFORMED"
    assert reason(raw_token('{"alg":"EdDSA","kid":"k1","x":1,"x":2}', text)) == "VALID"


def test_json_is_strict_and_shallow() -> None:
    deep = json.dumps(claims())[:-1] + ', "deep": ' + "[" * 8 + "]" * 8 + "}"
    assert reason(raw_token('{"alg":"EdDSA","kid":"k1"}', deep)) == "MALFORMED"
    ok = json.dumps(claims())[:-1] + ', "deep": ' + "[" * 7 + "]" * 7 + "}"
    assert reason(raw_token('{"alg":"EdDSA","kid":"k1"}', ok)) == "VALID"
    nan = json.dumps(claims())[:-1] + ', "x": NaN}'
    assert reason(raw_token('{"alg":"EdDSA","kid":"k1"}', nan)) == "MALFORMED"
    assert reason(raw_token('{"alg":"EdDSA","kid":"\\ud800"}', json.dumps(claims()))) == "MALFORMED"
    twice = json.dumps(claims())[:-1] + ', "exp": 99999999999}'
    assert reason(raw_token('{"alg":"EdDSA","kid":"k1"}', twice)) == "MALFORMED"
    assert reason(raw_token('{"alg":"EdDSA","kid":"k1"}', "[1, 2]")) == "MALFORMED"


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"exp": str(NOW + 600)}, "MALFORMED"),
        ({"exp": float(NOW + 600)}, "MALFORMED"),
        ({"exp": True}, "MALFORMED"),
        ({"exp": -1}, "MALFORMED"),
        ({"nbf": -1}, "MALFORMED"),
        ({"iat": -1}, "VALID"),
        ({"exp": 2**63}, "MALFORMED"),
        ({"sub": 42}, "MALFORMED"),
        ({"roles": "admin"}, "MALFORMED"),
        ({"aud": ["web", 1]}, "MALFORMED"),
        ({"iss": ["authd"]}, "MALFORMED"),
        ({"jti": None}, "MALFORMED"),
        ({"sid": None}, "MALFORMED"),
        ({"iss": "AUTHD"}, "WRONG_ISSUER"),
        ({"aud": "billing"}, "WRONG_AUDIENCE"),
        ({"aud": []}, "WRONG_AUDIENCE"),
        ({"aud": ["billing", "authd"]}, "VALID"),
        ({"exp": NOW - 10}, "EXPIRED"),
        ({"exp": NOW - 9}, "VALID"),
        ({"nbf": NOW + 11}, "NOT_YET_VALID"),
        ({"iat": NOW + 11}, "NOT_YET_VALID"),
        ({"iss": "AUTHD", "exp": NOW - 100}, "WRONG_ISSUER"),
        ({"ptyp": "service_account"}, "MALFORMED"),
        ({"ptyp": "service_account", "sid": None}, "MALFORMED"),
        ({"ptyp": "service_account", "sid": None, "client_id": "sa-1"}, "VALID"),
        ({"ptyp": "robot", "sid": None, "client_id": "sa-1"}, "MALFORMED"),
        ({"ext": 5}, "MALFORMED"),
        ({"ext": "42"}, "VALID"),
    ],
)
def test_claims_have_their_types_then_issuer_audience_time_and_shape(
    changes: dict[str, Any], expected: str
) -> None:
    assert reason(token(claims(**changes))) == expected


def test_a_signature_of_another_key_is_bad() -> None:
    header, payload, _ = token().split(".")
    other = _b64(Ed25519PrivateKey.generate().sign(f"{header}.{payload}".encode()))
    assert reason(f"{header}.{payload}.{other}") == "BAD_SIGNATURE"
    assert reason(f"{header}.{payload}.") == "BAD_SIGNATURE"
    assert reason(f"{header}.{payload}.AAAA") == "BAD_SIGNATURE"


def test_a_key_set_keeps_only_keys_pinned_to_an_algorithm_authd_signs_with() -> None:
    assert set(_rules.parse_jwks(_jwks())) == {"k1"}
    assert _rules.parse_jwks(_jwks(alg="none")) == {}
    assert _rules.parse_jwks(_jwks(alg="HS256")) == {}
    assert _rules.parse_jwks('{"keys": [{"kid": "x", "alg": "EdDSA", "kty": "OKP"}]}') == {}
    with pytest.raises(ValueError, match="JWK Set"):
        _rules.parse_jwks("[]")


def test_the_verified_token_cache_is_bounded_and_ends_at_exp() -> None:
    cache = _rules.VerifiedTokens(2, ttl=300)
    checked, kid = _rules.check(token(), NOW, RULES, KEYS)
    for n in range(3):
        cache.put(bytes([n]), checked, kid, n, now=NOW, leeway=10)
    assert len(cache) == 2
    assert cache.get(bytes([0]), NOW) is None
    assert cache.get(bytes([2]), NOW) == (checked, kid, 2)
    assert cache.get(bytes([2]), checked.exp + 10) is None
    off = _rules.VerifiedTokens(0)
    off.put(b"k", checked, kid, None, now=NOW, leeway=10)
    assert off.get(b"k", NOW) is None
