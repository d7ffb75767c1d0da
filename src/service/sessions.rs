//! Sessions after login: refresh-token rotation (with reuse detection and
//! the idle timeout), logout, logout of every session, and listing and
//! revoking sessions.
//!
//! Each ended session is dropped from the local cache at once (the store
//! announces it to the other replicas). Must not answer a refresh failure
//! with more than "log in again" and a short reason.

use secrecy::{ExposeSecret, SecretString};

use super::users::{UserSelector, is_admin};
use super::{AuthCore, ClientInfo};
use crate::audit::{AuditEvent, AuditRecord, Outcome};
use crate::error::{Error, Result};
use crate::store::{Change, EndReason, RefreshRecord, Rotation, Session};
use crate::token::{IssuedToken, refresh};
use crate::user::User;

/// The outcome of a successful refresh.
#[derive(Debug)]
pub struct RefreshOutcome {
    /// A new access token for the same session.
    pub access: IssuedToken,
    /// The refresh token to use next time (the old one is spent).
    pub refresh_token: SecretString,
}

/// A session as shown to its user.
#[derive(Debug, Clone)]
pub struct SessionInfo {
    /// The stored session.
    pub session: Session,
    /// Whether it is the session of the token that asked.
    pub current: bool,
}

/// The one answer to every refresh failure a client cannot fix but by logging in again.
fn refresh_refused(detail: &str) -> Error {
    Error::Unauthenticated(format!(
        "the refresh token is not valid: {detail}; log in again"
    ))
}

impl AuthCore {
    /// Exchanges a refresh token for a new access token and the next refresh
    /// token. The presented token is spent; presenting it again within the
    /// grace window, while the successor is unspent, returns the same
    /// successor (a retried request); otherwise it revokes the whole session
    /// (reuse of a stolen token).
    ///
    /// # Errors
    /// [`Error::Unauthenticated`] for any token that cannot be used, saying
    /// what to do; database errors.
    pub async fn refresh(&self, token: &SecretString, now: i64) -> Result<RefreshOutcome> {
        self.refresh_from(token, &ClientInfo::default(), now).await
    }

    /// [`Self::refresh`] for a call from `client`, whose address a reuse's
    /// audit row names (the gRPC Refresh).
    ///
    /// # Errors
    /// As [`Self::refresh`].
    pub async fn refresh_from(
        &self,
        token: &SecretString,
        client: &ClientInfo,
        now: i64,
    ) -> Result<RefreshOutcome> {
        let token = token.expose_secret();
        if !refresh::looks_valid(token) {
            return Err(refresh_refused("it is not a refresh token"));
        }
        let hash = refresh::hash(token);
        let mut record = self
            .store()
            .refresh_token(&hash)
            .await?
            .ok_or_else(|| refresh_refused("unknown token"))?;
        let session = self
            .store()
            .session(&record.session_id)
            .await?
            .ok_or_else(|| refresh_refused("the session has ended"))?;
        if session.ended.is_some() {
            return Err(refresh_refused("the session has ended"));
        }
        if session.expires_at <= now {
            return Err(refresh_refused("the session has expired"));
        }
        // Idle: checked before any rotation, so neither a fresh token nor a
        // retried one (whose rotation set `last_used_at`) revives the session.
        if let Some(idle) = self.sessions.idle_secs
            && now >= session.last_used_at.saturating_add(idle)
        {
            self.end_session(&session.id, EndReason::Idle, now).await?;
            tracing::info!(
                session_id = %session.id,
                user_id = %session.user_id,
                "session ended: its refresh token went unused longer than --refresh-idle-timeout"
            );
            return Err(refresh_refused(
                "the session was idle longer than the refresh idle timeout",
            ));
        }
        let user = match self.store().user_by_id(&session.user_id).await? {
            Some(user) if user.active => user,
            _ => return Err(refresh_refused("the user is disabled or gone")),
        };

        if record.rotated_at.is_none() {
            let successor = refresh::generate()?;
            let sealed = refresh::seal(token, &successor)?;
            let successor_hash = refresh::hash(successor.expose_secret());
            match self
                .store()
                .rotate_refresh_token(&hash, &successor_hash, &sealed, now)
                .await?
            {
                Rotation::Rotated => {
                    let access = self
                        .tokens
                        .issue(&user, &session.id, session.expires_at, now)?;
                    return Ok(RefreshOutcome {
                        access,
                        refresh_token: successor,
                    });
                }
                Rotation::SessionEnded => return Err(refresh_refused("the session has ended")),
                Rotation::AlreadyRotated => {
                    // A concurrent refresh of the same token won; answer as a retry.
                    record = self
                        .store()
                        .refresh_token(&hash)
                        .await?
                        .ok_or_else(|| refresh_refused("unknown token"))?;
                }
            }
        }

        let Some(successor) = self.retry_answer(token, &record, now).await? else {
            return Err(self
                .revoke_for_reuse(&user, &session.id, client.addr.as_deref(), now)
                .await?);
        };
        let access = self
            .tokens
            .issue(&user, &session.id, session.expires_at, now)?;
        Ok(RefreshOutcome {
            access,
            refresh_token: successor,
        })
    }

    /// The successor to hand a retry of the spent token `token`: only within
    /// the grace window and while the successor is unspent (once it has been
    /// used, the client had it, and this is a replay). `None`: it is reuse.
    async fn retry_answer(
        &self,
        token: &str,
        record: &RefreshRecord,
        now: i64,
    ) -> Result<Option<SecretString>> {
        let rotated_at = record.rotated_at.unwrap_or(now);
        if now >= rotated_at.saturating_add(self.sessions.grace_secs) {
            return Ok(None);
        }
        let Some(successor) = record
            .successor_sealed
            .as_deref()
            .and_then(|sealed| refresh::open(token, sealed))
        else {
            return Ok(None);
        };
        let successor_hash = refresh::hash(successor.expose_secret());
        Ok(match self.store().refresh_token(&successor_hash).await? {
            Some(next) if next.rotated_at.is_none() => Some(successor),
            _ => None,
        })
    }

    /// Revokes a session whose spent refresh token came back (reuse
    /// detection), audits it, and returns the answer for the caller.
    async fn revoke_for_reuse(
        &self,
        user: &User,
        session_id: &str,
        client_addr: Option<&str>,
        now: i64,
    ) -> Result<Error> {
        self.end_session(session_id, EndReason::Reuse, now).await?;
        self.ctx()
            .audit(
                AuditRecord::new(AuditEvent::RefreshReuse, Outcome::Denied, now)
                    .user(user)
                    .client_addr(client_addr)
                    .detail(&format!(
                        "a spent refresh token was presented again; session {session_id} revoked"
                    )),
            )
            .await;
        tracing::warn!(
            session_id = %session_id,
            user_id = %user.id,
            "refresh token reuse detected; session revoked"
        );
        Ok(Error::Unauthenticated(
            "this refresh token was already used; the session has been revoked for \
             safety, log in again"
                .to_owned(),
        ))
    }

    /// Ends a session, named by a refresh token or else by the caller's
    /// bearer token. An unknown or malformed refresh token, or one whose
    /// session has already ended, gets the same answer as a real one, and
    /// only a Logout that ends a session is audited: otherwise anyone could
    /// grow the append-only log for free by repeating one.
    ///
    /// # Errors
    /// [`Error::Unauthenticated`] when neither identifies a session.
    pub async fn logout(
        &self,
        bearer: Option<&str>,
        refresh_token: Option<&SecretString>,
        client: &ClientInfo,
        now: i64,
    ) -> Result<()> {
        let addr = client.addr.as_deref();
        if let Some(token) = refresh_token {
            self.end_refresh_token_session(token.expose_secret(), None, addr, now)
                .await?;
            return Ok(());
        }
        let (user, claims) = self.authenticate(bearer, now).await?;
        // A bearer token of an ended session does not authenticate, so this
        // ends nothing only when a concurrent call ended the session first.
        if self
            .end_session(&claims.sid, EndReason::Logout, now)
            .await?
        {
            self.audit_session_end(Some(&user), Some(&user.id), &claims.sid, None, addr, now)
                .await;
        }
        Ok(())
    }

    /// Ends the session refresh token `token` belongs to, and audits it as
    /// a Logout (`by` as in [`Self::audit_session_end`]) when that ended
    /// it. An unknown or malformed token, or one whose session has already
    /// ended, ends nothing. Returns whether a session ended.
    pub(super) async fn end_refresh_token_session(
        &self,
        token: &str,
        by: Option<&str>,
        client_addr: Option<&str>,
        now: i64,
    ) -> Result<bool> {
        if !refresh::looks_valid(token) {
            return Ok(false);
        }
        let Some(record) = self.store().refresh_token(&refresh::hash(token)).await? else {
            return Ok(false);
        };
        if !self
            .end_session(&record.session_id, EndReason::Logout, now)
            .await?
        {
            return Ok(false);
        }
        // The session names its user; the refresh token alone does not.
        let user_id = self
            .store()
            .session(&record.session_id)
            .await
            .ok()
            .flatten()
            .map(|s| s.user_id);
        let user = match &user_id {
            Some(id) => self.store().user_by_id(id).await.ok().flatten(),
            None => None,
        };
        self.audit_session_end(
            user.as_ref(),
            user_id.as_deref(),
            &record.session_id,
            by,
            client_addr,
            now,
        )
        .await;
        Ok(true)
    }

    /// Records that session `sid` ended at its user's (or its token
    /// holder's) request, as a Logout; `by` says who asked when it was not a
    /// Logout call (an OAuth2 client revoking the token); `client_addr` is
    /// where the call came from.
    pub(super) async fn audit_session_end(
        &self,
        user: Option<&User>,
        user_id: Option<&str>,
        sid: &str,
        by: Option<&str>,
        client_addr: Option<&str>,
        now: i64,
    ) {
        let detail = match by {
            Some(by) => format!("session {sid} ended; {by}"),
            None => format!("session {sid} ended"),
        };
        let mut record = AuditRecord::new(AuditEvent::Logout, Outcome::Success, now)
            .client_addr(client_addr)
            .detail(&detail);
        if let Some(user) = user {
            record = record.user(user);
        } else if let Some(id) = user_id {
            record = record.user_id(id);
        }
        self.ctx().audit(record).await;
    }

    /// Ends one session; `Ok(false)` if it had already ended.
    pub(super) async fn end_session(&self, sid: &str, reason: EndReason, now: i64) -> Result<bool> {
        let ended = self.store().end_session(sid, reason, now).await?;
        self.cache.apply(&Change::Session(sid.to_owned()));
        Ok(ended)
    }

    /// Ends every session of the calling user; returns how many were live.
    ///
    /// # Errors
    /// [`Error::Unauthenticated`] without a valid bearer token.
    pub async fn logout_all(
        &self,
        bearer: Option<&str>,
        client: &ClientInfo,
        now: i64,
    ) -> Result<u64> {
        let (user, _) = self.authenticate(bearer, now).await?;
        let ended = self
            .end_user_sessions(&user.id, EndReason::LogoutAll, now)
            .await?;
        self.ctx()
            .audit(
                AuditRecord::new(AuditEvent::LogoutAll, Outcome::Success, now)
                    .user(&user)
                    .client_addr(client.addr.as_deref())
                    .detail(&format!("{ended} sessions ended")),
            )
            .await;
        Ok(ended)
    }

    async fn end_user_sessions(&self, user_id: &str, reason: EndReason, now: i64) -> Result<u64> {
        let ended = self.store().end_user_sessions(user_id, reason, now).await?;
        self.cache.apply(&Change::UserSessions(user_id.to_owned()));
        Ok(ended)
    }

    /// The calling user's live sessions.
    ///
    /// # Errors
    /// [`Error::Unauthenticated`] without a valid bearer token.
    pub async fn list_sessions(&self, bearer: Option<&str>, now: i64) -> Result<Vec<SessionInfo>> {
        let (user, claims) = self.authenticate(bearer, now).await?;
        Ok(self
            .store()
            .live_sessions(&user.id, now)
            .await?
            .into_iter()
            .map(|session| SessionInfo {
                current: session.id == claims.sid,
                session,
            })
            .collect())
    }

    /// Ends every session of another user; needs the `admin` role.
    ///
    /// # Errors
    /// [`Error::Unauthenticated`], [`Error::PermissionDenied`],
    /// [`Error::NotFound`], [`Error::InvalidArgument`] for an empty selector.
    pub async fn revoke_sessions(
        &self,
        bearer: Option<&str>,
        selector: Option<UserSelector>,
        client: &ClientInfo,
        now: i64,
    ) -> Result<u64> {
        let (caller, claims) = self.authenticate(bearer, now).await?;
        let addr = client.addr.as_deref();
        if !is_admin(&caller, &claims) {
            // Collapsed: a caller repeating the denied call leaves one row
            // per window, not one per call.
            let record = AuditRecord::new(AuditEvent::SessionsRevoked, Outcome::Denied, now)
                .user(&caller)
                .client_addr(addr);
            self.audit_denial_once(
                record,
                "the caller lacks the admin role",
                &format!("sessions_revoked:{}", caller.id),
                now,
            )
            .await;
            return Err(Error::PermissionDenied(
                "revoking sessions needs the `admin` role".to_owned(),
            ));
        }
        let target = self.find_user(selector).await?;
        let ended = self
            .end_user_sessions(&target.id, EndReason::Admin, now)
            .await?;
        let detail = format!(
            "{ended} sessions ended; by admin {} ({})",
            caller.username, caller.id
        );
        self.ctx()
            .audit(
                AuditRecord::new(AuditEvent::SessionsRevoked, Outcome::Success, now)
                    .user(&target)
                    .client_addr(addr)
                    .detail(&detail),
            )
            .await;
        Ok(ended)
    }
}
