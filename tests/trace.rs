//! The lifecycle trace (`LCD_TRACE_RPC`) and what it shows of the lifecycle's requests:
//! no lookup before the create, and the record deleted once containerd has published
//! the task's deletion, before that deletion's own answer.

mod common;

use std::time::Instant;

use common::*;
use containerd::{CreateOptions, State};

/// The trace lines of one container: from its create to the end of its removal.
fn lines_of(text: &str, id: &str) -> Option<Vec<Vec<String>>> {
    let all: Vec<Vec<String>> = text.lines().map(|l| l.split_whitespace().map(String::from).collect()).collect();
    let at = |f: &Vec<String>| f.get(1).and_then(|t| t.parse::<i64>().ok()).unwrap_or(0);
    let mark = |m: &str| all.iter().find(|f| f.len() == 4 && f[0] == "mark" && f[2] == m && f[3] == id).map(at);
    let (from, to) = (mark("create")?, mark("reaped")?);
    let mut mine: Vec<Vec<String>> = all.iter().filter(|f| (from..=to).contains(&at(f))).cloned().collect();
    mine.sort_by_key(at);
    Some(mine)
}

#[test]
fn a_traced_lifecycle_sends_no_lookup_and_deletes_the_record_on_the_tasks_deletion() {
    let dir = temp_state_dir();
    let trace = dir.path().join("trace");
    // Read at the library's first trace point, which comes after this (one test per
    // binary: the variable is process-wide).
    std::env::set_var(containerd::trace::TRACE_ENV, &trace);
    let (client, rec) = test_client();
    let id = unique_id("traced");
    client.create(&id, &spec(&["true"]), &CreateOptions::default()).unwrap();
    assert_eq!(rec.wait_for(&id, State::Exit, TIMEOUT).exit_code, 0);
    let t0 = Instant::now();
    let lines = loop {
        if let Some(l) = lines_of(&std::fs::read_to_string(&trace).unwrap_or_default(), &id) {
            break l;
        }
        assert!(t0.elapsed() < TIMEOUT, "no complete trace of {id}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let rpcs: Vec<&str> = lines.iter().filter(|f| f[0] == "rpc").map(|f| f[3].as_str()).collect();
    assert_eq!(
        rpcs,
        ["CreateContainerRequest", "CreateTaskRequest", "StartRequest", "DeleteTaskRequest", "DeleteContainerRequest"],
        "{lines:?}"
    );
    let marks: Vec<&str> = lines.iter().filter(|f| f[0] == "mark").map(|f| f[2].as_str()).collect();
    assert_eq!(marks, ["create", "created", "exit-taken", "drained", "exit-reported", "reaped"], "{lines:?}");
    let rpc = |name: &str| lines.iter().find(|f| f[0] == "rpc" && f[3] == name).map(|f| (f[1].parse::<i64>().unwrap(), f[2].parse::<i64>().unwrap())).unwrap();
    let event = |topic: &str| lines.iter().find(|f| f[0] == "event" && f[3] == topic).map(|f| f[1].parse::<i64>().unwrap());
    let (task_start, task_end) = rpc("DeleteTaskRequest");
    let (record_start, _) = rpc("DeleteContainerRequest");
    let deleted = event("/tasks/delete").expect("the task's deletion was not received");
    // The record goes once containerd has published the task's deletion, while it
    // still stops the shim and removes the bundle.
    assert!(task_start <= deleted && deleted <= record_start, "{lines:?}");
    assert!(record_start < task_end, "the record waited for the task's deletion to return: {lines:?}");
    assert!(lines.iter().any(|f| f[0] == "event" && f[3] == "/tasks/exit" && f[4] == id), "{lines:?}");
}
