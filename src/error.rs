//! The crate's one error type.
//!
//! Every fallible operation in authd returns [`Error`]. Each variant's doc
//! names the gRPC status it becomes; the single, exhaustive mapping lives in
//! [`crate::grpc::status`]. Variants that describe a failure of authd itself
//! ([`Error::Unavailable`], [`Error::Internal`]) carry their cause for the
//! logs only: callers get an opaque message with a correlation id.

use std::fmt;

/// A boxed error cause, kept for the logs.
pub type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can go wrong in authd.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `INVALID_ARGUMENT`: a request field is missing, too long or badly formed.
    #[error("invalid {field}: {message}")]
    InvalidArgument {
        /// The request field at fault, as named in the proto (or CLI).
        field: &'static str,
        /// What is wrong and how to fix it.
        message: String,
    },

    /// `INVALID_ARGUMENT` for several fields at once, each with its own
    /// message: the status carries one `google.rpc.BadRequest` field
    /// violation per entry, so a console can show each next to its field.
    #[error("{}", Violation::list(.0))]
    InvalidFields(Vec<Violation>),

    /// `UNAUTHENTICATED`: a login failed. Unknown user, wrong password and
    /// disabled user are deliberately the same variant and the same message.
    #[error("invalid username or password")]
    InvalidCredentials,

    /// `UNAUTHENTICATED`: the call needs a valid bearer token and did not
    /// carry one. The message says what was wrong with it.
    #[error("{0}")]
    Unauthenticated(String),

    /// `PERMISSION_DENIED`: the caller is known but may not do this.
    #[error("{0}")]
    PermissionDenied(String),

    /// `NOT_FOUND`: the named record does not exist.
    #[error("{0}")]
    NotFound(String),

    /// `ALREADY_EXISTS`: a unique value (username, email) is taken.
    #[error("{0}")]
    AlreadyExists(String),

    /// `FAILED_PRECONDITION`: the request is well formed but the system is
    /// not in a state that allows it (for example deleting the last admin).
    #[error("{0}")]
    FailedPrecondition(String),

    /// `RESOURCE_EXHAUSTED`: authd is saturated (for example every password
    /// hashing permit is busy); the caller may retry after a back-off.
    #[error("{0}")]
    ResourceExhausted(String),

    /// `RESOURCE_EXHAUSTED`: too many failed logins for this login name or
    /// from this address (see [`crate::throttle`]); the same answer whether
    /// or not the account exists. Carries the seconds until the next attempt
    /// will be checked, also sent as `retry-after` metadata.
    #[error("too many failed login attempts; retry in {retry_after_secs} seconds")]
    Throttled {
        /// Seconds to wait (at least 1).
        retry_after_secs: i64,
    },

    /// `UNAVAILABLE`: a dependency (the database) cannot be reached now.
    #[error("{context}: {source}")]
    Unavailable {
        /// What authd was doing.
        context: &'static str,
        /// The underlying failure; logged, never sent to callers.
        #[source]
        source: Cause,
    },

    /// `UNAVAILABLE`: authd ended a long-lived call (a revocation stream)
    /// on purpose, for example while shutting down or after its change feed
    /// reconnected; the message tells the caller to call again.
    #[error("{0}")]
    Interrupted(String),

    /// `INTERNAL`: a bug or an unexpected failure inside authd.
    #[error("{context}: {source}")]
    Internal {
        /// What authd was doing.
        context: &'static str,
        /// The underlying failure; logged, never sent to callers.
        #[source]
        source: Cause,
    },

    /// A configuration value is invalid. Raised at start-up only; it never
    /// reaches a gRPC caller (it would map to `INTERNAL`).
    #[error("{0}")]
    Config(String),
}

/// One bad request field and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The field's path as named in the proto (`user.email`, `roles[1]`).
    pub field: String,
    /// What is wrong and how to fix it; never the field's value when it may
    /// be a secret.
    pub message: String,
}

impl Violation {
    /// A violation of `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }

    fn list(violations: &[Self]) -> String {
        let parts: Vec<String> = violations
            .iter()
            .map(|v| format!("invalid {}: {}", v.field, v.message))
            .collect();
        parts.join("; ")
    }
}

/// Shorthand for results in authd.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An [`Error::InvalidArgument`] for `field`.
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Self::InvalidArgument {
            field,
            message: message.into(),
        }
    }

    /// One error for every violation in `violations`: `None` when there is
    /// none, the single [`Error::InvalidArgument`]-like
    /// [`Error::InvalidFields`] otherwise. Validators collect every bad field
    /// first, so a caller fixes them all in one round.
    #[must_use]
    pub fn from_violations(violations: Vec<Violation>) -> Option<Self> {
        (!violations.is_empty()).then(|| Self::InvalidFields(violations))
    }

    /// An [`Error::Internal`] from any error.
    pub fn internal(context: &'static str, source: impl Into<Cause>) -> Self {
        Self::Internal {
            context,
            source: source.into(),
        }
    }

    /// An [`Error::Internal`] from a plain message.
    pub fn internal_msg(context: &'static str, message: impl fmt::Display) -> Self {
        Self::Internal {
            context,
            source: message.to_string().into(),
        }
    }

    /// Classifies a database error: connection-level failures are
    /// [`Error::Unavailable`], everything else [`Error::Internal`].
    #[must_use]
    pub fn database(context: &'static str, err: sqlx::Error) -> Self {
        // SQLite busy/locked (5, 6 and their extended codes) after the busy timeout, and PostgreSQL's
        // connection exceptions (08...), shutdowns (57P01-57P03) and
        // connection limits (53300): all "try again later".
        let transient = matches!(&err, sqlx::Error::Database(db)
        if db.code().is_some_and(|code| {
            matches!(
                code.as_ref(),
                "5" | "261" | "517" | "773" | "6" | "262" | "518" | "57P01" | "57P02" | "57P03" | "53300"
            )
                || code.starts_with("08")
        }));
        if transient {
            return Self::Unavailable {
                context,
                source: Box::new(err),
            };
        }
        match err {
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => Self::Unavailable {
                context,
                source: Box::new(err),
            },
            other => Self::Internal {
                context,
                source: Box::new(other),
            },
        }
    }
}
