//! Byte pumps on the runtime: the stdin relay and the output discarder.

use std::os::fd::OwnedFd;
use std::path::PathBuf;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::pipe;
use tokio::sync::watch;

/// Read size of the pumps. Their buffers are filled with `read_buf`, never zeroed:
/// zeroing 64 KiB per stream was a sixth of the library's CPU time in a short
/// container's lifecycle.
const BUF_SIZE: usize = 64 * 1024;

/// Copies the caller's stdin pipe into the process's stdin fifo. The fifo is opened
/// (and the buffer allocated) only once the caller writes: a process whose stdin the
/// caller never uses costs no descriptor and no buffer. At EOF it closes the fifo and,
/// once the process has started, calls `close_stdin` (containerd's CloseIO: the shim
/// holds the fifo too, so only that delivers EOF to the process).
pub(crate) async fn stdin_relay<F, Fut>(from: OwnedFd, to: PathBuf, mut started: watch::Receiver<bool>, close_stdin: F)
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let Ok(mut rx) = pipe::Receiver::from_owned_fd(from) else {
        log::warn!("stdin relay: not a pipe");
        return;
    };
    let mut tx: Option<pipe::Sender> = None;
    if rx.readable().await.is_ok() {
        // Filled through read_buf: no zeroing of 64 KiB for every process.
        let mut buf = Vec::with_capacity(BUF_SIZE);
        loop {
            buf.clear();
            match rx.read_buf(&mut buf).await {
                Ok(0) => break,
                Ok(_) => {
                    if tx.is_none() {
                        // Read-write: never blocks, never fails for want of a reader.
                        match pipe::OpenOptions::new().read_write(true).open_sender(&to) {
                            Ok(s) => tx = Some(s),
                            Err(e) => {
                                log::debug!("stdin relay: open {}: {e}", to.display());
                                break;
                            }
                        }
                    }
                    let Some(t) = tx.as_mut() else { break };
                    if let Err(e) = t.write_all(&buf).await {
                        log::debug!("stdin relay: {e}");
                        break;
                    }
                }
                Err(e) => {
                    log::debug!("stdin relay: {e}");
                    break;
                }
            }
        }
    }
    drop(tx);
    drop(rx);
    if started.wait_for(|s| *s).await.is_ok() {
        close_stdin().await;
    }
}

/// Reads `fd` to its end in the background and throws the bytes away.
pub fn discard(fd: OwnedFd) {
    crate::runtime::handle().spawn(async move {
        let Ok(mut rx) = pipe::Receiver::from_owned_fd(fd) else { return };
        let mut buf = Vec::with_capacity(BUF_SIZE);
        loop {
            buf.clear();
            if !matches!(rx.read_buf(&mut buf).await, Ok(n) if n > 0) {
                break;
            }
        }
    });
}
