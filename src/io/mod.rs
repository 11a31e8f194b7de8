//! Process stdio: the fifos shared with containerd's shim, the stdin relay that turns
//! the caller closing its pipe into containerd's CloseIO, output draining, and the
//! wait for the shim to finish copying before a process is reaped.

mod fifo;
mod relay;

pub use fifo::{FifoSet, ProcessIo};
pub use relay::discard;
