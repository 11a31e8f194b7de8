//! Byte pumps on the runtime: the stdin relay and the output discarder.

use std::os::fd::OwnedFd;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::pipe;
use tokio::sync::watch;

/// Copies the caller's stdin pipe into the process's stdin fifo. At EOF it closes the
/// fifo and, once the process has started, calls `close_stdin` (containerd's CloseIO:
/// the shim holds the fifo too, so only that delivers EOF to the process).
pub(crate) async fn stdin_relay<F, Fut>(from: OwnedFd, to: OwnedFd, mut started: watch::Receiver<bool>, close_stdin: F)
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let (Ok(mut rx), Ok(mut tx)) = (pipe::Receiver::from_owned_fd(from), pipe::Sender::from_owned_fd(to)) else {
        log::warn!("stdin relay: not a pipe");
        return;
    };
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match rx.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => {
                if let Err(e) = tx.write_all(&buf[..n]).await {
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
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n) = rx.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
    });
}
