"""Introspect (RFC 7662) and revoke (RFC 7009) authd tokens with authlib, a
stock OAuth2 client library, unchanged.

Usage: oauth2_introspect.py BASE_URL CLIENT_ID METHOD < request.json

BASE_URL is authd's HTTP listener (http://127.0.0.1:PORT). METHOD is
authlib's client authentication method for both endpoints:
client_secret_basic (HTTP Basic) or client_secret_post (the id and secret
in the form body). Standard input is JSON {"client_secret", "access_token",
"refresh_token"}: secrets never go in arguments (they are visible to every
process on the machine).

With authlib's OAuth2Session it introspects the access token, revokes the
refresh token, and introspects the access token again. Prints JSON
{"before": ANSWER, "revoke": ANSWER, "after": ANSWER}, each ANSWER
{"status": HTTP status, "body": the parsed JSON body}. A transport failure
or an unparsable answer exits non-zero.
"""

import json
import sys

from authlib.integrations.requests_client import OAuth2Session


def answer(response) -> dict:
    return {"status": response.status_code, "body": response.json()}


def main() -> None:
    base_url, client_id, method = sys.argv[1:4]
    request = json.load(sys.stdin)
    session = OAuth2Session(
        client_id,
        request["client_secret"],
        token_endpoint_auth_method=method,
        revocation_endpoint_auth_method=method,
    )
    introspect_url = f"{base_url}/oauth2/introspect"
    access = request["access_token"]
    before = session.introspect_token(
        introspect_url, token=access, token_type_hint="access_token"
    )
    revoked = session.revoke_token(
        f"{base_url}/oauth2/revoke",
        token=request["refresh_token"],
        token_type_hint="refresh_token",
    )
    after = session.introspect_token(introspect_url, token=access)
    json.dump(
        {"before": answer(before), "revoke": answer(revoked), "after": answer(after)},
        sys.stdout,
    )


if __name__ == "__main__":
    main()
