//! The supervised daemon: a killed containerd is relaunched, containers survive it,
//! the event stream comes back, and exits that happen meanwhile are reported once.

mod common;

use std::time::{Duration, Instant};

use common::*;
use containerd::{CreateOptions, ProcessSpec, State};

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).map(|s| !s.contains(") Z")).unwrap_or(false)
}

/// Kills the daemon and waits for the supervisor's relaunch; returns the new pid.
fn kill_and_wait_relaunch(d: &TestDaemon) -> u32 {
    let old = d.remote.daemon_pid();
    unsafe { libc::kill(old as i32, libc::SIGKILL) };
    let t0 = Instant::now();
    loop {
        let now = d.remote.daemon_pid();
        if now != old && now != 0 && alive(now) {
            return now;
        }
        assert!(t0.elapsed() < Duration::from_secs(10), "containerd not relaunched within 10 s");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn killed_daemon_is_relaunched_and_containers_survive() {
    let d = TestDaemon::start();
    let (client, rec) = d.client();
    let ids: Vec<String> = (0..3).map(|_| unique_id("survivor")).collect();
    let mut pids = Vec::new();
    for id in &ids {
        client.create(id, &spec(&["sleep", "300"]), &CreateOptions::default()).unwrap();
        pids.push(rec.wait_for(id, State::StartContainer, TIMEOUT).pid);
    }
    for round in 0..2 {
        kill_and_wait_relaunch(&d);
        for p in &pids {
            assert!(alive(*p), "round {round}: container {p} died with the daemon");
        }
        // Calls work again once the relaunched daemon answers.
        let t0 = Instant::now();
        while client.stats(&ids[0]).is_err() {
            assert!(t0.elapsed() < Duration::from_secs(10), "stats never worked again");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    let p = ProcessSpec::from_json(r#"{"args": ["sh", "-c", "exit 9"]}"#).unwrap();
    client.add_process(&ids[1], "after", &p).unwrap();
    assert_eq!(rec.wait_for_process(&ids[1], "after", State::ExitProcess, TIMEOUT).exit_code, 9);
    for id in &ids {
        client.signal(id, 9).unwrap();
        assert_eq!(rec.wait_for(id, State::Exit, TIMEOUT).exit_code, 137);
    }
    std::thread::sleep(Duration::from_millis(300));
    for id in &ids {
        assert_eq!(rec.count(id, State::Exit), 1, "{:?}", rec.events(id));
    }
}

#[test]
fn exit_during_an_outage_is_reported_once() {
    let d = TestDaemon::start();
    let (client, rec) = d.client();
    let id = unique_id("outage");
    client.create(&id, &spec(&["sh", "-c", "sleep 1; exit 5"]), &CreateOptions::default()).unwrap();
    rec.wait_for(&id, State::StartContainer, TIMEOUT);
    kill_and_wait_relaunch(&d);
    let exit = rec.wait_for(&id, State::Exit, TIMEOUT);
    assert_eq!(exit.exit_code, 5);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(rec.count(&id, State::Exit), 1, "{:?}", rec.events(&id));
}

#[test]
fn killing_the_shim_gives_one_exit() {
    let (client, rec) = test_client();
    let id = unique_id("shimkill");
    client.create(&id, &spec(&["sleep", "300"]), &CreateOptions::default()).unwrap();
    let pid = rec.wait_for(&id, State::StartContainer, TIMEOUT).pid;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let ppid: i32 = stat.rsplit_once(')').unwrap().1.split_whitespace().nth(1).unwrap().parse().unwrap();
    let cmd = std::fs::read_to_string(format!("/proc/{ppid}/cmdline")).unwrap();
    assert!(cmd.contains("containerd-shim"), "parent of init is not the shim: {cmd}");
    unsafe { libc::kill(ppid, libc::SIGKILL) };
    rec.wait_for(&id, State::Exit, TIMEOUT);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(rec.count(&id, State::Exit), 1, "{:?}", rec.events(&id));
    assert!(client.list().unwrap().iter().all(|c| c.id != id));
}

/// containerd processes started with this state dir's config.
fn daemons_of(state_dir: &std::path::Path) -> Vec<u32> {
    let cfg = state_dir.join("containerd/config.toml").to_string_lossy().into_owned();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| alive(*pid))
        .filter(|pid| std::fs::read(format!("/proc/{pid}/cmdline")).map(|c| String::from_utf8_lossy(&c).contains(&cfg)).unwrap_or(false))
        .collect()
}

#[test]
fn two_remotes_on_one_state_dir_share_and_relaunch_one_daemon() {
    let d = TestDaemon::start();
    let second = containerd::Remote::new(d.options()).unwrap();
    assert_eq!(second.daemon_pid(), d.remote.daemon_pid());
    let (client, rec) = d.client();
    let id = unique_id("shared");
    client.create(&id, &spec(&["sleep", "300"]), &CreateOptions::default()).unwrap();
    rec.wait_for(&id, State::StartContainer, TIMEOUT);
    for _ in 0..2 {
        let new = kill_and_wait_relaunch(&d);
        let t0 = Instant::now();
        while second.daemon_pid() != new {
            assert!(t0.elapsed() < Duration::from_secs(10), "the second remote did not follow the relaunch");
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(1500));
        assert_eq!(daemons_of(&d.state_dir), vec![new], "more than one daemon on one state dir");
    }
    // The second remote's cleanup leaves the daemon the first one still uses.
    let pid = d.remote.daemon_pid();
    second.cleanup().unwrap();
    drop(second);
    assert!(alive(pid), "cleanup of one remote stopped the daemon another one uses");
    client.signal(&id, 9).unwrap();
    assert_eq!(rec.wait_for(&id, State::Exit, TIMEOUT).exit_code, 137);
    d.remote.cleanup().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    assert!(!alive(pid), "the last remote's cleanup left the daemon running");
}
