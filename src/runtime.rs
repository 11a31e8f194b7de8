//! The internal tokio runtime every remote and client shares.

use std::future::Future;

use once_cell::sync::Lazy;
use tokio::runtime::{Handle, Runtime};

static RUNTIME: Lazy<Runtime> = Lazy::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("libcontainerd-rt")
        .enable_all()
        .build()
        .expect("cannot start the libcontainerd runtime")
});

/// The runtime's handle, for spawning.
pub fn handle() -> &'static Handle {
    RUNTIME.handle()
}

/// Runs a future to completion from a caller's (non-runtime) thread.
pub fn block_on<F: Future>(f: F) -> F::Output {
    RUNTIME.block_on(f)
}
