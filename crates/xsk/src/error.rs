//! One error type for the whole crate: what failed, the OS error, and what to do.

use std::borrow::Cow;
use std::fmt;
use std::io;

/// What went wrong, in words an operator can act on.
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
    context: String,
    hint: Option<Cow<'static, str>>,
    source: Option<io::Error>,
}

/// The broad class of an [`Error`], for callers that branch on it.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The interface name does not exist in this network namespace.
    NoSuchInterface,
    /// The queue id is not below the interface's rx queue count.
    QueueOutOfRange,
    /// Zero-copy was asked for but the driver cannot do it.
    ZeroCopyUnsupported,
    /// Another AF_XDP socket is bound to this queue.
    QueueBusy,
    /// The process lacks a capability.
    Permission,
    /// A configuration value is invalid (sizes, flags).
    InvalidConfig,
    /// The interface the socket was bound to went away (deleted, or moved
    /// to another namespace): the socket is unbound for good.
    InterfaceGone,
    /// The running kernel lacks a feature; the message names the version
    /// that has it.
    Unsupported,
    /// Any other system call failure.
    Os,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind, context: impl Into<String>) -> Self {
        Error {
            kind,
            context: context.into(),
            hint: None,
            source: None,
        }
    }

    pub(crate) fn os(context: impl Into<String>, source: io::Error) -> Self {
        let kind = match source.raw_os_error() {
            Some(libc::EPERM) | Some(libc::EACCES) => ErrorKind::Permission,
            Some(libc::ENXIO) => ErrorKind::InterfaceGone,
            _ => ErrorKind::Os,
        };
        Error {
            kind,
            context: context.into(),
            hint: None,
            source: Some(source),
        }
        .with_default_hint()
    }

    pub(crate) fn config(context: impl Into<String>) -> Self {
        Error::new(ErrorKind::InvalidConfig, context)
    }

    pub(crate) fn with_kind(mut self, kind: ErrorKind) -> Self {
        self.kind = kind;
        self
    }

    pub(crate) fn with_hint(mut self, hint: impl Into<Cow<'static, str>>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    fn with_default_hint(mut self) -> Self {
        if self.kind == ErrorKind::Permission && self.hint.is_none() {
            self.hint = Some(Cow::Borrowed("run as root (AF_XDP needs CAP_NET_RAW and CAP_NET_ADMIN, UMEM needs CAP_IPC_LOCK or a large RLIMIT_MEMLOCK)"));
        }
        self
    }

    /// The class of error.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The underlying OS error, if a system call failed.
    pub fn os_error(&self) -> Option<&io::Error> {
        self.source.as_ref()
    }

    /// The raw errno, if a system call failed.
    pub fn raw_os_error(&self) -> Option<i32> {
        self.source.as_ref().and_then(io::Error::raw_os_error)
    }
}

/// What failed and what to do (`cannot bind ... (hint)`); the OS error is
/// the [`source`](std::error::Error::source), as error-chain printers
/// expect (anyhow's `{:#}` shows `cannot bind ... (hint): Device or
/// resource busy`), so it is never printed twice.
impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.context)?;
        if let Some(h) = &self.hint {
            write!(f, " ({h})")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_ref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// Result with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_os_error_is_the_source_and_printed_once() {
        let e = Error::os("cannot bind", io::Error::from_raw_os_error(libc::EBUSY))
            .with_hint("stop the other socket");
        let shown = format!("{e}");
        assert_eq!(shown, "cannot bind (stop the other socket)");
        let source = std::error::Error::source(&e).expect("the OS error");
        assert!(source.to_string().contains("busy"), "{source}");
        assert_eq!(e.raw_os_error(), Some(libc::EBUSY));
        // As an error-chain printer (anyhow's `{:#}`) would show it.
        let mut chain = shown.clone();
        let mut cur: Option<&dyn std::error::Error> = std::error::Error::source(&e);
        while let Some(s) = cur {
            chain.push_str(&format!(": {s}"));
            cur = s.source();
        }
        assert_eq!(chain.matches("busy").count(), 1, "{chain}");
    }
}
