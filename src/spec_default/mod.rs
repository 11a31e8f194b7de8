//! A complete, safe default OCI runtime spec (what containerd's `oci.GenerateSpec`
//! and `runc spec` give), adjusted by a few options (`lcd_spec_default`).

mod user;

use std::path::Path;

use oci_spec::runtime::Spec;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::error::{Error, Result};
use crate::spec::parse_json;

/// The `PATH` a default spec's process gets (containerd's default).
pub const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The capabilities of an unprivileged container: containerd's (and Docker's) default
/// set, in the bounding, effective and permitted sets (none inheritable or ambient).
pub const DEFAULT_CAPABILITIES: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Every capability by number (`CAP_LAST_CAP` of Linux 6.x is 40).
const ALL_CAPABILITIES: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// Paths masked from the container (containerd's defaults).
pub const MASKED_PATHS: &[&str] = &[
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/sys/firmware",
    "/proc/scsi",
];

/// Paths made read-only in the container (containerd's defaults).
pub const READONLY_PATHS: &[&str] = &["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

/// The options of [`default_spec`] (`options_json` of `lcd_spec_default`); all
/// optional, unknown keys rejected by name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpecOptions {
    /// `root.path`: an existing absolute host directory (default `rootfs`, relative,
    /// as containerd's; set it, or create from an image).
    #[serde(default)]
    pub rootfs: Option<String>,
    /// `root.readonly`.
    #[serde(default)]
    pub readonly: bool,
    /// `process.args` (non-empty when given; `create` needs them).
    #[serde(default)]
    pub args: Option<Vec<String>>,
    /// `KEY=value` entries added to (and overriding) the default `PATH`.
    #[serde(default)]
    pub env: Option<Vec<String>>,
    /// `process.cwd`, absolute (default `/`).
    #[serde(default)]
    pub cwd: Option<String>,
    /// `uid`, `uid:gid`, `name` or `name:group`; names are looked up in the rootfs's
    /// `/etc/passwd` and `/etc/group` (default root).
    #[serde(default)]
    pub user: Option<String>,
    /// The container's hostname (it has its own UTS namespace).
    #[serde(default)]
    pub hostname: Option<String>,
    /// Give the init process a terminal (and `TERM=xterm` unless `env` sets it).
    #[serde(default)]
    pub terminal: bool,
    /// `linux.cgroupsPath` (default: the library's `/<namespace>/<id>`).
    #[serde(default)]
    pub cgroups_path: Option<String>,
    /// Memory limit in bytes (> 0).
    #[serde(default)]
    pub memory_limit: Option<i64>,
    /// CPU shares (relative weight, > 0).
    #[serde(default)]
    pub cpu_shares: Option<u64>,
    /// Maximum number of processes (> 0).
    #[serde(default)]
    pub pids_limit: Option<i64>,
    /// Every capability, no masked or read-only paths, `/sys` and the cgroup mount
    /// writable, every device allowed in the device cgroup.
    #[serde(default)]
    pub privileged: bool,
}

impl SpecOptions {
    /// Parses `options_json`; `None` means all defaults.
    pub fn from_json(json: Option<&str>) -> Result<Self> {
        match json {
            None => Ok(SpecOptions::default()),
            Some(j) => parse_json("spec options", j),
        }
    }

    /// Checks every value before anything is built.
    fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::invalid(format!("spec options: {m}")));
        if let Some(r) = &self.rootfs {
            if !r.starts_with('/') {
                return bad(format!("rootfs {r:?} must be an absolute host path"));
            }
            if !Path::new(r).is_dir() {
                return bad(format!("rootfs {r:?} is not a directory"));
            }
        }
        if let Some(a) = &self.args {
            if a.is_empty() || a[0].is_empty() {
                return bad("args must name a command".into());
            }
        }
        for e in self.env.iter().flatten() {
            if !e.contains('=') || e.starts_with('=') {
                return bad(format!("env entry {e:?} is not KEY=value"));
            }
        }
        if let Some(c) = &self.cwd {
            if !c.starts_with('/') {
                return bad(format!("cwd {c:?} must be an absolute path"));
            }
        }
        if let Some(h) = &self.hostname {
            if h.is_empty() || h.len() > 64 || !h.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.') {
                return bad(format!("hostname {h:?} must be 1-64 letters, digits, '-' or '.'"));
            }
        }
        if self.cgroups_path.as_deref() == Some("") {
            return bad("cgroups_path is empty".into());
        }
        if self.memory_limit.is_some_and(|m| m <= 0) {
            return bad("memory_limit must be positive".into());
        }
        if self.cpu_shares == Some(0) {
            return bad("cpu_shares must be positive".into());
        }
        if self.pids_limit.is_some_and(|p| p <= 0) {
            return bad("pids_limit must be positive".into());
        }
        Ok(())
    }
}

/// The capabilities a privileged container gets: those this process has (containerd's
/// `cap.Current()`; the runtime cannot grant more), else every one the kernel knows.
fn privileged_capabilities() -> Vec<&'static str> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let eff = status.lines().find_map(|l| l.strip_prefix("CapEff:")).and_then(|v| u64::from_str_radix(v.trim(), 16).ok());
    let last = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap").ok().and_then(|s| s.trim().parse::<usize>().ok());
    let n = last.map(|l| (l + 1).min(ALL_CAPABILITIES.len())).unwrap_or(ALL_CAPABILITIES.len());
    ALL_CAPABILITIES[..n].iter().enumerate().filter(|(i, _)| eff.is_none_or(|e| e & (1u64 << i) != 0)).map(|(_, c)| *c).collect()
}

/// `KEY=value` entries with later keys replacing earlier ones, in first-seen order.
fn merge_env(entries: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for e in entries {
        let key = e.split('=').next().unwrap_or("").to_string();
        match out.iter_mut().find(|o| o.split('=').next() == Some(key.as_str())) {
            Some(slot) => *slot = e,
            None => out.push(e),
        }
    }
    out
}

/// A complete OCI runtime spec as containerd's `oci.GenerateSpec` builds it for Linux:
/// new pid, ipc, uts, mount and network namespaces; the default capability set
/// (bounding, effective, permitted); `noNewPrivileges`; `RLIMIT_NOFILE` 1024; `/proc`,
/// `/dev` (tmpfs), `/dev/pts`, `/dev/shm`, `/dev/mqueue`, `/sys` (read-only), the
/// cgroup hierarchy (read-only) and `/run` (tmpfs); masked and read-only `/proc`
/// paths; a device cgroup that denies everything but runc's default devices. Then
/// `options` adjust it (see [`SpecOptions`]).
pub fn default_spec(options: &SpecOptions) -> Result<Spec> {
    options.validate()?;
    let rootfs = options.rootfs.as_deref().map(Path::new);
    // Taken apart at once: plain values, no `Option` of the resolved user (valgrind
    // took the optimised test of that option's niche for a read of uninitialised
    // stack memory).
    let (ids, additional_gids, home) = match &options.user {
        Some(u) => {
            let r = user::resolve_user(u, rootfs)?;
            (Some((r.uid, r.gid)), r.additional_gids, r.home)
        }
        None => (None, Vec::new(), None),
    };
    let privileged = options.privileged;
    let caps: Vec<&str> = if privileged { privileged_capabilities() } else { DEFAULT_CAPABILITIES.to_vec() };

    let mut env = vec![DEFAULT_PATH.to_string()];
    if options.terminal {
        env.push("TERM=xterm".into());
    }
    if let Some(home) = home {
        env.push(format!("HOME={home}"));
    }
    env.extend(options.env.iter().flatten().cloned());
    let env = merge_env(env);

    let sys_opts: Vec<&str> = if privileged { vec!["nosuid", "noexec", "nodev"] } else { vec!["nosuid", "noexec", "nodev", "ro"] };
    let cgroup_opts: Vec<&str> = if privileged { vec!["nosuid", "noexec", "nodev", "relatime"] } else { vec!["nosuid", "noexec", "nodev", "relatime", "ro"] };
    let mut process = json!({
        "terminal": options.terminal,
        "user": {"uid": 0, "gid": 0},
        "env": env,
        "cwd": options.cwd.clone().unwrap_or_else(|| "/".into()),
        "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
        "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
        "noNewPrivileges": true,
    });
    if let Some(args) = &options.args {
        process["args"] = json!(args);
    }
    if let Some((uid, gid)) = ids {
        process["user"] = json!({"uid": uid, "gid": gid});
        if !additional_gids.is_empty() {
            process["user"]["additionalGids"] = json!(additional_gids);
        }
    }
    let mut resources = json!({
        "devices": [{"allow": privileged, "access": "rwm"}],
    });
    if let Some(m) = options.memory_limit {
        resources["memory"] = json!({"limit": m});
    }
    if let Some(s) = options.cpu_shares {
        resources["cpu"] = json!({"shares": s});
    }
    if let Some(p) = options.pids_limit {
        resources["pids"] = json!({"limit": p});
    }
    let mut linux = json!({
        "namespaces": [{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "network"}],
        "maskedPaths": if privileged { json!([]) } else { json!(MASKED_PATHS) },
        "readonlyPaths": if privileged { json!([]) } else { json!(READONLY_PATHS) },
        "resources": resources,
    });
    if let Some(p) = &options.cgroups_path {
        linux["cgroupsPath"] = json!(p);
    }
    let mut spec = json!({
        "ociVersion": "1.0.2",
        "process": process,
        "root": {"path": options.rootfs.clone().unwrap_or_else(|| "rootfs".into()), "readonly": options.readonly},
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": sys_opts},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": cgroup_opts},
            {"destination": "/run", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        ],
        "linux": linux,
    });
    if let Some(h) = &options.hostname {
        spec["hostname"] = json!(h);
    }
    serde_json::from_value(spec).map_err(|e| Error::internal(format!("default spec: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_complete_and_safe() {
        let s = serde_json::to_value(default_spec(&SpecOptions::default()).unwrap()).unwrap();
        let p = &s["process"];
        assert_eq!(p["noNewPrivileges"], true);
        assert_eq!(p["user"], json!({"uid": 0, "gid": 0}));
        assert_eq!(p["capabilities"]["bounding"].as_array().unwrap().len(), DEFAULT_CAPABILITIES.len());
        assert!(p["capabilities"].get("ambient").is_none() && p["capabilities"].get("inheritable").is_none());
        let dests: Vec<&str> = s["mounts"].as_array().unwrap().iter().map(|m| m["destination"].as_str().unwrap()).collect();
        for d in ["/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys", "/sys/fs/cgroup"] {
            assert!(dests.contains(&d), "{d} missing: {dests:?}");
        }
        assert_eq!(s["linux"]["namespaces"].as_array().unwrap().len(), 5);
        assert_eq!(s["linux"]["maskedPaths"].as_array().unwrap().len(), MASKED_PATHS.len());
        assert_eq!(s["linux"]["resources"]["devices"], json!([{"allow": false, "access": "rwm"}]));
        assert!(p.get("args").is_none());
    }

    #[test]
    fn options_apply() {
        let o = SpecOptions::from_json(Some(
            r#"{"args": ["sh"], "env": ["PATH=/bin", "A=1"], "cwd": "/tmp", "user": "5:6", "hostname": "h",
                "terminal": true, "cgroups_path": "/x/y", "memory_limit": 1048576, "cpu_shares": 512,
                "pids_limit": 20, "readonly": true, "privileged": true}"#,
        ))
        .unwrap();
        let s = serde_json::to_value(default_spec(&o).unwrap()).unwrap();
        assert_eq!(s["process"]["env"], json!(["PATH=/bin", "TERM=xterm", "A=1"]));
        assert_eq!(s["process"]["user"], json!({"uid": 5, "gid": 6}));
        assert_eq!(s["process"]["terminal"], true);
        assert_eq!(s["hostname"], "h");
        assert_eq!(s["root"]["readonly"], true);
        assert_eq!(s["linux"]["cgroupsPath"], "/x/y");
        assert_eq!(s["linux"]["resources"]["memory"]["limit"], 1048576);
        assert_eq!(s["linux"]["resources"]["cpu"]["shares"], 512);
        assert_eq!(s["linux"]["resources"]["pids"]["limit"], 20);
        assert!(s["process"]["capabilities"]["bounding"].as_array().unwrap().iter().any(|c| c == "CAP_SYS_ADMIN"));
        assert!(s["linux"].get("maskedPaths").is_none_or(|m| m.as_array().unwrap().is_empty()));
    }

    #[test]
    fn bad_options_are_named() {
        for (json, needle) in [
            (r#"{"rootfs": "relative"}"#, "rootfs"),
            (r#"{"rootfs": "/nonexistent/x"}"#, "rootfs"),
            (r#"{"args": []}"#, "args"),
            (r#"{"env": ["NOEQ"]}"#, "env"),
            (r#"{"cwd": "tmp"}"#, "cwd"),
            (r#"{"hostname": "a b"}"#, "hostname"),
            (r#"{"memory_limit": 0}"#, "memory_limit"),
            (r#"{"pids_limit": -1}"#, "pids_limit"),
            (r#"{"cpu_shares": 0}"#, "cpu_shares"),
            (r#"{"user": "app"}"#, "user"),
            (r#"{"memroy_limit": 5}"#, "memroy_limit"),
            (r#"{"terminal": "yes"}"#, "terminal"),
        ] {
            let e = SpecOptions::from_json(Some(json)).and_then(|o| default_spec(&o)).unwrap_err();
            assert_eq!(e.code(), crate::Code::InvalidArgument, "{json}");
            assert!(e.message().contains(needle), "{json}: {e}");
        }
    }
}
