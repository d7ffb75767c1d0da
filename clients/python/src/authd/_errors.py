"""The exceptions every authd call raises: one class per gRPC status a caller acts on."""

from __future__ import annotations

import grpc


class AuthdError(Exception):
    """An authd call failed. ``code`` is the gRPC status, ``message`` authd's text.

    An invalid token is *not* an error: :meth:`authd.Client.verify` answers it
    with ``valid=False`` and a reason.
    """

    code: grpc.StatusCode = grpc.StatusCode.UNKNOWN

    def __init__(self, message: str, *, code: grpc.StatusCode | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return f"{self.code.name}: {self.message}"


class Unavailable(AuthdError):
    """authd could not be reached or could not answer in time (``UNAVAILABLE``,
    ``DEADLINE_EXCEEDED``, ``INTERNAL``, ...): nothing is known about the credentials.
    Fail closed: never treat this as "not logged in"."""

    code = grpc.StatusCode.UNAVAILABLE


class InvalidArgument(AuthdError):
    """The request was malformed (``INVALID_ARGUMENT``, ``OUT_OF_RANGE``): an empty field,
    a password over 1024 bytes, a message too large."""

    code = grpc.StatusCode.INVALID_ARGUMENT


class Unauthenticated(AuthdError):
    """Wrong credentials or an unusable token (``UNAUTHENTICATED``)."""

    code = grpc.StatusCode.UNAUTHENTICATED


class PermissionDenied(AuthdError):
    """The caller is known but not allowed (``PERMISSION_DENIED``)."""

    code = grpc.StatusCode.PERMISSION_DENIED


class NotFound(AuthdError):
    """No such record (``NOT_FOUND``)."""

    code = grpc.StatusCode.NOT_FOUND


class ResourceExhausted(AuthdError):
    """Too many failed logins, or the password hashers are saturated
    (``RESOURCE_EXHAUSTED``). ``retry_after`` is authd's ``retry-after`` in
    seconds when it sent one."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED

    def __init__(
        self, message: str, *, code: grpc.StatusCode | None = None, retry_after: int | None = None
    ) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after


_BY_CODE: dict[grpc.StatusCode, type[AuthdError]] = {
    grpc.StatusCode.UNAVAILABLE: Unavailable,
    grpc.StatusCode.DEADLINE_EXCEEDED: Unavailable,
    grpc.StatusCode.INTERNAL: Unavailable,
    grpc.StatusCode.UNKNOWN: Unavailable,
    grpc.StatusCode.CANCELLED: Unavailable,
    grpc.StatusCode.DATA_LOSS: Unavailable,
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgument,
    grpc.StatusCode.OUT_OF_RANGE: InvalidArgument,
    grpc.StatusCode.UNAUTHENTICATED: Unauthenticated,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDenied,
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhausted,
}


def _retry_after(metadata: object) -> int | None:
    for item in metadata or ():  # type: ignore[attr-defined]
        key, value = item
        if key == "retry-after":
            try:
                return int(value)
            except (TypeError, ValueError):
                return None
    return None


def from_status(code: grpc.StatusCode | None, message: str | None, trailing: object = None) -> AuthdError:
    """The exception for a failed call's status (and trailing metadata)."""
    code = code or grpc.StatusCode.UNKNOWN
    cls = _BY_CODE.get(code, AuthdError)
    text = message or code.name
    if cls is ResourceExhausted:
        return ResourceExhausted(text, code=code, retry_after=_retry_after(trailing))
    return cls(text, code=code)
