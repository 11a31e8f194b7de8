//! Exec, terminals, pause/resume, stats, resources, OOM and re-entrant callbacks
//! against a real containerd.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use common::*;
use containerd::{Backend, Client, Code, CreateOptions, IoPipe, ProcessSpec, State, StateInfo};

fn process(json: serde_json::Value) -> ProcessSpec {
    ProcessSpec::from_json(&json.to_string()).unwrap()
}

fn cgroup_file(controller: &str, id: &str, file: &str) -> String {
    let path = format!("/sys/fs/cgroup/{controller}/libcontainerd/{id}/{file}");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}")).trim().to_string()
}

#[test]
fn exec_reports_start_output_and_exit_code() {
    let (client, rec) = test_client();
    let id = unique_id("exec");
    client.create(&id, &spec(&["sleep", "300"]), &CreateOptions::default()).unwrap();
    rec.wait_for(&id, State::StartContainer, TIMEOUT);
    let pid = client.add_process(&id, "p1", &process(serde_json::json!({"args": ["sh", "-c", "echo hi; echo err >&2; exit 3"]}))).unwrap();
    assert!(pid > 0);
    let start = rec.wait_for_process(&id, "p1", State::StartProcess, TIMEOUT);
    assert_eq!(start.pid, pid);
    let exit = rec.wait_for_process(&id, "p1", State::ExitProcess, TIMEOUT);
    assert_eq!(exit.exit_code, 3);
    assert_eq!(exit.process_id, "p1");
    assert!(exit.exited_at_unix_nano > 0);
    rec.wait_output_closed(&id, "p1", TIMEOUT);
    assert_eq!(rec.stdout(&id, "p1"), "hi\n");
    assert_eq!(rec.stderr(&id, "p1"), "err\n");
    // The container keeps running.
    let listed = client.list().unwrap();
    let me = listed.iter().find(|c| c.id == id).expect("container listed");
    assert_eq!(me.status, containerd::ContainerStatus::Running);
    assert_eq!(rec.count(&id, State::Exit), 0);

    // The same process id can be used again once it exited.
    client.add_process(&id, "p1", &process(serde_json::json!({"args": ["true"]}))).unwrap();
    // A missing binary is an error; the container stays killable.
    let e = client.add_process(&id, "p2", &process(serde_json::json!({"args": ["/nope"]}))).unwrap_err();
    assert_ne!(e.code(), Code::Ok);
    // A 20,000-character argument.
    let arg = "x".repeat(20_000);
    client.add_process(&id, "p3", &process(serde_json::json!({"args": ["sh", "-c", "echo ${#1}", "sh", arg]}))).unwrap();
    rec.wait_for_process(&id, "p3", State::ExitProcess, TIMEOUT);
    rec.wait_output_closed(&id, "p3", TIMEOUT);
    assert_eq!(rec.stdout(&id, "p3"), "20000\n");
    // Exec with user, env and cwd overrides.
    client
        .add_process(&id, "p4", &process(serde_json::json!({"args": ["sh", "-c", "id -u; echo $X; pwd"], "user": {"uid": 1000, "gid": 1000}, "env": ["PATH=/bin", "X=y"], "cwd": "/tmp"})))
        .unwrap();
    rec.wait_for_process(&id, "p4", State::ExitProcess, TIMEOUT);
    rec.wait_output_closed(&id, "p4", TIMEOUT);
    assert_eq!(rec.stdout(&id, "p4"), "1000\ny\n/tmp\n");

    client.signal(&id, 9).unwrap();
    assert_eq!(rec.wait_for(&id, State::Exit, TIMEOUT).exit_code, 137);
}

#[test]
fn exec_stdin_close_delivers_eof() {
    let (client, rec) = test_client();
    let id = unique_id("execin");
    client.create(&id, &spec(&["sleep", "300"]), &CreateOptions::default()).unwrap();
    client.add_process(&id, "cat", &process(serde_json::json!({"args": ["cat"]}))).unwrap();
    let mut stdin = rec.take_stdin(&id, "cat");
    stdin.write_all(b"through the exec").unwrap();
    drop(stdin);
    assert_eq!(rec.wait_for_process(&id, "cat", State::ExitProcess, TIMEOUT).exit_code, 0);
    rec.wait_output_closed(&id, "cat", TIMEOUT);
    assert_eq!(rec.stdout(&id, "cat"), "through the exec");
    client.signal(&id, 9).unwrap();
    rec.wait_for(&id, State::Exit, TIMEOUT);
}

/// How many descriptors of this process point at a file whose path ends with `suffix`.
fn own_fds_to(suffix: &str) -> usize {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .count()
}

#[test]
fn exec_stdin_fifo_is_opened_only_when_the_host_writes() {
    let (client, rec) = test_client();
    let id = unique_id("lazyin");
    client.create(&id, &spec(&["sleep", "300"]), &CreateOptions::default()).unwrap();
    let exec = format!("{id}-cat");
    client.add_process(&id, &exec, &process(serde_json::json!({"args": ["cat"]}))).unwrap();
    rec.wait_for_process(&id, &exec, State::StartProcess, TIMEOUT);
    let fifo = format!("/{exec}-stdin");
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(own_fds_to(&fifo), 0, "the stdin fifo is open before the host wrote anything");
    let mut stdin = rec.take_stdin(&id, &exec);
    stdin.write_all(b"late").unwrap();
    let t0 = std::time::Instant::now();
    while own_fds_to(&fifo) == 0 {
        assert!(t0.elapsed() < TIMEOUT, "the stdin fifo was never opened after a write");
        std::thread::sleep(Duration::from_millis(10));
    }
    drop(stdin);
    assert_eq!(rec.wait_for_process(&id, &exec, State::ExitProcess, TIMEOUT).exit_code, 0);
    rec.wait_output_closed(&id, &exec, TIMEOUT);
    assert_eq!(rec.stdout(&id, &exec), "late");
    client.signal(&id, 9).unwrap();
    rec.wait_for(&id, State::Exit, TIMEOUT);
}

#[test]
fn terminal_exec_resize() {
    let (client, rec) = test_client();
    let id = unique_id("tty");
    client.create(&id, &spec(&["sleep", "300"]), &CreateOptions::default()).unwrap();
    client.add_process(&id, "t", &process(serde_json::json!({"args": ["sh", "-c", "read x; stty size"], "terminal": true}))).unwrap();
    assert!(rec.terminal(&id, "t"));
    client.resize(&id, "t", 100, 40).unwrap();
    let mut stdin = rec.take_stdin(&id, "t");
    stdin.write_all(b"\n").unwrap();
    rec.wait_for_process(&id, "t", State::ExitProcess, TIMEOUT);
    let out = rec.wait_stdout_contains(&id, "t", "40 100", TIMEOUT);
    assert!(out.contains("40 100"), "{out:?}");
    drop(stdin);
    client.signal(&id, 9).unwrap();
    rec.wait_for(&id, State::Exit, TIMEOUT);
}

#[test]
fn pause_resume_and_kill_while_paused() {
    let (client, rec) = test_client();
    let id = unique_id("pause");
    client.create(&id, &spec(&["sleep", "300"]), &CreateOptions::default()).unwrap();
    rec.wait_for(&id, State::StartContainer, TIMEOUT);
    client.pause(&id).unwrap();
    assert_eq!(cgroup_file("freezer", &id, "freezer.state"), "FROZEN");
    rec.wait_for(&id, State::Pause, TIMEOUT);
    assert_eq!(client.list().unwrap().iter().find(|c| c.id == id).unwrap().status, containerd::ContainerStatus::Paused);
    client.resume(&id).unwrap();
    assert_eq!(cgroup_file("freezer", &id, "freezer.state"), "THAWED");
    rec.wait_for(&id, State::Resume, TIMEOUT);
    client.pause(&id).unwrap();
    rec.wait_for_nth(&id, State::Pause, 2, TIMEOUT);
    client.signal(&id, 9).unwrap();
    let exit = rec.wait_for(&id, State::Exit, TIMEOUT);
    assert_eq!(exit.exit_code, 137);
    let states = rec.states(&id);
    assert_eq!(states.iter().filter(|s| **s == State::Exit).count(), 1);
}

#[test]
fn stats_resources_pids_and_summary() {
    let (client, rec) = test_client();
    let id = unique_id("stats");
    client.create(&id, &spec(&["sh", "-c", "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; sleep 300"]), &CreateOptions::default()).unwrap();
    let start = rec.wait_for(&id, State::StartContainer, TIMEOUT);
    std::thread::sleep(Duration::from_millis(300));
    let s = client.stats(&id).unwrap();
    assert!(s["read"].as_str().unwrap().ends_with('Z'), "{s}");
    assert!(s["cpu"]["usage"]["total"].as_u64().unwrap() > 0, "{s}");
    assert!(s["memory"]["usage"]["usage"].as_u64().unwrap() > 0, "{s}");
    assert!(s["pids"]["current"].as_u64().unwrap() > 0, "{s}");
    assert!(s.get("blkio").is_some());

    let r = containerd::spec::parse_resources(r#"{"memory": {"limit": 67108864}}"#).unwrap();
    client.update_resources(&id, &r).unwrap();
    assert_eq!(cgroup_file("memory", &id, "memory.limit_in_bytes"), "67108864");
    let s = client.stats(&id).unwrap();
    assert_eq!(s["memory"]["usage"]["limit"].as_u64().unwrap(), 67108864);

    let pids = client.get_pids(&id).unwrap();
    assert!(pids.contains(&start.pid), "{pids:?} lacks {}", start.pid);
    client.add_process(&id, "side", &process(serde_json::json!({"args": ["sleep", "300"]}))).unwrap();
    let side = rec.wait_for_process(&id, "side", State::StartProcess, TIMEOUT);
    let summary = client.summary(&id).unwrap();
    assert!(summary.iter().any(|p| p.pid == start.pid && p.process_id == "init"), "{summary:?}");
    assert!(summary.iter().any(|p| p.pid == side.pid && p.process_id == "side"), "{summary:?}");
    let me = client.list().unwrap().into_iter().find(|c| c.id == id).unwrap();
    assert_eq!(me.pid, start.pid);
    assert_eq!(me.processes.len(), 1);
    assert_eq!(me.processes[0].process_id, "side");

    client.signal(&id, 9).unwrap();
    rec.wait_for(&id, State::Exit, TIMEOUT);
    // The exec died with init and was reported before the exit.
    let states = rec.states(&id);
    let ep = states.iter().position(|s| *s == State::ExitProcess).expect("exit-process reported");
    assert!(ep < states.iter().position(|s| *s == State::Exit).unwrap());
}

#[test]
fn oom_is_reported_and_sticks_to_the_exit() {
    let (client, rec) = test_client();
    let id = unique_id("oom");
    let mut s = busybox_spec(&["sh", "-c", "x=0123456789; while true; do x=$x$x; done"]);
    s["linux"]["resources"]["memory"] = serde_json::json!({"limit": 33554432, "swap": 33554432});
    client.create(&id, &to_spec(&s), &CreateOptions::default()).unwrap();
    let exit = rec.wait_for(&id, State::Exit, Duration::from_secs(60));
    assert!(exit.oom_killed, "exit without oom_killed: {:?}", rec.events(&id));
    assert_eq!(exit.exit_code, 137);
    assert_eq!(rec.count(&id, State::Oom).min(1), 1);
    let states = rec.states(&id);
    assert!(states.iter().position(|s| *s == State::Oom).unwrap() < states.iter().position(|s| *s == State::Exit).unwrap());
}

/// A backend that calls back into the library from inside `state_changed`.
struct Reentrant {
    client: OnceLock<Client>,
    seen: Mutex<Vec<(String, State, usize)>>,
}

impl Backend for Reentrant {
    fn state_changed(&self, id: &str, info: &StateInfo) -> containerd::Result<()> {
        let n = self.client.get().expect("client set").list()?.len();
        self.seen.lock().unwrap().push((id.to_string(), info.state, n));
        Ok(())
    }
    fn attach_streams(&self, _: &str, _: &str, io: IoPipe) -> containerd::Result<()> {
        io.discard();
        Ok(())
    }
}

#[test]
fn callback_calling_back_in_does_not_deadlock() {
    let backend = Arc::new(Reentrant { client: OnceLock::new(), seen: Mutex::new(Vec::new()) });
    let client = test_remote().client(backend.clone()).unwrap();
    backend.client.set(client.clone()).ok();
    let id = unique_id("reenter");
    client.create(&id, &spec(&["sh", "-c", "sleep 0.2"]), &CreateOptions::default()).unwrap();
    let deadline = std::time::Instant::now() + TIMEOUT;
    while !backend.seen.lock().unwrap().iter().any(|(c, s, _)| *c == id && *s == State::Exit) {
        assert!(std::time::Instant::now() < deadline, "no exit delivered: {:?}", backend.seen.lock().unwrap());
        std::thread::sleep(Duration::from_millis(20));
    }
    let seen = backend.seen.lock().unwrap().clone();
    let mine: Vec<State> = seen.iter().filter(|(c, ..)| *c == id).map(|(_, s, _)| *s).collect();
    assert_eq!(mine, vec![State::StartContainer, State::Exit]);
    client.close();
}
