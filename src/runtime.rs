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

/// Blocks SIGPIPE in the calling thread (each of the runtime's threads, which do all
/// of the library's socket and pipe writes: gRPC to containerd, the stdin relays).
///
/// A write into a pipe or socket whose reader is gone (containerd died, a process's
/// stdin fifo was closed) then fails with EPIPE, which the library handles, instead of
/// raising SIGPIPE, whose default action would terminate a C host program (Rust and
/// Python programs ignore it, C programs do not). The signal such a write generates is
/// directed at the writing thread, so it stays pending there and never reaches the
/// host program's threads; the process-wide disposition is left alone.
fn block_sigpipe() {
    let mut set = nix::sys::signal::SigSet::empty();
    set.add(nix::sys::signal::Signal::SIGPIPE);
    if let Err(e) = set.thread_block() {
        log::warn!("cannot block SIGPIPE in a runtime thread: {e}");
    }
}

/// The runtime's handle, for spawning.
pub fn handle() -> &'static Handle {
    RUNTIME.handle()
}

/// Runs a future to completion from a caller's (non-runtime) thread.
pub fn block_on<F: Future>(f: F) -> F::Output {
    RUNTIME.block_on(f)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::signal::{pthread_sigmask, SigSet, SigmaskHow, Signal};

    fn sigpipe_blocked() -> bool {
        let mut old = SigSet::empty();
        pthread_sigmask(SigmaskHow::SIG_BLOCK, None, Some(&mut old)).unwrap();
        old.contains(Signal::SIGPIPE)
    }

    #[test]
    fn runtime_threads_block_sigpipe() {
        for _ in 0..8 {
            assert!(block_on(handle().spawn(async { sigpipe_blocked() })).unwrap(), "worker thread");
        }
        assert!(block_on(handle().spawn_blocking(sigpipe_blocked)).unwrap(), "blocking thread");
    }
}
