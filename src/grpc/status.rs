//! The one mapping from [`Error`] to `tonic::Status`.
//!
//! Client errors carry a message the caller can act on. Failures of authd
//! itself are logged here with their full cause and a short random
//! correlation id; the caller gets only the id, to quote to an operator.

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, FieldViolation, StatusExt as _};

use crate::error::Error;

/// The gRPC code for an error. Exhaustive: a new variant must choose one.
#[must_use]
pub fn code_of(error: &Error) -> Code {
    match error {
        Error::InvalidArgument { .. } | Error::InvalidFields(_) => Code::InvalidArgument,
        Error::InvalidCredentials | Error::Unauthenticated(_) => Code::Unauthenticated,
        Error::PermissionDenied(_) => Code::PermissionDenied,
        Error::NotFound(_) => Code::NotFound,
        Error::AlreadyExists(_) => Code::AlreadyExists,
        Error::FailedPrecondition(_) => Code::FailedPrecondition,
        Error::ResourceExhausted(_) | Error::Throttled { .. } => Code::ResourceExhausted,
        Error::Unavailable { .. } | Error::Interrupted(_) => Code::Unavailable,
        Error::Internal { .. } | Error::Config(_) => Code::Internal,
    }
}

impl From<Error> for Status {
    fn from(error: Error) -> Self {
        let code = code_of(&error);
        match &error {
            Error::Unavailable { .. } => {
                let id = correlation_id();
                tracing::error!(error = %error, error_id = %id, "dependency unavailable");
                Status::new(
                    code,
                    format!(
                        "authd cannot reach its database right now; retry later (error id {id})"
                    ),
                )
            }
            Error::Internal { .. } | Error::Config(_) => {
                let id = correlation_id();
                tracing::error!(error = %error, error_id = %id, "internal error");
                Status::new(code, format!("internal error (error id {id})"))
            }
            // A `google.rpc.BadRequest` detail with one violation per field
            // (AIP-193), so a console can put each message next to its field.
            Error::InvalidArgument { field, message } => Status::with_error_details(
                code,
                error.to_string(),
                ErrorDetails::with_bad_request_violation(*field, message.clone()),
            ),
            Error::InvalidFields(violations) => Status::with_error_details(
                code,
                error.to_string(),
                ErrorDetails::with_bad_request(
                    violations
                        .iter()
                        .map(|v| FieldViolation::new(v.field.clone(), v.message.clone()))
                        .collect::<Vec<_>>(),
                ),
            ),
            Error::Throttled { retry_after_secs } => {
                let mut status = Status::new(code, error.to_string());
                status
                    .metadata_mut()
                    .insert("retry-after", (*retry_after_secs).into());
                status
            }
            _ => Status::new(code, error.to_string()),
        }
    }
}

/// Eight random hex digits, enough to find one log line (also quoted by
/// the HTTP adapter's `/oauth2/token` errors).
pub(crate) fn correlation_id() -> String {
    let mut bytes = [0u8; 4];
    if aws_lc_rs::rand::fill(&mut bytes).is_err() {
        return "00000000".to_owned();
    }
    bytes.iter().fold(String::with_capacity(8), |mut out, b| {
        use std::fmt::Write as _;
        let _ = write!(out, "{b:02x}");
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_detail_never_reaches_the_caller() {
        let status = Status::from(Error::internal_msg(
            "reading a user",
            "password=hunter2 at db",
        ));
        assert_eq!(status.code(), Code::Internal);
        assert!(
            !status.message().contains("hunter2"),
            "{}",
            status.message()
        );
        assert!(status.message().contains("error id"));

        let status = Status::from(Error::Unavailable {
            context: "connecting",
            source: "connection refused to 10.0.0.1".into(),
        });
        assert_eq!(status.code(), Code::Unavailable);
        assert!(!status.message().contains("10.0.0.1"));
    }

    #[test]
    fn client_errors_keep_their_message() {
        let status = Status::from(Error::invalid("password", "must be at most 1024 bytes"));
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(
            status.message(),
            "invalid password: must be at most 1024 bytes"
        );
        assert_eq!(
            Status::from(Error::InvalidCredentials).message(),
            "invalid username or password"
        );
        assert_eq!(
            Status::from(Error::ResourceExhausted("busy".into())).code(),
            Code::ResourceExhausted
        );
    }

    #[test]
    fn invalid_fields_carry_one_field_violation_each() {
        let status = Status::from(Error::invalid("username", "must not be empty"));
        let bad = status
            .get_details_bad_request()
            .expect("a BadRequest detail");
        assert_eq!(bad.field_violations.len(), 1);
        assert_eq!(bad.field_violations[0].field, "username");
        assert_eq!(bad.field_violations[0].description, "must not be empty");

        let status = Status::from(Error::InvalidFields(vec![
            crate::error::Violation::new("user.email", "is not an email address"),
            crate::error::Violation::new("update_mask", "unknown path `name`"),
        ]));
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(
            status.message(),
            "invalid user.email: is not an email address; invalid update_mask: unknown path `name`"
        );
        let bad = status
            .get_details_bad_request()
            .expect("a BadRequest detail");
        let fields: Vec<&str> = bad
            .field_violations
            .iter()
            .map(|v| v.field.as_str())
            .collect();
        assert_eq!(fields, ["user.email", "update_mask"]);
    }

    #[test]
    fn a_throttled_login_says_when_to_retry() {
        let status = Status::from(Error::Throttled {
            retry_after_secs: 42,
        });
        assert_eq!(status.code(), Code::ResourceExhausted);
        assert_eq!(
            status.message(),
            "too many failed login attempts; retry in 42 seconds"
        );
        assert_eq!(
            status
                .metadata()
                .get("retry-after")
                .and_then(|v| v.to_str().ok()),
            Some("42")
        );
    }
}
