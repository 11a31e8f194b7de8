//! The access point to containerd: options, the supervised daemon, the connection.

mod options;

use std::sync::Arc;

pub use options::{RemoteOptions, DEFAULT_NAMESPACE, DEFAULT_STATE_DIR};

use crate::backend::Backend;
use crate::client::Client;
use crate::error::Result;

/// A reference to a remote; clones share it. The remote ends (as by [`Remote::cleanup`])
/// when the last reference, including those its clients hold, is dropped.
#[derive(Clone)]
pub struct Remote {
    pub(crate) inner: Arc<RemoteInner>,
}

pub(crate) struct RemoteInner {}

impl Remote {
    /// Connects to containerd, starting and supervising a daemon under `state_dir`
    /// when the options say so (reusing a live one recorded in its pid file).
    pub fn new(options: RemoteOptions) -> Result<Remote> {
        let _ = options;
        todo!()
    }

    /// Applies the options that may change on a live remote (`live_restore`,
    /// `oom_score`, `debug_log`, `runtime_path`, `runtime_args`); fields left unset
    /// stay as they are. Changing the others is FAILED_PRECONDITION.
    pub fn update_options(&self, options: RemoteOptions) -> Result<()> {
        let _ = options;
        todo!()
    }

    /// A new client whose events and stdio go to `backend`.
    pub fn client(&self, backend: Arc<dyn Backend>) -> Result<Client> {
        let _ = backend;
        todo!()
    }

    /// Stops the containers of this remote's clients unless `live_restore` is on, then
    /// stops the daemon if this remote started it. Idempotent.
    pub fn cleanup(&self) -> Result<()> {
        todo!()
    }
}
