//! Concurrency stress: 8 threads drive one client on a containerd of the test's own
//! with a random mix of create, exec (`add_process`), signals, stats, pids, list,
//! pause/resume, resource updates and waiting for exits — at least 2,000 operations
//! in all. A watchdog fails the test if it stops making progress (a deadlock). At
//! the end every container's events must form a valid sequence (one start, exactly
//! one exit and last, pause/resume as many as were asked for, every exec that
//! started has exactly one start and one exit, nothing about unknown processes),
//! and the process's descriptors, the fifo files, the daemon's shims and
//! containerd's containers and tasks must be back at their baseline.
//!
//! Environment: `LCD_STRESS_OPS` (total operations, default 2000; never less),
//! `LCD_TEST_TIME_SCALE` (whole number, default 1: stretches every wait and the
//! watchdog, for slow machines).

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use common::*;
use containerd::{Backend, Client, CreateOptions, IoPipe, ProcessSpec, State, StateInfo};
use serde_json::json;

const THREADS: usize = 8;
const MIN_OPS: usize = 2000;

/// Runs ended by a signal racing execs, and the execs refused in those races.
static RACING_ENDS: AtomicUsize = AtomicUsize::new(0);
static REFUSED_EXECS: AtomicUsize = AtomicUsize::new(0);

/// `LCD_TEST_TIME_SCALE` (default 1).
fn time_scale() -> u32 {
    std::env::var("LCD_TEST_TIME_SCALE").ok().and_then(|s| s.parse().ok()).filter(|&n: &u32| n >= 1).unwrap_or(1)
}

fn scaled(d: Duration) -> Duration {
    d * time_scale()
}

// ---------------------------------------------------------------------------------
// A backend that records events and discards output (so no descriptor of a
// process outlives it: the descriptor count can return to its baseline).

#[derive(Default)]
struct Events {
    by_container: Mutex<HashMap<String, Vec<StateInfo>>>,
    cv: Condvar,
}

impl Events {
    fn of(&self, id: &str) -> Vec<StateInfo> {
        self.by_container.lock().unwrap().get(id).cloned().unwrap_or_default()
    }

    /// Waits until `id` has an `exit` event; its events then, or `None` on timeout.
    fn wait_exit(&self, id: &str, timeout: Duration) -> Option<Vec<StateInfo>> {
        self.wait_event(id, State::Exit, "init", timeout)
    }

    /// Waits until `id` has a `state` event of `process`; its events then, or `None`
    /// on timeout.
    fn wait_event(&self, id: &str, state: State, process: &str, timeout: Duration) -> Option<Vec<StateInfo>> {
        let deadline = Instant::now() + timeout;
        let mut map = self.by_container.lock().unwrap();
        loop {
            if let Some(v) = map.get(id).filter(|v| v.iter().any(|e| e.state == state && e.process_id == process)) {
                return Some(v.clone());
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            map = self.cv.wait_timeout(map, deadline - now).unwrap().0;
        }
    }
}

impl Backend for Events {
    fn state_changed(&self, container_id: &str, info: &StateInfo) -> containerd::Result<()> {
        self.by_container.lock().unwrap().entry(container_id.to_string()).or_default().push(info.clone());
        self.cv.notify_all();
        Ok(())
    }

    fn attach_streams(&self, _container_id: &str, _process_id: &str, io: IoPipe) -> containerd::Result<()> {
        io.discard();
        Ok(())
    }
}

// ---------------------------------------------------------------------------------
// What each worker did, to check the events against.

/// How an exec was expected to end.
#[derive(Debug, Clone, Copy, PartialEq)]
enum ExecEnd {
    /// Exits by itself with this code.
    Code(u32),
    /// Killed with SIGKILL by the test: 137.
    Killed,
    /// Still running when the container ended: any code.
    WithContainer,
}

/// One container's run as the test drove it.
#[derive(Debug)]
struct Run {
    id: String,
    /// Expected exit code of init.
    exit_code: u32,
    /// Successful pause/resume pairs.
    pauses: usize,
    /// Every exec that `add_process` started, with its pid and expected end.
    execs: Vec<(String, u32, ExecEnd)>,
}

/// A small deterministic generator (xorshift64*), one per thread.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Init: a shell that ignores SIGUSR1 (a trap, so the signal is really delivered and
/// handled) and exits 3 on SIGTERM.
const INIT: &str = "trap 'exit 3' TERM; trap ':' USR1; sleep 100000 & while :; do wait; done";

fn process(args: &[&str]) -> ProcessSpec {
    ProcessSpec::from_json(&json!({ "args": args }).to_string()).unwrap()
}

/// What a worker is doing, for the watchdog's report.
type Status = Arc<Mutex<Vec<String>>>;

fn set_status(status: &Status, t: usize, what: String) {
    status.lock().unwrap()[t] = what;
}

/// One worker: runs containers one after another, each with a random mix of
/// operations, until `ops` (shared by all workers) reaches `total`.
fn worker(t: usize, client: Client, events: Arc<Events>, ops: Arc<AtomicUsize>, total: usize, status: Status) -> Vec<Run> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ ((t as u64 + 1) * 0x1000_0000_01b3));
    let mut runs = Vec::new();
    let count = |n: usize| ops.fetch_add(n, Ordering::SeqCst);
    let mut exec_n = 0;
    while ops.load(Ordering::SeqCst) < total {
        let id = unique_id(&format!("st{t}"));
        set_status(&status, t, format!("create {id}"));
        client
            .create(&id, &spec(&["sh", "-c", INIT]), &CreateOptions::default())
            .unwrap_or_else(|e| panic!("create {id}: {e}"));
        count(1);
        let mut run = Run { id: id.clone(), exit_code: 0, pauses: 0, execs: Vec::new() };
        // Long-running execs not yet killed.
        let mut live: Vec<usize> = Vec::new();
        let steps = 10 + rng.below(20);
        for _ in 0..steps {
            let op = rng.below(12);
            set_status(&status, t, format!("op {op} on {id}"));
            match op {
                // A short exec with its own exit code.
                0 | 1 => {
                    exec_n += 1;
                    let pid_name = format!("e{exec_n}");
                    let code = rng.below(100) as u32;
                    let pid = client
                        .add_process(&id, &pid_name, &process(&["sh", "-c", &format!("exit {code}")]))
                        .unwrap_or_else(|e| panic!("add_process {id}/{pid_name}: {e}"));
                    run.execs.push((pid_name, pid, ExecEnd::Code(code)));
                    count(1);
                }
                // A long exec, or SIGKILL to one started earlier.
                2 => {
                    if !live.is_empty() && rng.below(2) == 0 {
                        let i = live.swap_remove(rng.below(live.len() as u64) as usize);
                        let name = run.execs[i].0.clone();
                        client.signal_process(&id, &name, libc::SIGKILL).unwrap_or_else(|e| panic!("signal_process {id}/{name}: {e}"));
                        run.execs[i].2 = ExecEnd::Killed;
                    } else {
                        exec_n += 1;
                        let pid_name = format!("e{exec_n}");
                        let pid = client
                            .add_process(&id, &pid_name, &process(&["sleep", "100000"]))
                            .unwrap_or_else(|e| panic!("add_process {id}/{pid_name}: {e}"));
                        live.push(run.execs.len());
                        run.execs.push((pid_name, pid, ExecEnd::WithContainer));
                    }
                    count(1);
                }
                3 => {
                    let s = client.stats(&id).unwrap_or_else(|e| panic!("stats {id}: {e}"));
                    assert!(s["pids"]["current"].as_u64().unwrap_or(0) > 0, "stats of {id}: {s}");
                    count(1);
                }
                4 | 5 => {
                    let list = client.list().unwrap_or_else(|e| panic!("list: {e}"));
                    assert!(list.iter().any(|c| c.id == id), "list lacks {id}");
                    count(1);
                }
                6 => {
                    client.pause(&id).unwrap_or_else(|e| panic!("pause {id}: {e}"));
                    let s = client.stats(&id).unwrap_or_else(|e| panic!("stats of paused {id}: {e}"));
                    assert!(s.get("memory").is_some(), "stats of paused {id}: {s}");
                    client.resume(&id).unwrap_or_else(|e| panic!("resume {id}: {e}"));
                    run.pauses += 1;
                    count(3);
                }
                7 => {
                    let limit = (64 + rng.below(64)) << 20;
                    let shares = 256 + rng.below(1024);
                    let r = containerd::spec::parse_resources(
                        &json!({"memory": {"limit": limit}, "cpu": {"shares": shares}}).to_string(),
                    )
                    .unwrap();
                    client.update_resources(&id, &r).unwrap_or_else(|e| panic!("update_resources {id}: {e}"));
                    count(1);
                }
                8 => {
                    client.signal(&id, libc::SIGUSR1).unwrap_or_else(|e| panic!("signal {id} USR1: {e}"));
                    count(1);
                }
                9 => {
                    let pids = client.get_pids(&id).unwrap_or_else(|e| panic!("get_pids {id}: {e}"));
                    assert!(!pids.is_empty(), "get_pids {id}");
                    count(1);
                }
                10 => {
                    let s = client.summary(&id).unwrap_or_else(|e| panic!("summary {id}: {e}"));
                    assert!(s.iter().any(|p| p.process_id == "init"), "summary {id}: {s:?}");
                    count(1);
                }
                _ => {
                    // Another worker's container: ask about it; it may be gone by now.
                    let list = client.list().unwrap_or_else(|e| panic!("list: {e}"));
                    if let Some(other) = list.iter().find(|c| c.id != id) {
                        let _ = client.stats(&other.id);
                    }
                    count(1);
                }
            }
        }
        // Wait for the exit of every exec that ends by itself or was killed (else the
        // container's end could kill it first).
        for (name, _, end) in &run.execs {
            if *end != ExecEnd::WithContainer {
                set_status(&status, t, format!("waiting for the exit of {id}/{name}"));
                if events.wait_event(&id, State::ExitProcess, name, scaled(Duration::from_secs(60))).is_none() {
                    panic!("no exit-process of {id}/{name} within 60 s; its events:\n{}", show(&events.of(&id)));
                }
            }
        }
        count(1);
        // End the run: SIGTERM (the trap exits 3) or SIGKILL (137); wait for its exit.
        let (sig, code) = if rng.below(2) == 0 { (libc::SIGTERM, 3) } else { (libc::SIGKILL, 137) };
        run.exit_code = code;
        if rng.below(3) == 0 {
            // A racing end: the signal comes from another thread while this one keeps
            // adding execs. Each add_process either fails (and nothing may be reported
            // about that exec) or succeeds (and it must get one start and one exit).
            set_status(&status, t, format!("signal {sig} to {id} while adding execs"));
            let delay = Duration::from_millis(rng.below(150));
            RACING_ENDS.fetch_add(1, Ordering::Relaxed);
            std::thread::scope(|s| {
                let killer = s.spawn(|| {
                    std::thread::sleep(delay);
                    client.signal(&id, sig)
                });
                for _ in 0..20 {
                    exec_n += 1;
                    let pid_name = format!("e{exec_n}");
                    match client.add_process(&id, &pid_name, &process(&["sleep", "100000"])) {
                        Ok(pid) => run.execs.push((pid_name, pid, ExecEnd::WithContainer)),
                        Err(_) => {
                            REFUSED_EXECS.fetch_add(1, Ordering::Relaxed);
                            if killer.is_finished() {
                                break;
                            }
                        }
                    }
                    count(1);
                }
                killer.join().unwrap().unwrap_or_else(|e| panic!("signal {id} {sig}: {e}"));
            });
        } else {
            set_status(&status, t, format!("signal {sig} to {id}, waiting for its exit"));
            client.signal(&id, sig).unwrap_or_else(|e| panic!("signal {id} {sig}: {e}"));
        }
        count(1);
        if events.wait_exit(&id, scaled(Duration::from_secs(60))).is_none() {
            panic!("no exit of {id} within 60 s after signal {sig}; its events:\n{:#?}", events.of(&id));
        }
        count(1);
        runs.push(run);
    }
    set_status(&status, t, "done".into());
    runs
}

// ---------------------------------------------------------------------------------
// Checks

/// Checks one run's events; returns what is wrong.
fn check_run(run: &Run, events: &[StateInfo]) -> Vec<String> {
    let mut bad = Vec::new();
    let id = &run.id;
    if events.first().map(|e| (e.state, e.process_id.as_str())) != Some((State::StartContainer, "init")) {
        bad.push(format!("{id}: the first event is not start-container of init"));
    }
    let starts = events.iter().filter(|e| e.state == State::StartContainer).count();
    if starts != 1 {
        bad.push(format!("{id}: {starts} start-container events"));
    }
    let exits: Vec<&StateInfo> = events.iter().filter(|e| e.state == State::Exit).collect();
    if exits.len() != 1 {
        bad.push(format!("{id}: {} exit events", exits.len()));
    } else if events.last().map(|e| e.state) != Some(State::Exit) {
        bad.push(format!("{id}: exit is not the last event"));
    } else if exits[0].exit_code != run.exit_code {
        bad.push(format!("{id}: exit code {} instead of {}", exits[0].exit_code, run.exit_code));
    }
    // Pause and resume alternate, as many as were asked for.
    let pr: Vec<State> = events.iter().map(|e| e.state).filter(|s| matches!(s, State::Pause | State::Resume)).collect();
    let expected: Vec<State> = (0..run.pauses).flat_map(|_| [State::Pause, State::Resume]).collect();
    if pr != expected {
        bad.push(format!("{id}: pause/resume events {pr:?}, expected {} pairs", run.pauses));
    }
    for s in [State::Restart, State::Restore, State::Oom] {
        if events.iter().any(|e| e.state == s) {
            bad.push(format!("{id}: unexpected {} event", s.as_str()));
        }
    }
    // Every exec: exactly one start-process (with its pid) and one exit-process after it.
    for (name, pid, end) in &run.execs {
        let idx: Vec<(usize, &StateInfo)> = events.iter().enumerate().filter(|(_, e)| &e.process_id == name).collect();
        let s: Vec<_> = idx.iter().filter(|(_, e)| e.state == State::StartProcess).collect();
        let x: Vec<_> = idx.iter().filter(|(_, e)| e.state == State::ExitProcess).collect();
        if s.len() != 1 || x.len() != 1 || idx.len() != 2 {
            bad.push(format!("{id}/{name}: {} start-process, {} exit-process, {} events in all", s.len(), x.len(), idx.len()));
            continue;
        }
        if s[0].0 > x[0].0 {
            bad.push(format!("{id}/{name}: exit-process before start-process"));
        }
        if s[0].1.pid != *pid {
            bad.push(format!("{id}/{name}: start-process pid {} but add_process returned {pid}", s[0].1.pid));
        }
        let code = x[0].1.exit_code;
        match end {
            ExecEnd::Code(c) if code != *c => bad.push(format!("{id}/{name}: exit code {code} instead of {c}")),
            ExecEnd::Killed if code != 137 => bad.push(format!("{id}/{name}: exit code {code} after SIGKILL")),
            _ => {}
        }
    }
    // Nothing about a process the test did not start.
    for e in events {
        if e.process_id != "init" && !run.execs.iter().any(|(n, _, _)| n == &e.process_id) {
            bad.push(format!("{id}: {} event of unknown process {:?}", e.state.as_str(), e.process_id));
        }
    }
    bad
}

fn show(events: &[StateInfo]) -> String {
    events
        .iter()
        .map(|e| format!("    {} {} pid={} code={}", e.state.as_str(), e.process_id, e.pid, e.exit_code))
        .collect::<Vec<_>>()
        .join("\n")
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map(|d| d.count()).unwrap_or(0)
}

fn list_fds() -> String {
    let mut out = Vec::new();
    if let Ok(d) = std::fs::read_dir("/proc/self/fd") {
        for e in d.flatten() {
            let target = std::fs::read_link(e.path()).map(|p| p.display().to_string()).unwrap_or_default();
            out.push(format!("{} -> {target}", e.file_name().to_string_lossy()));
        }
    }
    out.join("\n")
}

/// Every file and directory below `dir` (fifos and the per-container directories
/// holding them).
fn entries_below(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(e.path());
            }
            out.push(e.path().display().to_string());
        }
    }
    out.sort();
    out
}

/// The pids of the shims serving the containerd on `socket`.
fn shims(socket: &Path) -> Vec<String> {
    let socket = socket.display().to_string();
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(cmdline) = std::fs::read(e.path().join("cmdline")) else { continue };
        let args: Vec<String> = cmdline.split(|&b| b == 0).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
        if args.first().is_some_and(|a| a.contains("containerd-shim")) && args.contains(&socket) {
            out.push(format!("{} {}", e.file_name().to_string_lossy(), args.join(" ")));
        }
    }
    out
}

/// `ctr --address socket -n libcontainerd <what> ls -q`.
fn ctr_ls(socket: &Path, what: &str) -> Vec<String> {
    let out = Command::new("ctr")
        .arg("--address")
        .arg(socket)
        .args(["-n", "libcontainerd", what, "ls", "-q"])
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run ctr: {e}"));
    assert!(out.status.success(), "ctr {what} ls failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().filter(|l| !l.is_empty()).map(String::from).collect()
}

/// Everything the baseline compares.
#[derive(Debug, PartialEq)]
struct Baseline {
    fds: usize,
    fifos: Vec<String>,
    shims: Vec<String>,
    listed: Vec<String>,
    ctr_containers: Vec<String>,
    ctr_tasks: Vec<String>,
}

fn measure(client: &Client, state_dir: &Path) -> Baseline {
    let socket = state_dir.join("containerd/containerd.sock");
    Baseline {
        fds: open_fds(),
        fifos: entries_below(&state_dir.join("fifo")),
        shims: shims(&socket),
        listed: client.list().expect("list").into_iter().map(|c| c.id).collect(),
        ctr_containers: ctr_ls(&socket, "containers"),
        ctr_tasks: ctr_ls(&socket, "tasks"),
    }
}

/// One container through create, exec, pause/resume, update, stats and exit, so
/// that whatever the library opens once (connections, threads) exists before the
/// baseline is taken.
fn warm_up(client: &Client, events: &Events) {
    let id = unique_id("warm");
    client.create(&id, &spec(&["sh", "-c", INIT]), &CreateOptions::default()).unwrap();
    client.add_process(&id, "w", &process(&["true"])).unwrap();
    client.pause(&id).unwrap();
    client.resume(&id).unwrap();
    let r = containerd::spec::parse_resources(r#"{"memory": {"limit": 134217728}}"#).unwrap();
    client.update_resources(&id, &r).unwrap();
    client.stats(&id).unwrap();
    client.signal(&id, libc::SIGKILL).unwrap();
    events.wait_exit(&id, scaled(Duration::from_secs(60))).expect("warm-up container exit");
}

/// Polls `measure` until it equals `base` or `timeout` passes; returns the last value.
fn settle(client: &Client, state_dir: &Path, base: &Baseline, timeout: Duration) -> Baseline {
    let deadline = Instant::now() + timeout;
    loop {
        let now = measure(client, state_dir);
        if &now == base || Instant::now() >= deadline {
            return now;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn eight_threads_of_mixed_operations_end_at_baseline() {
    let total = std::env::var("LCD_STRESS_OPS").ok().and_then(|s| s.parse().ok()).unwrap_or(MIN_OPS).max(MIN_OPS);
    let daemon = TestDaemon::start();
    let state_dir = daemon.state_dir.clone();
    let events = Arc::new(Events::default());
    let client = daemon.remote.client(events.clone()).expect("client");

    warm_up(&client, &events);
    // Settles to an empty containerd, then records what is open.
    let socket = state_dir.join("containerd/containerd.sock");
    let deadline = Instant::now() + scaled(Duration::from_secs(30));
    while (!shims(&socket).is_empty() || !ctr_ls(&socket, "tasks").is_empty()) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_millis(500));
    let base = measure(&client, &state_dir);
    assert!(base.shims.is_empty() && base.listed.is_empty() && base.ctr_tasks.is_empty(), "not empty before the run: {base:#?}");

    // The watchdog: fails the whole test process (rather than hanging) if no
    // operation completes for a long time or the run takes far too long.
    let ops = Arc::new(AtomicUsize::new(0));
    let status: Status = Arc::new(Mutex::new(vec![String::new(); THREADS]));
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let watchdog = {
        let ops = ops.clone();
        let status = status.clone();
        let state_dir = state_dir.clone();
        let remote = daemon.remote.clone();
        std::thread::Builder::new()
            .name("stress-watchdog".into())
            .spawn(move || {
                let stall = scaled(Duration::from_secs(120));
                let limit = scaled(Duration::from_secs(900));
                let started = Instant::now();
                let mut last = (0, Instant::now());
                loop {
                    match done_rx.recv_timeout(Duration::from_secs(1)) {
                        Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => return,
                        Err(mpsc::RecvTimeoutError::Timeout) => {}
                    }
                    let n = ops.load(Ordering::SeqCst);
                    if n != last.0 {
                        last = (n, Instant::now());
                    }
                    if last.1.elapsed() >= stall || started.elapsed() >= limit {
                        eprintln!(
                            "stress: no progress for {:?} ({} operations done, {:?} in all): deadlock?\nworkers:\n{}",
                            last.1.elapsed(),
                            n,
                            started.elapsed(),
                            status.lock().unwrap().join("\n")
                        );
                        // Best effort: stop the containers (cleanup may itself hang on
                        // the deadlock, so it gets 30 s), then the daemon.
                        let (tx, rx) = mpsc::channel();
                        let r = remote.clone();
                        let _ = std::thread::Builder::new().name("stress-cleanup".into()).spawn(move || {
                            let _ = tx.send(r.cleanup());
                        });
                        let _ = rx.recv_timeout(Duration::from_secs(30));
                        stop_daemon(&state_dir);
                        if !keep_state() {
                            let _ = std::fs::remove_dir_all(&state_dir);
                        }
                        std::process::exit(101);
                    }
                }
            })
            .expect("spawn watchdog")
    };

    let started = Instant::now();
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let (client, events, ops, status) = (client.clone(), events.clone(), ops.clone(), status.clone());
            std::thread::Builder::new()
                .name(format!("stress-{t}"))
                .spawn(move || worker(t, client, events, ops, total, status))
                .expect("spawn worker")
        })
        .collect();
    let mut runs = Vec::new();
    let mut panics = Vec::new();
    for w in workers {
        match w.join() {
            Ok(r) => runs.extend(r),
            Err(p) => panics.push(p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_default()),
        }
    }
    let elapsed = started.elapsed();
    let _ = done_tx.send(());
    watchdog.join().unwrap();
    assert!(panics.is_empty(), "workers failed:\n{}", panics.join("\n"));
    let done = ops.load(Ordering::SeqCst);
    let exec_count: usize = runs.iter().map(|r| r.execs.len()).sum();
    eprintln!(
        "stress: {done} operations on {} containers ({exec_count} execs) by {THREADS} threads in {elapsed:?}; \
         {} ends raced execs, {} execs refused there",
        runs.len(),
        RACING_ENDS.load(Ordering::Relaxed),
        REFUSED_EXECS.load(Ordering::Relaxed)
    );
    assert!(done >= MIN_OPS, "only {done} operations");

    // Every event is in by now (each run waited for its exit); make sure none is in
    // flight, then check each container's sequence.
    client.flush_events();
    let mut bad = Vec::new();
    for run in &runs {
        let ev = events.of(&run.id);
        let b = check_run(run, &ev);
        if !b.is_empty() {
            bad.extend(b);
            bad.push(format!("  events of {}:\n{}", run.id, show(&ev)));
        }
    }
    let known: Vec<&String> = runs.iter().map(|r| &r.id).collect();
    for id in events.by_container.lock().unwrap().keys() {
        if !id.starts_with("warm-") && !known.contains(&id) {
            bad.push(format!("events for a container never created: {id}"));
        }
    }
    assert!(bad.is_empty(), "invalid event sequences:\n{}", bad.join("\n"));

    // Back at the baseline (shims and the output relays take a moment to go).
    let after = settle(&client, &state_dir, &base, scaled(Duration::from_secs(30)));
    assert_eq!(after, base, "not back at the baseline after the run; open descriptors now:\n{}", list_fds());
    eprintln!(
        "stress: back at the baseline: {} descriptors, {} entries under fifo/, {} shims, {} containers and {} tasks",
        after.fds,
        after.fifos.len(),
        after.shims.len(),
        after.ctr_containers.len(),
        after.ctr_tasks.len()
    );
    client.close();
}
