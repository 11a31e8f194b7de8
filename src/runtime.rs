//! The internal tokio runtime every remote and client shares.

use std::future::Future;

use once_cell::sync::Lazy;
use tokio::runtime::{Handle, Runtime};

static RUNTIME: Lazy<Runtime> = Lazy::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("libcontainerd-rt")
        .on_thread_start(block_sigpipe)
        .enable_all()
        .build()
        .expect("cannot start the libcontainerd runtime")
});

/// Blocks SIGPIPE on the calling runtime thread. The host program's disposition of
/// SIGPIPE is usually the default one, which ends the process: a write on a
/// connection or fifo whose other end is gone (containerd stopping, a reader that left)
/// must fail with EPIPE on the library's threads instead. The signal such a write
/// raises stays pending on the thread, blocked and harmless; the process-wide
/// disposition is left alone.
fn block_sigpipe() {
    use nix::sys::signal::{SigSet, Signal};
    let mut set = SigSet::empty();
    set.add(Signal::SIGPIPE);
    // Cannot fail with a valid set and `how`.
    let _ = set.thread_block();
}

/// The runtime's handle, for spawning.
pub fn handle() -> &'static Handle {
    RUNTIME.handle()
}

/// Runs a future to completion from a caller's (non-runtime) thread.
pub fn block_on<F: Future>(f: F) -> F::Output {
    RUNTIME.block_on(f)
}
