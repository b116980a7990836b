//! The one error type of nucleus. Every variant carries the operand that failed (field,
//! path, syscall, errno) so a caller can act on it without parsing text.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A `Result` whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in nucleus.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Error {
    /// The configuration is invalid; `field` is its path, e.g. `mounts[2].target`.
    #[error("invalid config: {field}: {reason}")]
    InvalidConfig {
        /// Path of the offending field.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The host cannot enforce a requested protection, and degraded mode is off.
    #[error("unsupported on this host: {layer}: {reason}")]
    Unsupported {
        /// The layer or feature, e.g. `landlock` or `user_namespace`.
        layer: String,
        /// Why it cannot be had, and how to fix that.
        reason: String,
    },
    /// A system call failed.
    #[error("{call}{}: {}", path_suffix(path), errno_text(*errno))]
    Syscall {
        /// The call, e.g. `pivot_root`.
        call: String,
        /// The path it worked on, if any.
        path: Option<PathBuf>,
        /// The errno it returned.
        errno: i32,
    },
    /// The sandbox is in the wrong state for the request.
    #[error("sandbox is {actual}, but this needs it {expected}")]
    State {
        /// The state the operation needs.
        expected: String,
        /// The state the sandbox is in.
        actual: String,
    },
    /// An operation did not finish in time.
    #[error("{what} timed out after {after:?}")]
    Timeout {
        /// What was waited for.
        what: String,
        /// How long was waited.
        after: Duration,
    },
    /// A command could not be started in the sandbox.
    #[error("cannot execute {program:?}: {reason}")]
    ExecFailed {
        /// argv\[0\] of the command.
        program: String,
        /// Why, e.g. "No such file or directory".
        reason: String,
        /// The errno of the failed step, 0 if none.
        errno: i32,
    },
    /// The supervisor process misbehaved or went away.
    #[error("sandbox supervisor: {reason}")]
    Supervisor {
        /// What happened.
        reason: String,
    },
    /// A bug in nucleus.
    #[error("internal error (please report): {reason}")]
    Internal {
        /// What happened.
        reason: String,
    },
    /// An operation failed and so did some of the cleanup that followed it.
    #[error("{primary} (and cleanup failed: {})", join(cleanup))]
    WithCleanup {
        /// The error that stopped the operation.
        primary: Box<Error>,
        /// The errors met while undoing it.
        cleanup: Vec<Error>,
    },
}

/// The kind of an [`Error`], without its data: the single source for C status codes and
/// Python exception classes. Deliberately exhaustive: adding a kind must fail to compile
/// until both bindings map it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// See [`Error::InvalidConfig`].
    InvalidConfig,
    /// See [`Error::Unsupported`].
    Unsupported,
    /// See [`Error::Syscall`].
    Syscall,
    /// See [`Error::State`].
    State,
    /// See [`Error::Timeout`].
    Timeout,
    /// See [`Error::ExecFailed`].
    ExecFailed,
    /// See [`Error::Supervisor`].
    Supervisor,
    /// See [`Error::Internal`].
    Internal,
}

impl Error {
    /// The kind of this error; for [`Error::WithCleanup`], the kind of the primary error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidConfig { .. } => ErrorKind::InvalidConfig,
            Error::Unsupported { .. } => ErrorKind::Unsupported,
            Error::Syscall { .. } => ErrorKind::Syscall,
            Error::State { .. } => ErrorKind::State,
            Error::Timeout { .. } => ErrorKind::Timeout,
            Error::ExecFailed { .. } => ErrorKind::ExecFailed,
            Error::Supervisor { .. } => ErrorKind::Supervisor,
            Error::Internal { .. } => ErrorKind::Internal,
            Error::WithCleanup { primary, .. } => primary.kind(),
        }
    }

    /// The errno behind this error, if one is.
    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::Syscall { errno, .. } => Some(*errno),
            Error::ExecFailed { errno, .. } if *errno != 0 => Some(*errno),
            Error::WithCleanup { primary, .. } => primary.errno(),
            _ => None,
        }
    }

    /// The config field this error is about, if it is a config error.
    pub fn field(&self) -> Option<&str> {
        match self {
            Error::InvalidConfig { field, .. } => Some(field),
            Error::WithCleanup { primary, .. } => primary.field(),
            _ => None,
        }
    }

    /// The path this error is about, if any.
    pub fn path(&self) -> Option<&std::path::Path> {
        match self {
            Error::Syscall { path, .. } => path.as_deref(),
            Error::WithCleanup { primary, .. } => primary.path(),
            _ => None,
        }
    }

    pub(crate) fn config(field: impl Into<String>, reason: impl Into<String>) -> Error {
        Error::InvalidConfig { field: field.into(), reason: reason.into() }
    }

    pub(crate) fn supervisor(reason: impl Into<String>) -> Error {
        Error::Supervisor { reason: reason.into() }
    }

    pub(crate) fn internal(reason: impl Into<String>) -> Error {
        Error::Internal { reason: reason.into() }
    }

    /// A failed system call with the errno of the last failure on this thread.
    pub(crate) fn last_os(call: &str, path: Option<&std::path::Path>) -> Error {
        Error::Syscall {
            call: call.to_owned(),
            path: path.map(|p| p.to_path_buf()),
            errno: std::io::Error::last_os_error().raw_os_error().unwrap_or(0),
        }
    }

    /// Name `path` in a syscall error that lacks it (or names a less useful one).
    pub(crate) fn with_path(self, path: &std::path::Path) -> Error {
        match self {
            Error::Syscall { call, errno, .. } => {
                Error::Syscall { call, path: Some(path.to_path_buf()), errno }
            }
            other => other,
        }
    }

    /// Rename the call of a syscall error (a wrapper's generic name to the precise one).
    pub(crate) fn with_call(self, call: &str) -> Error {
        match self {
            Error::Syscall { path, errno, .. } => Error::Syscall { call: call.into(), path, errno },
            other => other,
        }
    }

    /// Attach the errors met while cleaning up after `self`; no-op when there are none.
    pub(crate) fn with_cleanup(self, cleanup: Vec<Error>) -> Error {
        if cleanup.is_empty() {
            self
        } else {
            Error::WithCleanup { primary: Box::new(self), cleanup }
        }
    }

    /// `Ok` when there are no errors, else the first one with the others attached.
    pub(crate) fn first_of(mut errors: Vec<Error>) -> Result<()> {
        if errors.is_empty() {
            return Ok(());
        }
        let primary = errors.remove(0);
        Err(primary.with_cleanup(errors))
    }
}

fn path_suffix(path: &Option<PathBuf>) -> String {
    match path {
        Some(p) => format!(" {}", p.display()),
        None => String::new(),
    }
}

/// `"Permission denied (os error 13)"`, as std renders an errno.
pub(crate) fn errno_text(errno: i32) -> String {
    std::io::Error::from_raw_os_error(errno).to_string()
}

fn join(errors: &[Error]) -> String {
    errors.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syscall_error_names_call_path_and_errno() {
        let e = Error::Syscall {
            call: "pivot_root".into(),
            path: Some("/tmp/x".into()),
            errno: libc::EPERM,
        };
        assert_eq!(e.to_string(), "pivot_root /tmp/x: Operation not permitted (os error 1)");
        assert_eq!(e.kind(), ErrorKind::Syscall);
        assert_eq!(e.errno(), Some(libc::EPERM));
    }

    #[test]
    fn config_error_names_field() {
        let e = Error::config("mounts[2].target", "must be absolute");
        assert_eq!(e.to_string(), "invalid config: mounts[2].target: must be absolute");
        assert_eq!(e.field(), Some("mounts[2].target"));
    }

    #[test]
    fn cleanup_errors_keep_the_primary_kind() {
        let e = Error::supervisor("gone").with_cleanup(vec![Error::internal("x")]);
        assert_eq!(e.kind(), ErrorKind::Supervisor);
        assert_eq!(
            e.to_string(),
            "sandbox supervisor: gone (and cleanup failed: internal error (please report): x)"
        );
        assert_eq!(Error::supervisor("a").with_cleanup(vec![]), Error::supervisor("a"));
    }
}
