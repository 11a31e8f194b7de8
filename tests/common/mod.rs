//! Shared helpers for the integration tests (each test file says `mod common;`).
//!
//! - [`rootfs`], [`busybox_spec`], [`spec`]: the busybox rootfs fixture built by
//!   `scripts/setup.sh` and a minimal OCI runtime spec running a command in it.
//! - [`Recorder`]: a [`Backend`] that records every state change per container and
//!   captures each process's stdio.
//! - [`test_remote`]: one library-started containerd shared by the tests of a test
//!   binary; [`TestDaemon`]: a containerd of a test's own, stopped when dropped;
//!   [`ExternalContainerd`]: a containerd the test starts itself (for `remote_addr`).
//! - [`unique_id`]: container ids that never clash between parallel tests.
//!
//! Environment: `LCD_TEST_ROOTFS` (the rootfs; default `<crate>/build/rootfs`),
//! `LCD_TEST_TMPDIR` (parent of the temporary state directories; default `/tmp`;
//! `scripts/test.sh` sets it so that it can stop whatever a test left running),
//! `LCD_TEST_KEEP=1` (keep state directories for inspection).
#![allow(dead_code)]

use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

pub mod registry;

use containerd::{Backend, Client, ContainerSpec, Error, IoPipe, Remote, RemoteOptions, State, StateInfo};
use serde_json::{json, Value};

/// A generous default for waiting on container events.
pub const TIMEOUT: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------------
// Fixture and specs

/// The busybox rootfs fixture: `LCD_TEST_ROOTFS`, else `<crate>/build/rootfs`.
pub fn rootfs() -> PathBuf {
    let path = match std::env::var_os("LCD_TEST_ROOTFS") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("build/rootfs"),
    };
    if !path.join("bin/busybox").is_file() {
        panic!(
            "the busybox rootfs fixture is missing at {}: run scripts/setup.sh (as root) first, \
             or set LCD_TEST_ROOTFS to a rootfs directory",
            path.display()
        );
    }
    path.canonicalize().unwrap_or(path)
}

/// The capabilities Docker gives a container by default (the library's default spec's).
pub use containerd::spec_default::DEFAULT_CAPABILITIES as DEFAULT_CAPS;

/// A minimal OCI runtime spec that runs `args` as root in the busybox rootfs
/// (read-only root, its own pid/ipc/uts/mount/network namespaces, a tmpfs `/tmp`).
/// Tests change what they need in the returned value and pass it to [`to_spec`].
pub fn busybox_spec(args: &[&str]) -> Value {
    json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": {"uid": 0, "gid": 0},
            "args": args,
            "env": ["PATH=/bin:/usr/bin", "HOME=/root"],
            "cwd": "/",
            "capabilities": {
                "bounding": DEFAULT_CAPS,
                "effective": DEFAULT_CAPS,
                "permitted": DEFAULT_CAPS
            },
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        },
        "root": {"path": rootfs(), "readonly": true},
        "hostname": "test",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "nodev", "mode=1777", "size=65536k"]}
        ],
        "linux": {
            "namespaces": [
                {"type": "pid"},
                {"type": "ipc"},
                {"type": "uts"},
                {"type": "mount"},
                {"type": "network"}
            ],
            "maskedPaths": [
                "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
                "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                "/proc/sched_debug", "/sys/firmware", "/proc/scsi"
            ],
            "readonlyPaths": [
                "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"
            ],
            "resources": {
                "devices": [{"allow": false, "access": "rwm"}]
            }
        }
    })
}

/// Parses a spec value with [`ContainerSpec::from_json`]; panics if it is invalid.
pub fn to_spec(value: &Value) -> ContainerSpec {
    ContainerSpec::from_json(&value.to_string()).unwrap_or_else(|e| panic!("test spec is invalid: {e}\n{value:#}"))
}

/// [`busybox_spec`] parsed: a container running `args`.
pub fn spec(args: &[&str]) -> ContainerSpec {
    to_spec(&busybox_spec(args))
}

/// A container (or process) id unique in this test run: `<prefix>-<pid>-<n>`.
pub fn unique_id(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}-{}-{n}", std::process::id())
}

// ---------------------------------------------------------------------------------
// Recorder

/// One run of a process's stdio (each `attach_streams` call starts one).
#[derive(Default)]
struct Run {
    stdin: Option<File>,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    stdout_closed: bool,
    stderr_closed: bool,
    terminal: bool,
}

#[derive(Default)]
struct RecState {
    events: HashMap<String, Vec<StateInfo>>,
    times: HashMap<String, Vec<Instant>>,
    runs: HashMap<(String, String), Vec<Run>>,
    fail_attach: Option<Error>,
}

struct Shared {
    state: Mutex<RecState>,
    cv: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, RecState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A [`Backend`] that records every [`StateInfo`] per container, in order, and
/// captures every process's output (stdin is kept for the test to take).
pub struct Recorder {
    shared: Arc<Shared>,
}

fn key(container: &str, process: &str) -> (String, String) {
    (container.to_string(), process.to_string())
}

fn show_events(events: &[StateInfo]) -> String {
    if events.is_empty() {
        return "  (none)".to_string();
    }
    events
        .iter()
        .map(|e| {
            format!(
                "  {} process={} pid={} exit_code={} oom_killed={} exited_at={}",
                e.state.as_str(),
                e.process_id,
                e.pid,
                e.exit_code,
                e.oom_killed,
                e.exited_at_unix_nano
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

impl Recorder {
    /// A new, empty recorder.
    pub fn new() -> Arc<Recorder> {
        Arc::new(Recorder { shared: Arc::new(Shared { state: Mutex::new(RecState::default()), cv: Condvar::new() }) })
    }

    /// This recorder as the backend to hand to [`Remote::client`].
    pub fn backend(self: &Arc<Self>) -> Arc<dyn Backend> {
        self.clone()
    }

    /// Waits until `f` returns `Some`, or panics after `timeout` with `what` and the
    /// events of `container`.
    fn wait_until<T>(&self, container: &str, timeout: Duration, what: &str, mut f: impl FnMut(&RecState) -> Option<T>) -> T {
        let deadline = Instant::now() + timeout;
        let mut st = self.shared.lock();
        loop {
            if let Some(v) = f(&st) {
                return v;
            }
            let now = Instant::now();
            if now >= deadline {
                let events = st.events.get(container).cloned().unwrap_or_default();
                drop(st);
                panic!(
                    "timed out after {timeout:?} waiting for {what} of container {container:?}; its events so far:\n{}",
                    show_events(&events)
                );
            }
            st = self.shared.cv.wait_timeout(st, deadline - now).unwrap_or_else(|p| p.into_inner()).0;
        }
    }

    /// Every event of `container` so far, in order.
    pub fn events(&self, container: &str) -> Vec<StateInfo> {
        self.shared.lock().events.get(container).cloned().unwrap_or_default()
    }

    /// When each event of `container` was delivered, in order.
    pub fn event_times(&self, container: &str) -> Vec<(State, Instant)> {
        let st = self.shared.lock();
        let events = st.events.get(container).cloned().unwrap_or_default();
        let times = st.times.get(container).cloned().unwrap_or_default();
        events.into_iter().map(|e| e.state).zip(times).collect()
    }

    /// The states of `container`'s events so far, in order.
    pub fn states(&self, container: &str) -> Vec<State> {
        self.events(container).iter().map(|e| e.state).collect()
    }

    /// How many `state` events `container` had so far.
    pub fn count(&self, container: &str, state: State) -> usize {
        self.shared.lock().events.get(container).map_or(0, |v| v.iter().filter(|e| e.state == state).count())
    }

    /// The first `state` event of `container`, waiting up to `timeout` for it.
    pub fn wait_for(&self, container: &str, state: State, timeout: Duration) -> StateInfo {
        self.wait_for_nth(container, state, 1, timeout)
    }

    /// The `n`-th (from 1) `state` event of `container`, waiting up to `timeout`.
    pub fn wait_for_nth(&self, container: &str, state: State, n: usize, timeout: Duration) -> StateInfo {
        assert!(n >= 1, "wait_for_nth counts from 1");
        let what = format!("event #{n} {:?}", state.as_str());
        self.wait_until(container, timeout, &what, |st| {
            st.events.get(container).and_then(|v| v.iter().filter(|e| e.state == state).nth(n - 1).cloned())
        })
    }

    /// The first `state` event of `container` about process `process_id`.
    pub fn wait_for_process(&self, container: &str, process_id: &str, state: State, timeout: Duration) -> StateInfo {
        let what = format!("{:?} of process {process_id:?}", state.as_str());
        self.wait_until(container, timeout, &what, |st| {
            st.events.get(container).and_then(|v| v.iter().find(|e| e.state == state && e.process_id == process_id).cloned())
        })
    }

    /// Waits until `container` has at least `n` events in all and returns them.
    pub fn wait_for_events(&self, container: &str, n: usize, timeout: Duration) -> Vec<StateInfo> {
        let what = format!("{n} events");
        self.wait_until(container, timeout, &what, |st| {
            st.events.get(container).filter(|v| v.len() >= n).cloned()
        })
    }

    /// Makes the next `attach_streams` call fail with `error` (its pipes are closed).
    pub fn fail_next_attach(&self, error: Error) {
        self.shared.lock().fail_attach = Some(error);
    }

    /// How many times `attach_streams` was called for this process (one per run).
    pub fn attach_count(&self, container: &str, process: &str) -> usize {
        self.shared.lock().runs.get(&key(container, process)).map_or(0, Vec::len)
    }

    /// Whether the latest run of this process has a terminal.
    pub fn terminal(&self, container: &str, process: &str) -> bool {
        self.shared.lock().runs.get(&key(container, process)).and_then(|r| r.last()).is_some_and(|r| r.terminal)
    }

    /// Everything the process wrote to stdout so far, all runs in order (lossy UTF-8).
    pub fn stdout(&self, container: &str, process: &str) -> String {
        String::from_utf8_lossy(&self.stdout_bytes(container, process)).into_owned()
    }

    /// Everything the process wrote to stderr so far, all runs in order (lossy UTF-8).
    pub fn stderr(&self, container: &str, process: &str) -> String {
        String::from_utf8_lossy(&self.stderr_bytes(container, process)).into_owned()
    }

    /// The raw stdout bytes so far, all runs in order.
    pub fn stdout_bytes(&self, container: &str, process: &str) -> Vec<u8> {
        let st = self.shared.lock();
        st.runs.get(&key(container, process)).map_or_else(Vec::new, |runs| runs.iter().flat_map(|r| r.stdout.clone()).collect())
    }

    /// The raw stderr bytes so far, all runs in order.
    pub fn stderr_bytes(&self, container: &str, process: &str) -> Vec<u8> {
        let st = self.shared.lock();
        st.runs.get(&key(container, process)).map_or_else(Vec::new, |runs| runs.iter().flat_map(|r| r.stderr.clone()).collect())
    }

    /// Waits until the latest run's stdout and stderr have reached their end (the
    /// process and everything holding them exited).
    pub fn wait_output_closed(&self, container: &str, process: &str, timeout: Duration) {
        let k = key(container, process);
        let what = format!("the end of the output of process {process:?}");
        self.wait_until(container, timeout, &what, |st| {
            st.runs.get(&k).and_then(|r| r.last()).filter(|r| r.stdout_closed && r.stderr_closed).map(|_| ())
        })
    }

    /// Waits until the process's stdout (all runs) contains `needle`; returns it all.
    pub fn wait_stdout_contains(&self, container: &str, process: &str, needle: &str, timeout: Duration) -> String {
        let k = key(container, process);
        let what = format!("{needle:?} on the stdout of process {process:?}");
        self.wait_until(container, timeout, &what, |st| {
            let all: Vec<u8> = st.runs.get(&k)?.iter().flat_map(|r| r.stdout.clone()).collect();
            let s = String::from_utf8_lossy(&all).into_owned();
            s.contains(needle).then_some(s)
        })
    }

    /// Takes the write end of the latest run's stdin; dropping it delivers EOF.
    /// Panics if the process was never attached or its stdin was taken already.
    pub fn take_stdin(&self, container: &str, process: &str) -> File {
        let mut st = self.shared.lock();
        st.runs
            .get_mut(&key(container, process))
            .and_then(|r| r.last_mut())
            .and_then(|r| r.stdin.take())
            .unwrap_or_else(|| panic!("no stdin to take for process {process:?} of container {container:?}"))
    }
}

fn spawn_reader(shared: Arc<Shared>, k: (String, String), run: usize, fd: OwnedFd, is_stdout: bool) {
    std::thread::Builder::new()
        .name(format!("out-{}-{}", k.0, k.1))
        .spawn(move || {
            let mut f = File::from(fd);
            let mut buf = [0u8; 8192];
            loop {
                let n = match f.read(&mut buf) {
                    Ok(0) => 0,
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    // EIO is how a terminal's master reports that the other side closed.
                    Err(_) => 0,
                };
                let mut st = shared.lock();
                if let Some(r) = st.runs.get_mut(&k).and_then(|v| v.get_mut(run)) {
                    if n == 0 {
                        if is_stdout {
                            r.stdout_closed = true;
                        } else {
                            r.stderr_closed = true;
                        }
                    } else if is_stdout {
                        r.stdout.extend_from_slice(&buf[..n]);
                    } else {
                        r.stderr.extend_from_slice(&buf[..n]);
                    }
                }
                drop(st);
                shared.cv.notify_all();
                if n == 0 {
                    return;
                }
            }
        })
        .expect("spawn output reader");
}

impl Backend for Recorder {
    fn state_changed(&self, container_id: &str, info: &StateInfo) -> containerd::Result<()> {
        let mut st = self.shared.lock();
        st.events.entry(container_id.to_string()).or_default().push(info.clone());
        st.times.entry(container_id.to_string()).or_default().push(Instant::now());
        drop(st);
        self.shared.cv.notify_all();
        Ok(())
    }

    fn attach_streams(&self, container_id: &str, process_id: &str, io: IoPipe) -> containerd::Result<()> {
        let k = key(container_id, process_id);
        let mut st = self.shared.lock();
        if let Some(e) = st.fail_attach.take() {
            return Err(e);
        }
        let runs = st.runs.entry(k.clone()).or_default();
        let run = runs.len();
        runs.push(Run {
            stdin: Some(File::from(io.stdin)),
            stderr_closed: io.stderr.is_none(),
            terminal: io.terminal,
            ..Run::default()
        });
        drop(st);
        spawn_reader(self.shared.clone(), k.clone(), run, io.stdout, true);
        if let Some(e) = io.stderr {
            spawn_reader(self.shared.clone(), k, run, e, false);
        }
        self.shared.cv.notify_all();
        Ok(())
    }
}

// ---------------------------------------------------------------------------------
// Daemons

/// Whether state directories are kept for inspection (`LCD_TEST_KEEP=1`).
pub fn keep_state() -> bool {
    std::env::var("LCD_TEST_KEEP").is_ok_and(|v| v == "1")
}

/// A new private directory for a state dir: `$LCD_TEST_TMPDIR/lcd-XXXXXX` (default
/// `/tmp`), kept short because containerd's socket path must fit in 108 bytes.
pub fn temp_state_dir() -> tempfile::TempDir {
    let parent = std::env::var_os("LCD_TEST_TMPDIR").filter(|p| !p.is_empty()).map_or_else(|| PathBuf::from("/tmp"), PathBuf::from);
    let dir = tempfile::Builder::new()
        .prefix("lcd-")
        .rand_bytes(6)
        .tempdir_in(&parent)
        .unwrap_or_else(|e| panic!("cannot create a state dir in {}: {e}", parent.display()));
    let sock = dir.path().join("containerd/containerd.sock");
    assert!(
        sock.as_os_str().len() < 100,
        "state dir {} is too long for containerd's socket path; set LCD_TEST_TMPDIR to a shorter directory",
        dir.path().display()
    );
    dir
}

/// Remote options that start a containerd of the library's own in `state_dir`
/// (with the shim pool `LCD_TEST_SHIM_POOL` asks for).
pub fn daemon_options(state_dir: &Path) -> RemoteOptions {
    RemoteOptions { state_dir: Some(state_dir.to_path_buf()), start_daemon: Some(true), shim_pool: test_shim_pool(), ..RemoteOptions::default() }
}

/// `LCD_TEST_SHIM_POOL=N`: the tests' remotes spread containers over N shared shims
/// (scripts/test.sh runs the fault and restore tests with and without it).
pub fn test_shim_pool() -> Option<u32> {
    std::env::var("LCD_TEST_SHIM_POOL").ok().map(|v| v.parse().expect("LCD_TEST_SHIM_POOL is a number"))
}

/// The last `lines` lines of `<state_dir>/containerd/containerd.log`, for diagnostics.
pub fn containerd_log_tail(state_dir: &Path, lines: usize) -> String {
    let log = std::fs::read_to_string(state_dir.join("containerd/containerd.log")).unwrap_or_default();
    let all: Vec<&str> = log.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// The pid recorded in `<state_dir>/containerd/containerd.pid`, if any.
pub fn daemon_pid(state_dir: &Path) -> Option<i32> {
    std::fs::read_to_string(state_dir.join("containerd/containerd.pid")).ok()?.trim().parse().ok()
}

/// Whether `pid` is alive and its command line mentions `needle`.
fn pid_mentions(pid: i32, needle: &Path) -> bool {
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else { return false };
    let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
    cmdline.contains(&*needle.to_string_lossy())
}

/// Backstop: stops the containerd recorded in `state_dir`'s pid file if it is still
/// running and belongs to that state dir (SIGTERM, then SIGKILL after 10 s).
pub fn stop_daemon(state_dir: &Path) {
    let Some(pid) = daemon_pid(state_dir) else { return };
    if pid <= 1 || !pid_mentions(pid, state_dir) {
        return;
    }
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(10);
    while pid_mentions(pid, state_dir) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    if pid_mentions(pid, state_dir) {
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
}

/// Runs `remote.cleanup()` on another thread, giving up after `timeout` (a hung or
/// panicking cleanup must not hang or abort the test process).
fn cleanup_with_timeout(remote: &Remote, timeout: Duration) {
    let remote = remote.clone();
    let (tx, rx) = mpsc::channel();
    let spawned = std::thread::Builder::new().name("test-cleanup".into()).spawn(move || {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| remote.cleanup()));
        let _ = tx.send(r.is_ok());
    });
    if spawned.is_ok() {
        let _ = rx.recv_timeout(timeout);
    }
}

fn remove_state_dir(dir: &Path) {
    if keep_state() {
        eprintln!("keeping state dir {} (LCD_TEST_KEEP=1)", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(dir);
    }
}

struct SharedDaemon {
    remote: Remote,
    state_dir: PathBuf,
}

static SHARED: OnceLock<SharedDaemon> = OnceLock::new();

extern "C" fn cleanup_shared_daemon() {
    let _ = std::panic::catch_unwind(|| {
        if let Some(d) = SHARED.get() {
            cleanup_with_timeout(&d.remote, Duration::from_secs(30));
            stop_daemon(&d.state_dir);
            remove_state_dir(&d.state_dir);
        }
    });
}

/// The remote shared by every test of this test binary: the library starts one
/// containerd in a temporary state dir on first use; it is cleaned up when the test
/// process exits. Use [`unique_id`] for container ids.
pub fn test_remote() -> Remote {
    SHARED
        .get_or_init(|| {
            let state_dir = temp_state_dir().keep();
            let remote = Remote::new(daemon_options(&state_dir)).unwrap_or_else(|e| {
                panic!(
                    "cannot start containerd in {}: {e}\ncontainerd.log:\n{}",
                    state_dir.display(),
                    containerd_log_tail(&state_dir, 30)
                )
            });
            unsafe { libc::atexit(cleanup_shared_daemon) };
            SharedDaemon { remote, state_dir }
        })
        .remote
        .clone()
}

/// The state dir of [`test_remote`]'s containerd.
pub fn test_state_dir() -> PathBuf {
    test_remote();
    SHARED.get().expect("shared daemon").state_dir.clone()
}

/// A client of the shared remote with a fresh [`Recorder`].
pub fn test_client() -> (Client, Arc<Recorder>) {
    let rec = Recorder::new();
    let client = test_remote().client(rec.backend()).expect("create client");
    (client, rec)
}

/// A containerd of a test's own, started by the library in a private state dir.
/// Dropping it cleans the remote up, stops the daemon if it is still running and
/// removes the state dir.
pub struct TestDaemon {
    pub remote: Remote,
    pub state_dir: PathBuf,
}

impl TestDaemon {
    /// Starts one with default options.
    pub fn start() -> TestDaemon {
        Self::start_with(|_| {})
    }

    /// Starts one with the options `f` adjusts (`state_dir` and `start_daemon` are
    /// set beforehand).
    pub fn start_with(f: impl FnOnce(&mut RemoteOptions)) -> TestDaemon {
        let state_dir = temp_state_dir().keep();
        let mut opts = daemon_options(&state_dir);
        f(&mut opts);
        match Remote::new(opts) {
            Ok(remote) => TestDaemon { remote, state_dir },
            Err(e) => {
                let log = containerd_log_tail(&state_dir, 30);
                stop_daemon(&state_dir);
                remove_state_dir(&state_dir);
                panic!("cannot start containerd in {}: {e}\ncontainerd.log:\n{log}", state_dir.display());
            }
        }
    }

    /// A client with a fresh [`Recorder`].
    pub fn client(&self) -> (Client, Arc<Recorder>) {
        let rec = Recorder::new();
        let client = self.remote.client(rec.backend()).expect("create client");
        (client, rec)
    }

    /// Remote options naming this daemon's state dir (for a second remote on it).
    pub fn options(&self) -> RemoteOptions {
        daemon_options(&self.state_dir)
    }
}

impl Drop for TestDaemon {
    fn drop(&mut self) {
        cleanup_with_timeout(&self.remote, Duration::from_secs(30));
        stop_daemon(&self.state_dir);
        remove_state_dir(&self.state_dir);
    }
}

/// A containerd the test starts itself (not through the library), for `remote_addr`.
/// Its files follow the library's layout (`<dir>/containerd/{config.toml,
/// containerd.sock, containerd.pid, containerd.log, root, state}`), so
/// `scripts/test.sh` finds it too. Dropping it kills the daemon (its containers'
/// tasks first, via `ctr`) and removes the directory.
pub struct ExternalContainerd {
    pub dir: PathBuf,
    pub socket: PathBuf,
    child: Option<Child>,
}

impl ExternalContainerd {
    /// Starts containerd and waits until it answers (30 s at most).
    pub fn start() -> ExternalContainerd {
        let dir = temp_state_dir().keep();
        let base = dir.join("containerd");
        std::fs::create_dir_all(&base).expect("create containerd dir");
        let socket = base.join("containerd.sock");
        let config = base.join("config.toml");
        let toml = format!(
            "version = 2\nroot = {root:?}\nstate = {state:?}\ndisabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n\n\
             [grpc]\n  address = {sock:?}\n\n[ttrpc]\n  address = {ttrpc:?}\n\n\
             [plugins.\"io.containerd.internal.v1.opt\"]\n  path = {opt:?}\n",
            root = base.join("root").display().to_string(),
            state = base.join("state").display().to_string(),
            sock = socket.display().to_string(),
            ttrpc = base.join("containerd.sock.ttrpc").display().to_string(),
            opt = base.join("opt").display().to_string(),
        );
        std::fs::write(&config, toml).expect("write containerd config");
        let mut me = ExternalContainerd { dir, socket, child: None };
        me.launch();
        me
    }

    /// Starts the daemon again after [`ExternalContainerd::kill`] and waits until it
    /// answers.
    pub fn relaunch(&mut self) {
        assert!(self.child.is_none(), "containerd is still running");
        self.launch();
    }

    fn launch(&mut self) {
        let base = self.dir.join("containerd");
        let log = File::options().create(true).append(true).open(base.join("containerd.log")).expect("open containerd.log");
        let child = Command::new("containerd")
            .arg("--config")
            .arg(base.join("config.toml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run containerd (run scripts/setup.sh): {e}"));
        std::fs::write(base.join("containerd.pid"), child.id().to_string()).expect("write pid file");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if self.socket.exists() && self.ctr(&["version"]).is_some() {
                return;
            }
            if let Some(c) = self.child.as_mut() {
                if let Ok(Some(status)) = c.try_wait() {
                    panic!("containerd exited ({status}):\n{}", containerd_log_tail(&self.dir, 30));
                }
            }
            if Instant::now() >= deadline {
                panic!("containerd did not answer on {} within 30 s:\n{}", self.socket.display(), containerd_log_tail(&self.dir, 30));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Remote options that connect to this daemon (`remote_addr`, no daemon of the
    /// library's own), with the library's state (fifos) in `state_dir`.
    pub fn options(&self, state_dir: &Path) -> RemoteOptions {
        RemoteOptions {
            state_dir: Some(state_dir.to_path_buf()),
            remote_addr: Some(self.socket.clone()),
            start_daemon: Some(false),
            shim_pool: test_shim_pool(),
            ..RemoteOptions::default()
        }
    }

    /// The daemon's pid.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Runs `ctr --address <socket> args...`; its stdout on success.
    pub fn ctr(&self, args: &[&str]) -> Option<String> {
        let out = Command::new("ctr").arg("--address").arg(&self.socket).args(args).stdin(Stdio::null()).output().ok()?;
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Kills the daemon with `signal` (it stays dead; its containers keep running).
    pub fn kill(&mut self, signal: i32) {
        if let Some(mut c) = self.child.take() {
            unsafe { libc::kill(c.id() as i32, signal) };
            let _ = c.wait();
        }
    }

    fn kill_tasks(&self) {
        let Some(namespaces) = self.ctr(&["namespaces", "ls", "-q"]) else { return };
        for ns in namespaces.lines().filter(|l| !l.is_empty()) {
            let tasks = self.ctr(&["-n", ns, "tasks", "ls", "-q"]).unwrap_or_default();
            for t in tasks.lines().filter(|l| !l.is_empty()) {
                self.ctr(&["-n", ns, "tasks", "kill", "-a", "-s", "SIGKILL", t]);
            }
            for t in tasks.lines().filter(|l| !l.is_empty()) {
                self.ctr(&["-n", ns, "tasks", "delete", "-f", t]);
            }
            let containers = self.ctr(&["-n", ns, "containers", "ls", "-q"]).unwrap_or_default();
            for c in containers.lines().filter(|l| !l.is_empty()) {
                self.ctr(&["-n", ns, "containers", "delete", c]);
            }
        }
    }
}

impl Drop for ExternalContainerd {
    fn drop(&mut self) {
        if self.child.is_some() {
            self.kill_tasks();
            self.kill(libc::SIGTERM);
        }
        remove_state_dir(&self.dir);
    }
}
