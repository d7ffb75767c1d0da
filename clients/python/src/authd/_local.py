"""``authd.LocalVerifier``: Verify's answers in this process, kept current by WatchRevocations.

A background thread holds one ``WatchRevocations`` stream open. Its hello
carries the token rules (issuer, audience, leeway, longest token), a
snapshot of every revocation that can still matter follows, then live
events and a heartbeat every second. The keys come from ``GetJwks``, again
on every ``keys_changed``. :meth:`LocalVerifier.verify` then checks a token
with :mod:`authd._rules` (the server's rules) and the revocation state: no
call per token, and the same reasons as the server's Verify.

Fail closed: before the first snapshot is complete, after a reconnect that
could not resume (until its snapshot is complete), and whenever nothing was
heard for longer than the staleness bound (default 3 s, the server's own),
``verify`` raises :class:`authd.Unavailable` instead of answering from
state that may be missing a revocation. The stream resumes from the last
cursor after a break, with capped, jittered back-off.

What the local answer cannot know (see the README): the user's record
(``Verification.user`` carries only the token's id, roles and external id),
and a session whose absolute lifetime ran out before its access token did.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

import grpc

from authd import _options as o
from authd import _rules
from authd._client import Client
from authd._errors import AuthdError, Unavailable
from authd._proto.auth.v1 import auth_pb2
from authd._types import SERVICE_ACCOUNT, Claims, ServiceAccount, User, Verification

logger = logging.getLogger("authd.local")

# What Verify answers for the revocations the stream announces.
USER_NOT_FOUND = "USER_NOT_FOUND"
USER_DISABLED = "USER_DISABLED"
SESSION_ENDED = "SESSION_ENDED"
REVOKED = "REVOKED"
SERVICE_ACCOUNT_NOT_FOUND = "SERVICE_ACCOUNT_NOT_FOUND"

DEFAULT_STALENESS = 3.0
DEFAULT_CACHE_SIZE = 100_000
# Reconnect back-off: first wait, longest wait (well under the staleness
# bound's multiples, so a restarted authd is found again quickly).
BACKOFF_FIRST = 0.1
BACKOFF_MAX = 2.0
# A service token is renewed when less than this share of its life is left.
RENEW_AT = 1 / 3
# How often entries that can no longer matter are dropped, in seconds.
PRUNE_EVERY = 60.0
# How often the key set is fetched again besides every keys_changed.
JWKS_REFRESH = 300.0


@dataclasses.dataclass
class _Revocations:
    """What the stream said is revoked. Each entry keeps the Unix time it happened, so
    entries older than any token that can still be valid are dropped."""

    sessions: dict[str, tuple[str, str, int]] = dataclasses.field(default_factory=dict)
    """Session id -> (reason, user id, ended at)."""
    users: dict[str, tuple[str, int]] = dataclasses.field(default_factory=dict)
    """User id -> (USER_DISABLED or USER_NOT_FOUND, changed at)."""
    service_accounts: dict[str, int] = dataclasses.field(default_factory=dict)
    """Deleted service account id -> deleted at."""

    def count(self) -> int:
        """How many revocations are held."""
        return len(self.sessions) + len(self.users) + len(self.service_accounts)

    def prune(self, before: int) -> None:
        """Drops what happened before ``before``: every token it concerns has expired."""
        self.sessions = {k: v for k, v in self.sessions.items() if v[2] >= before}
        self.users = {k: v for k, v in self.users.items() if v[1] >= before}
        self.service_accounts = {k: v for k, v in self.service_accounts.items() if v >= before}


def _reason_name(value: auth_pb2.InvalidReason.ValueType) -> str:
    name = auth_pb2.InvalidReason.Name(value) if value in auth_pb2.InvalidReason.values() else ""
    reason = name.removeprefix("INVALID_REASON_")
    # An unknown or unset reason still ends the session: fail closed.
    return reason if reason and reason != "UNSPECIFIED" else SESSION_ENDED


def _seconds(message: Any, field: str, default: int) -> int:
    return int(getattr(message, field).seconds) if message.HasField(field) else default


class LocalVerifier:
    """Verifies authd's access tokens in this process, with the server's rules and reasons.

    ``target`` is authd's gRPC ``host:port``. The stream needs a caller that
    may watch revocations: a service account (``client_id`` and
    ``client_secret``: its token is fetched with IssueServiceToken and renewed
    before it expires) or a bearer token of an admin or service account
    (``bearer_token``). ``tls``, ``timeout`` (seconds per unary call) and
    ``channel_options`` are :class:`authd.Client`'s.

    ``staleness`` (seconds, default 3): once nothing was heard from authd for
    longer, :meth:`verify` raises :class:`authd.Unavailable`. ``cache_size``:
    how many verified tokens are remembered (by SHA-256) so a token seen
    before skips the signature check; 0 turns that off. ``clock`` gives Unix
    seconds (``time.time``).

    The stream runs on a daemon thread started here; :meth:`close` (or the
    ``with`` block) ends it. Thread-safe: share one verifier per process.
    """

    def __init__(
        self,
        target: str,
        *,
        client_id: str | None = None,
        client_secret: str | None = None,
        bearer_token: str | None = None,
        tls: o.Tls | None = None,
        staleness: float = DEFAULT_STALENESS,
        cache_size: int = DEFAULT_CACHE_SIZE,
        timeout: float = 5.0,
        channel_options: o.ChannelOptions = (),
        clock: Callable[[], float] = time.time,
    ) -> None:
        if bearer_token is None and (not client_id or not client_secret):
            raise ValueError("LocalVerifier: give client_id and client_secret, or bearer_token")
        if bearer_token is not None and (client_id or client_secret):
            raise ValueError("LocalVerifier: give client_id and client_secret, or bearer_token, not both")
        if isinstance(staleness, bool) or not isinstance(staleness, (int, float)) or staleness <= 0:
            raise ValueError(
                f"LocalVerifier: staleness must be a positive number of seconds, got {staleness!r}"
            )
        if isinstance(cache_size, bool) or not isinstance(cache_size, int) or cache_size < 0:
            raise ValueError(f"LocalVerifier: cache_size must be an integer >= 0, got {cache_size!r}")
        self.target = target
        self.staleness = float(staleness)
        self._client_id = client_id
        self._client_secret = client_secret
        self._bearer_token = bearer_token
        self._clock = clock
        self._client = Client(
            target, tls=tls, timeout=timeout, retry=o.Retry(attempts=1), channel_options=channel_options
        )
        self._cache = _rules.VerifiedTokens(cache_size)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ready_event = threading.Event()
        # Everything below is written by the stream thread only; verify()
        # reads each attribute once (a reference swap is atomic).
        self._rules: _rules.Rules | None = None
        self._keys: dict[str, _rules.Key] = {}
        self._retired: set[str] = set()
        self._state = _Revocations()
        self._pending: _Revocations | None = None
        self._ready = False
        self._cursor = ""
        # Freshness for verify(): refreshed only by a stream that is in sync
        # (after its snapshot, or a resumed stream once caught up), as the
        # Rust client does. Any message at all keeps the watchdog quiet.
        self._last_heard = time.monotonic()
        self._last_message = time.monotonic()
        self._in_sync = False
        self._last_error = "no answer from authd yet"
        self._max_lifetime = 0
        self._heartbeat = 1.0
        self._last_prune = time.monotonic()
        self._last_jwks = time.monotonic()
        self._service_token: str | None = None
        self._service_token_renew_at = 0.0
        self._call: Any = None
        self._call_started = time.monotonic()
        self._invalid = {
            reason: Verification(valid=False, reason=reason, user=None, claims=None, service_account=None)
            for reason in (
                _rules.MALFORMED,
                _rules.BAD_SIGNATURE,
                _rules.UNKNOWN_KEY,
                _rules.EXPIRED,
                _rules.NOT_YET_VALID,
                _rules.WRONG_ISSUER,
                _rules.WRONG_AUDIENCE,
                _rules.ALGORITHM_MISMATCH,
                USER_NOT_FOUND,
                USER_DISABLED,
                SESSION_ENDED,
                REVOKED,
                "PASSWORD_CHANGED",
                "ROLES_CHANGED",
                SERVICE_ACCOUNT_NOT_FOUND,
            )
        }
        self._thread = threading.Thread(target=self._run, name="authd-local-verifier", daemon=True)
        self._watchdog = threading.Thread(
            target=self._watch, name="authd-local-verifier-watchdog", daemon=True
        )
        self._thread.start()
        self._watchdog.start()

    # --- the caller's side -------------------------------------------------

    @property
    def ready(self) -> bool:
        """Whether :meth:`verify` answers now (state complete and heard from recently)."""
        return self._ready and time.monotonic() - self._last_heard <= self.staleness

    def wait_ready(self, timeout: float = 10.0) -> None:
        """Blocks until the first snapshot is complete; :class:`authd.Unavailable` after
        ``timeout`` seconds, with the last error."""
        if not self._ready_event.wait(timeout) or not self.ready:
            raise Unavailable(f"{self!r} is not ready after {timeout} s: {self._last_error}")

    def verify(self, token: str) -> Verification:
        """Checks an access token (without any ``Bearer`` prefix) as authd's Verify would.

        An invalid token is an answer (``valid=False`` and the server's
        reason). Raises :class:`authd.Unavailable` when the revocation state
        is not known to be current (see the class)."""
        if not isinstance(token, str):
            raise TypeError(f"token must be str, got {type(token).__name__}")
        rules, keys, state = self._rules, self._keys, self._state
        silent = time.monotonic() - self._last_heard
        if not self._ready or rules is None:
            raise Unavailable(f"{self!r} has no complete revocation state yet: {self._last_error}")
        if silent > self.staleness:
            raise Unavailable(
                f"{self!r} heard nothing from authd for {silent:.1f} s (staleness bound "
                f"{self.staleness} s): {self._last_error}"
            )
        size = len(token) if token.isascii() else len(token.encode("utf-8", "surrogatepass"))
        if size == 0 or size > rules.max_token_bytes:
            return self._invalid[_rules.MALFORMED]
        now = int(self._clock())
        cache_key = _rules.VerifiedTokens.key(token)
        hit = self._cache.get(cache_key, now)
        try:
            if hit is not None:
                claims, kid, answer = hit
                if kid not in keys:
                    return self._invalid[_rules.UNKNOWN_KEY]
                _rules.check_time(claims, now, rules.leeway)
            else:
                claims, kid = _rules.check(token, now, rules, keys)
                answer = _valid(claims, _rules.principal_kind(claims))
                self._cache.put(cache_key, claims, kid, answer, now=now, leeway=rules.leeway)
        except _rules.Invalid as invalid:
            return self._invalid[invalid.reason]
        reason = _revoked(claims, state)
        if reason is not None:
            return self._invalid.get(reason) or self._invalid[SESSION_ENDED]
        return answer  # type: ignore[no-any-return]

    def close(self) -> None:
        """Ends the stream and its thread, and closes the channel."""
        self._stop.set()
        call = self._call
        if call is not None:
            call.cancel()
        for thread in (self._thread, self._watchdog):
            if thread is not threading.current_thread():
                thread.join(timeout=5)
        self._client.close()

    def __enter__(self) -> LocalVerifier:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"authd.LocalVerifier({self.target!r})"

    # --- the stream thread -------------------------------------------------

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                greeted = self._stream()
                failures = 0 if greeted else failures + 1
            except grpc.RpcError as raw:
                if self._stop.is_set():
                    return
                call: Any = raw
                quick = self._failed(call.code(), call.details() or "")
                failures = 1 if quick else failures + 1
            except AuthdError as error:
                self._note(f"{error}")
                failures += 1
            except Exception:
                logger.exception("authd.LocalVerifier: unexpected failure of the revocation stream")
                self._last_error = "unexpected failure of the revocation stream (logged)"
                failures += 1
            finally:
                self._call = None
            if failures:
                delay = min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** (failures - 1))
                self._stop.wait(delay * (0.5 + random.random() / 2))  # noqa: S311 (jitter)

    def _note(self, error: str) -> None:
        if error != self._last_error:
            logger.warning("authd.LocalVerifier(%s): revocation stream: %s", self.target, error)
        self._last_error = error

    def _failed(self, code: grpc.StatusCode, details: str) -> bool:
        """Handles the stream's failure; True when it should be opened again soon."""
        self._note(f"{code.name}: {details}")
        if code == grpc.StatusCode.UNAUTHENTICATED:
            self._service_token = None
        elif code == grpc.StatusCode.INVALID_ARGUMENT:
            # A cursor the server does not accept: start afresh with a snapshot.
            self._cursor = ""
            return True
        elif code == grpc.StatusCode.RESOURCE_EXHAUSTED:
            # Too slow a reader: resubscribe from the last cursor.
            return True
        return False

    def _bearer(self) -> str:
        if self._bearer_token is not None:
            return self._bearer_token
        if self._service_token is None or time.monotonic() >= self._service_token_renew_at:
            tokens = self._client.issue_service_token(self._client_id or "", self._client_secret or "")
            lifetime = max(tokens.expires_in, 1)
            self._service_token = tokens.access_token
            self._service_token_renew_at = time.monotonic() + lifetime * (1 - RENEW_AT)
        return self._service_token

    def _stream(self) -> bool:
        """One stream, read until it ends. True when it ended after a hello (reopen at
        once); a failure raises."""
        request = auth_pb2.WatchRevocationsRequest(cursor=self._cursor)
        self._call_started = time.monotonic()
        call: Any = self._client.stub.WatchRevocations(request, metadata=o.bearer(self._bearer()))
        self._call = call
        greeted = False
        self._in_sync = False
        try:
            if self._stop.is_set():
                return False
            for event in call:
                self._last_message = time.monotonic()
                kind = event.WhichOneof("event")
                if kind == "hello":
                    self._hello(event.hello)
                    greeted = True
                elif not greeted:
                    raise AuthdError(f"the revocation stream began with {kind}, not hello")
                else:
                    self._event(kind, event)
                # Heard only once the event is applied and the stream is in
                # sync: a hello alone (or half a snapshot) proves nothing.
                if self._in_sync:
                    self._last_heard = time.monotonic()
        finally:
            # Leaving early (closing, a failed key fetch, an unknown event) ends the call.
            call.cancel()
        return greeted

    def _hello(self, hello: auth_pb2.RevocationHello) -> None:
        # Within the staleness bound a resumed stream missed at most what the
        # bound allows (replayed next); otherwise it is in sync from its first
        # heartbeat, which follows the replay.
        within_bound = self.ready
        if not hello.resumed:
            # Before anything else (the keys are fetched below, a round trip):
            # the state held may be missing what happened while disconnected.
            self._ready = False
        rules = _rules.Rules(
            issuer=hello.issuer,
            audience=hello.audience,
            leeway=int(hello.leeway_seconds),
            max_token_bytes=int(hello.max_token_bytes),
        )
        if rules != self._rules:
            self._cache.clear()
        self._rules = rules
        self._max_lifetime = int(hello.max_token_lifetime_seconds)
        if hello.HasField("heartbeat_interval"):
            interval = hello.heartbeat_interval
            self._heartbeat = max(0.05, interval.seconds + interval.nanos / 1e9)
        self._fetch_keys()
        if hello.resumed:
            logger.info("authd.LocalVerifier(%s): revocation stream resumed", self.target)
            self._pending = None
            self._in_sync = within_bound
            self._ready = True
            self._ready_event.set()
        else:
            if self._cursor:
                logger.info(
                    "authd.LocalVerifier(%s): revocation stream reset (%s); reading a new snapshot",
                    self.target,
                    hello.reset_reason or "no reason given",
                )
            # Whatever state was held may be missing events: refuse to answer
            # until the new snapshot is whole.
            self._ready = False
            self._pending = _Revocations()
        self._last_error = "the revocation snapshot is still being read"

    def _event(self, kind: str | None, event: auth_pb2.RevocationEvent) -> None:
        now = int(self._clock())
        when = _seconds(event, "server_time", now)
        target = self._pending if self._pending is not None else self._state
        if kind == "snapshot_end":
            if self._pending is not None:
                self._state = self._pending
                self._pending = None
            self._in_sync = True
            self._ready = True
            self._ready_event.set()
            logger.info(
                "authd.LocalVerifier(%s): revocation snapshot complete (%d events, %d held)",
                self.target,
                event.snapshot_end.events,
                self._state.count(),
            )
        elif kind == "heartbeat":
            if self._pending is None:
                self._in_sync = True
            self._maintain(now)
        elif kind == "session_ended":
            ended = event.session_ended
            target.sessions[ended.session_id] = (
                _reason_name(ended.reason),
                ended.user_id,
                _seconds(ended, "ended_at", when),
            )
        elif kind == "user_changed":
            self._user_changed(target, event.user_changed, when)
        elif kind == "service_account_changed":
            change = event.service_account_changed
            if change.change == auth_pb2.SERVICE_ACCOUNT_CHANGE_DELETED:
                target.service_accounts[change.service_account_id] = _seconds(change, "changed_at", when)
        elif kind == "keys_changed":
            retired = set(event.keys_changed.retired_kids)
            self._retired |= retired
            # Retired keys stop verifying at once, before the new set is fetched.
            self._keys = {kid: key for kid, key in self._keys.items() if kid not in retired}
            self._fetch_keys()
        else:
            # An event this version does not know: its state may be incomplete.
            raise AuthdError(f"unknown revocation event {kind!r}: upgrade the authd package")
        if self._pending is None and event.cursor:
            self._cursor = event.cursor

    @staticmethod
    def _user_changed(target: _Revocations, change: auth_pb2.UserChanged, when: int) -> None:
        at = _seconds(change, "changed_at", when)
        if change.change == auth_pb2.USER_CHANGE_DISABLED:
            if target.users.get(change.user_id, ("", 0))[0] != USER_NOT_FOUND:
                target.users[change.user_id] = (USER_DISABLED, at)
        elif change.change == auth_pb2.USER_CHANGE_ENABLED:
            if target.users.get(change.user_id, ("", 0))[0] == USER_DISABLED:
                del target.users[change.user_id]
        elif change.change == auth_pb2.USER_CHANGE_DELETED:
            target.users[change.user_id] = (USER_NOT_FOUND, at)
        # Password and roles changes end sessions, which come as session_ended.

    def _fetch_keys(self) -> None:
        try:
            keys = _rules.parse_jwks(self._client.get_jwks())
        except ValueError as error:
            raise AuthdError(f"GetJwks answered no JWK Set: {error}") from None
        self._keys = {kid: key for kid, key in keys.items() if kid not in self._retired}
        self._last_jwks = time.monotonic()
        if not self._keys:
            self._note("authd publishes no verification keys (HS256?): every token is UNKNOWN_KEY")

    def _maintain(self, now: int) -> None:
        """On heartbeats: drop revocations older than any still-valid token, and fetch
        the keys again now and then."""
        rules = self._rules
        # Without a known longest lifetime nothing is known to have expired: keep all.
        if rules is not None and self._max_lifetime > 0 and time.monotonic() - self._last_prune > PRUNE_EVERY:
            self._last_prune = time.monotonic()
            self._state.prune(now - self._max_lifetime - rules.leeway - int(PRUNE_EVERY))
        if time.monotonic() - self._last_jwks > JWKS_REFRESH:
            try:
                self._fetch_keys()
            except AuthdError as error:
                self._note(f"fetching the keys again: {error}")

    def _watch(self) -> None:
        """Cancels a stream that went silent (a peer gone without closing the
        connection), so the stream thread reconnects."""
        while not self._stop.wait(0.25):
            call = self._call
            if call is None:
                continue
            limit = max(self.staleness, 3 * self._heartbeat)
            quiet = time.monotonic() - max(self._last_message, self._call_started)
            if quiet > limit:
                self._last_error = f"the revocation stream was silent for {quiet:.1f} s"
                call.cancel()


def _valid(claims: _rules.TokenClaims, kind: str) -> Verification:
    typed = Claims(
        sub=claims.sub,
        iat=claims.iat,
        nbf=claims.nbf,
        exp=claims.exp,
        jti=claims.jti,
        iss=claims.iss,
        aud=claims.aud,
        roles=claims.roles,
        sid=claims.sid,
        principal_type=kind,
        client_id=claims.client_id or "",
        external_id=claims.ext or "",
    )
    if kind == SERVICE_ACCOUNT:
        account = ServiceAccount(
            id=claims.sub, name="", description="", roles=claims.roles, client_id=claims.client_id or ""
        )
        return Verification(valid=True, reason="", user=None, claims=typed, service_account=account)
    user = User(
        id=claims.sub,
        username="",
        email="",
        active=True,
        roles=claims.roles,
        created_at=None,
        last_login_at=None,
        external_id=claims.ext or "",
    )
    return Verification(valid=True, reason="", user=user, claims=typed, service_account=None)


def _revoked(claims: _rules.TokenClaims, state: _Revocations) -> str | None:
    """The server's state checks, in its order; ``None`` when nothing revokes the token."""
    if claims.ptyp is not None:
        return SERVICE_ACCOUNT_NOT_FOUND if claims.sub in state.service_accounts else None
    user = state.users.get(claims.sub)
    if user is not None:
        return user[0]
    ended = state.sessions.get(claims.sid)
    if ended is None:
        return None
    reason, user_id, _ = ended
    # A session of another user than the token's: a forged pairing.
    return REVOKED if user_id and user_id != claims.sub else reason


__all__ = ["LocalVerifier"]
