//! Checks the test fixtures themselves: the busybox rootfs, the spec helper (also run
//! directly with runc), the Recorder backend, and a containerd the tests start.

mod common;

use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::process::Command;
use std::time::Duration;

use common::*;
use containerd::{IoPipe, State, StateInfo};

#[test]
fn rootfs_has_busybox_and_users() {
    let root = rootfs();
    assert!(root.is_absolute());
    assert!(root.join("bin/busybox").is_file());
    assert_eq!(std::fs::read_link(root.join("bin/sh")).unwrap().to_str(), Some("busybox"));
    let passwd = std::fs::read_to_string(root.join("etc/passwd")).unwrap();
    assert!(passwd.contains("app:x:1000:1000:"), "{passwd}");
    for d in ["proc", "dev", "sys", "tmp", "root", "home/app"] {
        assert!(root.join(d).is_dir(), "{d} missing");
    }
}

#[test]
fn busybox_spec_parses() {
    let s = spec(&["echo", "hi"]);
    assert_eq!(s.root_path(), rootfs());
    assert!(!s.terminal());
    let args = s.spec.process().as_ref().unwrap().args().clone().unwrap();
    assert_eq!(args, vec!["echo".to_string(), "hi".to_string()]);
    assert!(s.json.contains("\"ociVersion\":\"1.0.2\""));
}

#[test]
fn unique_ids_are_valid_and_distinct() {
    let a = unique_id("smoke");
    let b = unique_id("smoke");
    assert_ne!(a, b);
    containerd::spec::validate_id("container id", &a).unwrap();
}

/// The spec helper's output runs as is with runc (the runtime containerd's shim uses).
#[test]
fn busybox_spec_runs_with_runc() {
    let tmp = temp_state_dir();
    let bundle = tmp.path().join("bundle");
    std::fs::create_dir(&bundle).unwrap();
    let value = busybox_spec(&["sh", "-c", "echo hi; hostname; id -u; touch /tmp/ok && echo tmp-writable; touch /x 2>/dev/null || echo root-readonly"]);
    std::fs::write(bundle.join("config.json"), value.to_string()).unwrap();
    let out = Command::new("runc")
        .arg("--root")
        .arg(tmp.path().join("runc"))
        .args(["run", "--bundle"])
        .arg(&bundle)
        .arg(unique_id("smoke-runc"))
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run runc (scripts/setup.sh installs it)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "runc failed: {}\nstdout: {stdout}\nstderr: {}", out.status, String::from_utf8_lossy(&out.stderr));
    assert_eq!(stdout, "hi\ntest\n0\ntmp-writable\nroot-readonly\n");
}

fn pipe() -> (OwnedFd, OwnedFd) {
    let (r, w) = std::io::pipe().unwrap();
    (r.into(), w.into())
}

fn info(state: State, process_id: &str, exit_code: u32) -> StateInfo {
    StateInfo { state, pid: 42, exit_code, process_id: process_id.into(), oom_killed: false, exited_at_unix_nano: 0 }
}

#[test]
fn recorder_records_events_and_streams() {
    let rec = Recorder::new();
    let backend = rec.backend();

    let (in_r, in_w) = pipe();
    let (out_r, out_w) = pipe();
    let (err_r, err_w) = pipe();
    backend.attach_streams("c1", "init", IoPipe { stdin: in_w, stdout: out_r, stderr: Some(err_r), terminal: false }).unwrap();
    assert_eq!(rec.attach_count("c1", "init"), 1);

    let mut stdin = rec.take_stdin("c1", "init");
    stdin.write_all(b"to the process").unwrap();
    drop(stdin);
    let mut got = String::new();
    std::fs::File::from(in_r).read_to_string(&mut got).unwrap();
    assert_eq!(got, "to the process");

    std::fs::File::from(out_w).write_all(b"out\n").unwrap();
    std::fs::File::from(err_w).write_all(b"err\n").unwrap();
    rec.wait_output_closed("c1", "init", TIMEOUT);
    assert_eq!(rec.stdout("c1", "init"), "out\n");
    assert_eq!(rec.stderr("c1", "init"), "err\n");

    let waiter = {
        let rec = rec.clone();
        std::thread::spawn(move || rec.wait_for("c1", State::Exit, TIMEOUT))
    };
    backend.state_changed("c1", &info(State::StartContainer, "init", 0)).unwrap();
    backend.state_changed("c1", &info(State::Exit, "init", 3)).unwrap();
    assert_eq!(waiter.join().unwrap().exit_code, 3);
    assert_eq!(rec.states("c1"), vec![State::StartContainer, State::Exit]);
    assert_eq!(rec.count("c1", State::Exit), 1);
    assert!(rec.events("other").is_empty());

    rec.fail_next_attach(containerd::Error::invalid("no"));
    let (_r, w) = pipe();
    let (r2, _w2) = pipe();
    assert!(backend.attach_streams("c2", "init", IoPipe { stdin: w, stdout: r2, stderr: None, terminal: true }).is_err());
}

#[test]
#[should_panic(expected = "its events so far")]
fn recorder_wait_times_out_with_events() {
    let rec = Recorder::new();
    rec.backend().state_changed("c", &info(State::StartContainer, "init", 0)).unwrap();
    rec.wait_for("c", State::Exit, Duration::from_millis(50));
}

/// A containerd the tests start themselves answers on its socket and stops on drop.
#[test]
fn external_containerd_starts_and_stops() {
    let d = ExternalContainerd::start();
    let pid = d.pid().unwrap();
    let version = d.ctr(&["version"]).unwrap();
    assert!(version.contains("Server:"), "{version}");
    let dir = d.dir.clone();
    drop(d);
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists() || std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default().contains("State:\tZ"));
    assert!(!dir.exists());
}
