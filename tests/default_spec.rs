//! Containers from `default_spec` (`lcd_spec_default`) on a real containerd: as root
//! and as an unprivileged user of the busybox fixture and of a Debian userland, what
//! it masks and limits, and exec processes in them (ambient capabilities only when
//! asked, a terminal's initial size).

mod common;

use std::path::PathBuf;

use common::*;
use containerd::{default_spec, ContainerSpec, CreateOptions, ProcessSpec, SpecOptions, State};
use serde_json::json;

fn options(v: serde_json::Value) -> SpecOptions {
    SpecOptions::from_json(Some(&v.to_string())).unwrap()
}

fn container_spec(o: &SpecOptions) -> ContainerSpec {
    let spec = default_spec(o).unwrap();
    ContainerSpec::from_json(&serde_json::to_string(&spec).unwrap()).unwrap()
}

fn process(v: serde_json::Value) -> ProcessSpec {
    ProcessSpec::from_json(&v.to_string()).unwrap()
}

/// Runs `script` with `sh -c` in a container from the default spec adjusted by
/// `extra`; returns its exit code and stdout.
fn run(extra: serde_json::Value, shell: &str, script: &str) -> (u32, String) {
    let (client, rec) = test_client();
    let id = unique_id("dspec");
    let mut o = json!({"rootfs": rootfs(), "args": [shell, "-c", script]});
    for (k, v) in extra.as_object().unwrap() {
        o[k] = v.clone();
    }
    client.create(&id, &container_spec(&options(o)), &CreateOptions::default()).unwrap();
    let exit = rec.wait_for(&id, State::Exit, TIMEOUT);
    rec.wait_output_closed(&id, "init", TIMEOUT);
    (exit.exit_code, rec.stdout(&id, "init") + &rec.stderr(&id, "init"))
}

/// The Debian userland fixture built by `scripts/debian-rootfs.sh`:
/// `LCD_TEST_DEBIAN_ROOTFS`, else `<crate>/build/debian-rootfs`.
fn debian_rootfs() -> PathBuf {
    let path = match std::env::var_os("LCD_TEST_DEBIAN_ROOTFS") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("build/debian-rootfs"),
    };
    assert!(
        path.join("usr/bin/python3").is_file(),
        "the Debian rootfs fixture is missing at {}: run scripts/debian-rootfs.sh (as root) first",
        path.display()
    );
    path
}

#[test]
fn runs_as_root_with_the_default_capabilities() {
    let (code, out) = run(json!({"hostname": "box"}), "sh", "id -u; id -g; grep CapEff /proc/self/status; hostname; echo $PATH");
    assert_eq!(code, 0, "{out}");
    // containerd's default set: 0xa80425fb.
    assert_eq!(out, "0\n0\nCapEff:\t00000000a80425fb\nbox\n/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n");
}

#[test]
fn runs_as_a_named_user_of_the_rootfs() {
    let (code, out) = run(json!({"user": "app", "cwd": "/home/app"}), "sh", "id -u; id -g; echo $HOME; pwd; grep CapEff /proc/self/status; touch /home/app/f && echo writable");
    assert_eq!(code, 0, "{out}");
    assert_eq!(out, "1000\n1000\n/home/app\n/home/app\nCapEff:\t0000000000000000\nwritable\n");
}

#[test]
fn masks_and_protects_the_kernel_interfaces() {
    assert!(std::fs::read_to_string("/proc/timer_list").is_ok_and(|t| !t.is_empty()), "the host has no /proc/timer_list to mask");
    let script = "[ \"$(wc -c < /proc/timer_list)\" = 0 ] && echo timer-list-masked; \
                  [ -z \"$(ls /sys/firmware)\" ] && echo firmware-masked; \
                  (echo x > /proc/sys/kernel/hostname) 2>/dev/null || echo proc-sys-ro; \
                  grep -q '^sysfs /sys sysfs ro' /proc/mounts && echo sys-ro; \
                  grep -q ' /dev/mqueue mqueue ' /proc/mounts && echo mqueue; \
                  grep -q ' /dev/pts devpts ' /proc/mounts && echo pts; \
                  grep -q ' /dev/shm tmpfs ' /proc/mounts && echo shm; \
                  grep -q ' /sys/fs/cgroup' /proc/mounts && echo cgroup; \
                  (touch /x) 2>/dev/null || echo rootfs-ro; \
                  ip link 2>/dev/null | grep -c ': <' ; true";
    let (code, out) = run(json!({"readonly": true}), "sh", script);
    assert_eq!(code, 0, "{out}");
    assert_eq!(out, "timer-list-masked\nfirmware-masked\nproc-sys-ro\nsys-ro\nmqueue\npts\nshm\ncgroup\nrootfs-ro\n1\n", "only lo in its own network namespace");
}

#[test]
fn privileged_gets_every_capability_and_no_masks() {
    let (code, out) = run(json!({"privileged": true}), "sh", "grep CapEff /proc/self/status; wc -c < /proc/timer_list | grep -qv '^0$' && echo timer-list-visible");
    assert_eq!(code, 0, "{out}");
    // Every capability the host's processes have (containerd's `cap.Current()`).
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let host = status.lines().find_map(|l| l.strip_prefix("CapEff:")).unwrap().trim().to_string();
    assert_eq!(out, format!("CapEff:\t{host}\ntimer-list-visible\n"));
}

#[test]
fn resource_options_reach_the_cgroup() {
    let (client, rec) = test_client();
    let id = unique_id("dlimits");
    let o = options(json!({"rootfs": rootfs(), "args": ["sleep", "300"], "memory_limit": 64 << 20, "pids_limit": 20}));
    client.create(&id, &container_spec(&o), &CreateOptions::default()).unwrap();
    rec.wait_for(&id, State::StartContainer, TIMEOUT);
    let stats = client.stats(&id).unwrap();
    assert_eq!(stats["memory"]["usage"]["limit"], json!(64u64 << 20), "{stats}");
    assert_eq!(stats["pids"]["limit"], json!(20), "{stats}");
    client.stop(&id, 9, std::time::Duration::from_secs(5)).unwrap();
    rec.wait_for(&id, State::Exit, TIMEOUT);
}

#[test]
fn debian_userland_runs_as_root_and_unprivileged() {
    let root = debian_rootfs();
    for (user, uid) in [("root", "0"), ("app", "1000")] {
        let (client, rec) = test_client();
        let id = unique_id("debian");
        let script = "echo bash=${BASH_VERSION%%.*}; python3 -c 'import os, sys; print(os.getuid(), os.getgid(), sys.version_info[0])'; echo $HOME; grep CapEff /proc/self/status";
        let o = options(json!({"rootfs": root, "readonly": true, "user": user, "args": ["bash", "-c", script]}));
        client.create(&id, &container_spec(&o), &CreateOptions::default()).unwrap();
        let exit = rec.wait_for(&id, State::Exit, TIMEOUT);
        rec.wait_output_closed(&id, "init", TIMEOUT);
        let out = rec.stdout(&id, "init");
        assert_eq!(exit.exit_code, 0, "{out}{}", rec.stderr(&id, "init"));
        let home = if user == "root" { "/root" } else { "/home/app" };
        let caps = if user == "root" { "00000000a80425fb" } else { "0000000000000000" };
        assert_eq!(out, format!("bash=5\n{uid} {uid} 3\n{home}\nCapEff:\t{caps}\n"));
    }
}

#[test]
fn exec_capabilities_are_ambient_only_when_asked() {
    let (client, rec) = test_client();
    let id = unique_id("ambient");
    let o = options(json!({"rootfs": rootfs(), "args": ["sleep", "300"]}));
    client.create(&id, &container_spec(&o), &CreateOptions::default()).unwrap();
    rec.wait_for(&id, State::StartContainer, TIMEOUT);
    let status = "grep -E '^Cap(Amb|Eff)' /proc/self/status";
    let user = json!({"uid": 1000, "gid": 1000});
    let cases = [
        ("plain", json!({"args": ["sh", "-c", status], "user": user, "capabilities": ["CAP_NET_BIND_SERVICE"]}), "0000000000000000", "0000000000000000"),
        ("asked", json!({"args": ["sh", "-c", status], "user": user, "capabilities": ["CAP_NET_BIND_SERVICE"], "ambientCapabilities": ["CAP_NET_BIND_SERVICE"]}), "0000000000000400", "0000000000000400"),
        ("base", json!({"args": ["sh", "-c", status], "user": user, "ambientCapabilities": ["CAP_NET_BIND_SERVICE"]}), "0000000000000400", "0000000000000400"),
    ];
    for (pid, p, eff, amb) in cases {
        client.add_process(&id, pid, &process(p)).unwrap();
        assert_eq!(rec.wait_for_process(&id, pid, State::ExitProcess, TIMEOUT).exit_code, 0);
        rec.wait_output_closed(&id, pid, TIMEOUT);
        assert_eq!(rec.stdout(&id, pid), format!("CapEff:\t{eff}\nCapAmb:\t{amb}\n"), "exec {pid}");
    }
    // Ambient needs permitted.
    let e = client.add_process(&id, "bad", &process(json!({"args": ["true"], "capabilities": ["CAP_KILL"], "ambientCapabilities": ["CAP_SYS_ADMIN"]}))).unwrap_err();
    assert_eq!(e.code(), containerd::Code::InvalidArgument);
    assert!(e.message().contains("CAP_SYS_ADMIN"), "{e}");
    client.stop(&id, 9, std::time::Duration::from_secs(5)).unwrap();
    rec.wait_for(&id, State::Exit, TIMEOUT);
}

#[test]
fn a_terminal_exec_starts_with_its_console_size() {
    let (client, rec) = test_client();
    let id = unique_id("consize");
    let o = options(json!({"rootfs": rootfs(), "args": ["sleep", "300"]}));
    client.create(&id, &container_spec(&o), &CreateOptions::default()).unwrap();
    rec.wait_for(&id, State::StartContainer, TIMEOUT);
    client.add_process(&id, "t", &process(json!({"args": ["stty", "size"], "terminal": true, "consoleSize": {"height": 33, "width": 111}}))).unwrap();
    rec.wait_for_process(&id, "t", State::ExitProcess, TIMEOUT);
    let out = rec.wait_stdout_contains(&id, "t", "\n", TIMEOUT);
    assert_eq!(out.trim(), "33 111");
    assert!(ProcessSpec::from_json(r#"{"args": ["true"], "consoleSize": {"height": 1, "width": 1}}"#).is_err(), "consoleSize without a terminal");
    assert!(ProcessSpec::from_json(r#"{"args": ["true"], "terminal": true, "consoleSize": {"height": 1, "width": 1, "depth": 2}}"#).is_err());
    client.stop(&id, 9, std::time::Duration::from_secs(5)).unwrap();
    rec.wait_for(&id, State::Exit, TIMEOUT);
}
