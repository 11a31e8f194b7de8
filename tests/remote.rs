//! Remote options against real daemons: a containerd the test starts (`remote_addr`),
//! the runtime path and arguments, daemon reuse, OOM score, debug log and cleanup.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use common::*;
use containerd::{Code, CreateOptions, Remote, RemoteOptions, RuntimeOption, State};

#[test]
fn remote_addr_works_and_containers_are_visible_to_ctr() {
    let external = ExternalContainerd::start();
    let state = temp_state_dir();
    let remote = Remote::new(external.options(state.path())).unwrap();
    assert_eq!(remote.daemon_pid(), 0);
    let rec = Recorder::new();
    let client = remote.client(rec.backend()).unwrap();
    let id = unique_id("ext");
    client.create(&id, &spec(&["sh", "-c", "echo via addr; sleep 300"]), &CreateOptions::default()).unwrap();
    rec.wait_for(&id, State::StartContainer, TIMEOUT);
    rec.wait_stdout_contains(&id, "init", "via addr", TIMEOUT);
    let listed = external.ctr(&["-n", "libcontainerd", "containers", "ls", "-q"]).unwrap();
    assert!(listed.lines().any(|l| l.trim() == id), "ctr lists {listed:?}");
    let tasks = external.ctr(&["-n", "libcontainerd", "tasks", "ls"]).unwrap();
    assert!(tasks.contains(&id) && tasks.contains("RUNNING"), "{tasks}");
    client.signal(&id, 9).unwrap();
    assert_eq!(rec.wait_for(&id, State::Exit, TIMEOUT).exit_code, 137);
    // cleanup must leave a daemon it did not start alone.
    remote.cleanup().unwrap();
    assert!(external.ctr(&["version"]).is_some(), "external containerd was stopped");
    let e = client.list().unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition);
}

#[test]
fn namespace_option_is_used() {
    let external = ExternalContainerd::start();
    let state = temp_state_dir();
    let mut opts = external.options(state.path());
    opts.namespace = Some("otherns".into());
    let remote = Remote::new(opts).unwrap();
    let rec = Recorder::new();
    let client = remote.client(rec.backend()).unwrap();
    let id = unique_id("ns");
    client.create(&id, &spec(&["sleep", "300"]), &CreateOptions::default()).unwrap();
    let listed = external.ctr(&["-n", "otherns", "containers", "ls", "-q"]).unwrap();
    assert!(listed.contains(&id), "{listed}");
    client.signal(&id, 9).unwrap();
    rec.wait_for(&id, State::Exit, TIMEOUT);
    remote.cleanup().unwrap();
}

fn wrapper(dir: &std::path::Path, log: &std::path::Path) -> String {
    let path = dir.join("runc-wrapper");
    std::fs::write(&path, format!("#!/bin/sh\necho \"$@\" >> {}\nexec runc \"$@\"\n", log.display())).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path.to_string_lossy().into_owned()
}

#[test]
fn runtime_path_and_args_are_used() {
    let scratch = tempfile::tempdir().unwrap();
    let log = scratch.path().join("wrapper.log");
    let wrapper = wrapper(scratch.path(), &log);
    let d = TestDaemon::start_with(|o| {
        o.runtime_path = Some(wrapper.clone());
        o.runtime_args = Some(vec!["--log-format".into(), "json".into()]);
    });
    let (client, rec) = d.client();
    let id = unique_id("wrapped");
    client.create(&id, &spec(&["true"]), &CreateOptions::default()).unwrap();
    rec.wait_for(&id, State::Exit, TIMEOUT);
    let text = std::fs::read_to_string(&log).expect("the wrapper ran");
    assert!(text.lines().any(|l| l.starts_with("--log-format json") && l.contains(" create ") && l.contains(&id)), "{text}");

    // A per-container runtime (WithRuntime) overrides the default.
    let log2 = scratch.path().join("second.log");
    let w2 = {
        let p = scratch.path().join("w2");
        std::fs::write(&p, format!("#!/bin/sh\necho \"$@\" >> {}\nexec runc \"$@\"\n", log2.display())).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p.to_string_lossy().into_owned()
    };
    let id2 = unique_id("custom");
    let opts = CreateOptions { runtime: Some(RuntimeOption { path: w2, args: vec!["--debug".into()] }), ..Default::default() };
    client.create(&id2, &spec(&["true"]), &opts).unwrap();
    rec.wait_for(&id2, State::Exit, TIMEOUT);
    let text2 = std::fs::read_to_string(&log2).expect("the per-container runtime ran");
    assert!(text2.lines().any(|l| l.starts_with("--debug") && l.contains(&id2)), "{text2}");
}

#[test]
fn daemon_options_reuse_oom_score_and_debug_log() {
    let d = TestDaemon::start_with(|o| {
        o.oom_score = Some(500);
        o.debug_log = Some(true);
    });
    let pid = d.remote.daemon_pid();
    assert!(pid > 0);
    assert_eq!(std::fs::read_to_string(format!("/proc/{pid}/oom_score_adj")).unwrap().trim(), "500");
    let cfg = std::fs::read_to_string(d.state_dir.join("containerd/config.toml")).unwrap();
    assert!(cfg.contains("level = \"debug\""));
    for (file, mode) in [("containerd", 0o700), ("containerd/config.toml", 0o600), ("containerd/containerd.pid", 0o600)] {
        let m = std::fs::metadata(d.state_dir.join(file)).unwrap().permissions().mode() & 0o777;
        assert_eq!(m, mode, "{file}");
    }
    // A second remote on the same state dir reuses the live daemon.
    let second = Remote::new(d.options()).unwrap();
    assert_eq!(second.daemon_pid(), pid);
    // Live update of the OOM score.
    d.remote.update_options(RemoteOptions { oom_score: Some(300), ..Default::default() }).unwrap();
    assert_eq!(std::fs::read_to_string(format!("/proc/{pid}/oom_score_adj")).unwrap().trim(), "300");
    // Restating values in effect is no change.
    d.remote
        .update_options(RemoteOptions { start_daemon: Some(true), namespace: Some("libcontainerd".into()), state_dir: Some(d.state_dir.clone()), ..Default::default() })
        .unwrap();
    let e = d.remote.update_options(RemoteOptions { namespace: Some("other".into()), ..Default::default() }).unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition);
    drop(second);
}

/// Processes whose command line names `state_dir`'s containerd socket: the shims
/// containerd started for it.
fn shims_of(state_dir: &std::path::Path) -> Vec<String> {
    let sock = state_dir.join("containerd/containerd.sock").to_string_lossy().into_owned();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| std::fs::read(format!("/proc/{pid}/cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains("containerd-shim") && c.contains(&sock))
        .collect()
}

#[test]
fn cleanup_stops_its_containers_and_its_daemon() {
    let d = TestDaemon::start();
    let (client, rec) = d.client();
    let ids: Vec<String> = (0..3).map(|_| unique_id("stopme")).collect();
    let mut pids = Vec::new();
    for id in &ids {
        client.create(id, &spec(&["sleep", "300"]), &CreateOptions::default()).unwrap();
        pids.push(rec.wait_for(id, State::StartContainer, TIMEOUT).pid);
    }
    // One paused, one with an exec still running.
    client.pause(&ids[1]).unwrap();
    let p = containerd::ProcessSpec::from_json(r#"{"args": ["sleep", "300"]}"#).unwrap();
    client.add_process(&ids[2], "busy", &p).unwrap();
    rec.wait_for_process(&ids[2], "busy", State::StartProcess, TIMEOUT);
    assert_eq!(shims_of(&d.state_dir).len(), 3, "{:?}", shims_of(&d.state_dir));
    let daemon = d.remote.daemon_pid();
    // Two cleanups at once: both return only when it is done.
    let other = d.remote.clone();
    let t = std::thread::spawn(move || {
        other.cleanup().unwrap();
    });
    d.remote.cleanup().unwrap();
    // The exits were delivered before cleanup returned.
    for id in &ids {
        assert_eq!(rec.count(id, State::Exit), 1, "{:?}", rec.events(id));
    }
    t.join().unwrap();
    for (id, pid) in ids.iter().zip(&pids) {
        assert_eq!(rec.count(id, State::Exit), 1, "{:?}", rec.events(id));
        assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists(), "container {id} still running");
    }
    // cleanup returns only once the daemon is gone: look right away.
    let alive = std::fs::read_to_string(format!("/proc/{daemon}/stat")).map(|s| !s.contains(") Z")).unwrap_or(false);
    assert!(!alive, "daemon still running");
    assert_eq!(shims_of(&d.state_dir), Vec::<String>::new(), "shims left behind");
    d.remote.cleanup().unwrap();
}

#[test]
fn bad_remote_options_fail_before_any_side_effect() {
    let dir = temp_state_dir();
    let sd = dir.path().join("never");
    let opts = RemoteOptions { state_dir: Some(sd.clone()), oom_score: Some(5000), ..Default::default() };
    assert_eq!(Remote::new(opts).err().unwrap().code(), Code::InvalidArgument);
    assert!(!sd.exists());
    // A daemon to start and an address to use: refused, never one of them ignored.
    let external = ExternalContainerd::start();
    let mut opts = external.options(&sd);
    opts.start_daemon = Some(true);
    let e = Remote::new(opts).err().expect("start_daemon with remote_addr is refused");
    assert_eq!(e.code(), Code::InvalidArgument, "{e}");
    assert!(e.message().contains("remote_addr"), "{e}");
    assert!(!sd.exists(), "nothing was created");
    let opts = RemoteOptions { state_dir: Some(sd.clone()), containerd_path: Some("/nonexistent/containerd".into()), ..Default::default() };
    let e = Remote::new(opts).err().unwrap();
    assert_eq!(e.code(), Code::NotFound, "{e}");
}

#[test]
fn cleanup_right_after_exits_leaves_no_shim_behind() {
    // A client closed while its containers' exits are being reaped, then the remote
    // cleaned up at once (as a test suite ends): every shim of the daemon must end.
    for round in 0..4 {
        let d = TestDaemon::start();
        let (client, rec) = d.client();
        let ids: Vec<String> = (0..3).map(|_| unique_id("reaped")).collect();
        for id in &ids {
            client.create(id, &spec(&["sh", "-c", "exit 4"]), &CreateOptions::default()).unwrap();
        }
        for id in &ids {
            assert_eq!(rec.wait_for(id, State::Exit, TIMEOUT).exit_code, 4);
        }
        client.close();
        drop(client);
        d.remote.cleanup().unwrap();
        let t0 = std::time::Instant::now();
        while !shims_of(&d.state_dir).is_empty() && t0.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(shims_of(&d.state_dir), Vec::<String>::new(), "round {round}: shims outlived their daemon");
    }
}

#[test]
fn a_create_refused_by_the_runtime_leaves_no_shim_behind() {
    for round in 0..4 {
        let d = TestDaemon::start();
        let (client, rec) = d.client();
        let id = unique_id("badruntime");
        let missing = CreateOptions::from_json(Some(r#"{"runtime": {"path": "/nonexistent/runc"}}"#)).unwrap();
        let e = client.create(&id, &spec(&["true"]), &missing).expect_err("a missing runtime fails create");
        assert!(e.message().contains("/nonexistent/runc"), "{e}");
        let t0 = std::time::Instant::now();
        while !shims_of(&d.state_dir).is_empty() && t0.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(shims_of(&d.state_dir), Vec::<String>::new(), "round {round}: the failed create left its shim");
        client.create(&id, &spec(&["sh", "-c", "exit 4"]), &CreateOptions::default()).unwrap();
        assert_eq!(rec.wait_for(&id, State::Exit, TIMEOUT).exit_code, 4);
        client.close();
        drop(client);
        d.remote.cleanup().unwrap();
        let t0 = std::time::Instant::now();
        while !shims_of(&d.state_dir).is_empty() && t0.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(shims_of(&d.state_dir), Vec::<String>::new(), "round {round}: shims outlived their daemon");
    }
}
