//! Remote options (`options_json` of `lcd_remote_new`), with their defaults.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::spec::parse_json;

/// Default `state_dir`.
pub const DEFAULT_STATE_DIR: &str = "/run/libcontainerd";
/// Longest path a unix socket address holds.
pub const MAX_SOCKET_PATH: usize = 107;

/// Default containerd namespace.
pub const DEFAULT_NAMESPACE: &str = "libcontainerd";

/// Remote options as given; every field is optional (the seed's RemoteOptions).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteOptions {
    /// Directory for the daemon's files and the fifos (default `/run/libcontainerd`).
    #[serde(default)]
    pub state_dir: Option<PathBuf>,
    /// Start (and supervise) a containerd of our own (default: true unless `remote_addr`).
    #[serde(default)]
    pub start_daemon: Option<bool>,
    /// Socket of an existing containerd; refused together with `start_daemon: true`.
    #[serde(default)]
    pub remote_addr: Option<PathBuf>,
    /// containerd binary (default `containerd` on PATH).
    #[serde(default)]
    pub containerd_path: Option<PathBuf>,
    /// Run the daemon with debug logging.
    #[serde(default)]
    pub debug_log: Option<bool>,
    /// Leave containers running when the remote is cleaned up.
    #[serde(default)]
    pub live_restore: Option<bool>,
    /// OOM score adjustment of the daemon (-1000..1000).
    #[serde(default)]
    pub oom_score: Option<i32>,
    /// runc-compatible runtime binary (default `runc`).
    #[serde(default)]
    pub runtime_path: Option<String>,
    /// Global arguments for the runtime, placed before its subcommand.
    #[serde(default)]
    pub runtime_args: Option<Vec<String>>,
    /// containerd namespace (default `libcontainerd`).
    #[serde(default)]
    pub namespace: Option<String>,
    /// Shared shims to spread containers over (0..=64; 0 or absent: one shim per
    /// container). See `crate::remote` (the pool) for the isolation trade-off.
    #[serde(default)]
    pub shim_pool: Option<u32>,
}

impl RemoteOptions {
    /// Parses options JSON; `None` means all defaults.
    pub fn from_json(json: Option<&str>) -> Result<Self> {
        let o = Self::parse(json)?;
        o.validate()?;
        Ok(o)
    }

    fn parse(json: Option<&str>) -> Result<Self> {
        match json {
            None => Ok(RemoteOptions::default()),
            Some(j) => parse_json("remote options", j),
        }
    }

    /// Checks ranges and paths of the fields that are set.
    pub fn validate(&self) -> Result<()> {
        if let Some(s) = self.oom_score {
            if !(-1000..=1000).contains(&s) {
                return Err(Error::invalid(format!("remote options: oom_score {s} is outside -1000..1000")));
            }
        }
        if let Some(n) = self.shim_pool {
            if n > super::pool::MAX_SHIM_POOL {
                return Err(Error::invalid(format!("remote options: shim_pool {n} is outside 0..{}", super::pool::MAX_SHIM_POOL)));
            }
        }
        // Paths and arguments go to the OS as C strings: a NUL byte would cut them.
        let strings = [
            ("state_dir", self.state_dir.as_ref().map(|p| p.as_os_str().as_encoded_bytes())),
            ("remote_addr", self.remote_addr.as_ref().map(|p| p.as_os_str().as_encoded_bytes())),
            ("containerd_path", self.containerd_path.as_ref().map(|p| p.as_os_str().as_encoded_bytes())),
            ("runtime_path", self.runtime_path.as_ref().map(|s| s.as_bytes())),
        ];
        let args = self.runtime_args.iter().flatten().map(|a| ("runtime_args", Some(a.as_bytes())));
        for (name, value) in strings.into_iter().chain(args) {
            if value.is_some_and(|v| v.contains(&0)) {
                return Err(Error::invalid(format!("remote options: {name} contains a NUL byte")));
            }
        }
        for (name, p) in [("state_dir", &self.state_dir), ("remote_addr", &self.remote_addr)] {
            if let Some(p) = p {
                if p.as_os_str().is_empty() || !p.is_absolute() {
                    let shown = crate::spec::quoted(&p.to_string_lossy());
                    return Err(Error::invalid(format!("remote options: {name} {shown} must be an absolute path")));
                }
            }
        }
        if let Some(ns) = &self.namespace {
            crate::spec::validate_id("namespace", ns).map_err(|e| e.context("remote options"))?;
        }
        if let Some(rt) = &self.runtime_path {
            if rt.is_empty() {
                return Err(Error::invalid("remote options: runtime_path is empty"));
            }
        }
        // The daemon's sockets live in the state dir; a unix socket path holds 107 bytes.
        if self.start_daemon() {
            let longest = self.state_dir().join("containerd/containerd.sock.ttrpc");
            if longest.as_os_str().len() > MAX_SOCKET_PATH {
                return Err(Error::invalid(format!(
                    "remote options: state_dir {} is too long: containerd's socket would be {} bytes, more than {MAX_SOCKET_PATH}",
                    crate::spec::quoted(&self.state_dir().to_string_lossy()),
                    longest.as_os_str().len()
                )));
            }
        }
        // A daemon the library starts listens on its own socket under state_dir; it is
        // never started on a caller's address, and the two are never silently mixed.
        if self.start_daemon == Some(true) && self.remote_addr.is_some() {
            return Err(Error::invalid(
                "remote options: start_daemon is true and remote_addr is given; a started containerd listens under state_dir, so give one or the other",
            ));
        }
        if self.start_daemon == Some(false) && self.remote_addr.is_none() {
            return Err(Error::invalid("remote options: start_daemon is false but no remote_addr is given"));
        }
        Ok(())
    }

    /// The state directory in effect.
    pub fn state_dir(&self) -> PathBuf {
        self.state_dir.clone().unwrap_or_else(|| PathBuf::from(DEFAULT_STATE_DIR))
    }
    /// Whether this remote starts its own daemon.
    pub fn start_daemon(&self) -> bool {
        self.start_daemon.unwrap_or(self.remote_addr.is_none())
    }
    /// The namespace in effect.
    pub fn namespace(&self) -> String {
        self.namespace.clone().unwrap_or_else(|| DEFAULT_NAMESPACE.to_string())
    }
    /// The runtime binary in effect.
    pub fn runtime_path(&self) -> String {
        self.runtime_path.clone().unwrap_or_else(|| "runc".to_string())
    }
}

impl RemoteOptions {
    /// Parses an update (`lcd_remote_update_options`); `None` changes nothing.
    pub fn update_from_json(json: Option<&str>) -> Result<Self> {
        let o = Self::parse(json)?;
        o.validate_update()?;
        Ok(o)
    }

    /// Checks an update: the same ranges as at creation, without the rule that a
    /// remote without a daemon needs an address (an update does not restate it).
    pub fn validate_update(&self) -> Result<()> {
        let mut copy = self.clone();
        copy.start_daemon = None;
        copy.validate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typo_is_named() {
        let e = RemoteOptions::from_json(Some(r#"{"start_deamon": true}"#)).unwrap_err();
        assert_eq!(e.code(), crate::Code::InvalidArgument);
        assert!(e.message().contains("start_deamon"), "{e}");
    }

    #[test]
    fn ranges() {
        assert!(RemoteOptions::from_json(Some(r#"{"oom_score": 5000}"#)).is_err());
        assert!(RemoteOptions::from_json(Some(r#"{"state_dir": "rel"}"#)).is_err());
        assert!(RemoteOptions::from_json(Some(r#"{"start_daemon": "yes"}"#)).is_err());
        for key in ["state_dir", "remote_addr", "containerd_path", "runtime_path"] {
            let e = RemoteOptions::from_json(Some(&format!(r#"{{"{key}": "/a\u0000b"}}"#))).unwrap_err();
            assert_eq!(e.code(), crate::Code::InvalidArgument);
            assert!(e.message().contains(key) && e.message().contains("NUL"), "{e}");
        }
        assert!(RemoteOptions::from_json(Some(r#"{"shim_pool": 65}"#)).unwrap_err().message().contains("shim_pool 65"));
        assert!(RemoteOptions::from_json(Some(r#"{"shim_pool": -1}"#)).is_err());
        assert_eq!(RemoteOptions::from_json(Some(r#"{"shim_pool": 64}"#)).unwrap().shim_pool, Some(64));
        let e = RemoteOptions::from_json(Some(r#"{"runtime_args": ["ok", "a\u0000b"]}"#)).unwrap_err();
        assert!(e.message().contains("runtime_args contains a NUL byte"), "{e}");
        let long = format!(r#"{{"state_dir": "/{}"}}"#, "d".repeat(90));
        let e = RemoteOptions::from_json(Some(&long)).unwrap_err();
        assert!(e.message().contains("too long"), "{e}");
        let o = RemoteOptions::from_json(None).unwrap();
        assert!(o.start_daemon());
        let e = RemoteOptions::from_json(Some(r#"{"start_daemon": true, "remote_addr": "/run/x.sock"}"#)).unwrap_err();
        assert_eq!(e.code(), crate::Code::InvalidArgument);
        assert!(e.message().contains("start_daemon") && e.message().contains("remote_addr"), "{e}");
        let o = RemoteOptions::from_json(Some(r#"{"remote_addr": "/run/x.sock"}"#)).unwrap();
        assert!(!o.start_daemon());
        let huge = format!(r#"{{"state_dir": "{}"}}"#, "d".repeat(10 << 20));
        assert!(RemoteOptions::from_json(Some(&huge)).unwrap_err().message().len() < 300);
        assert_eq!(o.namespace(), "libcontainerd");
    }
}

