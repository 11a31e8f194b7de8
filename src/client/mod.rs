//! The container lifecycle for one [`Backend`].

use std::sync::Arc;

use oci_spec::runtime::LinuxResources;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::spec::{ContainerSpec, CreateOptions, ProcessSpec};

/// A container's (or process's) status in `list`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContainerStatus {
    /// Created, not started.
    Created,
    /// Running.
    Running,
    /// Frozen.
    Paused,
    /// Exited, not yet reaped.
    Stopped,
}

/// One process of a container in `list`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessInfo {
    /// Exec id.
    pub process_id: String,
    /// Host pid.
    pub pid: u32,
    /// Status.
    pub status: ContainerStatus,
}

/// One container in `list`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerInfo {
    /// Container id.
    pub id: String,
    /// Host pid of init.
    pub pid: u32,
    /// Status.
    pub status: ContainerStatus,
    /// Exec processes.
    pub processes: Vec<ProcessInfo>,
}

/// One entry of `summary`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessSummary {
    /// Host pid.
    pub pid: u32,
    /// `init`, an exec id, or empty for a process the library did not start itself.
    pub process_id: String,
}

/// A client; clones share it. See [`Client::close`].
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: Arc<ClientInner>,
}

pub(crate) struct ClientInner {}

#[allow(unused_variables)]
impl Client {
    /// Creates and starts a container: `attach_streams` runs before the process starts,
    /// then `start-container` is reported.
    pub fn create(&self, id: &str, spec: &ContainerSpec, options: &CreateOptions) -> Result<()> {
        todo!()
    }
    /// Sends a signal to the container's init process.
    pub fn signal(&self, id: &str, signal: i32) -> Result<()> {
        todo!()
    }
    /// Sends a signal to one process of the container.
    pub fn signal_process(&self, id: &str, process_id: &str, signal: i32) -> Result<()> {
        todo!()
    }
    /// Runs another process in the container.
    pub fn add_process(&self, id: &str, process_id: &str, process: &ProcessSpec) -> Result<u32> {
        todo!()
    }
    /// Resizes a process's terminal.
    pub fn resize(&self, id: &str, process_id: &str, width: u32, height: u32) -> Result<()> {
        todo!()
    }
    /// Freezes the container.
    pub fn pause(&self, id: &str) -> Result<()> {
        todo!()
    }
    /// Thaws the container.
    pub fn resume(&self, id: &str) -> Result<()> {
        todo!()
    }
    /// Re-adopts a container this library created, after a restart of the host program
    /// or of containerd.
    pub fn restore(&self, id: &str, options: &CreateOptions) -> Result<()> {
        todo!()
    }
    /// The container's cgroup figures, as the stats JSON.
    pub fn stats(&self, id: &str) -> Result<serde_json::Value> {
        todo!()
    }
    /// Host pids of every process in the container.
    pub fn get_pids(&self, id: &str) -> Result<Vec<u32>> {
        todo!()
    }
    /// Every process with its pid and process id.
    pub fn summary(&self, id: &str) -> Result<Vec<ProcessSummary>> {
        todo!()
    }
    /// Applies OCI `LinuxResources` to the running container.
    pub fn update_resources(&self, id: &str, resources: &LinuxResources) -> Result<()> {
        todo!()
    }
    /// The containers in this client's namespace.
    pub fn list(&self) -> Result<Vec<ContainerInfo>> {
        todo!()
    }
    /// Stops event delivery, waits for callbacks in flight (unless called from inside
    /// one, then the wait is deferred) and releases the backend. Idempotent; further
    /// calls fail with FAILED_PRECONDITION.
    pub fn close(&self) {
        todo!()
    }
}
