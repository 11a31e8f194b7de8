//! Restart policies against a real containerd: retry counts, the backoff and its
//! reset, and explicit stops.

mod common;

use std::time::{Duration, Instant};

use common::*;
use containerd::{CreateOptions, PolicyName, RestartPolicy, State};

fn policy(name: PolicyName, max: u32) -> CreateOptions {
    CreateOptions { restart_policy: Some(RestartPolicy { name, maximum_retry_count: max }), ..Default::default() }
}

/// Time from each `restart` to the next `start-container`.
fn gaps(rec: &Recorder, id: &str) -> Vec<Duration> {
    let ev = rec.event_times(id);
    ev.windows(2)
        .filter(|w| w[0].0 == State::Restart && w[1].0 == State::StartContainer)
        .map(|w| w[1].1 - w[0].1)
        .collect()
}

#[test]
fn on_failure_restarts_up_to_the_maximum_with_backoff() {
    let (client, rec) = test_client();
    let id = unique_id("onfail");
    let t0 = Instant::now();
    client.create(&id, &spec(&["sh", "-c", "echo run; exit 1"]), &policy(PolicyName::OnFailure, 2)).unwrap();
    let exit = rec.wait_for(&id, State::Exit, TIMEOUT);
    assert_eq!(exit.exit_code, 1);
    use State::*;
    assert_eq!(rec.states(&id), vec![StartContainer, Restart, StartContainer, Restart, StartContainer, Exit]);
    let g = gaps(&rec, &id);
    assert!(g[0] >= Duration::from_millis(100) && g[1] >= Duration::from_millis(200), "{g:?}");
    assert!(t0.elapsed() < Duration::from_secs(10));
    // Each run had its own stdio.
    assert_eq!(rec.attach_count(&id, "init"), 3);
    assert!(client.list().unwrap().iter().all(|c| c.id != id));
}

#[test]
fn on_failure_does_not_restart_a_success() {
    let (client, rec) = test_client();
    let id = unique_id("onok");
    client.create(&id, &spec(&["true"]), &policy(PolicyName::OnFailure, 0)).unwrap();
    rec.wait_for(&id, State::Exit, TIMEOUT);
    assert_eq!(rec.states(&id), vec![State::StartContainer, State::Exit]);
}

#[test]
fn explicit_stop_cancels_always() {
    let (client, rec) = test_client();
    let id = unique_id("always");
    client.create(&id, &spec(&["sleep", "300"]), &policy(PolicyName::Always, 0)).unwrap();
    rec.wait_for(&id, State::StartContainer, TIMEOUT);
    client.signal(&id, 9).unwrap();
    assert_eq!(rec.wait_for(&id, State::Exit, TIMEOUT).exit_code, 137);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(rec.states(&id), vec![State::StartContainer, State::Exit]);
}

#[test]
fn stop_during_backoff_ends_the_container() {
    let (client, rec) = test_client();
    let id = unique_id("stopwait");
    // Each run fails at once; the stop lands while a restart is pending or running.
    client.create(&id, &spec(&["sh", "-c", "exit 2"]), &policy(PolicyName::UnlessStopped, 0)).unwrap();
    rec.wait_for_nth(&id, State::Restart, 3, TIMEOUT);
    let _ = client.signal(&id, 9);
    let exit = rec.wait_for(&id, State::Exit, TIMEOUT);
    assert!(exit.exit_code == 2 || exit.exit_code == 137, "{exit:?}");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(rec.count(&id, State::Exit), 1);
    let n = rec.events(&id).len();
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(rec.events(&id).len(), n, "events after the final exit");
}

#[test]
fn a_long_run_resets_the_backoff() {
    let (client, rec) = test_client();
    let id = unique_id("reset");
    let state = tempfile::tempdir().unwrap();
    let mut s = busybox_spec(&[
        "sh",
        "-c",
        "n=$(cat /state/n 2>/dev/null || echo 0); n=$((n+1)); echo $n > /state/n; \
         if [ $n -eq 5 ]; then sleep 10.5; fi; if [ $n -ge 6 ]; then sleep 300; fi; exit 1",
    ]);
    s["mounts"].as_array_mut().unwrap().push(serde_json::json!({
        "destination": "/state", "type": "bind", "source": state.path(), "options": ["rbind", "rw"]
    }));
    client.create(&id, &to_spec(&s), &policy(PolicyName::Always, 0)).unwrap();
    rec.wait_for_nth(&id, State::StartContainer, 6, Duration::from_secs(60));
    let g = gaps(&rec, &id);
    assert_eq!(g.len(), 5, "{g:?}");
    // 100, 200, 400, 800 ms, then back to 100 ms after the 10.5 s run.
    assert!(g[3] >= Duration::from_millis(800), "{g:?}");
    assert!(g[4] < Duration::from_millis(700), "backoff not reset after a long run (1.6 s otherwise): {g:?}");
    client.signal(&id, 9).unwrap();
    rec.wait_for(&id, State::Exit, TIMEOUT);
}

/// Reports to a recorder; the second and later `attach_streams` calls (the restarts)
/// take 1.5 s.
struct SlowRestartAttach {
    rec: std::sync::Arc<Recorder>,
    attaches: std::sync::atomic::AtomicUsize,
    in_attach: std::sync::atomic::AtomicBool,
}

impl containerd::Backend for SlowRestartAttach {
    fn state_changed(&self, id: &str, info: &containerd::StateInfo) -> containerd::Result<()> {
        self.rec.state_changed(id, info)
    }
    fn attach_streams(&self, _: &str, _: &str, io: containerd::IoPipe) -> containerd::Result<()> {
        use std::sync::atomic::Ordering::SeqCst;
        if self.attaches.fetch_add(1, SeqCst) >= 1 {
            self.in_attach.store(true, SeqCst);
            std::thread::sleep(Duration::from_millis(1500));
            self.in_attach.store(false, SeqCst);
        }
        io.discard();
        Ok(())
    }
}

#[test]
fn close_waits_for_a_restart_attach_and_the_container_is_removed() {
    use std::sync::atomic::Ordering::SeqCst;
    let rec = Recorder::new();
    let backend = std::sync::Arc::new(SlowRestartAttach { rec: rec.clone(), attaches: Default::default(), in_attach: Default::default() });
    let client = test_remote().client(backend.clone()).unwrap();
    let id = unique_id("slowattach");
    client.create(&id, &spec(&["sh", "-c", "exit 1"]), &policy(PolicyName::Always, 0)).unwrap();
    let t0 = Instant::now();
    while !backend.in_attach.load(SeqCst) {
        assert!(t0.elapsed() < TIMEOUT, "no restart attach");
        std::thread::sleep(Duration::from_millis(10));
    }
    client.close();
    assert!(!backend.in_attach.load(SeqCst), "close returned while attach_streams still ran");
    drop(client);
    // The cancelled restart removes the container.
    let (other, _) = test_client();
    let t0 = Instant::now();
    while other.list().unwrap().iter().any(|c| c.id == id) {
        assert!(t0.elapsed() < Duration::from_secs(10), "container left behind after its client closed mid-restart");
        std::thread::sleep(Duration::from_millis(100));
    }
}
