//! Process stdio: fifos shared with the shim, the stdin relay that turns a closed
//! pipe into containerd's CloseIO, and output draining.

use std::os::fd::OwnedFd;

/// Reads `fd` to its end in the background and throws the bytes away.
pub fn discard(fd: OwnedFd) {
    let _ = fd;
    todo!()
}
