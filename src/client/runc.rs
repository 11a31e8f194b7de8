//! Messages of containerd's runc shim that the containerd API crate does not carry,
//! declared with prost, and the type URLs containerd expects.

use prost_types::Any;

/// Runtime name of containerd's runc shim v2.
pub const RUNC_RUNTIME: &str = "io.containerd.runc.v2";
/// Type URL of an OCI runtime spec.
pub const SPEC_TYPE_URL: &str = "types.containerd.io/opencontainers/runtime-spec/1/Spec";
/// Type URL of an OCI process.
pub const PROCESS_TYPE_URL: &str = "types.containerd.io/opencontainers/runtime-spec/1/Process";
/// Type URL of OCI Linux resources.
pub const RESOURCES_TYPE_URL: &str = "types.containerd.io/opencontainers/runtime-spec/1/LinuxResources";

/// `containerd.runc.v1.Options`: how the shim runs runc.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RuncOptions {
    /// Disable pivot_root.
    #[prost(bool, tag = "1")]
    pub no_pivot_root: bool,
    /// Do not create a new session keyring.
    #[prost(bool, tag = "2")]
    pub no_new_keyring: bool,
    /// cgroup of the shim.
    #[prost(string, tag = "3")]
    pub shim_cgroup: String,
    /// uid owning the fifos.
    #[prost(uint32, tag = "4")]
    pub io_uid: u32,
    /// gid owning the fifos.
    #[prost(uint32, tag = "5")]
    pub io_gid: u32,
    /// The runc-compatible binary.
    #[prost(string, tag = "6")]
    pub binary_name: String,
    /// runc's state root.
    #[prost(string, tag = "7")]
    pub root: String,
    /// criu binary.
    #[prost(string, tag = "8")]
    pub criu_path: String,
    /// Use systemd cgroups.
    #[prost(bool, tag = "9")]
    pub systemd_cgroup: bool,
}

/// `containerd.runc.v1.ProcessDetails`: which exec a pid of `ListPids` belongs to.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ProcessDetails {
    /// The exec id.
    #[prost(string, tag = "1")]
    pub exec_id: String,
}

/// Packs the runc options for containerd.
pub fn runc_options_any(binary: &str, root: &str) -> Any {
    use prost::Message;
    let o = RuncOptions { binary_name: binary.to_string(), root: root.to_string(), ..Default::default() };
    Any { type_url: "containerd.runc.v1.Options".into(), value: o.encode_to_vec() }
}

/// Wraps OCI JSON in an `Any` with the given type URL.
pub fn json_any(type_url: &str, json: Vec<u8>) -> Any {
    Any { type_url: type_url.to_string(), value: json }
}
