//! The lifecycle contract under the interleavings that used to break it: a refused
//! create next to a live container, exits and state changes during an outage of the
//! event subscription, host callbacks that call back in (cleanup from a restart's
//! `attach_streams`), the end of the last handle, and a create replacing a container
//! that waits out a restart backoff. The narrowest races are forced with the library's
//! test hooks, which hold one of its threads where the race would open.

mod common;

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use containerd::test_hooks::{self, Point};
use containerd::{Backend, Code, CreateOptions, IoPipe, PolicyName, ProcessSpec, Remote, RestartPolicy, State, StateInfo};

fn policy(name: PolicyName, max: u32) -> CreateOptions {
    CreateOptions { restart_policy: Some(RestartPolicy { name, maximum_retry_count: max }), ..Default::default() }
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(files_under(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// The fifos of container `id` in the library's state dir.
fn fifos_of(state_dir: &Path, id: &str) -> Vec<PathBuf> {
    files_under(&state_dir.join("fifo").join("libcontainerd").join(id))
}

fn live_options(dir: &Path) -> containerd::RemoteOptions {
    let mut o = daemon_options(dir);
    o.live_restore = Some(true);
    o
}

/// Keeps every stream of the first host program open, reading nothing.
#[derive(Default)]
struct FirstHost(Mutex<Vec<IoPipe>>);

impl Backend for FirstHost {
    fn attach_streams(&self, _: &str, _: &str, io: IoPipe) -> containerd::Result<()> {
        self.0.lock().unwrap().push(io);
        Ok(())
    }
}

#[test]
fn a_refused_create_of_a_live_container_leaves_it_restorable() {
    let dir = temp_state_dir();
    let id = unique_id("live");
    {
        let remote = Remote::new(live_options(dir.path())).unwrap();
        let client = remote.client(Arc::new(FirstHost::default())).unwrap();
        client.create(&id, &spec(&["sh", "-c", "echo first; read x; echo got $x; exit 4"]), &CreateOptions::default()).unwrap();
        client.close();
        remote.cleanup().unwrap();
    }
    let before = fifos_of(dir.path(), &id);
    assert_eq!(before.len(), 3, "{before:?}");
    // The host program "restarts" and, not knowing better, creates the container again.
    let remote = Remote::new(live_options(dir.path())).unwrap();
    let rec = Recorder::new();
    let client = remote.client(rec.backend()).unwrap();
    let err = client.create(&id, &spec(&["true"]), &CreateOptions::default()).unwrap_err();
    assert_eq!(err.code(), Code::AlreadyExists, "{err}");
    assert_eq!(rec.attach_count(&id, "init"), 0, "attach_streams ran for a refused create");
    assert_eq!(fifos_of(dir.path(), &id), before, "a refused create touched the live container's fifos");
    assert!(rec.events(&id).is_empty(), "{:?}", rec.events(&id));
    // The container is still the host's to re-adopt, and its exit is reported.
    client.restore(&id, &CreateOptions::default()).unwrap();
    rec.wait_for(&id, State::Restore, TIMEOUT);
    rec.take_stdin(&id, "init").write_all(b"again\n").unwrap();
    assert_eq!(rec.wait_for(&id, State::Exit, TIMEOUT).exit_code, 4);
    rec.wait_output_closed(&id, "init", TIMEOUT);
    assert_eq!(rec.stdout(&id, "init"), "first\ngot again\n");
    // Removed as the run is reaped: right after the `exit` report, with the task.
    let t0 = Instant::now();
    while !fifos_of(dir.path(), &id).is_empty() {
        assert!(t0.elapsed() < TIMEOUT, "fifos left after the exit: {:?}", fifos_of(dir.path(), &id));
        std::thread::sleep(Duration::from_millis(20));
    }
    remote.cleanup().unwrap();
}

#[test]
fn a_second_clients_refused_create_touches_nothing_and_hears_nothing() {
    let d = TestDaemon::start();
    let (first, rec1) = d.client();
    let (second, rec2) = d.client();
    let id = unique_id("taken");
    first.create(&id, &spec(&["sh", "-c", "read x; echo got $x; exit 3"]), &CreateOptions::default()).unwrap();
    rec1.wait_for(&id, State::StartContainer, TIMEOUT);
    let fifos = fifos_of(&d.state_dir, &id);
    assert_eq!(fifos.len(), 3, "{fifos:?}");
    for _ in 0..3 {
        let err = second.create(&id, &spec(&["true"]), &CreateOptions::default()).unwrap_err();
        assert_eq!(err.code(), Code::AlreadyExists, "{err}");
    }
    assert_eq!(rec2.attach_count(&id, "init"), 0, "attach_streams ran for a refused create");
    assert_eq!(fifos_of(&d.state_dir, &id), fifos, "a refused create touched the other client's fifos");
    // The first client's container is intact, and its exit goes to it alone.
    rec1.take_stdin(&id, "init").write_all(b"hi\n").unwrap();
    assert_eq!(rec1.wait_for(&id, State::Exit, TIMEOUT).exit_code, 3);
    rec1.wait_output_closed(&id, "init", TIMEOUT);
    assert_eq!(rec1.stdout(&id, "init"), "got hi\n");
    first.flush_events();
    second.flush_events();
    assert!(rec2.events(&id).is_empty(), "the refused client heard of the container: {:?}", rec2.events(&id));
    // Once its exit is reported, the id is free for the second client.
    second.create(&id, &spec(&["true"]), &CreateOptions::default()).unwrap();
    assert_eq!(rec2.wait_for(&id, State::Exit, TIMEOUT).exit_code, 0);
}

/// A runtime wrapper that, when a file `trigger` exists, removes it and kills the
/// containerd whose pid is in `pid_file` once `runc start` has started the process,
/// before the shim answers `Tasks.Start` (so containerd dies inside that call).
fn killing_wrapper(dir: &Path, trigger: &Path, pid_file: &Path) -> String {
    let path = dir.join("kill-on-start");
    let script = format!(
        "#!/bin/sh\ncase \" $* \" in *\" start \"*)\n  if [ -e {t} ]; then rm -f {t}; runc \"$@\"; rc=$?; kill -9 $(cat {p}); exit $rc; fi;;\nesac\nexec runc \"$@\"\n",
        t = trigger.display(),
        p = pid_file.display()
    );
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path.to_string_lossy().into_owned()
}

/// Waits until process `pid` is gone (or a zombie).
fn wait_gone(pid: u32) {
    let t0 = Instant::now();
    while std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z")) {
        assert!(t0.elapsed() < TIMEOUT, "process {pid} still alive");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn an_exit_during_an_outage_around_the_start_is_reported() {
    let mut ext = ExternalContainerd::start();
    let dir = temp_state_dir();
    let scratch = tempfile::tempdir().unwrap();
    let trigger = scratch.path().join("trigger");
    let mut opts = ext.options(dir.path());
    opts.runtime_path = Some(killing_wrapper(scratch.path(), &trigger, &ext.dir.join("containerd/containerd.pid")));
    let remote = Remote::new(opts).unwrap();
    let rec = Recorder::new();
    let client = remote.client(rec.backend()).unwrap();
    // The race between the end of the start and the reconciliation is not in the
    // test's hands: a few rounds.
    for round in 0..3 {
        let id = unique_id("gap");
        std::fs::write(&trigger, "").unwrap();
        let pid = ext.pid().unwrap();
        let creating = {
            let (client, id) = (client.clone(), id.clone());
            std::thread::spawn(move || client.create(&id, &spec(&["sh", "-c", "sleep 1; exit 7"]), &CreateOptions::default()))
        };
        wait_gone(pid);
        ext.kill(libc::SIGKILL);
        // The process exits while only a containerd the library cannot hear runs: its
        // exit event goes there.
        let (mut hidden, _) = hidden_containerd(&ext);
        std::thread::sleep(Duration::from_secs(2));
        hidden.kill().unwrap();
        hidden.wait().unwrap();
        ext.relaunch();
        creating.join().unwrap().unwrap_or_else(|e| panic!("round {round}: create: {e}"));
        let exit = rec.wait_for(&id, State::Exit, TIMEOUT);
        assert_eq!(exit.exit_code, 7, "round {round}: {:?}", rec.events(&id));
        assert_eq!(rec.states(&id), vec![State::StartContainer, State::Exit]);
    }
    remote.cleanup().unwrap();
}

/// A containerd on the external daemon's root and state, listening on another
/// socket: what it does, the library (connected to the usual socket) cannot hear.
fn hidden_containerd(ext: &ExternalContainerd) -> (Child, PathBuf) {
    let base = ext.dir.join("containerd");
    let alt = base.join("alt.sock");
    let config = std::fs::read_to_string(base.join("config.toml")).unwrap();
    let config = config.replace(&format!("{:?}", ext.socket.display().to_string()), &format!("{:?}", alt.display().to_string()));
    let alt_config = base.join("alt.toml");
    std::fs::write(&alt_config, config).unwrap();
    let log = std::fs::File::options().create(true).append(true).open(base.join("containerd.log")).unwrap();
    let child = Command::new("containerd")
        .arg("--config")
        .arg(&alt_config)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while !ctr_at(&alt, &["version"]).0 {
        assert!(t0.elapsed() < TIMEOUT, "the hidden containerd did not answer");
        std::thread::sleep(Duration::from_millis(100));
    }
    (child, alt)
}

fn ctr_at(socket: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new("ctr").arg("--address").arg(socket).args(args).stdin(Stdio::null()).output().unwrap();
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn pause_and_resume_during_an_outage_are_reported() {
    let mut ext = ExternalContainerd::start();
    let dir = temp_state_dir();
    let remote = Remote::new(ext.options(dir.path())).unwrap();
    let rec = Recorder::new();
    let client = remote.client(rec.backend()).unwrap();
    let id = unique_id("frozen-away");
    client.create(&id, &spec(&["sleep", "300"]), &CreateOptions::default()).unwrap();
    let pid = rec.wait_for(&id, State::StartContainer, TIMEOUT).pid;
    for (verb, state) in [("pause", State::Pause), ("resume", State::Resume)] {
        ext.kill(libc::SIGKILL);
        let (mut hidden, alt) = hidden_containerd(&ext);
        let (ok, out) = ctr_at(&alt, &["-n", "libcontainerd", "task", verb, &id]);
        assert!(ok, "ctr task {verb}: {out}");
        hidden.kill().unwrap();
        hidden.wait().unwrap();
        ext.relaunch();
        let got = rec.wait_for(&id, state, TIMEOUT);
        assert_eq!(got.pid, pid);
    }
    client.signal(&id, 9).unwrap();
    assert_eq!(rec.wait_for(&id, State::Exit, TIMEOUT).exit_code, 137);
    assert_eq!(rec.states(&id), vec![State::StartContainer, State::Pause, State::Resume, State::Exit]);
    remote.cleanup().unwrap();
}

#[test]
fn an_oom_during_an_outage_is_reported() {
    let mut ext = ExternalContainerd::start();
    let dir = temp_state_dir();
    let remote = Remote::new(ext.options(dir.path())).unwrap();
    let rec = Recorder::new();
    let client = remote.client(rec.backend()).unwrap();
    let id = unique_id("oom-away");
    // On a signal file, a child runs out of memory; the container lives on.
    let script = "while [ ! -e /tmp/go ]; do sleep 0.1; done; dd if=/dev/zero of=/dev/null bs=64M count=1; echo survived; sleep 300";
    let mut s = busybox_spec(&["sh", "-c", script]);
    s["linux"]["resources"]["memory"] = serde_json::json!({"limit": 33554432, "swap": 33554432});
    client.create(&id, &to_spec(&s), &CreateOptions::default()).unwrap();
    let pid = rec.wait_for(&id, State::StartContainer, TIMEOUT).pid;
    ext.kill(libc::SIGKILL);
    // The OOM kill happens while only a containerd the library cannot hear runs.
    let (mut hidden, _) = hidden_containerd(&ext);
    std::fs::write(format!("/proc/{pid}/root/tmp/go"), "").unwrap();
    rec.wait_stdout_contains(&id, "init", "survived", TIMEOUT);
    std::thread::sleep(Duration::from_secs(1));
    hidden.kill().unwrap();
    hidden.wait().unwrap();
    ext.relaunch();
    rec.wait_for(&id, State::Oom, TIMEOUT);
    client.signal(&id, 9).unwrap();
    let exit = rec.wait_for(&id, State::Exit, TIMEOUT);
    assert!(exit.oom_killed, "{exit:?}");
    assert_eq!(rec.count(&id, State::Oom), 1, "{:?}", rec.events(&id));
    remote.cleanup().unwrap();
}

/// Calls `lcd_remote_cleanup`'s Rust twin from inside the `attach_streams` of a
/// restart (the second attach of a container), and records what it returned.
struct CleanupInRestartAttach {
    rec: Arc<Recorder>,
    remote: Mutex<Option<Remote>>,
    attaches: AtomicUsize,
    done: Mutex<Option<mpsc::Sender<containerd::Result<()>>>>,
}

impl Backend for CleanupInRestartAttach {
    fn state_changed(&self, id: &str, info: &StateInfo) -> containerd::Result<()> {
        self.rec.state_changed(id, info)
    }
    fn attach_streams(&self, _: &str, _: &str, io: IoPipe) -> containerd::Result<()> {
        io.discard();
        if self.attaches.fetch_add(1, SeqCst) == 1 {
            let remote = self.remote.lock().unwrap().take().unwrap();
            let r = remote.cleanup();
            if let Some(tx) = self.done.lock().unwrap().take() {
                let _ = tx.send(r);
            }
        }
        Ok(())
    }
}

#[test]
fn cleanup_from_a_restarts_attach_streams_returns() {
    let dir = temp_state_dir();
    let remote = Remote::new(daemon_options(dir.path())).unwrap();
    let (tx, rx) = mpsc::channel();
    let rec = Recorder::new();
    let backend = Arc::new(CleanupInRestartAttach {
        rec: rec.clone(),
        remote: Mutex::new(Some(remote.clone())),
        attaches: AtomicUsize::new(0),
        done: Mutex::new(Some(tx)),
    });
    let client = remote.client(backend).unwrap();
    let id = unique_id("cleanup-in-attach");
    client.create(&id, &spec(&["sh", "-c", "exit 1"]), &policy(PolicyName::OnFailure, 3)).unwrap();
    let r = rx.recv_timeout(Duration::from_secs(60)).expect("cleanup called from a restart's attach_streams did not return");
    r.unwrap();
    // The restart did not happen: the container ended with its exit, once.
    let exit = rec.wait_for(&id, State::Exit, TIMEOUT);
    assert_eq!(exit.exit_code, 1);
    assert_eq!(rec.states(&id), vec![State::StartContainer, State::Restart, State::Exit]);
    drop(client);
    drop(remote);
    stop_daemon(dir.path());
}

#[test]
fn dropping_the_last_handle_stops_containers_as_cleanup_does() {
    let dir = temp_state_dir();
    let remote = Remote::new(daemon_options(dir.path())).unwrap();
    let rec = Recorder::new();
    let client = remote.client(rec.backend()).unwrap();
    let id = unique_id("last-handle");
    client.create(&id, &spec(&["sh", "-c", "trap 'exit 7' TERM; echo ready; while :; do sleep 0.1; done"]), &CreateOptions::default()).unwrap();
    rec.wait_stdout_contains(&id, "init", "ready", TIMEOUT);
    let daemon = remote.daemon_pid();
    drop(remote);
    // The client is the last handle: dropping it ends the remote like cleanup, with a
    // graceful stop whose exit is delivered before the drop returns.
    drop(client);
    let events = rec.events(&id);
    let exit = events.iter().find(|e| e.state == State::Exit).unwrap_or_else(|| panic!("no exit before the drop returned: {events:?}"));
    assert_eq!(exit.exit_code, 7, "{events:?}");
    wait_gone(daemon);
    stop_daemon(dir.path());
}

#[test]
fn create_replaces_a_container_waiting_out_a_restart_backoff() {
    let (client, rec) = test_client();
    let id = unique_id("replaced");
    client.create(&id, &spec(&["sh", "-c", "exit 1"]), &policy(PolicyName::Always, 0)).unwrap();
    // The fifth restart waits 1.6 s.
    rec.wait_for_nth(&id, State::Restart, 5, TIMEOUT);
    client.create(&id, &spec(&["sh", "-c", "echo new; sleep 300"]), &CreateOptions::default()).unwrap();
    let start = rec.wait_for_nth(&id, State::StartContainer, 6, TIMEOUT);
    let states = rec.states(&id);
    let n = states.len();
    assert_eq!(&states[n - 3..], &[State::Restart, State::Exit, State::StartContainer], "{states:?}");
    assert_eq!(rec.events(&id)[n - 2].exit_code, 1);
    rec.wait_stdout_contains(&id, "init", "new", TIMEOUT);
    std::thread::sleep(Duration::from_secs(2));
    // The cancelled restart never happened.
    assert_eq!(rec.count(&id, State::StartContainer), 6, "{:?}", rec.states(&id));
    client.signal(&id, 9).unwrap();
    let exit = rec.wait_for_nth(&id, State::Exit, 2, TIMEOUT);
    assert_eq!(exit.exit_code, 137);
    assert_eq!(exit.pid, start.pid);
}

/// A backend that notes whether it was released, and any `attach_streams` that
/// begins after its client's `close` returned.
struct Watched {
    closed: Arc<AtomicBool>,
    late_attach: Arc<AtomicBool>,
    released: Arc<AtomicBool>,
}

impl Backend for Watched {
    fn attach_streams(&self, _: &str, _: &str, io: IoPipe) -> containerd::Result<()> {
        if self.closed.load(SeqCst) {
            self.late_attach.store(true, SeqCst);
        }
        io.discard();
        Ok(())
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        if self.closed.load(SeqCst) {
            // Released after close returned: the host may already have freed what it
            // shares with the callbacks.
            self.late_attach.store(true, SeqCst);
        }
        self.released.store(true, SeqCst);
    }
}

#[test]
fn no_callback_and_no_release_after_close_returns_during_restarts() {
    let remote = test_remote();
    for round in 0..12 {
        let (closed, late, released) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
        let backend = Arc::new(Watched { closed: closed.clone(), late_attach: late.clone(), released: released.clone() });
        let client = remote.client(backend).unwrap();
        let id = unique_id("close-race");
        client.create(&id, &spec(&["sh", "-c", "exit 1"]), &policy(PolicyName::Always, 0)).unwrap();
        // Close at varying points of the restarts (backoffs of 100, 200, 400 ms).
        std::thread::sleep(Duration::from_millis(90 + 23 * round));
        client.close();
        closed.store(true, SeqCst);
        assert!(released.load(SeqCst), "round {round}: the backend was not released when close returned");
        std::thread::sleep(Duration::from_millis(300));
        assert!(!late.load(SeqCst), "round {round}: a callback ran, or the backend was released, after close returned");
        drop(client);
    }
}

/// A gate for one (point, container, process) of the library's test hooks: the
/// library's thread that reaches it says so and waits until the test opens it (or
/// `TIMEOUT` passes, so that a library that waits on that thread is not hung).
struct Gate {
    reached: Mutex<mpsc::Receiver<()>>,
    open: Mutex<Option<mpsc::Sender<()>>>,
}

impl Gate {
    /// Installs a hook holding threads at `point` for `container`/`process` (and
    /// noting `Reconciled` of `container` in `reconciled`).
    fn install(point: Point, container: &str, process: &str, reconciled: Arc<AtomicUsize>) -> Arc<Gate> {
        let (reached_tx, reached_rx) = mpsc::channel();
        let (open_tx, open_rx) = mpsc::channel::<()>();
        let gate = Arc::new(Gate { reached: Mutex::new(reached_rx), open: Mutex::new(Some(open_tx)) });
        let (container, process) = (container.to_string(), process.to_string());
        let (reached_tx, open_rx) = (Mutex::new(reached_tx), Mutex::new(open_rx));
        test_hooks::set(Some(Arc::new(move |p: Point, c: &str, pr: &str| {
            if c != container {
                return;
            }
            if p == Point::Reconciled {
                reconciled.fetch_add(1, SeqCst);
            } else if p == point && pr == process {
                let _ = reached_tx.lock().unwrap().send(());
                let _ = open_rx.lock().unwrap().recv_timeout(TIMEOUT);
            }
        })));
        gate
    }

    /// Waits until a library thread is held at the gate.
    fn wait_reached(&self) {
        self.reached.lock().unwrap().recv_timeout(TIMEOUT).expect("no library thread reached the hook");
    }

    /// Lets the held thread (and any later one) go.
    fn open(&self) {
        self.open.lock().unwrap().take();
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        test_hooks::set(None);
    }
}

/// The hooks are global to the process: the tests that install one run one at a time.
static HOOKED: Mutex<()> = Mutex::new(());

/// A test that installs hooks: the only one running, with a client of a remote
/// connected to a containerd of its own.
struct Hooked {
    _one: std::sync::MutexGuard<'static, ()>,
    ext: ExternalContainerd,
    _dir: tempfile::TempDir,
    remote: Remote,
    rec: Arc<Recorder>,
    client: containerd::Client,
}

impl Hooked {
    fn new() -> Hooked {
        let _one = HOOKED.lock().unwrap_or_else(|e| e.into_inner());
        let ext = ExternalContainerd::start();
        let _dir = temp_state_dir();
        let remote = Remote::new(ext.options(_dir.path())).unwrap();
        let rec = Recorder::new();
        let client = remote.client(rec.backend()).unwrap();
        Hooked { _one, ext, _dir, remote, rec, client }
    }
}

/// Holds a process of `id` between "containerd started it" and "the library marked
/// it started" while containerd dies, the process exits where the library cannot
/// hear, and containerd comes back and the library reconciles; then lets it go.
/// Returns once the reconciliation has passed over the not-yet-started process.
fn outage_while_held(ext: &mut ExternalContainerd, gate: &Gate, reconciled: &AtomicUsize, exit_after: Duration) {
    gate.wait_reached();
    ext.kill(libc::SIGKILL);
    let (mut hidden, _) = hidden_containerd(ext);
    std::thread::sleep(exit_after + Duration::from_millis(500));
    hidden.kill().unwrap();
    hidden.wait().unwrap();
    let before = reconciled.load(SeqCst);
    ext.relaunch();
    let t0 = Instant::now();
    while reconciled.load(SeqCst) == before {
        assert!(t0.elapsed() < TIMEOUT, "no reconciliation after containerd came back");
        std::thread::sleep(Duration::from_millis(20));
    }
    gate.open();
}

#[test]
fn an_init_that_exits_while_it_is_being_marked_started_is_reported() {
    let Hooked { _one, mut ext, _dir, remote, rec, client } = Hooked::new();
    let id = unique_id("held-init");
    let reconciled = Arc::new(AtomicUsize::new(0));
    // A container is tracked (so reconciled) from before its start.
    let gate = Gate::install(Point::Started, &id, "init", reconciled.clone());
    let creating = {
        let (client, id) = (client.clone(), id.clone());
        std::thread::spawn(move || client.create(&id, &spec(&["sh", "-c", "sleep 1; exit 7"]), &CreateOptions::default()))
    };
    outage_while_held(&mut ext, &gate, &reconciled, Duration::from_secs(1));
    creating.join().unwrap().unwrap();
    let exit = rec.wait_for(&id, State::Exit, TIMEOUT);
    assert_eq!(exit.exit_code, 7, "{:?}", rec.events(&id));
    assert_eq!(rec.states(&id), vec![State::StartContainer, State::Exit]);
    drop(gate);
    remote.cleanup().unwrap();
}

#[test]
fn an_exec_that_exits_while_it_is_being_marked_started_is_reported() {
    let Hooked { _one, mut ext, _dir, remote, rec, client } = Hooked::new();
    let id = unique_id("held-exec");
    client.create(&id, &spec(&["sleep", "300"]), &CreateOptions::default()).unwrap();
    let reconciled = Arc::new(AtomicUsize::new(0));
    let gate = Gate::install(Point::Started, &id, "quick", reconciled.clone());
    let exec = {
        let (client, id) = (client.clone(), id.clone());
        let process = ProcessSpec::from_json(r#"{"args": ["sh", "-c", "sleep 1; exit 5"]}"#).unwrap();
        std::thread::spawn(move || client.add_process(&id, "quick", &process))
    };
    outage_while_held(&mut ext, &gate, &reconciled, Duration::from_secs(1));
    exec.join().unwrap().unwrap();
    let exit = rec.wait_for_process(&id, "quick", State::ExitProcess, TIMEOUT);
    assert_eq!(exit.exit_code, 5, "{:?}", rec.events(&id));
    drop(gate);
    client.signal(&id, 9).unwrap();
    rec.wait_for(&id, State::Exit, TIMEOUT);
    remote.cleanup().unwrap();
}

#[test]
fn an_exec_racing_the_containers_exit_is_a_failed_precondition() {
    let Hooked { _one, ext: _ext, _dir, remote, rec, client } = Hooked::new();
    let id = unique_id("exec-race");
    client.create(&id, &spec(&["sleep", "300"]), &CreateOptions::default()).unwrap();
    let pid = rec.wait_for(&id, State::StartContainer, TIMEOUT).pid;
    let gate = Gate::install(Point::Execing, &id, "late", Arc::new(AtomicUsize::new(0)));
    let exec = {
        let (client, id) = (client.clone(), id.clone());
        let process = ProcessSpec::from_json(r#"{"args": ["true"]}"#).unwrap();
        std::thread::spawn(move || client.add_process(&id, "late", &process))
    };
    // The exec has passed the library's own "is it running" check; its container dies
    // before containerd gets the exec.
    gate.wait_reached();
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    wait_gone(pid);
    std::thread::sleep(Duration::from_millis(300));
    gate.open();
    let err = exec.join().unwrap().unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "{err}");
    assert_eq!(rec.wait_for(&id, State::Exit, TIMEOUT).exit_code, 137);
    drop(gate);
    std::thread::sleep(Duration::from_millis(300));
    let events = rec.events(&id);
    assert!(events.iter().all(|e| e.process_id != "late"), "{events:?}");
    assert_eq!(events.iter().filter(|e| e.state == State::Exit).count(), 1, "{events:?}");
    remote.cleanup().unwrap();
}

#[test]
fn close_waits_for_an_attach_that_holds_the_backend() {
    let _one = HOOKED.lock().unwrap_or_else(|e| e.into_inner());
    let remote = test_remote();
    let (closed, late, released) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
    let backend = Arc::new(Watched { closed: closed.clone(), late_attach: late.clone(), released: released.clone() });
    let client = remote.client(backend).unwrap();
    let id = unique_id("held-attach");
    client.create(&id, &spec(&["sh", "-c", "exit 1"]), &policy(PolicyName::Always, 0)).unwrap();
    // The next attach is a restart's, on the library's own thread.
    let gate = Gate::install(Point::Attaching, &id, "init", Arc::new(AtomicUsize::new(0)));
    gate.wait_reached();
    let closing = {
        let (client, closed) = (client.clone(), closed.clone());
        std::thread::spawn(move || {
            client.close();
            closed.store(true, SeqCst);
        })
    };
    // close cannot return while the restart holds the backend to call it.
    std::thread::sleep(Duration::from_millis(300));
    gate.open();
    closing.join().unwrap();
    assert!(released.load(SeqCst), "the backend was not released when close returned");
    assert!(!late.load(SeqCst), "attach_streams ran, or the backend was released, after close returned");
    drop(gate);
}

#[test]
fn the_exit_report_does_not_wait_for_the_removal_of_the_fifo_files() {
    let Hooked { _one, ext: _ext, _dir, remote, rec, client } = Hooked::new();
    let id = unique_id("slow-fifo-rm");
    let gate = Gate::install(Point::RemovingFifos, &id, "", Arc::new(AtomicUsize::new(0)));
    client.create(&id, &spec(&["sh", "-c", "echo out; exit 3"]), &CreateOptions::default()).unwrap();
    // The removal of the run's fifo files is held, as a directory operation on a busy
    // disk can be; the exit is reported meanwhile, after all of the output.
    gate.wait_reached();
    assert_eq!(rec.wait_for(&id, State::Exit, TIMEOUT).exit_code, 3);
    rec.wait_output_closed(&id, "init", TIMEOUT);
    assert_eq!(rec.stdout(&id, "init"), "out\n");
    assert!(!fifos_of(_dir.path(), &id).is_empty(), "the fifo files went while their removal was held");
    gate.open();
    let t0 = Instant::now();
    while !fifos_of(_dir.path(), &id).is_empty() {
        assert!(t0.elapsed() < TIMEOUT, "fifos left after the exit: {:?}", fifos_of(_dir.path(), &id));
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(rec.states(&id), vec![State::StartContainer, State::Exit]);
    drop(gate);
    remote.cleanup().unwrap();
}

#[test]
fn a_removal_cut_off_by_an_outage_is_finished_after_it() {
    let Hooked { _one, mut ext, _dir, remote, rec, client } = Hooked::new();
    let id = unique_id("cut-removal");
    let gate = Gate::install(Point::Removing, &id, "", Arc::new(AtomicUsize::new(0)));
    client.create(&id, &spec(&["sh", "-c", "exit 3"]), &CreateOptions::default()).unwrap();
    gate.wait_reached();
    assert_eq!(rec.wait_for(&id, State::Exit, TIMEOUT).exit_code, 3);
    // The removal starts while containerd is away, and it comes back later.
    ext.kill(libc::SIGKILL);
    gate.open();
    std::thread::sleep(Duration::from_millis(500));
    ext.relaunch();
    let listed = || ext.ctr(&["-n", "libcontainerd", "containers", "ls", "-q"]).unwrap_or_default();
    let t0 = Instant::now();
    while listed().lines().any(|l| l == id) {
        assert!(t0.elapsed() < TIMEOUT, "the container's record outlived the outage: {}", containerd_log_tail(&ext.dir, 20));
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!ext.ctr(&["-n", "libcontainerd", "tasks", "ls"]).unwrap_or_default().contains(&id), "its task is left");
    assert_eq!(rec.states(&id), vec![State::StartContainer, State::Exit]);
    drop(gate);
    remote.cleanup().unwrap();
}
