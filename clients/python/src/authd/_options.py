"""What the sync and asyncio clients share: TLS, channel options, retry policy,
request building and answer conversion. No I/O here."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence
from pathlib import Path

import grpc

from authd._errors import AuthdError, InvalidArgument, Unavailable
from authd._proto.auth.v1 import auth_pb2
from authd._types import Tokens, User, _time

# The calls that may be sent again when authd was unreachable: they change
# nothing. Login, Refresh, Logout and IssueServiceToken are never retried
# (a Refresh sent twice spends its token twice).
IDEMPOTENT = frozenset({"Verify", "GetUser", "GetJwks", "ListSessions"})

ChannelOptions = Sequence[tuple[str, int | str]]

# Reconnect quickly once authd is back: grpc's default first back-off is 1 s,
# during which every call fails at once.
DEFAULT_CHANNEL_OPTIONS: tuple[tuple[str, int | str], ...] = (
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
)


@dataclasses.dataclass(frozen=True)
class Tls:
    """TLS to authd. ``ca_file``: PEM bundle to trust (default: the system's roots);
    ``cert_file`` and ``key_file``: a client certificate for mutual TLS (both or neither);
    ``server_name``: the name to check in authd's certificate when it is not the target's host."""

    ca_file: str | Path | None = None
    cert_file: str | Path | None = None
    key_file: str | Path | None = None
    server_name: str | None = None

    def __post_init__(self) -> None:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("Tls: give both cert_file and key_file for a client certificate, or neither")

    def credentials(self) -> grpc.ChannelCredentials:
        """The channel credentials, reading the files now."""

        def read(path: str | Path | None) -> bytes | None:
            return None if path is None else Path(path).read_bytes()

        return grpc.ssl_channel_credentials(
            root_certificates=read(self.ca_file),
            private_key=read(self.key_file),
            certificate_chain=read(self.cert_file),
        )

    def options(self) -> list[tuple[str, int | str]]:
        """Channel options this TLS set-up needs."""
        if self.server_name is None:
            return []
        return [("grpc.ssl_target_name_override", self.server_name)]


@dataclasses.dataclass(frozen=True)
class Retry:
    """Retries of idempotent calls on ``UNAVAILABLE``: up to ``attempts`` calls in all,
    sleeping ``backoff * 2**n`` (with jitter, at most ``max_backoff``) between them."""

    attempts: int = 3
    backoff: float = 0.05
    max_backoff: float = 1.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("Retry.attempts must be at least 1")

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (0-based)."""
        base: float = min(self.max_backoff, self.backoff * (2**attempt))
        return base * (0.5 + random.random() / 2)  # noqa: S311 (jitter, not a secret)


def channel_options(tls: Tls | None, extra: ChannelOptions) -> list[tuple[str, int | str]]:
    """The channel options: authd's defaults, TLS's, then the caller's."""
    return [*DEFAULT_CHANNEL_OPTIONS, *(tls.options() if tls else []), *extra]


def bearer(access_token: str) -> tuple[tuple[str, str]]:
    """Call metadata authenticating with an access token."""
    return (("authorization", f"Bearer {access_token}"),)


def check_timeout(timeout: float) -> float:
    """Refuses a timeout that is not a positive number of seconds."""
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    return float(timeout)


def user_selector(user_id: str | None, username: str | None) -> auth_pb2.GetUserRequest:
    """GetUser's request: exactly one of the two."""
    if user_id is not None and username is None:
        return auth_pb2.GetUserRequest(id=user_id)
    if username is not None and user_id is None:
        return auth_pb2.GetUserRequest(username=username)
    raise InvalidArgument("get_user: give exactly one of id and username")


def login_tokens(answer: auth_pb2.LoginResponse) -> Tokens:
    """Login's answer."""
    return Tokens(
        access_token=answer.access_token,
        refresh_token=answer.refresh_token,
        token_type=answer.token_type,
        expires_in=answer.expires_in,
        expires_at=_time(answer, "expires_at"),
        session_id=answer.session_id,
        user=User.from_proto(answer.user) if answer.HasField("user") else None,
    )


def refresh_tokens(answer: auth_pb2.RefreshResponse) -> Tokens:
    """Refresh's answer."""
    return Tokens(
        access_token=answer.access_token,
        refresh_token=answer.refresh_token,
        token_type=answer.token_type,
        expires_in=answer.expires_in,
        expires_at=_time(answer, "expires_at"),
    )


def service_tokens(answer: auth_pb2.IssueServiceTokenResponse) -> Tokens:
    """IssueServiceToken's answer."""
    return Tokens(
        access_token=answer.access_token,
        refresh_token="",
        token_type=answer.token_type,
        expires_in=answer.expires_in,
        expires_at=_time(answer, "expires_at"),
    )


def retryable(error: AuthdError, method: str) -> bool:
    """Whether a failed call may be sent again."""
    return (
        method in IDEMPOTENT and isinstance(error, Unavailable) and error.code == grpc.StatusCode.UNAVAILABLE
    )
