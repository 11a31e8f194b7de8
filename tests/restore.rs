//! Dropping the last reference, live restore across a new remote, and `restore` of
//! running, exited and vanished containers.

mod common;

use std::io::Write;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use common::*;
use containerd::{Backend, CreateOptions, IoPipe, Remote, State};

/// The first host program: keeps every stdin open and reads no output, so whatever
/// the containers print stays in their pipes for the program that restores them.
#[derive(Default)]
struct FirstHost(Mutex<Vec<OwnedFd>>);

impl Backend for FirstHost {
    fn attach_streams(&self, _: &str, _: &str, io: IoPipe) -> containerd::Result<()> {
        self.0.lock().unwrap().push(io.stdin);
        Ok(())
    }
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).map(|s| !s.contains(") Z")).unwrap_or(false)
}

fn wait_dead(pid: u32) -> bool {
    for _ in 0..200 {
        if !alive(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

#[test]
fn last_reference_stops_containers_without_live_restore() {
    let dir = temp_state_dir();
    let remote = Remote::new(daemon_options(dir.path())).unwrap();
    let rec = Recorder::new();
    let client = remote.client(rec.backend()).unwrap();
    let id = unique_id("orphan");
    client.create(&id, &spec(&["sleep", "300"]), &CreateOptions::default()).unwrap();
    let pid = rec.wait_for(&id, State::StartContainer, TIMEOUT).pid;
    let daemon = remote.daemon_pid();
    drop(remote);
    // The client keeps the remote alive.
    assert!(alive(pid) && alive(daemon));
    client.list().unwrap();
    client.close();
    // Dropping the last handle returns only once the container and the daemon are gone.
    drop(client);
    assert!(!alive(pid), "container survived its remote");
    assert!(!alive(daemon), "daemon survived its remote");
    stop_daemon(dir.path());
}

fn live_options(dir: &Path) -> containerd::RemoteOptions {
    let mut o = daemon_options(dir);
    o.live_restore = Some(true);
    o
}

#[test]
fn live_restore_readopts_running_exited_and_vanished_containers() {
    let dir = temp_state_dir();
    let (running, exited, paused, vanished) = (unique_id("run"), unique_id("done"), unique_id("frozen"), unique_id("gone"));
    let (run_pid, first_daemon) = {
        let remote = Remote::new(live_options(dir.path())).unwrap();
        let client = remote.client(std::sync::Arc::new(FirstHost::default())).unwrap();
        client.create(&running, &spec(&["sh", "-c", "echo first; read x; echo got $x; exit 4"]), &CreateOptions::default()).unwrap();
        client.create(&exited, &spec(&["sh", "-c", "sleep 1; exit 5"]), &CreateOptions::default()).unwrap();
        client.create(&paused, &spec(&["sleep", "300"]), &CreateOptions::default()).unwrap();
        client.pause(&paused).unwrap();
        let pid = client.list().unwrap().into_iter().find(|c| c.id == running).unwrap().pid;
        let daemon = remote.daemon_pid();
        client.close();
        drop(client);
        remote.cleanup().unwrap();
        (pid, daemon)
    };
    // The daemon is gone, the containers are not.
    assert!(wait_dead(first_daemon));
    assert!(alive(run_pid), "live restore killed the container");
    std::thread::sleep(Duration::from_secs(2));

    let remote = Remote::new(live_options(dir.path())).unwrap();
    let rec = Recorder::new();
    let client = remote.client(rec.backend()).unwrap();
    let listed: Vec<String> = client.list().unwrap().into_iter().map(|c| c.id).collect();
    for id in [&running, &exited, &paused] {
        assert!(listed.contains(id), "{id} not listed: {listed:?}");
    }
    client.restore(&running, &CreateOptions::default()).unwrap();
    let r = rec.wait_for(&running, State::Restore, TIMEOUT);
    assert_eq!(r.pid, run_pid);
    let mut stdin = rec.take_stdin(&running, "init");
    stdin.write_all(b"again\n").unwrap();
    let exit = rec.wait_for(&running, State::Exit, TIMEOUT);
    assert_eq!(exit.exit_code, 4);
    rec.wait_output_closed(&running, "init", TIMEOUT);
    // What it printed while nobody read, then what it printed after the restore.
    assert_eq!(rec.stdout(&running, "init"), "first\ngot again\n");

    client.restore(&exited, &CreateOptions::default()).unwrap();
    assert_eq!(rec.wait_for(&exited, State::Exit, TIMEOUT).exit_code, 5);

    client.restore(&paused, &CreateOptions::default()).unwrap();
    rec.wait_for(&paused, State::Pause, TIMEOUT);
    assert_eq!(rec.states(&paused), vec![State::Restore, State::Pause]);
    client.signal(&paused, 9).unwrap();
    assert_eq!(rec.wait_for(&paused, State::Exit, TIMEOUT).exit_code, 137);

    client.restore(&vanished, &CreateOptions::default()).unwrap();
    assert_eq!(rec.wait_for(&vanished, State::Exit, TIMEOUT).exit_code, 255);

    std::thread::sleep(Duration::from_millis(300));
    for id in [&running, &exited, &paused, &vanished] {
        assert_eq!(rec.count(id, State::Exit), 1, "{id}: {:?}", rec.events(id));
    }
    assert!(client.list().unwrap().is_empty());
    remote.cleanup().unwrap();
}

#[test]
fn restore_without_live_restore_stops_the_container() {
    let dir = temp_state_dir();
    let id = unique_id("stale");
    {
        let remote = Remote::new(live_options(dir.path())).unwrap();
        let rec = Recorder::new();
        let client = remote.client(rec.backend()).unwrap();
        client.create(&id, &spec(&["sleep", "300"]), &CreateOptions::default()).unwrap();
        rec.wait_for(&id, State::StartContainer, TIMEOUT);
        client.close();
        remote.cleanup().unwrap();
    }
    let remote = Remote::new(daemon_options(dir.path())).unwrap();
    let rec = Recorder::new();
    let client = remote.client(rec.backend()).unwrap();
    client.restore(&id, &CreateOptions::default()).unwrap();
    let exit = rec.wait_for(&id, State::Exit, TIMEOUT);
    assert!(exit.exit_code == 143 || exit.exit_code == 137, "{exit:?}");
    assert_eq!(rec.states(&id), vec![State::Exit]);
    remote.cleanup().unwrap();
}
