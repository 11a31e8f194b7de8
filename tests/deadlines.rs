//! Deadlines and cancellation on a real containerd that stops answering (SIGSTOP): a
//! call returns within 100 ms of its cancel or deadline, and a create given up half-way
//! leaves no container behind once containerd answers again.

mod common;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use containerd::{Backend, Call, Code, CreateOptions, IoPipe, Remote, RemoteOptions, State, StateInfo};

/// The contract's 100 ms, plus slack for the scheduler of a loaded 2-CPU test machine
/// (the suite runs with a load of 10 at times). Without cancellation these calls block
/// for the whole outage (20 s), so the check still tells the two apart.
const RETURN_BOUND: Duration = Duration::from_millis(100 + 400);

/// Stops process `pid` (SIGSTOP) and waits until every one of its threads is stopped:
/// `kill` returns before a thread running on another CPU has stopped, and on a loaded
/// machine such a thread may still answer a request meanwhile.
fn freeze(pid: i32) {
    unsafe { libc::kill(pid, libc::SIGSTOP) };
    let t0 = Instant::now();
    let stopped = || {
        std::fs::read_dir(format!("/proc/{pid}/task")).map_or(true, |tasks| {
            tasks.flatten().all(|t| {
                std::fs::read_to_string(t.path().join("stat"))
                    .map_or(true, |st| st.rsplit_once(") ").is_some_and(|(_, rest)| rest.starts_with('T') || rest.starts_with('t')))
            })
        })
    };
    while !stopped() {
        assert!(t0.elapsed() < TIMEOUT, "process {pid} did not stop");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A backend that freezes containerd (`SIGSTOP` to `freeze`) inside `attach_streams`,
/// so that the create's next requests to containerd hang, and records the events.
struct Freezer {
    freeze: AtomicU32,
    events: Mutex<Vec<(String, StateInfo)>>,
}

impl Backend for Freezer {
    fn state_changed(&self, container_id: &str, info: &StateInfo) -> containerd::Result<()> {
        self.events.lock().unwrap().push((container_id.to_string(), info.clone()));
        Ok(())
    }

    fn attach_streams(&self, _: &str, _: &str, io: IoPipe) -> containerd::Result<()> {
        io.discard();
        let pid = self.freeze.swap(0, Ordering::SeqCst);
        if pid != 0 {
            freeze(pid as i32);
        }
        Ok(())
    }
}

/// Cancels `call` after `after`; returns when it did.
fn cancel_later(call: &Call, after: Duration) -> std::thread::JoinHandle<Instant> {
    let call = call.clone();
    std::thread::spawn(move || {
        std::thread::sleep(after);
        let at = Instant::now();
        call.cancel();
        at
    })
}

fn options(ext: &ExternalContainerd, state: &std::path::Path, ns: &str) -> RemoteOptions {
    RemoteOptions { namespace: Some(ns.to_string()), ..ext.options(state) }
}

/// Waits until `ctr` shows no container and no task `id` in namespace `ns`.
fn wait_gone_from_containerd(ext: &ExternalContainerd, ns: &str, id: &str) {
    let t0 = Instant::now();
    loop {
        let containers = ext.ctr(&["-n", ns, "containers", "ls", "-q"]).unwrap_or_else(|| "?".into());
        let tasks = ext.ctr(&["-n", ns, "tasks", "ls", "-q"]).unwrap_or_else(|| "?".into());
        if !containers.lines().chain(tasks.lines()).any(|l| l == id || l == "?") {
            return;
        }
        assert!(t0.elapsed() < Duration::from_secs(60), "container {id} still in containerd: containers {containers:?} tasks {tasks:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_create_cancelled_during_an_outage_is_undone() {
    let ext = ExternalContainerd::start();
    let state = temp_state_dir();
    let ns = unique_id("dl-ns");
    let remote = Remote::new(options(&ext, state.path(), &ns)).unwrap();
    let daemon = ext.pid().unwrap();
    let backend = Arc::new(Freezer { freeze: AtomicU32::new(daemon), events: Mutex::new(Vec::new()) });
    let client = remote.client(backend.clone()).unwrap();
    let id = unique_id("dl-create");
    let call = Call::new();
    // attach_streams freezes containerd: the container's creation then hangs.
    let canceller = cancel_later(&call, Duration::from_millis(500));
    let r = call.run(|| client.create(&id, &spec(&["sleep", "300"]), &CreateOptions::default()));
    let returned = Instant::now();
    let cancelled_at = canceller.join().unwrap();
    unsafe { libc::kill(daemon as i32, libc::SIGCONT) };
    assert_eq!(r.unwrap_err().code(), Code::Cancelled);
    let took = returned.saturating_duration_since(cancelled_at);
    assert!(took < RETURN_BOUND, "create returned {took:?} after its cancel");
    // containerd, answering again, carries out what it was asked; the library undoes it.
    wait_gone_from_containerd(&ext, &ns, &id);
    assert!(client.list().unwrap().iter().all(|c| c.id != id));
    // The id is free again (a create waits for the removal to end).
    let rec = Recorder::new();
    let other = remote.client(rec.backend()).unwrap();
    other.create(&id, &spec(&["sleep", "300"]), &CreateOptions::default()).unwrap();
    rec.wait_for(&id, State::StartContainer, TIMEOUT);
    other.signal(&id, 9).unwrap();
    rec.wait_for(&id, State::Exit, TIMEOUT);
    assert!(backend.events.lock().unwrap().iter().all(|(c, _)| *c != id), "events of the undone create: {:?}", backend.events.lock().unwrap());
    remote.cleanup().unwrap();
}

#[test]
fn a_deadline_on_a_hung_daemon_is_exceeded() {
    let ext = ExternalContainerd::start();
    let state = temp_state_dir();
    let ns = unique_id("dl-ns");
    let remote = Remote::new(options(&ext, state.path(), &ns)).unwrap();
    let (client, rec) = {
        let rec = Recorder::new();
        (remote.client(rec.backend()).unwrap(), rec)
    };
    let id = unique_id("dl-hung");
    client.create(&id, &spec(&["sleep", "300"]), &CreateOptions::default()).unwrap();
    rec.wait_for(&id, State::StartContainer, TIMEOUT);
    let daemon = ext.pid().unwrap();
    freeze(daemon as i32);
    let call = Call::new();
    call.set_timeout(Some(Duration::from_millis(300)));
    let t0 = Instant::now();
    let r = call.run(|| client.list());
    let took = t0.elapsed();
    let later = call.run(|| client.get_pids(&id));
    unsafe { libc::kill(daemon as i32, libc::SIGCONT) };
    assert_eq!(r.unwrap_err().code(), Code::DeadlineExceeded);
    assert!(took < Duration::from_millis(300) + RETURN_BOUND, "list took {took:?} with a 300 ms deadline");
    // Past its deadline, the call fails at once.
    assert_eq!(later.unwrap_err().code(), Code::DeadlineExceeded);
    // The library still works once containerd is back.
    assert!(client.list().unwrap().iter().any(|c| c.id == id));
    client.signal(&id, 9).unwrap();
    rec.wait_for(&id, State::Exit, TIMEOUT);
    remote.cleanup().unwrap();
}

#[test]
fn a_cancelled_call_fails_every_later_call_at_once() {
    let d = TestDaemon::start();
    let (client, _rec) = d.client();
    let call = Call::new();
    call.cancel();
    let id = unique_id("dl-never");
    let t0 = Instant::now();
    assert_eq!(call.run(|| client.create(&id, &spec(&["true"]), &CreateOptions::default())).unwrap_err().code(), Code::Cancelled);
    assert_eq!(call.run(|| client.list()).unwrap_err().code(), Code::Cancelled);
    assert!(t0.elapsed() < RETURN_BOUND);
    // Nothing was created, and without a call everything works as before.
    assert!(client.list().unwrap().iter().all(|c| c.id != id));
    // A deadline that passes after the cancel does not change the outcome.
    call.set_timeout(Some(Duration::from_millis(1)));
    std::thread::sleep(Duration::from_millis(5));
    assert_eq!(call.run(|| client.list()).unwrap_err().code(), Code::Cancelled);
}

#[test]
fn a_remote_given_up_while_its_daemon_starts_is_ended() {
    // On a loaded machine the start can finish in the same wake-up as the deadline
    // passes; the call is then done (and the remote works). Given up is what is checked:
    // a few attempts, each with a new state directory.
    let mut attempt = 0;
    let state = loop {
        attempt += 1;
        let state = temp_state_dir();
        let call = Call::new();
        call.set_timeout(Some(Duration::from_millis(50)));
        let t0 = Instant::now();
        let r = call.run(|| Remote::new(daemon_options(state.path())));
        let took = t0.elapsed();
        match r {
            Ok(remote) if attempt < 5 => {
                remote.cleanup().unwrap();
                stop_daemon(state.path());
                continue;
            }
            r => {
                assert_eq!(r.err().map(|e| e.code()), Some(Code::DeadlineExceeded));
                assert!(took < Duration::from_millis(50) + RETURN_BOUND, "remote_new took {took:?}");
                break state;
            }
        }
    };
    // The daemon launched meanwhile is stopped again once its start has ended.
    let t0 = Instant::now();
    let mut seen = false;
    loop {
        match daemon_pid(state.path()) {
            Some(pid) if unsafe { libc::kill(pid, 0) } != 0 => break,
            Some(_) => seen = true,
            None if seen => break,
            None => {}
        }
        if t0.elapsed() > Duration::from_secs(60) {
            stop_daemon(state.path());
            panic!("the daemon of a remote given up is still running (pid file seen: {seen})");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn an_exec_cancelled_during_an_outage_is_undone() {
    let ext = ExternalContainerd::start();
    let state = temp_state_dir();
    let ns = unique_id("dl-ns");
    let remote = Remote::new(options(&ext, state.path(), &ns)).unwrap();
    let daemon = ext.pid().unwrap();
    let backend = Arc::new(Freezer { freeze: AtomicU32::new(0), events: Mutex::new(Vec::new()) });
    let client = remote.client(backend.clone()).unwrap();
    let id = unique_id("dl-exec");
    client.create(&id, &spec(&["sleep", "300"]), &CreateOptions::default()).unwrap();
    // attach_streams of the exec freezes containerd: the exec's creation then hangs.
    backend.freeze.store(daemon, Ordering::SeqCst);
    let call = Call::new();
    let canceller = cancel_later(&call, Duration::from_millis(500));
    let process = containerd::ProcessSpec::from_json(r#"{"args": ["sleep", "300"]}"#).unwrap();
    let r = call.run(|| client.add_process(&id, "x", &process));
    let returned = Instant::now();
    let cancelled_at = canceller.join().unwrap();
    unsafe { libc::kill(daemon as i32, libc::SIGCONT) };
    assert_eq!(r.unwrap_err().code(), Code::Cancelled);
    let took = returned.saturating_duration_since(cancelled_at);
    assert!(took < RETURN_BOUND, "add_process returned {took:?} after its cancel");
    // Once containerd answers, the exec is removed again and its id is free.
    let t0 = Instant::now();
    while client.summary(&id).unwrap().iter().any(|p| p.process_id == "x") || client.add_process(&id, "x", &process).is_err() {
        assert!(t0.elapsed() < Duration::from_secs(60), "exec x of {id} was not undone: {:?}", client.summary(&id));
        std::thread::sleep(Duration::from_millis(200));
    }
    client.flush_events();
    let events = backend.events.lock().unwrap().clone();
    let starts = events.iter().filter(|(c, e)| *c == id && e.process_id == "x" && e.state == State::StartProcess).count();
    assert_eq!(starts, 1, "only the second exec reported start-process: {events:?}");
    client.signal(&id, 9).unwrap();
    remote.cleanup().unwrap();
}

#[test]
fn a_pull_cancelled_while_the_registry_hangs_records_nothing() {
    let reg = common::registry::Registry::seeded();
    let d = TestDaemon::start();
    let reference = reg.reference("busybox:latest");
    let options: containerd::images::PullOptions = serde_json::from_value(serde_json::json!({"plain_http": [reg.addr()], "unpack": false})).unwrap();
    freeze(reg.pid());
    let call = Call::new();
    let canceller = cancel_later(&call, Duration::from_millis(300));
    let r = call.run(|| d.remote.pull_image(&reference, &options, None));
    let returned = Instant::now();
    let cancelled_at = canceller.join().unwrap();
    unsafe { libc::kill(reg.pid(), libc::SIGCONT) };
    assert_eq!(r.err().map(|e| e.code()), Some(Code::Cancelled));
    let took = returned.saturating_duration_since(cancelled_at);
    assert!(took < RETURN_BOUND, "pull returned {took:?} after its cancel");
    std::thread::sleep(Duration::from_millis(500));
    assert!(d.remote.images().unwrap().iter().all(|i| i.name != reference), "a cancelled pull recorded an image");
    // Without a call the same pull works.
    d.remote.pull_image(&reference, &options, None).unwrap();
}
