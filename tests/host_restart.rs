//! A restart of the host program with live restore on: a first program (this test
//! binary run again as a subprocess) creates containers and exits without cleaning
//! up; the test, as the second program, restores each of them.

mod common;

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use common::*;
use containerd::{Backend, ContainerStatus, CreateOptions, IoPipe, PolicyName, Remote, RemoteOptions, RestartPolicy, State, StateInfo};

/// Environment of the first host program: its state dir, and the container ids.
const DIR_VAR: &str = "LCD_FIRST_HOST_DIR";
const IDS_VAR: &str = "LCD_FIRST_HOST_IDS";

/// The containers the first program leaves behind, each in a different situation.
struct Ids {
    /// Running, reads stdin (restored: stdin and stdout continue, EOF on close).
    running: String,
    /// Paused (restored: `restore` then `pause`).
    paused: String,
    /// Exits with 5 after the first program is gone (restored: `exit` 5).
    exited: String,
    /// `on-failure` with at most 2 restarts; restarted once by the first program, then
    /// fails again while nobody watches (restored: one more restart, then `exit`).
    flaky: String,
    /// `unless-stopped`, stopped explicitly by the first program, ends afterwards
    /// (restored: `exit`, no restart).
    stopped: String,
}

impl Ids {
    fn new() -> Ids {
        Ids {
            running: unique_id("hr-run"),
            paused: unique_id("hr-frozen"),
            exited: unique_id("hr-done"),
            flaky: unique_id("hr-flaky"),
            stopped: unique_id("hr-stopped"),
        }
    }

    fn all(&self) -> [&String; 5] {
        [&self.running, &self.paused, &self.exited, &self.flaky, &self.stopped]
    }

    fn from_env() -> Ids {
        let v = std::env::var(IDS_VAR).expect("ids");
        let p: Vec<String> = v.split(',').map(str::to_string).collect();
        Ids { running: p[0].clone(), paused: p[1].clone(), exited: p[2].clone(), flaky: p[3].clone(), stopped: p[4].clone() }
    }
}

fn live_options(dir: &Path) -> RemoteOptions {
    let mut o = daemon_options(dir);
    o.live_restore = Some(true);
    o
}

fn policy(name: PolicyName, max: u32) -> CreateOptions {
    CreateOptions { restart_policy: Some(RestartPolicy { name, maximum_retry_count: max }), ..Default::default() }
}

/// The first program's backend: records the states, keeps every stream open and
/// reads nothing, so whatever the containers print waits for the second program.
#[derive(Default)]
struct FirstHost {
    states: Mutex<Vec<(String, State)>>,
    cv: Condvar,
    kept: Mutex<Vec<IoPipe>>,
}

impl FirstHost {
    fn wait_count(&self, id: &str, state: State, n: usize) {
        let deadline = Instant::now() + TIMEOUT;
        let mut st = self.states.lock().unwrap();
        while st.iter().filter(|(i, s)| i == id && *s == state).count() < n {
            let left = deadline.checked_duration_since(Instant::now()).unwrap_or_else(|| panic!("{id}: no {state:?} #{n}: {st:?}"));
            st = self.cv.wait_timeout(st, left).unwrap().0;
        }
    }
}

impl Backend for FirstHost {
    fn state_changed(&self, id: &str, info: &StateInfo) -> containerd::Result<()> {
        self.states.lock().unwrap().push((id.to_string(), info.state));
        self.cv.notify_all();
        Ok(())
    }

    fn attach_streams(&self, _: &str, _: &str, io: IoPipe) -> containerd::Result<()> {
        self.kept.lock().unwrap().push(io);
        Ok(())
    }
}

/// The first host program; run only as the subprocess of
/// [`restarted_host_program_restores_every_container`].
#[test]
#[ignore = "run by restarted_host_program_restores_every_container as its first host program"]
fn first_host_program() {
    let dir = PathBuf::from(std::env::var_os(DIR_VAR).expect("run by restarted_host_program_restores_every_container"));
    let ids = Ids::from_env();
    let remote = Remote::new(live_options(&dir)).unwrap();
    let host = Arc::new(FirstHost::default());
    let client = remote.client(host.clone()).unwrap();
    let none = CreateOptions::default();
    client.create(&ids.running, &spec(&["sh", "-c", "echo first; read x; echo got $x; cat; echo eof; exit 4"]), &none).unwrap();
    client.create(&ids.paused, &spec(&["sleep", "300"]), &none).unwrap();
    client.pause(&ids.paused).unwrap();
    client.create(&ids.exited, &spec(&["sh", "-c", "sleep 4; exit 5"]), &none).unwrap();
    client.create(&ids.flaky, &spec(&["sh", "-c", "sleep 2; exit 3"]), &policy(PolicyName::OnFailure, 2)).unwrap();
    let stopped = spec(&["sh", "-c", "trap 'sleep 2; exit 0' TERM; echo ready; while :; do sleep 1; done"]);
    client.create(&ids.stopped, &stopped, &policy(PolicyName::UnlessStopped, 0)).unwrap();
    // The trap is set once the shell runs its loop.
    std::thread::sleep(Duration::from_millis(500));
    client.signal(&ids.stopped, libc::SIGTERM).unwrap();
    // The flaky one's first run fails and is restarted; its second run is under way.
    host.wait_count(&ids.flaky, State::Restart, 1);
    host.wait_count(&ids.flaky, State::StartContainer, 2);
    // Gone without cleanup, as a crashed or upgraded program would be.
    std::process::exit(0);
}

/// Runs [`first_host_program`] as a subprocess of this test binary.
fn run_first_host_program(dir: &Path, ids: &Ids) {
    let exe = std::env::current_exe().unwrap();
    let joined = ids.all().map(|s| s.as_str()).join(",");
    let out = Command::new(exe)
        .args(["first_host_program", "--exact", "--ignored", "--nocapture", "--test-threads=1"])
        .env(DIR_VAR, dir)
        .env(IDS_VAR, joined)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "first host program failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn restarted_host_program_restores_every_container() {
    let dir = temp_state_dir();
    let ids = Ids::new();
    run_first_host_program(dir.path(), &ids);

    // The second program: the same state dir adopts the daemon the first one started.
    let remote = Remote::new(live_options(dir.path())).unwrap();
    let rec = Recorder::new();
    let client = remote.client(rec.backend()).unwrap();
    let listed: HashMap<String, ContainerStatus> = client.list().unwrap().into_iter().map(|c| (c.id, c.status)).collect();
    for id in ids.all() {
        assert!(listed.contains_key(id.as_str()), "{id} not listed: {listed:?}");
    }
    assert_eq!(listed[&ids.paused], ContainerStatus::Paused);
    // Let the exits that happen while nobody watches happen.
    let t0 = Instant::now();
    while client.list().unwrap().iter().any(|c| [&ids.exited, &ids.flaky, &ids.stopped].contains(&&c.id) && c.status != ContainerStatus::Stopped) {
        assert!(t0.elapsed() < TIMEOUT, "containers did not end: {:?}", client.list().unwrap());
        std::thread::sleep(Duration::from_millis(100));
    }

    // Running: the same process, its stdin and stdout on new fds, EOF when closed.
    let pid = client.list().unwrap().into_iter().find(|c| c.id == ids.running).unwrap().pid;
    client.restore(&ids.running, &CreateOptions::default()).unwrap();
    assert_eq!(rec.wait_for(&ids.running, State::Restore, TIMEOUT).pid, pid);
    let mut stdin = rec.take_stdin(&ids.running, "init");
    stdin.write_all(b"again\n").unwrap();
    rec.wait_stdout_contains(&ids.running, "init", "got again", TIMEOUT);
    stdin.write_all(b"tail\n").unwrap();
    drop(stdin);
    assert_eq!(rec.wait_for(&ids.running, State::Exit, TIMEOUT).exit_code, 4);
    rec.wait_output_closed(&ids.running, "init", TIMEOUT);
    assert_eq!(rec.stdout(&ids.running, "init"), "first\ngot again\ntail\neof\n");

    // Paused: restored, reported paused, still frozen until told otherwise.
    client.restore(&ids.paused, &CreateOptions::default()).unwrap();
    rec.wait_for(&ids.paused, State::Pause, TIMEOUT);
    assert_eq!(rec.states(&ids.paused), vec![State::Restore, State::Pause]);
    client.resume(&ids.paused).unwrap();
    client.signal(&ids.paused, libc::SIGKILL).unwrap();
    assert_eq!(rec.wait_for(&ids.paused, State::Exit, TIMEOUT).exit_code, 137);

    // Exited while away: its real exit code.
    client.restore(&ids.exited, &CreateOptions::default()).unwrap();
    assert_eq!(rec.wait_for(&ids.exited, State::Exit, TIMEOUT).exit_code, 5);

    // The policy comes back from containerd, with the restart the first program did:
    // one more restart (the second of two), then the final exit.
    client.restore(&ids.flaky, &CreateOptions::default()).unwrap();
    assert_eq!(rec.wait_for(&ids.flaky, State::Exit, TIMEOUT).exit_code, 3);
    assert_eq!(rec.states(&ids.flaky), vec![State::Restart, State::StartContainer, State::Exit]);

    // Stopped explicitly before the first program went: not restarted.
    client.restore(&ids.stopped, &CreateOptions::default()).unwrap();
    assert_eq!(rec.wait_for(&ids.stopped, State::Exit, TIMEOUT).exit_code, 0);
    assert_eq!(rec.states(&ids.stopped), vec![State::Exit]);

    std::thread::sleep(Duration::from_millis(500));
    for id in ids.all() {
        assert_eq!(rec.count(id, State::Exit), 1, "{id}: {:?}", rec.events(id));
    }
    assert!(client.list().unwrap().is_empty(), "{:?}", client.list().unwrap());
    remote.cleanup().unwrap();
}
