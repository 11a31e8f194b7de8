//! `stop` (stop signal, SIGKILL after the timeout, explicit stop) and
//! `update_restart_policy` (SetPolicy, and Cancel of a pending restart) on a real
//! containerd.

mod common;

use std::time::{Duration, Instant};

use common::*;
use containerd::{Code, CreateOptions, PolicyName, RestartPolicy, State};

fn policy(name: PolicyName) -> CreateOptions {
    CreateOptions { restart_policy: Some(RestartPolicy { name, maximum_retry_count: 0 }), ..Default::default() }
}

fn always() -> RestartPolicy {
    RestartPolicy { name: PolicyName::Always, maximum_retry_count: 0 }
}

fn no() -> RestartPolicy {
    RestartPolicy { name: PolicyName::No, maximum_retry_count: 0 }
}

/// A shell that exits 3 on SIGUSR1 and ignores SIGTERM; it prints `ready` once its
/// traps are set (a signal before that would be lost: pid 1 ignores signals it has no
/// handler for).
const USR1_EXITS: &str = "trap 'exit 3' USR1; trap '' TERM; echo ready; while true; do sleep 0.1; done";

/// Waits until the current run of container `id` has printed `ready`.
fn ready(rec: &Recorder, id: &str, n: usize) {
    let needle = "ready\n".repeat(n);
    rec.wait_stdout_contains(id, "init", &needle, TIMEOUT);
}

fn proc_alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).map(|s| !s.contains(") Z")).unwrap_or(false)
}

#[test]
fn stop_kills_after_the_timeout_and_reports_once() {
    let (client, rec) = test_client();
    let id = unique_id("stopkill");
    client.create(&id, &spec(&["sh", "-c", "trap '' TERM; while true; do sleep 0.1; done"]), &CreateOptions::default()).unwrap();
    let pid = rec.wait_for(&id, State::StartContainer, TIMEOUT).pid;
    let t0 = Instant::now();
    client.stop(&id, 0, Duration::from_millis(1500)).unwrap();
    let took = t0.elapsed();
    assert!(took >= Duration::from_millis(1500), "SIGKILL came before the timeout: {took:?}");
    assert!(took < Duration::from_secs(10), "stop took {took:?}");
    // It returns once init has exited.
    assert!(!proc_alive(pid), "init {pid} still alive after stop returned");
    let exit = rec.wait_for(&id, State::Exit, TIMEOUT);
    assert_eq!(exit.exit_code, 137);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(rec.states(&id), vec![State::StartContainer, State::Exit]);
    assert!(client.list().unwrap().iter().all(|c| c.id != id));
}

#[test]
fn stop_returns_early_when_the_signal_ends_it() {
    let (client, rec) = test_client();
    let id = unique_id("stopterm");
    client.create(&id, &spec(&["sh", "-c", "trap 'exit 5' TERM; echo ready; while true; do sleep 0.1; done"]), &CreateOptions::default()).unwrap();
    ready(&rec, &id, 1);
    let t0 = Instant::now();
    client.stop(&id, 0, Duration::from_secs(20)).unwrap();
    assert!(t0.elapsed() < Duration::from_secs(10), "stop waited for the timeout: {:?}", t0.elapsed());
    assert_eq!(rec.wait_for(&id, State::Exit, TIMEOUT).exit_code, 5);
}

#[test]
fn stop_uses_the_spec_stop_signal() {
    let (client, rec) = test_client();
    let id = unique_id("stopsig");
    let mut s = busybox_spec(&["sh", "-c", USR1_EXITS]);
    s["annotations"] = serde_json::json!({"org.opencontainers.image.stopSignal": "SIGUSR1"});
    client.create(&id, &to_spec(&s), &CreateOptions::default()).unwrap();
    ready(&rec, &id, 1);
    client.stop(&id, 0, Duration::from_secs(20)).unwrap();
    assert_eq!(rec.wait_for(&id, State::Exit, TIMEOUT).exit_code, 3, "SIGTERM sent instead of the spec's stop signal");
}

#[test]
fn stop_cancels_an_always_restart() {
    let (client, rec) = test_client();
    let id = unique_id("stopalways");
    client.create(&id, &spec(&["sh", "-c", USR1_EXITS]), &policy(PolicyName::Always)).unwrap();
    ready(&rec, &id, 1);
    // SIGUSR1 is not a stop: the policy restarts it.
    client.stop(&id, libc::SIGUSR1, Duration::from_secs(20)).unwrap();
    let exit = rec.wait_for(&id, State::Exit, TIMEOUT);
    assert_eq!(exit.exit_code, 3);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(rec.states(&id), vec![State::StartContainer, State::Exit], "stop did not cancel the restart");
}

#[test]
fn stop_during_backoff_ends_the_container() {
    let (client, rec) = test_client();
    let id = unique_id("stopbackoff");
    client.create(&id, &spec(&["sh", "-c", "exit 2"]), &policy(PolicyName::Always)).unwrap();
    // The 5th restart waits 1.6 s before its run.
    rec.wait_for_nth(&id, State::Restart, 5, TIMEOUT);
    client.stop(&id, 0, Duration::from_secs(5)).unwrap();
    let exit = rec.wait_for(&id, State::Exit, TIMEOUT);
    assert_eq!(exit.exit_code, 2);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(rec.count(&id, State::StartContainer), 5, "{:?}", rec.states(&id));
    assert_eq!(rec.count(&id, State::Exit), 1);
}

#[test]
fn stop_checks_its_arguments() {
    let (client, _rec) = test_client();
    assert_eq!(client.stop("nope-none", 0, Duration::ZERO).unwrap_err().code(), Code::NotFound);
    assert_eq!(client.stop("x", 65, Duration::ZERO).unwrap_err().code(), Code::InvalidArgument);
    assert_eq!(client.stop("x", -1, Duration::ZERO).unwrap_err().code(), Code::InvalidArgument);
    assert_eq!(client.stop("../x", 0, Duration::ZERO).unwrap_err().code(), Code::InvalidArgument);
}

#[test]
fn update_to_no_cancels_a_pending_restart() {
    let (client, rec) = test_client();
    let id = unique_id("updno");
    client.create(&id, &spec(&["sh", "-c", "exit 4"]), &policy(PolicyName::Always)).unwrap();
    rec.wait_for_nth(&id, State::Restart, 5, TIMEOUT);
    client.update_restart_policy(&id, &no()).unwrap();
    let exit = rec.wait_for(&id, State::Exit, TIMEOUT);
    assert_eq!(exit.exit_code, 4);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(rec.count(&id, State::StartContainer), 5, "the pending restart ran: {:?}", rec.states(&id));
}

#[test]
fn update_to_always_makes_a_container_restart() {
    let (client, rec) = test_client();
    let id = unique_id("updalways");
    client.create(&id, &spec(&["sh", "-c", USR1_EXITS]), &CreateOptions::default()).unwrap();
    ready(&rec, &id, 1);
    client.update_restart_policy(&id, &always()).unwrap();
    client.signal(&id, libc::SIGUSR1).unwrap();
    rec.wait_for(&id, State::Restart, TIMEOUT);
    rec.wait_for_nth(&id, State::StartContainer, 2, TIMEOUT);
    ready(&rec, &id, 2);
    // Back to "no" on a running container: its next exit is final.
    client.update_restart_policy(&id, &no()).unwrap();
    client.signal(&id, libc::SIGUSR1).unwrap();
    assert_eq!(rec.wait_for(&id, State::Exit, TIMEOUT).exit_code, 3);
    assert_eq!(rec.states(&id), vec![State::StartContainer, State::Restart, State::StartContainer, State::Exit]);
}

#[test]
fn update_checks_its_arguments() {
    let (client, _rec) = test_client();
    assert_eq!(client.update_restart_policy("nope-none", &always()).unwrap_err().code(), Code::NotFound);
    let bad = RestartPolicy { name: PolicyName::Always, maximum_retry_count: 3 };
    assert_eq!(client.update_restart_policy("x", &bad).unwrap_err().code(), Code::InvalidArgument);
}

#[test]
fn an_updated_policy_survives_restore() {
    let daemon = TestDaemon::start_with(|o| o.live_restore = Some(true));
    let (first, rec1) = daemon.client();
    let id = unique_id("updrestore");
    first.create(&id, &spec(&["sh", "-c", USR1_EXITS]), &CreateOptions::default()).unwrap();
    ready(&rec1, &id, 1);
    first.update_restart_policy(&id, &always()).unwrap();
    first.close();
    // A later host program restores it without options: the recorded policy applies.
    let (second, rec2) = daemon.client();
    // Live restore keeps containers running past the daemon's end: stop it whatever happens.
    let _stop = StopOnDrop(second.clone(), id.clone());
    second.restore(&id, &CreateOptions::default()).unwrap();
    rec2.wait_for(&id, State::Restore, TIMEOUT);
    second.signal(&id, libc::SIGUSR1).unwrap();
    rec2.wait_for(&id, State::Restart, TIMEOUT);
    rec2.wait_for(&id, State::StartContainer, TIMEOUT);
    second.stop(&id, libc::SIGKILL, Duration::from_secs(5)).unwrap();
    assert_eq!(rec2.wait_for(&id, State::Exit, TIMEOUT).exit_code, 137);
}


/// Stops a container when dropped (also when the test fails half-way).
struct StopOnDrop(containerd::Client, String);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        let _ = self.0.stop(&self.1, libc::SIGKILL, Duration::from_secs(5));
    }
}
