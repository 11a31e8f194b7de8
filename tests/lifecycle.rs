//! Container lifecycle against a real containerd: exit codes, stdio, spec fields,
//! id reuse, failed creates and the error classes of bad input.

mod common;

use std::io::Write;
use std::time::Duration;

use common::*;
use containerd::{Code, ContainerSpec, CreateOptions, State};

#[test]
fn exit_code_is_reported_once_and_id_is_freed() {
    let (client, rec) = test_client();
    let id = unique_id("exit7");
    client.create(&id, &spec(&["sh", "-c", "exit 7"]), &CreateOptions::default()).unwrap();
    let start = rec.wait_for(&id, State::StartContainer, TIMEOUT);
    assert!(start.pid > 0);
    assert_eq!(start.process_id, "init");
    let exit = rec.wait_for(&id, State::Exit, TIMEOUT);
    assert_eq!(exit.exit_code, 7);
    assert_eq!(exit.pid, start.pid);
    assert!(exit.exited_at_unix_nano > 0);
    assert!(!exit.oom_killed);
    // Nothing else arrives later: exactly one exit, start first.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(rec.states(&id), vec![State::StartContainer, State::Exit]);
    assert!(client.list().unwrap().iter().all(|c| c.id != id), "exited container still listed");
    // The id is free again.
    client.create(&id, &spec(&["sh", "-c", "exit 3"]), &CreateOptions::default()).unwrap();
    let second = rec.wait_for_nth(&id, State::Exit, 2, TIMEOUT);
    assert_eq!(second.exit_code, 3);
}

#[test]
fn stdout_is_exact_and_stderr_separate() {
    let (client, rec) = test_client();
    let id = unique_id("echo");
    client.create(&id, &spec(&["sh", "-c", "echo hello; echo oops >&2"]), &CreateOptions::default()).unwrap();
    rec.wait_for(&id, State::Exit, TIMEOUT);
    rec.wait_output_closed(&id, "init", TIMEOUT);
    assert_eq!(rec.stdout(&id, "init"), "hello\n");
    assert_eq!(rec.stderr(&id, "init"), "oops\n");
}

#[test]
fn closing_stdin_delivers_eof() {
    let (client, rec) = test_client();
    let id = unique_id("cat");
    client.create(&id, &spec(&["cat"]), &CreateOptions::default()).unwrap();
    let mut stdin = rec.take_stdin(&id, "init");
    stdin.write_all(b"abc").unwrap();
    drop(stdin);
    let exit = rec.wait_for(&id, State::Exit, TIMEOUT);
    assert_eq!(exit.exit_code, 0);
    rec.wait_output_closed(&id, "init", TIMEOUT);
    assert_eq!(rec.stdout(&id, "init"), "abc");
}

#[test]
fn spec_hostname_env_cwd_and_user_take_effect() {
    let (client, rec) = test_client();
    let id = unique_id("spec");
    let mut s = busybox_spec(&["sh", "-c", "hostname; echo $GREETING; pwd; id -u; id -g"]);
    s["hostname"] = "myhost".into();
    s["process"]["env"] = serde_json::json!(["PATH=/bin", "GREETING=bonjour"]);
    s["process"]["cwd"] = "/tmp".into();
    s["process"]["user"] = serde_json::json!({"uid": 1000, "gid": 1000});
    client.create(&id, &to_spec(&s), &CreateOptions::default()).unwrap();
    assert_eq!(rec.wait_for(&id, State::Exit, TIMEOUT).exit_code, 0);
    rec.wait_output_closed(&id, "init", TIMEOUT);
    assert_eq!(rec.stdout(&id, "init"), "myhost\nbonjour\n/tmp\n1000\n1000\n", "stderr: {}", rec.stderr(&id, "init"));
}

#[test]
fn ten_megabytes_of_output_arrive_complete() {
    let (client, rec) = test_client();
    let id = unique_id("big");
    let size = 10 * 1024 * 1024;
    let cmd = format!("yes 0123456789abcdefghijklmnopqrstuvwxyz | head -c {size}");
    client.create(&id, &spec(&["sh", "-c", &cmd]), &CreateOptions::default()).unwrap();
    assert_eq!(rec.wait_for(&id, State::Exit, Duration::from_secs(60)).exit_code, 0);
    rec.wait_output_closed(&id, "init", TIMEOUT);
    let out = rec.stdout_bytes(&id, "init");
    assert_eq!(out.len(), size);
    let line = b"0123456789abcdefghijklmnopqrstuvwxyz\n";
    for (i, chunk) in out.chunks(line.len()).enumerate() {
        assert_eq!(chunk, &line[..chunk.len()], "corrupt output at line {i}");
    }
}

/// A backend that hands the init's stdout to a reader thread of its own, `read`, which
/// returns how many bytes it got.
struct Reader {
    read: fn(std::fs::File) -> usize,
    out: std::sync::Mutex<Option<std::thread::JoinHandle<usize>>>,
    stdin: std::sync::Mutex<Vec<std::os::fd::OwnedFd>>,
}

impl containerd::Backend for Reader {
    fn attach_streams(&self, _: &str, _: &str, io: containerd::IoPipe) -> containerd::Result<()> {
        self.stdin.lock().unwrap().push(io.stdin);
        let (read, stdout) = (self.read, std::fs::File::from(io.stdout));
        *self.out.lock().unwrap() = Some(std::thread::spawn(move || read(stdout)));
        Ok(())
    }
}

/// Runs a container writing `size` zero bytes to its stdout and exiting, with `read`
/// reading them; asserts that every byte arrives.
fn every_byte_reaches(read: fn(std::fs::File) -> usize, size: usize) {
    let backend = std::sync::Arc::new(Reader { read, out: Default::default(), stdin: Default::default() });
    let client = test_remote().client(backend.clone()).unwrap();
    let id = unique_id("reader");
    client.create(&id, &spec(&["sh", "-c", &format!("head -c {size} /dev/zero")]), &CreateOptions::default()).unwrap();
    let reader = backend.out.lock().unwrap().take().unwrap();
    assert_eq!(reader.join().unwrap(), size);
    client.close();
}

#[test]
fn stalled_reader_still_gets_every_byte() {
    // The process writes far more than the pipes hold and exits while nobody reads
    // (the reader stalls for 3 s, longer than the 2 s containerd's shim waits for its
    // copy when a task is deleted): the library must not reap it (which makes the shim
    // drop what it still holds) before the reader has caught up. More than the fifo
    // holds, less than the fifo, the shim's buffer and the process's pipe together.
    every_byte_reaches(
        |mut f| {
            std::thread::sleep(Duration::from_secs(3));
            let mut all = Vec::new();
            std::io::Read::read_to_end(&mut f, &mut all).unwrap();
            all.len()
        },
        150 * 1024,
    );
}

#[test]
fn slow_but_steady_reader_gets_every_byte() {
    // The process writes 1 MiB and exits at once; the reader, 8 KiB every 40 ms, needs
    // about 5 s for it, far longer than the 2 s containerd's shim waits for its copy
    // when its task is deleted. As long as the reader makes progress, nothing is lost.
    every_byte_reaches(
        |mut f| {
            let (mut buf, mut total) = (vec![0u8; 8 * 1024], 0);
            loop {
                match std::io::Read::read(&mut f, &mut buf) {
                    Ok(0) | Err(_) => return total,
                    Ok(n) => total += n,
                }
                std::thread::sleep(Duration::from_millis(40));
            }
        },
        1024 * 1024,
    );
}

#[test]
fn missing_binary_fails_create_and_reports_nothing() {
    let (client, rec) = test_client();
    let id = unique_id("nobin");
    let err = client.create(&id, &spec(&["/bin/does-not-exist"]), &CreateOptions::default()).unwrap_err();
    assert_ne!(err.code(), Code::Ok);
    assert!(err.message().contains("does-not-exist") || err.message().contains("no such file"), "{err}");
    std::thread::sleep(Duration::from_secs(1));
    assert!(rec.events(&id).is_empty(), "events after a failed create: {:?}", rec.events(&id));
    assert!(client.list().unwrap().iter().all(|c| c.id != id));
    // The id is usable.
    client.create(&id, &spec(&["true"]), &CreateOptions::default()).unwrap();
    assert_eq!(rec.wait_for(&id, State::Exit, TIMEOUT).exit_code, 0);
}

#[test]
fn error_classes() {
    let (client, rec) = test_client();
    let id = unique_id("dup");
    client.create(&id, &spec(&["sleep", "60"]), &CreateOptions::default()).unwrap();
    let e = client.create(&id, &spec(&["true"]), &CreateOptions::default()).unwrap_err();
    assert_eq!(e.code(), Code::AlreadyExists, "{e}");

    let ghost = unique_id("ghost");
    assert_eq!(client.signal(&ghost, 9).unwrap_err().code(), Code::NotFound);
    assert_eq!(client.pause(&ghost).unwrap_err().code(), Code::NotFound);
    assert_eq!(client.stats(&ghost).unwrap_err().code(), Code::NotFound);
    assert_eq!(client.get_pids(&ghost).unwrap_err().code(), Code::NotFound);
    assert_eq!(client.add_process(&ghost, "p", &containerd::ProcessSpec::from_json(r#"{"args":["true"]}"#).unwrap()).unwrap_err().code(), Code::NotFound);

    let long = "a".repeat(65);
    for bad in ["../x", "a/b", "", long.as_str(), ".hidden", "a b"] {
        let e = client.create(bad, &spec(&["true"]), &CreateOptions::default()).unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "id {bad:?}: {e}");
        assert_eq!(client.signal(bad, 9).unwrap_err().code(), Code::InvalidArgument);
    }
    let same = containerd::ProcessSpec::from_json(r#"{"args":["true"]}"#).unwrap();
    assert_eq!(client.add_process(&id, &id, &same).unwrap_err().code(), Code::InvalidArgument);
    assert_eq!(client.add_process(&id, "init", &same).unwrap_err().code(), Code::InvalidArgument);
    assert_eq!(client.signal(&id, 0).unwrap_err().code(), Code::InvalidArgument);
    assert_eq!(client.signal(&id, 65).unwrap_err().code(), Code::InvalidArgument);
    assert_eq!(client.resize(&id, "init", 0, 0).unwrap_err().code(), Code::InvalidArgument);

    let e = ContainerSpec::from_json("{not json").unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    let e = CreateOptions::from_json(Some(r#"{"restart_polcy": {"name": "always"}}"#)).unwrap_err();
    assert!(e.message().contains("restart_polcy"), "{e}");
    let e = CreateOptions::from_json(Some(r#"{"restart_policy": {"name": "always", "maximum_retry_count": 3}}"#)).unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    let e = containerd::RemoteOptions::from_json(Some(r#"{"start_deamon": true}"#)).unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("start_deamon"), "{e}");
    let mut s = busybox_spec(&["true"]);
    s["root"]["path"] = "/does/not/exist".into();
    let e = ContainerSpec::from_json(&s.to_string()).unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);

    client.signal(&id, 9).unwrap();
    assert_eq!(rec.wait_for(&id, State::Exit, TIMEOUT).exit_code, 137);
}
