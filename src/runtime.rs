//! The internal tokio runtime every remote and client shares.

use std::future::Future;

use nix::sys::signal::{pthread_sigmask, SigSet, SigmaskHow, Signal};
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

/// Blocks SIGPIPE in the calling thread. The runtime's threads write to containerd's
/// socket and to the stdio fifos; when the other end has gone (containerd stopped, a
/// shim exited) such a write must fail with EPIPE, not raise SIGPIPE, whose default
/// action would kill the host program (a C program does not ignore it, unlike a Rust
/// binary). Blocking it per thread leaves the host program's own disposition alone;
/// processes the library starts get a cleared mask from `Command`.
fn block_sigpipe() {
    let mut set = SigSet::empty();
    set.add(Signal::SIGPIPE);
    let _ = pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&set), None);
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
