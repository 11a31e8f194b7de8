//! libcontainerd: Docker-grade container management on a real containerd, with a C ABI.
//!
//! A [`Remote`] is the access point to containerd (one this library starts and
//! supervises, or an existing socket). A [`Client`] drives container lifecycles for one
//! [`Backend`], the host program's callback table, which receives ordered state events
//! and each process's stdio.
//!
//! All calls are blocking and thread-safe; the core runs on an internal tokio runtime.
//! A [`Call`] bounds them: inside [`Call::run`] every blocking step gives up when the
//! call is cancelled or its deadline passes (the C ABI's `lcd_call`).
//! Do not call them from inside an async runtime's worker thread.

#![warn(missing_docs)]

pub mod backend;
pub mod call;
pub mod client;
pub mod error;
pub mod events;
pub mod images;
pub mod ffi;
pub mod io;
pub mod logging;
pub mod metrics;
pub mod remote;
pub mod restart;
mod runtime;
pub mod spec;
pub mod spec_default;
pub mod timefmt;
#[doc(hidden)]
pub mod test_hooks;
pub mod trace;

pub use backend::{Backend, IoPipe, State, StateInfo};
pub use call::Call;
pub use client::{Client, ContainerInfo, ContainerStatus, ProcessInfo, ProcessSummary};
pub use error::{Code, Error, Result};
pub use remote::connection::OUTAGE_WAIT;
pub use remote::{Remote, RemoteOptions};
pub use restart::{PolicyName, RestartPolicy};
pub use spec::{ContainerSpec, CreateOptions, ProcessSpec, RuntimeOption};
pub use spec_default::{default_spec, SpecOptions};

/// The library version (the crate's).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Version of the C ABI; bumped on every incompatible change.
pub const ABI_VERSION: u32 = 2;
