//! The library's error type and the one place where containerd's gRPC status codes
//! are mapped onto the stable `lcd_code` values.

use std::fmt;

/// Stable error classes; the numeric values are part of the C ABI and never reused.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Code {
    /// Success (only meaningful at the C boundary).
    Ok = 0,
    /// The caller passed something malformed: a bad id, bad JSON, an unknown key, NULL.
    InvalidArgument = 1,
    /// The container, process or file named does not exist.
    NotFound = 2,
    /// The id is already in use.
    AlreadyExists = 3,
    /// The object is not in a state that allows the call (e.g. not running).
    FailedPrecondition = 4,
    /// containerd cannot be reached.
    Unavailable = 5,
    /// A deadline passed before the call completed.
    DeadlineExceeded = 6,
    /// The call was cancelled.
    Cancelled = 7,
    /// An operating-system I/O error.
    Io = 8,
    /// A bug or an unexpected condition (a caught panic is reported as this).
    Internal = 9,
    /// The operation is not supported here.
    Unsupported = 10,
    /// Credentials were refused (e.g. by an image registry).
    PermissionDenied = 11,
}

impl Code {
    /// The upper-case name used in messages, e.g. `NOT_FOUND`.
    pub fn name(self) -> &'static str {
        match self {
            Code::Ok => "OK",
            Code::InvalidArgument => "INVALID_ARGUMENT",
            Code::NotFound => "NOT_FOUND",
            Code::AlreadyExists => "ALREADY_EXISTS",
            Code::FailedPrecondition => "FAILED_PRECONDITION",
            Code::Unavailable => "UNAVAILABLE",
            Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
            Code::Cancelled => "CANCELLED",
            Code::Io => "IO",
            Code::Internal => "INTERNAL",
            Code::Unsupported => "UNSUPPORTED",
            Code::PermissionDenied => "PERMISSION_DENIED",
        }
    }
}

/// An error with a stable [`Code`] and a message a user can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    code: Code,
    message: String,
}

/// The library's result type.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// An error with the given code and message.
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Error { code, message: message.into() }
    }
    /// INVALID_ARGUMENT with a message.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(Code::InvalidArgument, message)
    }
    /// NOT_FOUND with a message.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(Code::NotFound, message)
    }
    /// FAILED_PRECONDITION with a message.
    pub fn precondition(message: impl Into<String>) -> Self {
        Self::new(Code::FailedPrecondition, message)
    }
    /// INTERNAL with a message.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(Code::Internal, message)
    }
    /// An I/O error, with what was being done.
    pub fn io(context: impl fmt::Display, err: std::io::Error) -> Self {
        Self::new(Code::Io, format!("{context}: {err}"))
    }
    /// The error's class.
    pub fn code(&self) -> Code {
        self.code
    }
    /// The human-readable message.
    pub fn message(&self) -> &str {
        &self.message
    }
    /// The same error with `context: ` put in front of its message.
    pub fn context(self, context: impl fmt::Display) -> Self {
        Error { code: self.code, message: format!("{context}: {}", self.message) }
    }
    /// Maps a containerd gRPC status; `context` says what was being done
    /// (e.g. `create container "web"`).
    pub fn from_status(context: impl fmt::Display, status: &tonic::Status) -> Self {
        use tonic::Code as G;
        let code = match status.code() {
            G::Ok => Code::Internal,
            G::InvalidArgument | G::OutOfRange => Code::InvalidArgument,
            G::NotFound => Code::NotFound,
            G::AlreadyExists => Code::AlreadyExists,
            G::FailedPrecondition | G::Aborted => Code::FailedPrecondition,
            G::Unavailable => Code::Unavailable,
            G::DeadlineExceeded => Code::DeadlineExceeded,
            G::Cancelled => Code::Cancelled,
            G::Unimplemented => Code::Unsupported,
            G::PermissionDenied | G::Unauthenticated | G::ResourceExhausted | G::DataLoss | G::Unknown | G::Internal => {
                Code::Internal
            }
        };
        let msg = status.message();
        let msg = if msg.is_empty() { status.code().description() } else { msg };
        Error::new(code, format!("{context}: {msg}"))
    }
}

/// `e` followed by each of its sources, joined by ": ".
pub(crate) fn with_sources(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        msg.push_str(&format!(": {s}"));
        source = s.source();
    }
    msg
}

/// The text of a panic payload. Never panics: formatting and dropping the payload are
/// themselves guarded.
pub(crate) fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    use std::panic::{catch_unwind, AssertUnwindSafe};
    let msg = catch_unwind(AssertUnwindSafe(|| {
        if let Some(s) = payload.downcast_ref::<&str>() {
            (*s).to_string()
        } else if let Some(s) = payload.downcast_ref::<String>() {
            s.clone()
        } else {
            "(no message)".to_string()
        }
    }))
    .unwrap_or_else(|_| "(unprintable panic)".to_string());
    let _ = catch_unwind(AssertUnwindSafe(move || drop(payload)));
    msg
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.name(), self.message)
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_codes_map_onto_stable_codes() {
        let e = Error::from_status("create \"a\"", &tonic::Status::already_exists("container \"a\": already exists"));
        assert_eq!(e.code(), Code::AlreadyExists);
        assert_eq!(e.message(), "create \"a\": container \"a\": already exists");
        assert_eq!(Error::from_status("x", &tonic::Status::not_found("")).code(), Code::NotFound);
        assert_eq!(Error::from_status("x", &tonic::Status::unavailable("down")).code(), Code::Unavailable);
        assert_eq!(Error::from_status("x", &tonic::Status::unknown("?")).code(), Code::Internal);
    }

    #[test]
    fn code_values_are_stable() {
        let all = [
            (Code::Ok, 0), (Code::InvalidArgument, 1), (Code::NotFound, 2), (Code::AlreadyExists, 3),
            (Code::FailedPrecondition, 4), (Code::Unavailable, 5), (Code::DeadlineExceeded, 6),
            (Code::Cancelled, 7), (Code::Io, 8), (Code::Internal, 9), (Code::Unsupported, 10),
            (Code::PermissionDenied, 11),
        ];
        for (c, v) in all {
            assert_eq!(c as i32, v);
        }
    }
}
