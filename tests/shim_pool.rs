//! The opt-in shim pool (`shim_pool`): containers share a bounded number of shims kept
//! warm by keepers, a killed shared shim gives each of its containers exactly one
//! `exit`, and the pool's shims are gone after the remote's cleanup.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use common::*;
use containerd::{CreateOptions, State};

/// The parent of `pid` (for a container's init: its shim).
fn parent(pid: u32) -> u32 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    stat.rsplit_once(')').unwrap().1.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).map(|s| !s.contains(") Z")).unwrap_or(false)
}

/// The shim running a container's init, checked to be a runc v2 shim.
fn shim_of(pid: u32) -> u32 {
    let shim = parent(pid);
    let cmd = std::fs::read_to_string(format!("/proc/{shim}/cmdline")).unwrap_or_default();
    assert!(cmd.contains("containerd-shim-runc-v2"), "parent {shim} of init {pid} is not a shim: {cmd:?}");
    shim
}

fn wait_gone(pid: u32) {
    let t0 = Instant::now();
    while alive(pid) {
        assert!(t0.elapsed() < TIMEOUT, "process {pid} still alive");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn containers_share_at_most_n_shims_and_a_killed_shim_gives_one_exit_each() {
    let d = TestDaemon::start_with(|o| o.shim_pool = Some(2));
    let (client, rec) = d.client();
    let ids: Vec<String> = (0..4).map(|i| unique_id(&format!("pool{i}"))).collect();
    let mut shims: BTreeMap<u32, Vec<String>> = BTreeMap::new();
    for id in &ids {
        client.create(id, &spec(&["sleep", "300"]), &CreateOptions::default()).unwrap();
        let pid = rec.wait_for(id, State::StartContainer, TIMEOUT).pid;
        shims.entry(shim_of(pid)).or_default().push(id.clone());
    }
    assert_eq!(shims.len(), 2, "4 containers over a pool of 2: {shims:?}");
    assert!(shims.values().all(|v| v.len() == 2), "spread evenly: {shims:?}");
    // SIGKILL one shared shim: both of its containers end, each reported once.
    let (&victim, dead) = shims.iter().next().unwrap();
    unsafe { libc::kill(victim as i32, libc::SIGKILL) };
    for id in dead {
        rec.wait_for(id, State::Exit, TIMEOUT);
    }
    std::thread::sleep(Duration::from_secs(2));
    for id in dead {
        assert_eq!(rec.count(id, State::Exit), 1, "{id}: {:?}", rec.events(id));
    }
    let survivors: BTreeSet<String> = shims.values().flatten().filter(|id| !dead.contains(id)).cloned().collect();
    for id in &survivors {
        assert_eq!(rec.count(id, State::Exit), 0, "{id} shares no shim with the killed one: {:?}", rec.events(id));
    }
    let listed: BTreeSet<String> = client.list().unwrap().into_iter().map(|c| c.id).collect();
    assert_eq!(listed, survivors);
    // The group of the dead shim takes containers again (a new shim with a new keeper).
    let again = unique_id("pool-again");
    client.create(&again, &spec(&["sleep", "300"]), &CreateOptions::default()).unwrap();
    let pid = rec.wait_for(&again, State::StartContainer, TIMEOUT).pid;
    let new_shim = shim_of(pid);
    // It goes to the least loaded group, the dead shim's: a shim of its own.
    assert!(!shims.contains_key(&new_shim), "{new_shim} in {shims:?}");
    let all_shims: Vec<u32> = shims.keys().copied().filter(|s| *s != victim).chain([new_shim]).collect();
    // Cleanup stops the containers and the keepers: no shim of the pool is left.
    d.remote.cleanup().unwrap();
    for id in survivors.iter().chain([&again]) {
        assert_eq!(rec.count(id, State::Exit), 1, "{id}: {:?}", rec.events(id));
    }
    for s in all_shims {
        wait_gone(s);
    }
}

#[test]
fn a_pooled_shim_outlives_its_containers() {
    let d = TestDaemon::start_with(|o| o.shim_pool = Some(1));
    let (client, rec) = d.client();
    let first = unique_id("warm1");
    client.create(&first, &spec(&["sleep", "300"]), &CreateOptions::default()).unwrap();
    let shim = shim_of(rec.wait_for(&first, State::StartContainer, TIMEOUT).pid);
    client.signal(&first, 9).unwrap();
    rec.wait_for(&first, State::Exit, TIMEOUT);
    // The keeper holds the group's shim: the next container joins it.
    let second = unique_id("warm2");
    client.create(&second, &spec(&["sleep", "300"]), &CreateOptions::default()).unwrap();
    let pid = rec.wait_for(&second, State::StartContainer, TIMEOUT).pid;
    assert_eq!(shim_of(pid), shim, "the second container runs in the first one's shim");
    assert!(alive(shim));
    d.remote.cleanup().unwrap();
    wait_gone(shim);
}

#[test]
fn a_spec_naming_its_own_group_is_left_alone() {
    let d = TestDaemon::start_with(|o| o.shim_pool = Some(1));
    let (client, rec) = d.client();
    let pooled = unique_id("pooled");
    client.create(&pooled, &spec(&["sleep", "300"]), &CreateOptions::default()).unwrap();
    let pooled_shim = shim_of(rec.wait_for(&pooled, State::StartContainer, TIMEOUT).pid);
    let own = unique_id("owngroup");
    let mut v = busybox_spec(&["sleep", "300"]);
    v["annotations"] = serde_json::json!({"io.containerd.runc.v2.group": format!("{own}-group")});
    client.create(&own, &to_spec(&v), &CreateOptions::default()).unwrap();
    let own_shim = shim_of(rec.wait_for(&own, State::StartContainer, TIMEOUT).pid);
    assert_ne!(own_shim, pooled_shim);
    d.remote.cleanup().unwrap();
}
