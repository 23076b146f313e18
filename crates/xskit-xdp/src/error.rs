//! The loader's errors.

/// Why loading, attaching or registering failed.
#[derive(Debug, thiserror::Error)]
pub enum LoaderError {
    /// The interface does not exist.
    #[error(
        "no network interface named {0:?} in this network namespace (list them with `ip link`)"
    )]
    NoSuchInterface(String),
    /// The program would cut the machine off; `force` was not given.
    #[error(
        "refusing to attach {program} to {iface}: it carries the default route, so this \
         would cut the machine off (and your SSH session with it); attach with `force` only if you really mean it"
    )]
    DefaultRoute {
        /// The program.
        program: String,
        /// The interface.
        iface: String,
    },
    /// The kernel refused the attachment.
    #[error("cannot attach {program} to {iface} in {mode} mode: {reason}")]
    Attach {
        /// The program.
        program: String,
        /// The interface.
        iface: String,
        /// The mode tried.
        mode: &'static str,
        /// The kernel's reason, with a hint.
        reason: String,
        /// The kernel's error number, where it gave one.
        errno: Option<i32>,
    },
    /// xskit attached nothing to this interface.
    #[error("xskit attached nothing to {0}; it only detaches its own programs")]
    NotAttached(String),
    /// Loading the object or program failed.
    #[error("cannot load {program}: {source}")]
    Load {
        /// The program.
        program: String,
        /// What aya reported.
        #[source]
        source: anyhow::Error,
    },
    /// Attaching to, or detaching from, a dispatcher failed.
    #[error(transparent)]
    Dispatcher(#[from] crate::multiprog::MultiprogError),
    /// A map operation failed.
    #[error("{what}: {source}")]
    Map {
        /// What was attempted.
        what: String,
        /// What aya reported.
        #[source]
        source: aya::maps::MapError,
    },
}

impl LoaderError {
    /// True if the kernel refused a native attach because the interface's
    /// MTU is larger than the program can take (ERANGE): a program that is
    /// not frags-aware needs every frame in one buffer.
    pub fn mtu_too_large(&self) -> bool {
        matches!(self, LoaderError::Attach { errno: Some(e), .. } if *e == libc::ERANGE)
    }
}
