"""Fetch an authd access token with authlib, a stock OAuth2 client library,
by the client credentials grant (RFC 6749 §4.4), unchanged.

Usage: oauth2_client_credentials.py TOKEN_URL CLIENT_ID METHOD < secret

METHOD is authlib's token_endpoint_auth_method: client_secret_basic (HTTP
Basic) or client_secret_post (the id and secret in the form body). The
secret comes on standard input, never as an argument (arguments are visible
to every process on the machine).

Prints JSON: {"token": {...}} with the token response authlib parsed, or
{"error": ..., "description": ...} when authlib raised its OAuthError.
Anything else (a transport failure, an unparsable answer) exits non-zero.
"""

import json
import sys

from authlib.integrations.requests_client import OAuth2Session, OAuthError


def main() -> None:
    token_url, client_id, method = sys.argv[1:4]
    secret = sys.stdin.read()
    session = OAuth2Session(
        client_id,
        secret,
        token_endpoint_auth_method=method,
    )
    try:
        token = session.fetch_token(token_url, grant_type="client_credentials")
    except OAuthError as e:
        json.dump({"error": e.error, "description": e.description}, sys.stdout)
        return
    json.dump({"token": dict(token)}, sys.stdout)


if __name__ == "__main__":
    main()
