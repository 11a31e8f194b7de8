//! Many threads driving one client at once: every container's exit is seen exactly
//! once with its own code, and nothing is left behind.

mod common;

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use common::*;
use containerd::{Backend, Code, CreateOptions, IoPipe, ProcessSpec, State, StateInfo};

#[test]
fn parallel_creates_execs_and_exits_are_all_seen_once() {
    let (client, rec) = test_client();
    let threads: Vec<_> = (0..16)
        .map(|t| {
            let client = client.clone();
            std::thread::spawn(move || {
                let mut ids = Vec::new();
                for n in 0..3 {
                    let id = unique_id(&format!("par{t}"));
                    let code = (t * 3 + n) % 100;
                    client.create(&id, &spec(&["sh", "-c", &format!("sleep 0.3; exit {code}")]), &CreateOptions::default()).unwrap();
                    // An exec racing the container's own end may fail; it must not
                    // disturb the exit.
                    let p = ProcessSpec::from_json(r#"{"args": ["true"]}"#).unwrap();
                    let exec = client.add_process(&id, "side", &p);
                    if let Err(e) = &exec {
                        // Gone or stopping. The shim's and runc's refusals of an exec into a
                        // container that is stopping reach the library as gRPC "unknown".
                        let runtime_refused = e.code() == Code::Internal
                            && (e.message().contains("OCI runtime exec failed") || e.message().contains("cannot exec in a stopped"));
                        assert!(matches!(e.code(), Code::NotFound | Code::FailedPrecondition) || runtime_refused, "{id}: exec failed with {e}");
                    }
                    match client.stats(&id) {
                        Ok(stats) => assert!(stats["read"].is_string() && stats["pids"].is_object(), "{id}: {stats}"),
                        Err(e) => assert!(matches!(e.code(), Code::NotFound | Code::FailedPrecondition), "{id}: stats failed with {e}"),
                    }
                    ids.push((id, code, exec.is_ok()));
                }
                ids
            })
        })
        .collect();
    let all: Vec<(String, u32, bool)> = threads.into_iter().flat_map(|t| t.join().unwrap()).map(|(id, c, e)| (id, c as u32, e)).collect();
    assert!(all.iter().any(|(_, _, exec_ok)| *exec_ok), "no exec succeeded: the path checked above never ran");
    for (id, code, exec_ok) in &all {
        let exit = rec.wait_for(id, State::Exit, Duration::from_secs(60));
        assert_eq!(exit.exit_code, *code, "{id}");
        // An exec that started is reported, and reported as ended, before the exit.
        let states = rec.states(id);
        if *exec_ok {
            let events = rec.events(id);
            assert!(events.iter().any(|e| e.state == State::StartProcess && e.process_id == "side"), "{id}: {states:?}");
            assert!(events.iter().any(|e| e.state == State::ExitProcess && e.process_id == "side"), "{id}: {states:?}");
        }
    }
    std::thread::sleep(Duration::from_millis(500));
    for (id, _, _) in &all {
        assert_eq!(rec.count(id, State::Exit), 1, "{id}: {:?}", rec.events(id));
        let states = rec.states(id);
        assert_eq!(states[0], State::StartContainer, "{id}: {states:?}");
        assert_eq!(*states.last().unwrap(), State::Exit, "{id}: {states:?}");
        let fifo_dir = test_state_dir().join("fifo/libcontainerd").join(id);
        assert!(!fifo_dir.exists(), "fifos left behind in {}", fifo_dir.display());
    }
    let listed = client.list().unwrap();
    assert!(all.iter().all(|(id, _, _)| listed.iter().all(|c| &c.id != id)));
}

/// Blocks `state_changed` of containers whose id starts with "blocked" until opened
/// (and counts the callbacks that are blocked); everything goes on to a [`Recorder`].
struct Blocking {
    rec: Arc<Recorder>,
    gate: Arc<Gate>,
}

#[derive(Default)]
struct Gate {
    state: Mutex<(bool, usize)>,
    cv: Condvar,
}

impl Gate {
    fn open(&self) {
        self.state.lock().unwrap().0 = true;
        self.cv.notify_all();
    }
}

/// Opens the gate when the test ends, passed or not, so no callback stays blocked.
struct OpenOnDrop(Arc<Gate>);

impl Drop for OpenOnDrop {
    fn drop(&mut self) {
        self.0.open();
    }
}

impl Backend for Blocking {
    fn state_changed(&self, container_id: &str, info: &StateInfo) -> containerd::Result<()> {
        if container_id.starts_with("blocked") {
            let mut st = self.gate.state.lock().unwrap();
            st.1 += 1;
            self.gate.cv.notify_all();
            while !st.0 {
                st = self.gate.cv.wait(st).unwrap();
            }
        }
        self.rec.state_changed(container_id, info)
    }

    fn attach_streams(&self, container_id: &str, process_id: &str, io: IoPipe) -> containerd::Result<()> {
        self.rec.attach_streams(container_id, process_id, io)
    }
}

#[test]
fn a_blocked_callback_does_not_delay_other_containers() {
    let rec = Recorder::new();
    let gate = Arc::new(Gate::default());
    let client = test_remote().client(Arc::new(Blocking { rec: rec.clone(), gate: gate.clone() })).unwrap();
    let _open = OpenOnDrop(gate.clone());
    let blocked: Vec<String> = (0..2).map(|_| unique_id("blocked")).collect();
    for id in &blocked {
        client.create(id, &spec(&["sleep", "300"]), &CreateOptions::default()).unwrap();
    }
    // Both start-container callbacks are blocked in the host.
    let t0 = Instant::now();
    while gate.state.lock().unwrap().1 < 2 {
        assert!(t0.elapsed() < TIMEOUT, "the blocked containers' callbacks never ran");
        std::thread::sleep(Duration::from_millis(10));
    }
    // A third container's events go on meanwhile.
    for n in 0..3u32 {
        let id = unique_id("free");
        client.create(&id, &spec(&["sh", "-c", &format!("exit {n}")]), &CreateOptions::default()).unwrap();
        assert_eq!(rec.wait_for(&id, State::Exit, TIMEOUT).exit_code, n, "{id}");
        assert_eq!(rec.states(&id), vec![State::StartContainer, State::Exit]);
    }
    // The blocked ones missed nothing once their host lets go.
    gate.open();
    for id in &blocked {
        rec.wait_for(id, State::StartContainer, TIMEOUT);
        client.signal(id, libc::SIGKILL).unwrap();
        assert_eq!(rec.wait_for(id, State::Exit, TIMEOUT).exit_code, 137);
        assert_eq!(rec.states(id), vec![State::StartContainer, State::Exit]);
    }
}
