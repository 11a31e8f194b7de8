//! Validation of what callers hand in: container and process ids, the library's own
//! JSON documents (strict: unknown keys are rejected by name), the OCI runtime spec,
//! the exec process description and `LinuxResources`.

use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxResources, Process, Spec};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::restart::RestartPolicy;

/// The process id of a container's first process.
pub const INIT_PROCESS_ID: &str = "init";

/// Longest accepted container or process id.
pub const MAX_ID_LEN: usize = 64;

/// Longest excerpt of a caller's value quoted in an error message; longer values are
/// cut there and their length given instead, so a huge input never makes a huge message.
pub const MAX_QUOTED_LEN: usize = 64;

/// Longest error message built from a parser's complaint about caller input (which can
/// quote the input, e.g. an unknown key).
pub const MAX_MESSAGE_LEN: usize = 512;

/// `value` quoted for an error message: Rust debug quoting, cut after
/// [`MAX_QUOTED_LEN`] characters with the full length in bytes appended.
pub fn quoted(value: &str) -> String {
    match value.char_indices().nth(MAX_QUOTED_LEN) {
        None => format!("{value:?}"),
        Some((cut, _)) => format!("{:?}… ({} bytes)", &value[..cut], value.len()),
    }
}

/// Cuts a message about caller input to at most [`MAX_MESSAGE_LEN`] bytes (on a
/// character boundary), marking the cut.
pub fn capped(message: String) -> String {
    if message.len() <= MAX_MESSAGE_LEN {
        return message;
    }
    let mut cut = MAX_MESSAGE_LEN;
    while !message.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}… (message cut, {} bytes)", &message[..cut], message.len())
}

/// Checks a container or process id with containerd's identifier grammar, so that
/// nothing containerd would refuse gets past the library's own checks (and no side
/// effect happens first): 1–64 characters, runs of ASCII letters and digits separated
/// by single `.`, `_` or `-` (`^[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*$`; containerd allows
/// 76 characters, the library 64). Ids become path components, so nothing else may
/// pass. `what` names the argument in the error ("container id", "process id").
pub fn validate_id(what: &str, id: &str) -> Result<()> {
    if id.is_empty() {
        return Err(Error::invalid(format!("{what} is empty")));
    }
    if id.len() > MAX_ID_LEN {
        return Err(Error::invalid(format!("{what} {} is {} bytes long; at most {MAX_ID_LEN} are allowed", quoted(id), id.len())));
    }
    if let Some(bad) = id.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))) {
        return Err(Error::invalid(format!("{what} {id:?} contains {bad:?}; only letters, digits, '_', '.' and '-' are allowed")));
    }
    let bytes = id.as_bytes();
    let is_sep = |b: u8| matches!(b, b'_' | b'.' | b'-');
    if is_sep(bytes[0]) || is_sep(bytes[bytes.len() - 1]) {
        return Err(Error::invalid(format!("{what} {id:?} must start and end with a letter or digit")));
    }
    if bytes.windows(2).any(|w| is_sep(w[0]) && is_sep(w[1])) {
        return Err(Error::invalid(format!("{what} {id:?} has two separators ('_', '.', '-') in a row")));
    }
    Ok(())
}

/// Checks a process id passed to an exec call: a valid id that is not `init`.
pub fn validate_exec_id(id: &str) -> Result<()> {
    validate_id("process id", id)?;
    if id == INIT_PROCESS_ID {
        return Err(Error::invalid("process id \"init\" is reserved for the container's first process"));
    }
    Ok(())
}

/// Parses a JSON object; errors are INVALID_ARGUMENT and say which document was
/// wrong, at which key, and why (an unknown key, a wrong type, malformed JSON).
pub fn parse_json<T: DeserializeOwned>(what: &str, json: &str) -> Result<T> {
    if !json.trim_start().starts_with('{') {
        return Err(Error::invalid(format!("invalid {what} JSON: expected an object")));
    }
    let de = &mut serde_json::Deserializer::from_str(json);
    let value = serde_path_to_error::deserialize(&mut *de).map_err(|e| {
        // The path and the parser's complaint can both quote the input (a key): each is
        // cut on its own, so that what went wrong survives a huge key.
        let mut path = e.path().to_string();
        if let Some((cut, _)) = path.char_indices().nth(MAX_QUOTED_LEN) {
            path = format!("{}… ({} bytes)", &path[..cut], path.len());
        }
        let inner = capped(e.inner().to_string());
        if path.is_empty() || path == "." {
            Error::invalid(format!("invalid {what} JSON: {inner}"))
        } else {
            Error::invalid(format!("invalid {what} JSON at {path}: {inner}"))
        }
    })?;
    de.end().map_err(|e| Error::invalid(capped(format!("invalid {what} JSON: {e}"))))?;
    Ok(value)
}

/// The runtime a container runs with (`WithRuntime`): a runc-compatible binary and
/// global arguments placed before its subcommand.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuntimeOption {
    /// Path of a runc-compatible binary.
    pub path: String,
    /// Global arguments, e.g. `["--debug"]`.
    #[serde(default)]
    pub args: Vec<String>,
}

/// Options of `create` and `restore` (`options_json`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateOptions {
    /// Runs the container with this runtime instead of the remote's default.
    #[serde(default)]
    pub runtime: Option<RuntimeOption>,
    /// What to do when the container's init process exits.
    #[serde(default)]
    pub restart_policy: Option<RestartPolicy>,
    /// Runs the container on a snapshot of this image (pulled or imported before);
    /// the spec's `root.path` is then ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// The snapshotter of the image's rootfs (default `overlayfs`, or `native` where
    /// containerd has no overlayfs). Only with `image`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshotter: Option<String>,
}

impl CreateOptions {
    /// Parses `options_json`; `None` means no options.
    pub fn from_json(json: Option<&str>) -> Result<Self> {
        let opts: CreateOptions = match json {
            None => CreateOptions::default(),
            Some(j) => parse_json("create options", j)?,
        };
        if let Some(rt) = &opts.runtime {
            if rt.path.is_empty() {
                return Err(Error::invalid("create options: runtime.path is empty"));
            }
        }
        if let Some(p) = &opts.restart_policy {
            p.validate().map_err(|e| e.context("create options"))?;
        }
        if opts.image.as_deref().is_some_and(|i| i.trim().is_empty()) {
            return Err(Error::invalid("create options: image is empty"));
        }
        if let Some(s) = &opts.snapshotter {
            if opts.image.is_none() {
                return Err(Error::invalid("create options: snapshotter is given without an image"));
            }
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')) {
                return Err(Error::invalid(format!("create options: snapshotter {s:?} is not a snapshotter name")));
            }
        }
        Ok(opts)
    }
}

/// `process.user` of an exec (the seed's `User`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessUser {
    /// User id.
    #[serde(default)]
    pub uid: u32,
    /// Group id.
    #[serde(default)]
    pub gid: u32,
    /// Supplementary group ids.
    #[serde(default, rename = "additionalGids")]
    pub additional_gids: Vec<u32>,
}

/// One resource limit of an exec (`{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessRlimit {
    /// `RLIMIT_*` name.
    #[serde(rename = "type")]
    pub typ: String,
    /// Hard limit.
    pub hard: u64,
    /// Soft limit.
    pub soft: u64,
}

/// `consoleSize` of an exec: the terminal's rows and columns.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsoleSize {
    /// Rows.
    pub height: u32,
    /// Columns.
    pub width: u32,
}

/// The seed's `Process`: what `add_process` runs inside a container. Unset fields are
/// taken from the container's own process.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessSpec {
    /// Allocate a terminal.
    #[serde(default)]
    pub terminal: Option<bool>,
    /// User and groups.
    #[serde(default)]
    pub user: Option<ProcessUser>,
    /// Command and arguments (required, non-empty).
    #[serde(default)]
    pub args: Vec<String>,
    /// Environment, `KEY=value` each.
    #[serde(default)]
    pub env: Option<Vec<String>>,
    /// Working directory (absolute).
    #[serde(default)]
    pub cwd: Option<String>,
    /// Capabilities (`CAP_*`): the bounding, effective and permitted sets. A non-root
    /// user loses them at `execve` unless they are also in `ambient_capabilities`.
    #[serde(default)]
    pub capabilities: Option<Vec<String>>,
    /// Capabilities (`CAP_*`) to put in the ambient (and inheritable) set, so that a
    /// non-root user keeps them across `execve`; each must be permitted (in
    /// `capabilities`, or in the container's permitted set). None by default.
    #[serde(default, rename = "ambientCapabilities")]
    pub ambient_capabilities: Option<Vec<String>>,
    /// The terminal's initial size (`terminal` must be true).
    #[serde(default, rename = "consoleSize")]
    pub console_size: Option<ConsoleSize>,
    /// Resource limits.
    #[serde(default)]
    pub rlimits: Option<Vec<ProcessRlimit>>,
    /// AppArmor profile.
    #[serde(default, rename = "apparmorProfile")]
    pub apparmor_profile: Option<String>,
    /// SELinux label.
    #[serde(default, rename = "selinuxLabel")]
    pub selinux_label: Option<String>,
}

impl ProcessSpec {
    /// Parses and checks `process_json`.
    pub fn from_json(json: &str) -> Result<Self> {
        let p: ProcessSpec = parse_json("process", json)?;
        if p.args.is_empty() {
            return Err(Error::invalid("process: args must name a command"));
        }
        if let Some(cwd) = &p.cwd {
            if !cwd.starts_with('/') {
                return Err(Error::invalid(format!("process: cwd {} must be an absolute path", quoted(cwd))));
            }
        }
        if let Some(cs) = &p.console_size {
            if p.terminal != Some(true) {
                return Err(Error::invalid("process: consoleSize needs terminal: true"));
            }
            if cs.height == 0 || cs.width == 0 || cs.height > u16::MAX as u32 || cs.width > u16::MAX as u32 {
                return Err(Error::invalid(format!("process: consoleSize {}x{} is out of range 1..65535", cs.width, cs.height)));
            }
        }
        Ok(p)
    }

    /// The OCI process to exec: the container's own process with these overrides.
    pub fn to_oci(&self, base: Option<&Process>) -> Result<Process> {
        let mut v = match base {
            Some(b) => serde_json::to_value(b).map_err(|e| Error::internal(format!("encode process: {e}")))?,
            None => serde_json::json!({"cwd": "/", "user": {"uid": 0, "gid": 0}}),
        };
        let o = v.as_object_mut().ok_or_else(|| Error::internal("process is not an object"))?;
        o.insert("args".into(), serde_json::json!(self.args));
        if let Some(t) = self.terminal {
            o.insert("terminal".into(), t.into());
        } else {
            o.insert("terminal".into(), false.into());
        }
        o.remove("consoleSize");
        if let Some(cs) = &self.console_size {
            o.insert("consoleSize".into(), serde_json::json!({"height": cs.height, "width": cs.width}));
        }
        if let Some(u) = &self.user {
            o.insert("user".into(), serde_json::json!({"uid": u.uid, "gid": u.gid, "additionalGids": u.additional_gids}));
        }
        if let Some(env) = &self.env {
            o.insert("env".into(), serde_json::json!(env));
        }
        if let Some(cwd) = &self.cwd {
            o.insert("cwd".into(), cwd.clone().into());
        }
        if let Some(caps) = &self.capabilities {
            // Never ambient unless asked: a non-root user must not keep them across execve.
            o.insert("capabilities".into(), serde_json::json!({"bounding": caps, "effective": caps, "permitted": caps}));
        }
        if let Some(ambient) = &self.ambient_capabilities {
            let sets = o.entry("capabilities").or_insert_with(|| serde_json::json!({}));
            let set = |name: &str| -> Vec<String> {
                sets.get(name).and_then(|v| serde_json::from_value::<Vec<String>>(v.clone()).ok()).unwrap_or_default()
            };
            let permitted = set("permitted");
            if let Some(missing) = ambient.iter().find(|c| !permitted.contains(c)) {
                return Err(Error::invalid(format!("process: ambientCapabilities: {missing} is not a permitted capability of the process")));
            }
            let mut inheritable = set("inheritable");
            inheritable.extend(ambient.iter().filter(|c| !inheritable.contains(c)).cloned().collect::<Vec<_>>());
            sets["inheritable"] = serde_json::json!(inheritable);
            sets["ambient"] = serde_json::json!(ambient);
        }
        if let Some(rl) = &self.rlimits {
            o.insert("rlimits".into(), serde_json::json!(rl));
        }
        if let Some(a) = &self.apparmor_profile {
            o.insert("apparmorProfile".into(), a.clone().into());
        }
        if let Some(s) = &self.selinux_label {
            o.insert("selinuxLabel".into(), s.clone().into());
        }
        serde_json::from_value(v).map_err(|e| Error::invalid(capped(format!("process: {e}"))))
    }
}

/// A parsed OCI runtime spec together with its original JSON (sent to containerd
/// verbatim, so fields oci-spec does not know survive).
#[derive(Debug, Clone)]
pub struct ContainerSpec {
    /// The parsed spec.
    pub spec: Spec,
    /// The JSON handed to containerd.
    pub json: String,
}

impl ContainerSpec {
    /// Parses `spec_json` and checks what must hold before containerd is asked:
    /// a process with args, and `root.path` an existing absolute directory.
    pub fn from_json(json: &str) -> Result<Self> {
        let spec: Spec = parse_json("OCI spec", json)?;
        let process = spec.process().as_ref().ok_or_else(|| Error::invalid("OCI spec: process is missing"))?;
        if process.args().as_ref().is_none_or(|a| a.is_empty()) {
            return Err(Error::invalid("OCI spec: process.args must name a command"));
        }
        let root = spec.root().as_ref().ok_or_else(|| Error::invalid("OCI spec: root is missing"))?;
        let path: &Path = root.path();
        if !path.is_absolute() {
            return Err(Error::invalid(format!("OCI spec: root.path {} must be an absolute host path", quoted(&path.to_string_lossy()))));
        }
        if !path.is_dir() {
            return Err(Error::invalid(format!("OCI spec: root.path {} is not a directory", quoted(&path.to_string_lossy()))));
        }
        Ok(ContainerSpec { spec, json: json.to_string() })
    }

    /// Parses `spec_json` for a container whose rootfs comes from an image: `root`
    /// (its path is replaced) and the process's args, env, cwd and user may be left
    /// for the image config to fill.
    pub fn for_image(json: &str) -> Result<Self> {
        let mut v: serde_json::Value = parse_json("OCI spec", json)?;
        // What the image will fill in stands in for the check of everything else.
        if let Some(o) = v.as_object_mut() {
            let p = o.entry("process").or_insert_with(|| serde_json::json!({}));
            if let Some(p) = p.as_object_mut() {
                p.entry("user").or_insert_with(|| serde_json::json!({"uid": 0, "gid": 0}));
                p.entry("cwd").or_insert_with(|| "/".into());
            }
        }
        let spec: Spec = parse_json("OCI spec", &v.to_string())?;
        Ok(ContainerSpec { spec, json: json.to_string() })
    }

    /// Parses `spec_json` as [`ContainerSpec::from_json`] does, or as
    /// [`ContainerSpec::for_image`] when `options` name an image.
    pub fn for_options(json: &str, options: &CreateOptions) -> Result<Self> {
        if options.image.is_some() {
            Self::for_image(json)
        } else {
            Self::from_json(json)
        }
    }

    /// The rootfs directory.
    pub fn root_path(&self) -> PathBuf {
        self.spec.root().as_ref().map(|r| r.path().clone()).unwrap_or_default()
    }

    /// Whether the init process has a terminal.
    pub fn terminal(&self) -> bool {
        self.spec.process().as_ref().and_then(|p| p.terminal()).unwrap_or(false)
    }
}

/// Parses OCI `LinuxResources` JSON for `update_resources`, rejecting values the
/// kernel would refuse (negative limits other than -1).
pub fn parse_resources(json: &str) -> Result<LinuxResources> {
    let r: LinuxResources = parse_json("resources", json)?;
    if let Some(m) = r.memory() {
        for (name, v) in [("memory.limit", m.limit()), ("memory.reservation", m.reservation()), ("memory.swap", m.swap())] {
            if let Some(v) = v {
                if v < -1 {
                    return Err(Error::invalid(format!("resources: {name} {v} is negative")));
                }
            }
        }
    }
    if let Some(p) = r.pids() {
        if p.limit() < -1 {
            return Err(Error::invalid(format!("resources: pids.limit {} is negative", p.limit())));
        }
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        for ok in ["a", "A9", "web-1", "x.y_z", &"a".repeat(64)] {
            validate_id("container id", ok).unwrap();
        }
        for ok in ["a.b-c_d", "0", "web_1.2"] {
            validate_id("container id", ok).unwrap();
        }
        // containerd's grammar: no leading, trailing or doubled separators.
        for bad in ["", "../x", "a/b", ".a", "-a", "a b", "é", &"a".repeat(65), "a\0b", "a-", "a.", "a_", "a..b", "a-_b", "a--b"] {
            assert_eq!(validate_id("container id", bad).unwrap_err().code(), crate::Code::InvalidArgument, "{bad:?}");
        }
        assert!(validate_exec_id("init").is_err());
    }

    #[test]
    fn huge_values_make_short_messages() {
        let huge = "x".repeat(10 << 20);
        let e = validate_id("container id", &huge).unwrap_err();
        assert!(e.message().len() < 200, "{}", e.message().len());
        assert!(e.message().contains(&format!("{} bytes", huge.len())), "{e}");
        let e = ProcessSpec::from_json(&format!(r#"{{"args": ["sh"], "cwd": "{huge}"}}"#)).unwrap_err();
        assert!(e.message().len() < 200, "{}", e.message().len());
        let e = CreateOptions::from_json(Some(&format!(r#"{{"{huge}": 1}}"#))).unwrap_err();
        assert!(e.message().len() <= MAX_MESSAGE_LEN + 200, "{}", e.message().len());
        assert!(e.message().starts_with("invalid create options JSON"), "{}", &e.message()[..80]);
        assert!(e.message().contains("unknown field"), "{}", e.message());
        assert_eq!(quoted("é".repeat(100).as_str()).chars().filter(|c| *c == 'é').count(), MAX_QUOTED_LEN);
        assert_eq!(capped("short".into()), "short");
    }

    #[test]
    fn unknown_keys_are_named() {
        let e = CreateOptions::from_json(Some(r#"{"restart_polcy": {}}"#)).unwrap_err();
        assert!(e.message().contains("restart_polcy"), "{e}");
        let e = ProcessSpec::from_json(r#"{"args": ["sh"], "tty": true}"#).unwrap_err();
        assert!(e.message().contains("tty"), "{e}");
        assert!(CreateOptions::from_json(Some("{")).is_err());
        assert!(CreateOptions::from_json(Some("[]")).is_err());
        assert!(CreateOptions::from_json(Some("{} {}")).is_err());
        let e = CreateOptions::from_json(Some(r#"{"restart_policy": {"name": "always", "maximum_retry_count": "x"}}"#)).unwrap_err();
        assert!(e.message().contains("restart_policy.maximum_retry_count"), "{e}");
        assert_eq!(CreateOptions::from_json(None).unwrap(), CreateOptions::default());
    }

    #[test]
    fn image_options() {
        let o = CreateOptions::from_json(Some(r#"{"image": "lcd.test/busybox:v1", "snapshotter": "native"}"#)).unwrap();
        assert_eq!((o.image.as_deref(), o.snapshotter.as_deref()), (Some("lcd.test/busybox:v1"), Some("native")));
        for bad in [r#"{"image": ""}"#, r#"{"snapshotter": "native"}"#, r#"{"image": "x", "snapshotter": "../x"}"#, r#"{"imag": "x"}"#] {
            assert_eq!(CreateOptions::from_json(Some(bad)).unwrap_err().code(), crate::Code::InvalidArgument, "{bad}");
        }
        // With an image the spec needs neither a root directory nor a command.
        let o = CreateOptions::from_json(Some(r#"{"image": "x"}"#)).unwrap();
        ContainerSpec::for_options(r#"{"ociVersion": "1.0.2", "root": {"path": "/nonexistent"}}"#, &o).unwrap();
        ContainerSpec::for_options(r#"{"ociVersion": "1.0.2", "process": {"env": ["A=1"]}}"#, &o).unwrap();
        assert!(ContainerSpec::for_options(r#"{"ociVersion": "1.0.2", "process": {"env": 1}}"#, &o).is_err());
        assert!(ContainerSpec::for_options(r#"{"ociVersion": "1.0.2", "root": {"path": "/nonexistent"}}"#, &CreateOptions::default()).is_err());
    }

    #[test]
    fn process_overrides_base() {
        let p = ProcessSpec::from_json(r#"{"args": ["id"], "user": {"uid": 1000, "gid": 1000}, "cwd": "/tmp"}"#).unwrap();
        let base: Process = serde_json::from_str(r#"{"args": ["sh"], "cwd": "/", "env": ["A=1"], "user": {"uid": 0, "gid": 0}}"#).unwrap();
        let oci = p.to_oci(Some(&base)).unwrap();
        assert_eq!(oci.args().as_ref().unwrap(), &vec!["id".to_string()]);
        assert_eq!(oci.user().uid(), 1000);
        assert_eq!(oci.cwd().to_str(), Some("/tmp"));
        assert_eq!(oci.env().as_ref().unwrap(), &vec!["A=1".to_string()]);
    }

    #[test]
    fn spec_root_must_exist() {
        let e = ContainerSpec::from_json(r#"{"ociVersion": "1.0.2", "process": {"args": ["true"], "cwd": "/", "user": {"uid": 0, "gid": 0}}, "root": {"path": "/nonexistent/rootfs"}}"#).unwrap_err();
        assert_eq!(e.code(), crate::Code::InvalidArgument);
        assert!(e.message().contains("root.path"));
    }

    #[test]
    fn negative_memory_rejected() {
        assert!(parse_resources(r#"{"memory": {"limit": -5}}"#).is_err());
        assert!(parse_resources(r#"{"memory": {"limit": 67108864}}"#).is_ok());
    }
}
