//! The user's own password change (`ChangePassword`): the caller's bearer
//! token names the account, the current password is checked the way Login
//! checks one, the new one is held to the password policy, and every other
//! session of the user ends while the calling one stays.
//!
//! The current password goes through Login's machinery: the same throttle
//! keys (the account's username, its id and the client address) and counts,
//! claimed before the check, so guesses here and at Login add up; the same
//! hashing pool; a wrong one counts as a failed login. Must not tell a caller more about the current
//! password than Login would, nor end the caller's own session: its access
//! and refresh tokens keep working (the session of the token's `sid` is
//! kept, and a session only stops verifying when it ends).

use secrecy::{ExposeSecret as _, SecretString};

use super::AuthCore;
use super::login::ClientInfo;
use crate::audit::{AuditEvent, AuditRecord, Outcome};
use crate::error::{Error, Result};
use crate::password::{self, Verdict};
use crate::store::Change;
use crate::throttle::{AttemptKeys, Blocked};
use crate::user::User;

/// The answer to a wrong current password: `UNAUTHENTICATED`, worded like Login's.
fn wrong_current_password() -> Error {
    Error::Unauthenticated("invalid current password".to_owned())
}

/// The answer to a throttled change: logged, not audited one by one (the
/// block was recorded when the failure that started it was, so refused
/// attempts cannot grow the log).
fn throttled(user: &User, blocked: Blocked) -> Error {
    tracing::info!(
        key = blocked.kind.as_str(),
        retry_after_secs = blocked.retry_after_secs,
        user_id = %user.id,
        "password change throttled"
    );
    Error::Throttled {
        retry_after_secs: blocked.retry_after_secs,
    }
}

impl AuthCore {
    /// Changes the calling user's password from `current` to `new` and
    /// ends every other session of theirs; returns how many ended.
    ///
    /// In order: sizes (before any work), the bearer token, the throttle
    /// (a blocked caller costs no hashing), the new password against the
    /// policy (with the username and email as words it must not be built
    /// from; a refused one costs no Argon2 run and says nothing about the
    /// current one), then the current password on the hashing pool. The write is guarded by the hash that was checked, so a change
    /// racing another change or a reset fails instead of undoing it.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for an empty or oversized field or a new
    /// password the policy refuses (naming the rule);
    /// [`Error::Unauthenticated`] without a valid bearer token or with a
    /// wrong current password; [`Error::Throttled`] after too many failures;
    /// [`Error::ResourceExhausted`] when hashing is saturated; database errors.
    pub async fn change_password(
        &self,
        bearer: Option<&str>,
        current: SecretString,
        new: SecretString,
        client: &ClientInfo,
        now: i64,
    ) -> Result<u64> {
        password::validate_presented("current_password", current.expose_secret())?;
        password::validate_presented("new_password", new.expose_secret())?;
        if self.hasher().saturated() {
            return Err(password::busy());
        }
        let (user, claims) = self.authenticate(bearer, now).await?;

        let addr = client.addr.as_deref();
        let keys = AttemptKeys::new(&user.username, addr).with_user(&user.id);
        // A first look at the counts, so a blocked caller costs no policy
        // check; the claim below is what counts and decides.
        let counts = self.store().login_failures(&keys.all()).await?;
        if let Some(blocked) = self.throttle.check(&keys, &counts, now) {
            return Err(throttled(&user, blocked));
        }
        let mut context = vec![user.username.as_str()];
        context.extend(user.email.as_deref());
        self.hasher()
            .check_new("new_password", &new, &context)
            .await?;

        // Counted before the current password is checked, as Login counts.
        let counted = match self.throttle_claim(keys, now).await? {
            Ok(counted) => counted,
            Err(blocked) => return Err(throttled(&user, blocked)),
        };
        // By username, which the token's user has; a user renamed or gone
        // since is checked against the dummy hash and fails like a wrong password.
        let stored = self
            .store()
            .find_credentials(&user.username)
            .await?
            .filter(|c| c.user.id == user.id);
        let verdict = self
            .hasher()
            .verify(
                current,
                stored
                    .as_ref()
                    .map(|c| c.password_hash.expose_secret().to_owned()),
            )
            .await?;
        let (Some(stored), Verdict::Match { .. }) = (stored, verdict) else {
            self.note_failure(
                counted,
                AuditEvent::LoginThrottled,
                &user.username,
                addr,
                now,
            )
            .await;
            self.audit_change(&user, addr, Outcome::Failure, "wrong current password", now)
                .await;
            return Err(wrong_current_password());
        };
        self.take_back(counted, now).await;

        let hash = SecretString::from(self.hasher().hash(new).await?);
        let Some(ended) = self
            .store()
            .change_password(&user.id, &stored.password_hash, hash, &claims.sid, now)
            .await?
        else {
            self.audit_change(
                &user,
                addr,
                Outcome::Failure,
                "the password or the user changed during the change",
                now,
            )
            .await;
            return Err(wrong_current_password());
        };
        // The store announced both changes to the other replicas.
        self.cache.apply(&Change::User(user.id.clone()));
        self.cache.apply(&Change::UserSessions(user.id.clone()));
        let detail = format!(
            "by the user; session {} kept, {ended} other sessions ended",
            claims.sid
        );
        self.audit_change(&user, addr, Outcome::Success, &detail, now)
            .await;
        Ok(ended)
    }

    async fn audit_change(
        &self,
        user: &User,
        client_addr: Option<&str>,
        outcome: Outcome,
        detail: &str,
        now: i64,
    ) {
        let record = AuditRecord::new(AuditEvent::PasswordChanged, outcome, now)
            .user(user)
            .client_addr(client_addr)
            .detail(detail);
        self.ctx().audit(record).await;
    }
}
