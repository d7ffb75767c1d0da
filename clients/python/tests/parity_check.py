"""Answers tokens with ``authd.LocalVerifier``, for the Rust parity test (tests/api/python_parity.rs).

Reads ``{"target", "client_id", "client_secret", "tokens": [...]}`` as JSON on
standard input (the secret never on the command line), connects a
LocalVerifier to ``target`` as that service account, waits for its first
snapshot and prints a JSON list with one answer per token: ``"valid <user
id>"`` or the reason (``"MALFORMED"``, ...), as the Rust test names Verify's.
Each token is answered twice, the second time from the verified-token cache
where it was kept; two different answers are printed as ``"<first> then
<second>"``, which matches nothing the server says.
"""

from __future__ import annotations

import json
import sys

import authd

READY_TIMEOUT = 60.0


def answer(verifier: authd.LocalVerifier, token: str) -> str:
    """One token's answer in the test's words."""
    result = verifier.verify(token)
    if result.valid and result.claims is not None:
        return f"valid {result.claims.sub}"
    return result.reason


def main() -> None:
    """See the module."""
    request = json.load(sys.stdin)
    with authd.LocalVerifier(
        request["target"],
        client_id=request["client_id"],
        client_secret=request["client_secret"],
        timeout=READY_TIMEOUT,
    ) as verifier:
        verifier.wait_ready(READY_TIMEOUT)
        answers = []
        for token in request["tokens"]:
            first, second = answer(verifier, token), answer(verifier, token)
            answers.append(first if first == second else f"{first} then {second}")
    json.dump(answers, sys.stdout)


if __name__ == "__main__":
    main()
