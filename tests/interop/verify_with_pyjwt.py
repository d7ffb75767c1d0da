"""Verify an authd token with PyJWT, an implementation independent of authd's.

Usage: verify_with_pyjwt.py TOKEN ISSUER AUDIENCE < jwks.json

Reads the JWK Set (as fetched from authd's /.well-known/jwks.json) from
standard input, picks the key named by the token's `kid`, verifies with the
algorithm pinned by that JWK (never the token's own `alg`), and prints the
verified claims as JSON. Exits non-zero if anything does not verify.
"""

import json
import sys

import jwt


def main() -> int:
    token, issuer, audience = sys.argv[1:4]
    jwks = jwt.PyJWKSet.from_dict(json.load(sys.stdin))
    kid = jwt.get_unverified_header(token)["kid"]
    key = next(k for k in jwks.keys if k.key_id == kid)
    claims = jwt.decode(
        token,
        key=key.key,
        algorithms=[key.algorithm_name],
        issuer=issuer,
        audience=audience,
        options={"require": ["exp", "nbf", "iat", "iss", "aud", "sub", "jti"]},
    )
    json.dump({"alg": key.algorithm_name, "claims": claims}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
