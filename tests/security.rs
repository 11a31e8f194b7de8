//! The security properties of docs/SECURITY.md against a real containerd: private
//! files owned by the caller, unsafe state dirs refused, ids that cannot escape their
//! directories, and no secret in a log record above debug level.

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::sync::{Mutex, OnceLock};

use common::*;
use containerd::{Code, CreateOptions, ProcessSpec, Remote, State};

/// Every log record of this test binary: (level, text).
static RECORDS: OnceLock<Mutex<Vec<(log::Level, String)>>> = OnceLock::new();

struct Capture;
static CAPTURE: Capture = Capture;

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }
    fn log(&self, record: &log::Record) {
        RECORDS.get_or_init(Default::default).lock().unwrap().push((record.level(), record.args().to_string()));
    }
    fn flush(&self) {}
}

fn capture_logs() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        log::set_logger(&CAPTURE).expect("no other logger in this test binary");
        log::set_max_level(log::LevelFilter::Trace);
    });
}

fn mode_and_owner(p: &Path) -> (u32, u32) {
    let m = std::fs::symlink_metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    (m.permissions().mode() & 0o7777, m.uid())
}

#[test]
fn files_are_private_and_owned_by_the_caller() {
    let d = TestDaemon::start();
    let (client, rec) = d.client();
    let id = unique_id("sec-files");
    // A runtime with global arguments makes the library write its wrapper script.
    let opts = CreateOptions::from_json(Some(r#"{"runtime": {"path": "runc", "args": ["--log-format", "text"]}}"#)).unwrap();
    client.create(&id, &spec(&["sleep", "300"]), &opts).unwrap();
    rec.wait_for(&id, State::StartContainer, TIMEOUT);
    client.add_process(&id, "p1", &ProcessSpec::from_json(r#"{"args": ["sleep", "300"]}"#).unwrap()).unwrap();

    let euid = nix::unistd::geteuid().as_raw();
    let s = &d.state_dir;
    let fifo_dir = s.join("fifo/libcontainerd").join(&id);
    // The state dir was made by the test (mode as tempfile makes it): the library
    // only checks that others cannot write it. Everything below it is the library's.
    let (state_mode, state_owner) = mode_and_owner(s);
    assert_eq!(state_mode & 0o022, 0, "state dir mode {state_mode:o}");
    assert_eq!(state_owner, nix::unistd::geteuid().as_raw());
    let mut expect = vec![
        (s.join("containerd"), 0o700),
        (s.join("containerd/config.toml"), 0o600),
        (s.join("containerd/containerd.pid"), 0o600),
        (s.join("containerd/containerd.log"), 0o600),
        (s.join("fifo"), 0o700),
        (s.join("fifo/libcontainerd"), 0o700),
        (fifo_dir.clone(), 0o700),
        (s.join("runtimes"), 0o700),
    ];
    // One directory per run of the container.
    let runs: Vec<_> = std::fs::read_dir(&fifo_dir).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(runs.len(), 1, "{runs:?}");
    expect.push((runs[0].clone(), 0o700));
    for p in ["init", "p1"] {
        for stream in ["stdin", "stdout", "stderr"] {
            expect.push((runs[0].join(format!("{p}-{stream}")), 0o600));
        }
    }
    for entry in std::fs::read_dir(s.join("runtimes")).unwrap() {
        expect.push((entry.unwrap().path(), 0o700));
    }
    assert!(expect.len() > 14, "the runtime wrapper exists");
    for (path, mode) in &expect {
        let (got, uid) = mode_and_owner(path);
        assert_eq!(got, *mode, "mode of {}: {got:o}", path.display());
        assert_eq!(uid, euid, "owner of {}", path.display());
    }
    // Every file the library put in its own directories is private: nothing in them
    // is readable or writable by group or others.
    for dir in [s.join("containerd"), s.join("fifo"), s.join("runtimes")] {
        for entry in walk(&dir) {
            let name = entry.file_name().unwrap().to_string_lossy().into_owned();
            if ["root", "state", "containerd.sock", "containerd.sock.ttrpc"].contains(&name.as_str()) {
                continue; // containerd's own, below the 0700 directory
            }
            if entry.starts_with(s.join("containerd/root")) || entry.starts_with(s.join("containerd/state")) {
                continue;
            }
            let (m, _) = mode_and_owner(&entry);
            assert_eq!(m & 0o077, 0, "{} has mode {m:o}", entry.display());
        }
    }
    client.signal(&id, libc::SIGKILL).unwrap();
    rec.wait_for(&id, State::Exit, TIMEOUT);
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else { return out };
    for e in rd.flatten() {
        let p = e.path();
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            out.extend(walk(&p));
        }
        out.push(p);
    }
    out
}

#[test]
fn unsafe_state_dirs_are_refused_before_anything_starts() {
    let parent = temp_state_dir();
    let real = parent.path().join("real");
    std::fs::create_dir(&real).unwrap();
    let link = parent.path().join("link");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let e = Remote::new(daemon_options(&link)).err().expect("a symlinked state dir is refused");
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains(&link.display().to_string()) && e.message().contains("symbolic link"), "{e}");
    assert!(!real.join("containerd").exists(), "nothing was created behind the link");

    for mode in [0o777, 0o775, 0o757, 0o1777] {
        let dir = parent.path().join(format!("open{mode:o}"));
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode)).unwrap();
        let e = Remote::new(daemon_options(&dir)).err().expect("a state dir others can write is refused");
        assert_eq!(e.code(), Code::InvalidArgument);
        assert!(e.message().contains(&dir.display().to_string()) && e.message().contains(&format!("{mode:04o}")), "{e}");
        assert_eq!(mode_and_owner(&dir).0, mode, "its mode is left alone");
        assert!(!dir.join("containerd").exists(), "no daemon files were written");
    }

    // The same rule holds with a containerd the library did not start.
    let open = parent.path().join("open777");
    let ext = RemoteOptionsExt::remote_addr(&open);
    let e = Remote::new(ext).err().expect("refused with remote_addr too");
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("0777"), "{e}");

    // A state dir the library creates itself (and its missing parents) is 0700: here
    // with a containerd that is not there, so that the call fails after the
    // directory was made.
    let fresh = parent.path().join("fresh/state");
    let e = Remote::new(RemoteOptionsExt::remote_addr(&fresh)).err().expect("no containerd at that address");
    assert_eq!(e.code(), Code::Unavailable, "{e}");
    assert_eq!(mode_and_owner(&fresh).0, 0o700);
    assert_eq!(mode_and_owner(&parent.path().join("fresh")).0, 0o700);
}

/// Remote options for a containerd at some socket, with `state_dir` set.
struct RemoteOptionsExt;
impl RemoteOptionsExt {
    fn remote_addr(state_dir: &Path) -> containerd::RemoteOptions {
        containerd::RemoteOptions {
            state_dir: Some(state_dir.to_path_buf()),
            start_daemon: Some(false),
            remote_addr: Some("/nonexistent/containerd.sock".into()),
            ..Default::default()
        }
    }
}

#[test]
fn ids_cannot_escape_their_directories() {
    let (client, _rec) = test_client();
    let state = test_state_dir();
    let before = walk(&state.join("fifo")).len();
    let long = "a".repeat(65);
    let huge = "b".repeat(10 << 20);
    for bad in ["../x", "..", ".", "/etc/passwd", "a/../../b", "a\0b", long.as_str(), "x/..", ".hidden", "-rf", "a-", "a..b", "a_-b", huge.as_str()] {
        let e = client.create(bad, &spec(&["true"]), &CreateOptions::default()).unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{bad:?}");
        assert!(e.message().contains("container id"), "{bad:?}: {e}");
        assert!(e.message().len() < 256, "a {}-byte id made a {}-byte message", bad.len(), e.message().len());
        let e = client.add_process("some-container", bad, &ProcessSpec::from_json(r#"{"args": ["true"]}"#).unwrap()).unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{bad:?}");
        assert!(e.message().contains("process id"), "{bad:?}: {e}");
        let e = client.signal_process("some-container", bad, libc::SIGTERM).unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{bad:?}");
    }
    assert_eq!(walk(&state.join("fifo")).len(), before, "no file or directory was created");
    assert!(!Path::new("/etc/passwd-stdin").exists() && !state.join("x").exists());
}

#[test]
fn secrets_are_not_logged_above_debug() {
    capture_logs();
    let (client, rec) = test_client();
    let id = unique_id("sec-log");
    let mut spec_json = busybox_spec(&["sh", "-c", "echo $SPEC_SECRET >/dev/null; sleep 300", "arg-s3cr3t-init"]);
    spec_json["process"]["env"].as_array_mut().unwrap().push("SPEC_SECRET=env-s3cr3t-init".into());
    client.create(&id, &to_spec(&spec_json), &CreateOptions::default()).unwrap();
    rec.wait_for(&id, State::StartContainer, TIMEOUT);
    let p = ProcessSpec::from_json(r#"{"args": ["sh", "-c", "exit 3", "arg-s3cr3t-exec"], "env": ["PATH=/bin", "TOKEN=env-s3cr3t-exec"]}"#).unwrap();
    client.add_process(&id, "p1", &p).unwrap();
    rec.wait_for_process(&id, "p1", State::ExitProcess, TIMEOUT);
    // A failing exec and a failed attach go through the warning paths.
    let bad = ProcessSpec::from_json(r#"{"args": ["/nonexistent-bin", "arg-s3cr3t-fail"], "env": ["PATH=/bin", "TOKEN=env-s3cr3t-fail"]}"#).unwrap();
    let e = client.add_process(&id, "p2", &bad).expect_err("an exec of a missing binary fails");
    assert_ne!(e.code(), Code::InvalidArgument, "refused before containerd was asked: {e}");
    rec.fail_next_attach(containerd::Error::invalid("refused by the test"));
    let e = client.add_process(&id, "p3", &p).expect_err("a failed attach fails the exec");
    assert_eq!(e.code(), Code::InvalidArgument, "{e}");
    assert!(e.message().contains("refused by the test"), "{e}");
    // Neither started: no start-process, and the id is free again.
    for exec in ["p2", "p3"] {
        assert!(rec.events(&id).iter().all(|e| e.process_id != exec), "{exec}: {:?}", rec.events(&id));
    }
    client.add_process(&id, "p3", &p).unwrap();
    rec.wait_for_process(&id, "p3", State::ExitProcess, TIMEOUT);
    client.signal(&id, libc::SIGKILL).unwrap();
    rec.wait_for(&id, State::Exit, TIMEOUT);

    let records = RECORDS.get_or_init(Default::default).lock().unwrap().clone();
    for (level, text) in &records {
        if *level <= log::Level::Info {
            for secret in ["s3cr3t", "SPEC_SECRET", "TOKEN="] {
                assert!(!text.contains(secret), "{level} record holds {secret:?}: {text}");
            }
        }
    }
}
