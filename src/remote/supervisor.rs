//! The containerd daemon a remote starts (or adopts from its pid file) and keeps alive:
//! the generated config, the launch, the readiness wait, the pid file, the health
//! check with relaunch, and the stop by pid.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tokio::sync::Notify;

use super::connection::Connection;
use crate::error::{Code, Error, Result};

/// How long a freshly launched daemon may take to answer.
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// Interval of the health check.
pub const HEALTH_INTERVAL: Duration = Duration::from_millis(500);
/// Deadline of one health probe.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// Consecutive failed probes after which a live but unresponsive daemon is killed.
pub const MAX_FAILED_PROBES: u32 = 6;
/// Grace between SIGTERM and SIGKILL when stopping the daemon.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// The files of a daemon under `<state_dir>/containerd`.
#[derive(Debug, Clone)]
pub struct DaemonPaths {
    /// `<state_dir>/containerd`.
    pub dir: PathBuf,
}

impl DaemonPaths {
    /// Paths under `state_dir`.
    pub fn new(state_dir: &Path) -> Self {
        DaemonPaths { dir: state_dir.join("containerd") }
    }
    /// The gRPC socket.
    pub fn socket(&self) -> PathBuf {
        self.dir.join("containerd.sock")
    }
    /// The generated config.
    pub fn config(&self) -> PathBuf {
        self.dir.join("config.toml")
    }
    /// The pid file.
    pub fn pid_file(&self) -> PathBuf {
        self.dir.join("containerd.pid")
    }
    /// The daemon's log.
    pub fn log(&self) -> PathBuf {
        self.dir.join("containerd.log")
    }
}

/// What the launch needs.
#[derive(Debug, Clone)]
pub struct DaemonConfig {
    /// containerd binary.
    pub containerd_path: PathBuf,
    /// Debug log level.
    pub debug_log: bool,
    /// OOM score adjustment, if any.
    pub oom_score: Option<i32>,
}

/// Creates `dir` (and missing parents) with mode 0700, or checks an existing one: it
/// must be a real directory (not a symbolic link), owned by the caller's effective
/// user, that neither group nor others can write. Anything else is refused with
/// INVALID_ARGUMENT naming the path and what is wrong with it (its mode, its owner);
/// the library never loosens or repairs the permissions of a directory it did not
/// create.
pub fn prepare_private_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    match fs::symlink_metadata(dir) {
        Ok(meta) => {
            if meta.file_type().is_symlink() {
                return Err(Error::invalid(format!("{} is a symbolic link; refusing to use it", dir.display())));
            }
            if !meta.is_dir() {
                return Err(Error::invalid(format!("{} exists and is not a directory", dir.display())));
            }
            let mode = meta.permissions().mode() & 0o7777;
            if mode & 0o022 != 0 {
                return Err(Error::invalid(format!(
                    "{} has mode {mode:04o}: group or others can write it; refusing to use it (make it 0700)",
                    dir.display()
                )));
            }
            let euid = nix::unistd::geteuid().as_raw();
            if meta.uid() != euid {
                return Err(Error::invalid(format!(
                    "{} is owned by uid {}, not by the caller (uid {euid}); refusing to use it",
                    dir.display(),
                    meta.uid()
                )));
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(|e| Error::io(format!("create {}", dir.display()), e))
        }
        Err(e) => Err(Error::io(format!("inspect {}", dir.display()), e)),
    }
}

fn toml_str(p: &Path) -> String {
    format!("{:?}", p.to_string_lossy())
}

/// The generated containerd config: own socket, root and state under `paths.dir`,
/// no CRI and no snapshotters we do not use. What images need stays enabled: the
/// content, images, leases, diff and gc plugins and the overlayfs and native
/// snapshotters.
pub fn render_config(paths: &DaemonPaths, debug: bool, oom_score: i32) -> String {
    format!(
        r#"version = 2
oom_score = {oom_score}
root = {root}
state = {state}
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = {sock}

[ttrpc]
  address = {ttrpc}

[debug]
  level = "{level}"

[metrics]
  address = ""

[plugins."io.containerd.monitor.v1.cgroups"]
  no_prometheus = true
"#,
        root = toml_str(&paths.dir.join("root")),
        state = toml_str(&paths.dir.join("state")),
        sock = toml_str(&paths.socket()),
        ttrpc = toml_str(&paths.dir.join("containerd.sock.ttrpc")),
        level = if debug { "debug" } else { "info" },
    )
}

fn write_private_file(path: &Path, content: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| Error::io(format!("write {}", tmp.display()), e))?;
    f.write_all(content).map_err(|e| Error::io(format!("write {}", tmp.display()), e))?;
    fs::rename(&tmp, path).map_err(|e| Error::io(format!("rename {}", path.display()), e))
}

/// Whether `pid` is a live (not zombie) containerd running with `config`.
pub fn is_our_daemon(pid: u32, config: &Path) -> bool {
    if pid == 0 {
        return false;
    }
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else { return false };
    // The state letter follows the ")" closing the command name.
    if stat.rsplit_once(')').map(|(_, rest)| rest.trim_start().starts_with('Z')).unwrap_or(true) {
        return false;
    }
    let Ok(cmdline) = fs::read(format!("/proc/{pid}/cmdline")) else { return false };
    let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
    let cfg = config.as_os_str().as_encoded_bytes();
    args.iter().any(|a| a.ends_with(b"containerd")) && args.contains(&cfg)
}

/// Reads the pid file.
pub fn read_pid_file(paths: &DaemonPaths) -> Option<u32> {
    fs::read_to_string(paths.pid_file()).ok()?.trim().parse().ok()
}

/// Writes the daemon's OOM score adjustment.
pub fn set_oom_score(pid: u32, score: i32) -> Result<()> {
    fs::write(format!("/proc/{pid}/oom_score_adj"), score.to_string())
        .map_err(|e| Error::io(format!("set oom_score_adj of containerd (pid {pid})"), e))
}

fn log_tail(paths: &DaemonPaths) -> String {
    let text = fs::read_to_string(paths.log()).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(5)..].join("\n")
}

/// A daemon started or adopted by a remote, and its supervision.
pub struct Daemon {
    paths: DaemonPaths,
    config: std::sync::Mutex<DaemonConfig>,
    pid: AtomicU32,
    /// The current run's child handle, when this process launched it.
    child: tokio::sync::Mutex<Option<tokio::process::Child>>,
    stopping: AtomicBool,
    stopped: Notify,
    /// OOM score currently applied (i32::MIN: none).
    oom_score: AtomicI32,
    /// A shared lock on `users.lock` held while this remote uses the daemon: whoever
    /// can take it exclusively is the last user.
    user_lock: std::sync::Mutex<Option<nix::fcntl::Flock<fs::File>>>,
}

/// Takes a lock on `path` (created 0600), retrying while it is busy for up to
/// [`READY_TIMEOUT`] unless `arg` is non-blocking; `None` when a non-blocking attempt
/// finds it busy.
fn try_lock(path: &Path, arg: nix::fcntl::FlockArg) -> Result<Option<nix::fcntl::Flock<fs::File>>> {
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| Error::io(format!("open {}", path.display()), e))?;
    match nix::fcntl::Flock::lock(file, arg) {
        Ok(l) => Ok(Some(l)),
        Err((_, nix::errno::Errno::EWOULDBLOCK)) => Ok(None),
        Err((_, e)) => Err(Error::io(format!("lock {}", path.display()), e.into())),
    }
}

/// Takes a lock, waiting (asynchronously) while another holder keeps it.
async fn lock_waiting(path: &Path, arg: nix::fcntl::FlockArg) -> Result<nix::fcntl::Flock<fs::File>> {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if let Some(l) = try_lock(path, arg)? {
            return Ok(l);
        }
        if Instant::now() >= deadline {
            return Err(Error::new(Code::DeadlineExceeded, format!("{} stayed locked for {READY_TIMEOUT:?}", path.display())));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

impl Daemon {
    /// Starts a daemon under `state_dir`, or adopts the live one its pid file names.
    pub async fn start_or_adopt(state_dir: &Path, config: DaemonConfig, conn: &Connection) -> Result<Arc<Daemon>> {
        prepare_private_dir(state_dir)?;
        let paths = DaemonPaths::new(state_dir);
        prepare_private_dir(&paths.dir)?;
        let daemon = Arc::new(Daemon {
            paths,
            oom_score: AtomicI32::new(config.oom_score.unwrap_or(i32::MIN)),
            user_lock: std::sync::Mutex::new(None),
            config: std::sync::Mutex::new(config),
            pid: AtomicU32::new(0),
            child: tokio::sync::Mutex::new(None),
            stopping: AtomicBool::new(false),
            stopped: Notify::new(),
        });
        let users = lock_waiting(&daemon.paths.dir.join("users.lock"), nix::fcntl::FlockArg::LockSharedNonblock).await?;
        *daemon.user_lock.lock().unwrap() = Some(users);
        daemon.launch(conn).await?;
        Ok(daemon)
    }

    /// The current pid.
    pub fn pid(&self) -> u32 {
        self.pid.load(Ordering::SeqCst)
    }

    /// Changes the OOM score (applied at once) or the log level (applied at the next launch).
    pub fn update(&self, debug_log: Option<bool>, oom_score: Option<i32>) -> Result<()> {
        let mut cfg = self.config.lock().unwrap();
        if let Some(d) = debug_log {
            cfg.debug_log = d;
            write_private_file(&self.paths.config(), render_config(&self.paths, d, cfg.oom_score.unwrap_or(0)).as_bytes())?;
        }
        if let Some(s) = oom_score {
            cfg.oom_score = Some(s);
            self.oom_score.store(s, Ordering::SeqCst);
            drop(cfg);
            if self.pid() != 0 {
                set_oom_score(self.pid(), s)?;
            }
        }
        Ok(())
    }

    fn apply_oom_score(&self) {
        let s = self.oom_score.load(Ordering::SeqCst);
        if s != i32::MIN {
            if let Err(e) = set_oom_score(self.pid(), s) {
                log::warn!("{e}");
            }
        }
    }

    /// Launches containerd and waits until it answers; if another remote launched one
    /// on this state dir meanwhile, adopts that one instead.
    async fn launch(&self, conn: &Connection) -> Result<()> {
        let _lock = lock_waiting(&self.paths.dir.join("launch.lock"), nix::fcntl::FlockArg::LockExclusiveNonblock).await?;
        if let Some(pid) = read_pid_file(&self.paths) {
            if pid != self.pid() && is_our_daemon(pid, &self.paths.config()) && conn.probe(PROBE_TIMEOUT).await.is_ok() {
                log::info!("adopting containerd pid {pid}, launched by another remote on this state dir");
                *self.child.lock().await = None;
                self.pid.store(pid, Ordering::SeqCst);
                self.apply_oom_score();
                return Ok(());
            }
        }
        let cfg = self.config.lock().unwrap().clone();
        write_private_file(&self.paths.config(), render_config(&self.paths, cfg.debug_log, cfg.oom_score.unwrap_or(0)).as_bytes())?;
        let _ = fs::remove_file(self.paths.socket());
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(self.paths.log())
            .map_err(|e| Error::io(format!("open {}", self.paths.log().display()), e))?;
        let log2 = log.try_clone().map_err(|e| Error::io("dup log", e))?;
        let mut cmd = tokio::process::Command::new(&cfg.containerd_path);
        cmd.env_clear()
            .envs(daemon_env(std::env::vars_os()))
            .arg("--config")
            .arg(self.paths.config())
            .stdin(std::process::Stdio::null())
            .stdout(log)
            .stderr(log2)
            .process_group(0)
            .kill_on_drop(false);
        let mut child = cmd.spawn().map_err(|e| {
            Error::new(
                if e.kind() == std::io::ErrorKind::NotFound { Code::NotFound } else { Code::Io },
                format!("start containerd ({}): {e}", cfg.containerd_path.display()),
            )
        })?;
        let pid = child.id().unwrap_or(0);
        self.pid.store(pid, Ordering::SeqCst);
        self.apply_oom_score();
        write_private_file(&self.paths.pid_file(), format!("{pid}\n").as_bytes())?;
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(Error::new(
                    Code::Unavailable,
                    format!(
                        "containerd exited ({status}) before it was ready; see {}:\n{}",
                        self.paths.log().display(),
                        log_tail(&self.paths)
                    ),
                ));
            }
            if conn.probe(Duration::from_millis(500)).await.is_ok() {
                break;
            }
            if Instant::now() >= deadline {
                let _ = child.start_kill();
                return Err(Error::new(
                    Code::DeadlineExceeded,
                    format!(
                        "containerd (pid {pid}) did not answer on {} within {READY_TIMEOUT:?}; see {}",
                        self.paths.socket().display(),
                        self.paths.log().display()
                    ),
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        *self.child.lock().await = Some(child);
        log::info!("containerd ready (pid {pid}, socket {})", self.paths.socket().display());
        Ok(())
    }

    /// Rotates containerd's log once it is over its size cap (see [`super::daemon_log`]).
    fn cap_log(&self) {
        if let Err(e) = super::daemon_log::rotate_if_larger(&self.paths.log(), super::daemon_log::LOG_MAX_BYTES) {
            log::warn!("rotate {}: {e}", self.paths.log().display());
        }
    }

    /// Whether the current daemon process has died.
    async fn is_dead(&self) -> bool {
        let mut child = self.child.lock().await;
        if let Some(c) = child.as_mut() {
            return !matches!(c.try_wait(), Ok(None));
        }
        !is_our_daemon(self.pid(), &self.paths.config())
    }

    /// The health loop: relaunches a dead daemon at once and kills and relaunches one
    /// that stops answering. Returns when [`Daemon::stop`] is called.
    pub async fn supervise(self: Arc<Self>, conn: Connection, on_relaunch: impl Fn() + Send + 'static) {
        let mut failed = 0u32;
        loop {
            tokio::select! {
                _ = self.stopped.notified() => return,
                _ = tokio::time::sleep(HEALTH_INTERVAL) => {}
            }
            if self.stopping.load(Ordering::SeqCst) {
                return;
            }
            self.cap_log();
            let dead = self.is_dead().await;
            if !dead {
                match conn.probe(PROBE_TIMEOUT).await {
                    Ok(_) => {
                        failed = 0;
                        continue;
                    }
                    Err(e) => {
                        failed += 1;
                        log::warn!("containerd health check failed ({failed}/{MAX_FAILED_PROBES}): {e}");
                        if failed < MAX_FAILED_PROBES {
                            continue;
                        }
                        log::error!("containerd (pid {}) is not answering; killing it", self.pid());
                        let _ = kill(Pid::from_raw(self.pid() as i32), Signal::SIGKILL);
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            } else {
                log::error!("containerd (pid {}) died; relaunching it", self.pid());
            }
            if self.stopping.load(Ordering::SeqCst) {
                return;
            }
            failed = 0;
            // Reap the dead child, if it was ours.
            if let Some(mut c) = self.child.lock().await.take() {
                let _ = c.wait().await;
            }
            loop {
                match self.launch(&conn).await {
                    Ok(()) => {
                        on_relaunch();
                        break;
                    }
                    Err(e) => {
                        log::error!("relaunching containerd failed: {e}");
                        tokio::select! {
                            _ = self.stopped.notified() => return,
                            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                        }
                        if self.stopping.load(Ordering::SeqCst) {
                            return;
                        }
                    }
                }
            }
        }
    }

    /// Stops supervision and, unless another remote (of this process or another) still
    /// uses it, the daemon: SIGTERM by pid (never a process group, so shims and
    /// containers survive), SIGKILL after [`STOP_TIMEOUT`].
    pub async fn stop(&self) -> Result<()> {
        self.stopping.store(true, Ordering::SeqCst);
        self.stopped.notify_waiters();
        self.stopped.notify_one();
        let pid = self.pid();
        // Only the last remote using the daemon (in any process) stops it.
        self.user_lock.lock().unwrap().take();
        let Some(_last) = try_lock(&self.paths.dir.join("users.lock"), nix::fcntl::FlockArg::LockExclusiveNonblock)? else {
            log::info!("containerd (pid {pid}) is still used by another remote; leaving it running");
            return Ok(());
        };
        if pid == 0 || self.is_dead().await {
            let _ = fs::remove_file(self.paths.pid_file());
            return Ok(());
        }
        let _ = kill(Pid::from_raw(pid as i32), Signal::SIGTERM);
        let deadline = Instant::now() + STOP_TIMEOUT;
        while !self.is_dead().await {
            if Instant::now() >= deadline {
                log::warn!("containerd (pid {pid}) ignored SIGTERM for {STOP_TIMEOUT:?}; sending SIGKILL");
                let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if let Some(mut c) = self.child.lock().await.take() {
            let _ = c.wait().await;
        }
        let _ = fs::remove_file(self.paths.pid_file());
        Ok(())
    }
}

/// The host variables containerd (and the shims and runtimes it starts) inherit; the
/// rest of the host's environment, `NOTIFY_SOCKET` above all (containerd would report
/// readiness to the host's service manager as if it were the service), is not passed.
/// `PATH` finds `containerd-shim-runc-v2` and `runc`; `TMPDIR` is where Go programs put
/// temporary files; the proxy variables reach registries the daemon itself contacts.
pub const DAEMON_ENV: &[&str] = &["PATH", "TMPDIR", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy"];

/// `PATH` for the daemon when the host has none.
pub const DEFAULT_DAEMON_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The daemon's environment: the [`DAEMON_ENV`] variables of `host`, and `PATH`
/// ([`DEFAULT_DAEMON_PATH`] when the host has none or an empty one).
pub fn daemon_env(host: impl Iterator<Item = (std::ffi::OsString, std::ffi::OsString)>) -> Vec<(std::ffi::OsString, std::ffi::OsString)> {
    let mut env: Vec<_> = host.filter(|(k, _)| k.to_str().is_some_and(|k| DAEMON_ENV.contains(&k))).collect();
    env.retain(|(k, v)| k != "PATH" || !v.is_empty());
    if !env.iter().any(|(k, _)| k == "PATH") {
        env.push(("PATH".into(), DEFAULT_DAEMON_PATH.into()));
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_has_private_paths() {
        let p = DaemonPaths::new(Path::new("/tmp/x"));
        let c = render_config(&p, true, -500);
        assert!(c.contains("address = \"/tmp/x/containerd/containerd.sock\""));
        assert!(c.contains("level = \"debug\""));
        assert!(c.contains("root = \"/tmp/x/containerd/root\""));
    }

    #[test]
    fn config_keeps_what_images_need_and_disables_cri() {
        let c = render_config(&DaemonPaths::new(Path::new("/tmp/x")), false, 0);
        let disabled = c.lines().find(|l| l.starts_with("disabled_plugins")).unwrap();
        assert!(disabled.contains("\"io.containerd.grpc.v1.cri\""));
        for needed in ["content", "images", "leases", "diff", "gc", "overlayfs", "native"] {
            assert!(!disabled.contains(needed), "{needed} is disabled: {disabled}");
        }
    }

    #[test]
    fn symlinked_state_dir_is_refused() {
        let t = tempfile::tempdir().unwrap();
        let real = t.path().join("real");
        fs::create_dir(&real).unwrap();
        let link = t.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let e = prepare_private_dir(&link).unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument);
        assert!(e.message().contains("symbolic link") && e.message().contains(&link.display().to_string()), "{e}");
        prepare_private_dir(&t.path().join("new/dir")).unwrap();
        let mode = fs::metadata(t.path().join("new/dir")).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
    }

    #[test]
    fn writable_by_others_is_refused_not_repaired() {
        let t = tempfile::tempdir().unwrap();
        for mode in [0o777, 0o770, 0o702, 0o1777] {
            let d = t.path().join(format!("d{mode:o}"));
            fs::create_dir(&d).unwrap();
            fs::set_permissions(&d, fs::Permissions::from_mode(mode)).unwrap();
            let e = prepare_private_dir(&d).unwrap_err();
            assert_eq!(e.code(), Code::InvalidArgument);
            assert!(e.message().contains(&d.display().to_string()) && e.message().contains(&format!("{mode:04o}")), "{e}");
            assert_eq!(fs::metadata(&d).unwrap().permissions().mode() & 0o7777, mode, "mode left as it was");
        }
        let ok = t.path().join("ok");
        fs::create_dir(&ok).unwrap();
        fs::set_permissions(&ok, fs::Permissions::from_mode(0o755)).unwrap();
        prepare_private_dir(&ok).unwrap();
        let file = t.path().join("file");
        fs::write(&file, b"").unwrap();
        assert!(prepare_private_dir(&file).unwrap_err().message().contains("not a directory"));
    }

    #[test]
    fn daemon_env_keeps_only_what_containerd_needs() {
        let host = [("PATH", "/opt/bin:/usr/bin"), ("NOTIFY_SOCKET", "/run/systemd/notify"), ("HOME", "/root"), ("TMPDIR", "/var/tmp"), ("LD_PRELOAD", "x.so")];
        let env = daemon_env(host.iter().map(|(k, v)| ((*k).into(), (*v).into())));
        let got: Vec<(String, String)> = env.into_iter().map(|(k, v)| (k.into_string().unwrap(), v.into_string().unwrap())).collect();
        assert_eq!(got, vec![("PATH".into(), "/opt/bin:/usr/bin".into()), ("TMPDIR".into(), "/var/tmp".into())]);
        let env = daemon_env([("PATH".into(), "".into())].into_iter());
        assert_eq!(env, vec![("PATH".into(), DEFAULT_DAEMON_PATH.into())]);
    }

    #[test]
    fn owned_by_someone_else_is_refused() {
        if !nix::unistd::geteuid().is_root() {
            return; // only root can hand a directory to another user
        }
        let t = tempfile::tempdir().unwrap();
        let d = t.path().join("theirs");
        fs::create_dir(&d).unwrap();
        nix::unistd::chown(&d, Some(nix::unistd::Uid::from_raw(65534)), None).unwrap();
        let e = prepare_private_dir(&d).unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument);
        assert!(e.message().contains("owned by uid 65534"), "{e}");
    }
}
