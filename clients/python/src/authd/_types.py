"""Typed, immutable answers built from authd's messages (``authd._proto``)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import TYPE_CHECKING

from authd._proto.auth.v1 import auth_pb2

if TYPE_CHECKING:
    from google.protobuf.timestamp_pb2 import Timestamp

# Names of auth.v1.PrincipalType values, without the prefix.
USER = "USER"
SERVICE_ACCOUNT = "SERVICE_ACCOUNT"


def _time(message: object, field: str) -> dt.datetime | None:
    if not message.HasField(field):  # type: ignore[attr-defined]
        return None
    stamp: Timestamp = getattr(message, field)
    return stamp.ToDatetime(tzinfo=dt.timezone.utc)


def _enum_name(prefix: str, name: str) -> str:
    return name[len(prefix) :] if name.startswith(prefix) else name


@dataclasses.dataclass(frozen=True)
class User:
    """An authd user record (never a password or hash)."""

    id: str
    username: str
    email: str
    active: bool
    roles: tuple[str, ...]
    created_at: dt.datetime | None
    last_login_at: dt.datetime | None
    external_id: str
    """The id in the system the user was imported from (a Django primary key, as text); ``""`` if none."""

    @classmethod
    def from_proto(cls, user: auth_pb2.User) -> User:
        """Builds it from an ``auth.v1.User``."""
        return cls(
            id=user.id,
            username=user.username,
            email=user.email,
            active=user.active,
            roles=tuple(user.roles),
            created_at=_time(user, "created_at"),
            last_login_at=_time(user, "last_login_at"),
            external_id=user.external_id,
        )


@dataclasses.dataclass(frozen=True)
class ServiceAccount:
    """A service account (a machine identity) as Verify returns it."""

    id: str
    name: str
    description: str
    roles: tuple[str, ...]
    client_id: str

    @classmethod
    def from_proto(cls, account: auth_pb2.ServiceAccount) -> ServiceAccount:
        """Builds it from an ``auth.v1.ServiceAccount``."""
        return cls(
            id=account.id,
            name=account.name,
            description=account.description,
            roles=tuple(account.roles),
            client_id=account.client_id,
        )


@dataclasses.dataclass(frozen=True)
class Claims:
    """The claims of a valid access token; times are Unix seconds."""

    sub: str
    iat: int
    nbf: int
    exp: int
    jti: str
    iss: str
    aud: tuple[str, ...]
    roles: tuple[str, ...]
    sid: str
    principal_type: str
    """``"USER"`` or ``"SERVICE_ACCOUNT"``."""
    client_id: str
    external_id: str

    @classmethod
    def from_proto(cls, claims: auth_pb2.Claims) -> Claims:
        """Builds it from an ``auth.v1.Claims``."""
        kind = auth_pb2.PrincipalType.Name(claims.principal_type)
        return cls(
            sub=claims.sub,
            iat=claims.iat,
            nbf=claims.nbf,
            exp=claims.exp,
            jti=claims.jti,
            iss=claims.iss,
            aud=tuple(claims.aud),
            roles=tuple(claims.roles),
            sid=claims.sid,
            # A token without `ptyp` names a user.
            principal_type=_enum_name("PRINCIPAL_TYPE_", kind).replace("UNSPECIFIED", USER),
            client_id=claims.client_id,
            external_id=claims.external_id,
        )


@dataclasses.dataclass(frozen=True)
class Verification:
    """Verify's verdict. ``reason`` is the InvalidReason name without its prefix
    (``"EXPIRED"``, ``"SESSION_ENDED"``, ...), ``""`` when valid."""

    valid: bool
    reason: str
    user: User | None
    claims: Claims | None
    service_account: ServiceAccount | None

    @classmethod
    def from_proto(cls, answer: auth_pb2.VerifyResponse) -> Verification:
        """Builds it from an ``auth.v1.VerifyResponse``."""
        reason = "" if answer.valid else auth_pb2.InvalidReason.Name(answer.reason)
        return cls(
            valid=answer.valid,
            reason=_enum_name("INVALID_REASON_", reason),
            user=User.from_proto(answer.user) if answer.HasField("user") else None,
            claims=Claims.from_proto(answer.claims) if answer.HasField("claims") else None,
            service_account=(
                ServiceAccount.from_proto(answer.service_account)
                if answer.HasField("service_account")
                else None
            ),
        )


@dataclasses.dataclass(frozen=True)
class Tokens:
    """What Login, Refresh and IssueServiceToken hand out. ``refresh_token`` and
    ``session_id`` are ``""`` where the call gives none; ``user`` is set by Login only."""

    access_token: str = dataclasses.field(repr=False)
    refresh_token: str = dataclasses.field(repr=False)
    token_type: str
    expires_in: int
    expires_at: dt.datetime | None
    session_id: str = ""
    user: User | None = None
