//! Images on real containerd and a real registry: pull (tags, digests, indexes),
//! import (OCI and docker-save archives), list, remove with GC, progress, and the
//! bad-input and fault table (unknown names, unreachable or killed registry, wrong
//! credentials, corrupt blobs, hostile archives).

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use common::registry::{archive, Registry};
use common::TestDaemon;
use containerd::images::{ImageInfo, ImportOptions, Progress, ProgressStatus, PullOptions};
use containerd::{Code, Remote};
use serde_json::json;

fn options(v: serde_json::Value) -> PullOptions {
    serde_json::from_value(v).expect("pull options")
}

fn pull(remote: &Remote, reference: &str, reg_addr: &str) -> containerd::Result<ImageInfo> {
    remote.pull_image(reference, &options(json!({"plain_http": [reg_addr], "unpack": false})), None)
}

fn names(remote: &Remote) -> Vec<String> {
    remote.images().expect("list images").into_iter().map(|i| i.name).collect()
}

/// Where containerd keeps blob `digest` on disk.
fn blob_file(d: &TestDaemon, digest: &str) -> PathBuf {
    let hex = digest.strip_prefix("sha256:").unwrap();
    d.state_dir.join("containerd/root/io.containerd.content.v1.content/blobs/sha256").join(hex)
}

fn layer_digests(reg: &Registry, repo: &str) -> Vec<String> {
    reg.manifest(repo)["layers"].as_array().unwrap().iter().map(|l| l["digest"].as_str().unwrap().to_string()).collect()
}

#[test]
fn pull_by_tag_reports_progress_lists_and_removes_with_gc() {
    let reg = Registry::seeded();
    let d = TestDaemon::start();
    let seen: Arc<Mutex<Vec<(Progress, Option<String>)>>> = Arc::default();
    let s = seen.clone();
    let cb = Box::new(move |p: &Progress| {
        s.lock().unwrap().push((p.clone(), std::thread::current().name().map(String::from)));
    });
    let r = reg.reference("busybox:latest");
    let opts = options(json!({"plain_http": [reg.addr()], "unpack": false, "max_concurrent_downloads": 2}));
    let info = d.remote.pull_image(&r, &opts, Some(cb)).expect("pull");
    assert_eq!(info.name, r);
    assert_eq!(info.platform, "linux/amd64");
    assert_eq!(info.config.entrypoint.as_deref(), Some(&["/bin/sh".to_string()][..]));
    assert_eq!(info.config.cmd.as_deref(), Some(&["-c".to_string(), "cat /hello.txt".to_string()][..]));
    assert_eq!(info.config.working_dir.as_deref(), Some("/data"));
    assert_eq!(info.config.stop_signal.as_deref(), Some("SIGINT"));
    assert!(info.config.env.as_ref().unwrap().contains(&"IMAGE_MARK=busybox".to_string()));
    let layers = layer_digests(&reg, "busybox");
    assert_eq!(layers.len(), 3);
    assert!(info.size > 1_000_000, "{info:?}");

    // Progress: all delivered before the pull returned, on the library's thread, in order.
    let seen = seen.lock().unwrap().clone();
    assert!(seen.iter().all(|(_, t)| t.as_deref() == Some("lcd-progress")), "{seen:?}");
    assert_eq!(seen[0].0.status, ProgressStatus::Resolving);
    assert!(seen.iter().all(|(p, _)| p.reference == r));
    for l in &layers {
        let statuses: Vec<ProgressStatus> = seen.iter().filter(|(p, _)| &p.digest == l).map(|(p, _)| p.status).collect();
        assert_eq!(statuses.first(), Some(&ProgressStatus::Waiting), "{l}: {statuses:?}");
        assert_eq!(statuses.last(), Some(&ProgressStatus::Done), "{l}: {statuses:?}");
        assert!(statuses.contains(&ProgressStatus::Downloading) && statuses.contains(&ProgressStatus::Verifying), "{statuses:?}");
        let currents: Vec<u64> = seen.iter().filter(|(p, _)| &p.digest == l).map(|(p, _)| p.current).collect();
        assert!(currents.windows(2).all(|w| w[0] <= w[1]), "{currents:?}");
    }

    // A second pull finds everything there.
    let seen2: Arc<Mutex<Vec<Progress>>> = Arc::default();
    let s2 = seen2.clone();
    d.remote.pull_image(&r, &opts, Some(Box::new(move |p: &Progress| s2.lock().unwrap().push(p.clone())))).expect("pull again");
    let again = seen2.lock().unwrap();
    for l in &layers {
        assert!(again.iter().any(|p| &p.digest == l && p.status == ProgressStatus::Exists), "{again:?}");
        assert!(!again.iter().any(|p| &p.digest == l && p.status == ProgressStatus::Downloading));
    }

    assert_eq!(names(&d.remote), vec![r.clone()]);
    let listed = d.remote.images().unwrap();
    assert_eq!(listed[0], info);
    for l in &layers {
        assert!(blob_file(&d, l).exists(), "{l} in the content store");
    }
    // Removing another image runs containerd's GC: what this image refers to (through
    // the labels on its manifest) stays; what only the other one used goes.
    let other = reg.reference("corrupt:latest");
    pull(&d.remote, &other, reg.addr()).expect("pull a second image");
    let own = layer_digests(&reg, "corrupt").pop().unwrap();
    assert!(blob_file(&d, &own).exists());
    d.remote.remove_image(&other).expect("remove the second image");
    assert!(!blob_file(&d, &own).exists(), "{own} reclaimed");
    for l in layers.iter().chain([&info.digest]) {
        assert!(blob_file(&d, l).exists(), "{l} kept while its image lives");
    }

    d.remote.remove_image(&r).expect("remove");
    assert!(names(&d.remote).is_empty());
    for l in layers.iter().chain([&info.digest]) {
        assert!(!blob_file(&d, l).exists(), "{l} reclaimed by containerd's GC");
    }
    assert_eq!(d.remote.remove_image(&r).unwrap_err().code(), Code::NotFound);
}

#[test]
fn pull_by_digest_and_index_resolves_the_platform() {
    let reg = Registry::seeded();
    let d = TestDaemon::start();
    let by_tag = pull(&d.remote, &reg.reference("multi:latest"), reg.addr()).expect("pull index");
    assert_eq!(by_tag.platform, "linux/amd64");
    assert!(by_tag.config.env.as_ref().unwrap().contains(&"ARCH_MARK=amd64".to_string()), "{by_tag:?}");

    let by_digest = format!("{}/test/multi@{}", reg.addr(), by_tag.digest);
    let info = pull(&d.remote, &by_digest, reg.addr()).expect("pull by digest");
    assert_eq!(info.name, by_digest);
    assert_eq!(info.digest, by_tag.digest);

    let arm = d
        .remote
        .pull_image(&reg.reference("multi:latest"), &options(json!({"plain_http": [reg.addr()], "unpack": false, "platform": "linux/arm64"})), None)
        .expect("pull arm64");
    assert_eq!(arm.platform, "linux/arm64");
    assert!(arm.config.env.as_ref().unwrap().contains(&"ARCH_MARK=arm64".to_string()));

    let none = d.remote.pull_image(
        &reg.reference("multi:latest"),
        &options(json!({"plain_http": [reg.addr()], "unpack": false, "platform": "linux/s390x"})),
        None,
    );
    assert_eq!(none.unwrap_err().code(), Code::NotFound);
    let bad_digest = format!("{}/test/multi@sha256:{}", reg.addr(), "0".repeat(64));
    assert_eq!(pull(&d.remote, &bad_digest, reg.addr()).unwrap_err().code(), Code::NotFound);
}

#[test]
fn import_oci_and_docker_archives() {
    let d = TestDaemon::start();
    let oci = d.remote.import_images(&archive("busybox-oci.tar"), &ImportOptions::default()).expect("import oci-archive");
    assert_eq!(oci.len(), 1);
    assert_eq!(oci[0].name, "docker.io/library/busybox:latest");
    assert_eq!(oci[0].config.working_dir.as_deref(), Some("/data"));
    assert_eq!(oci[0].platform, "linux/amd64");

    let docker = d.remote.import_images(&archive("busybox-docker.tar"), &ImportOptions::default()).expect("import docker archive");
    assert_eq!(docker.len(), 1);
    assert_eq!(docker[0].name, "docker.io/test/busybox:latest");
    assert_eq!(docker[0].config, oci[0].config);

    let renamed = d
        .remote
        .import_images(&archive("busybox-docker.tar"), &ImportOptions { name: Some("example.com/renamed:v1".into()) })
        .expect("import renamed");
    assert_eq!(renamed[0].name, "example.com/renamed:v1");
    assert_eq!(names(&d.remote), vec!["docker.io/library/busybox:latest", "docker.io/test/busybox:latest", "example.com/renamed:v1"]);
    assert_eq!(d.remote.import_images(Path::new("/nonexistent.tar"), &ImportOptions::default()).unwrap_err().code(), Code::NotFound);
}

#[test]
fn unknown_names_unreachable_registries_and_bad_input() {
    let reg = Registry::seeded();
    let d = TestDaemon::start();
    let e = pull(&d.remote, &reg.reference("nosuchrepo:latest"), reg.addr()).unwrap_err();
    assert_eq!(e.code(), Code::NotFound, "{e}");
    let e = pull(&d.remote, &reg.reference("busybox:nosuchtag"), reg.addr()).unwrap_err();
    assert_eq!(e.code(), Code::NotFound, "{e}");

    // Nothing listens on a port just freed.
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let addr = format!("127.0.0.1:{port}");
    let e = pull(&d.remote, &format!("{addr}/test/busybox:latest"), &addr).unwrap_err();
    assert_eq!(e.code(), Code::Unavailable, "{e}");

    for bad in ["", "UPPER/case", "busybox@sha256:short", "a:b:c"] {
        assert_eq!(pull(&d.remote, bad, reg.addr()).unwrap_err().code(), Code::InvalidArgument, "{bad:?}");
    }
    let e = containerd::spec::parse_json::<PullOptions>("pull options", r#"{"plain_htp": []}"#).unwrap_err();
    assert!(e.code() == Code::InvalidArgument && e.message().contains("plain_htp"), "{e}");
    let e = d.remote.pull_image(&reg.reference("busybox:latest"), &options(json!({"max_concurrent_downloads": 0})), None).unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(names(&d.remote).is_empty());
}

#[test]
fn wrong_credentials_are_permission_denied() {
    let reg = Registry::seeded_with_auth("alice:s3cret");
    let d = TestDaemon::start();
    let r = reg.reference("busybox:latest");
    let with = |auth: serde_json::Value| {
        d.remote.pull_image(&r, &options(json!({"plain_http": [reg.addr()], "unpack": false, "auth": auth})), None)
    };
    let e = with(json!({"username": "alice", "password": "wrong"})).unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{e}");
    let e = pull(&d.remote, &r, reg.addr()).unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "anonymous: {e}");
    assert!(names(&d.remote).is_empty());
    let info = with(json!({"username": "alice", "password": "s3cret"})).expect("pull with the right credentials");
    assert_eq!(info.name, r);
}

#[test]
fn a_tls_registry_is_trusted_through_ca_file_only() {
    let reg = Registry::seeded_over_tls();
    let d = TestDaemon::start();
    let r = reg.reference("busybox:latest");
    let with = |extra: serde_json::Value| {
        let mut o = json!({"unpack": false});
        o.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        d.remote.pull_image(&r, &options(o), None)
    };
    // The test CA is not among the system's roots.
    let e = with(json!({})).unwrap_err();
    assert!(e.code() == Code::Unavailable && e.message().contains("certificate"), "{e}");
    assert!(names(&d.remote).is_empty());
    // A bundle that holds no certificate is refused as such.
    let junk = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(junk.path(), "not a certificate\n").unwrap();
    let e = with(json!({"ca_file": junk.path()})).unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e}");
    let info = with(json!({"ca_file": reg.ca_file()})).expect("pull trusting the test CA");
    assert_eq!(info.name, r);
    assert_eq!(names(&d.remote), vec![r]);
}

/// Set in the child process of [`a_host_without_ca_certificates_is_a_failed_precondition`].
const NO_SYSTEM_ROOTS: &str = "LCD_TEST_NO_SYSTEM_ROOTS";

#[test]
fn a_host_without_ca_certificates_is_a_failed_precondition() {
    if std::env::var_os(NO_SYSTEM_ROOTS).is_none() {
        // The system's roots are read from the environment at each pull: this test runs
        // again in a process of its own whose roots are an empty file and directory.
        let empty = tempfile::tempdir().unwrap();
        std::fs::write(empty.path().join("roots.pem"), "").unwrap();
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "a_host_without_ca_certificates_is_a_failed_precondition", "--test-threads", "1", "--nocapture"])
            .env(NO_SYSTEM_ROOTS, "1")
            .env("SSL_CERT_FILE", empty.path().join("roots.pem"))
            .env("SSL_CERT_DIR", empty.path())
            .output()
            .unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success() && text.contains("1 passed"), "{text}");
        return;
    }
    // No crash, a clear error, nothing registered; with or without a ca_file.
    let reg = Registry::seeded_over_tls();
    let d = TestDaemon::start();
    let r = reg.reference("busybox:latest");
    for o in [json!({"plain_http": [reg.addr()], "unpack": false}), json!({"unpack": false, "ca_file": reg.ca_file()})] {
        let e = d.remote.pull_image(&r, &options(o), None).unwrap_err();
        assert!(e.code() == Code::FailedPrecondition && e.message().contains("no CA certificates"), "{e}");
    }
    assert!(names(&d.remote).is_empty());
}

#[test]
fn a_corrupt_blob_is_io_naming_it_and_registers_nothing() {
    let reg = Registry::seeded();
    let d = TestDaemon::start();
    let bad = layer_digests(&reg, "corrupt").pop().unwrap();
    let path = reg.blob_path(&bad);
    let mut data = std::fs::read(&path).unwrap();
    let n = data.len();
    data[n / 2] ^= 0xff;
    std::fs::write(&path, &data).unwrap();
    let e = pull(&d.remote, &reg.reference("corrupt:latest"), reg.addr()).unwrap_err();
    assert_eq!(e.code(), Code::Io, "{e}");
    assert!(e.message().contains(&bad), "{e}");
    assert!(names(&d.remote).is_empty());
    assert!(!blob_file(&d, &bad).exists());
}

/// A TCP relay to the registry that forwards at most `budget` bytes of responses,
/// then cuts every connection (after `on_cut`) and relays again only when re-armed.
struct Relay {
    addr: String,
    budget: Arc<AtomicU64>,
    cut: Arc<AtomicBool>,
}

impl Relay {
    fn start(upstream: String, budget: u64, on_cut: impl Fn() + Send + Sync + 'static) -> Relay {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let budget = Arc::new(AtomicU64::new(budget));
        let cut = Arc::new(AtomicBool::new(false));
        let on_cut = Arc::new(on_cut);
        let (b, c) = (budget.clone(), cut.clone());
        std::thread::spawn(move || {
            for client in l.incoming() {
                let Ok(client) = client else { return };
                let Ok(server) = TcpStream::connect(&upstream) else { continue };
                let (b, c, on_cut) = (b.clone(), c.clone(), on_cut.clone());
                let (mut cr, mut sw) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut cr, &mut sw);
                });
                let (mut sr, mut cw) = (server, client);
                std::thread::spawn(move || {
                    let mut buf = [0u8; 16384];
                    loop {
                        let Ok(n) = sr.read(&mut buf) else { break };
                        if n == 0 {
                            break;
                        }
                        let left = b.load(Ordering::SeqCst);
                        if left < n as u64 {
                            if !c.swap(true, Ordering::SeqCst) {
                                on_cut();
                            }
                            break;
                        }
                        b.fetch_sub(n as u64, Ordering::SeqCst);
                        if cw.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                    let _ = cw.shutdown(std::net::Shutdown::Both);
                    let _ = sr.shutdown(std::net::Shutdown::Both);
                });
            }
        });
        Relay { addr, budget, cut }
    }
}

#[test]
fn a_registry_killed_mid_pull_leaves_nothing_and_the_next_pull_succeeds() {
    let reg = Arc::new(Registry::seeded());
    let d = TestDaemon::start();
    let pid = reg.pid();
    // Let the manifests and part of the first layer through, then kill the registry.
    let relay = Relay::start(reg.addr().to_string(), 300_000, move || unsafe {
        libc::kill(pid, libc::SIGKILL);
    });
    let r = format!("{}/test/busybox:latest", relay.addr);
    let e = pull(&d.remote, &r, &relay.addr).unwrap_err();
    assert!(relay.cut.load(Ordering::SeqCst), "the relay cut the pull: {e}");
    assert!(matches!(e.code(), Code::Io | Code::Unavailable), "{e}");
    assert!(names(&d.remote).is_empty());

    reg.restart();
    relay.budget.store(u64::MAX, Ordering::SeqCst);
    let info = pull(&d.remote, &r, &relay.addr).expect("pull after the registry came back");
    assert_eq!(info.name, r);
    assert_eq!(names(&d.remote), vec![r]);
}

/// A TCP relay to the registry that holds back every response on a connection whose
/// requests named `held` (a blob digest) until [`Gate::open`] (or `GATE_LIMIT`).
struct Gate {
    addr: String,
    open: Arc<(Mutex<bool>, std::sync::Condvar)>,
}

/// How long the gate holds a response at most (below the client's read timeout).
const GATE_LIMIT: std::time::Duration = std::time::Duration::from_secs(20);

impl Gate {
    fn start(upstream: String, held: &str) -> Gate {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let open: Arc<(Mutex<bool>, std::sync::Condvar)> = Arc::default();
        let (o, held) = (open.clone(), held.as_bytes().to_vec());
        std::thread::spawn(move || {
            for client in l.incoming() {
                let Ok(client) = client else { return };
                let Ok(server) = TcpStream::connect(&upstream) else { continue };
                let gated = Arc::new(AtomicBool::new(false));
                let (mut cr, mut sw, g, held) = (client.try_clone().unwrap(), server.try_clone().unwrap(), gated.clone(), held.clone());
                std::thread::spawn(move || {
                    // Requests: marked before they are forwarded, so before any answer.
                    let (mut buf, mut tail) = ([0u8; 16384], Vec::new());
                    while let Ok(n @ 1..) = cr.read(&mut buf) {
                        tail.extend_from_slice(&buf[..n]);
                        if tail.windows(held.len()).any(|w| w == held.as_slice()) {
                            g.store(true, Ordering::SeqCst);
                        }
                        tail.drain(..tail.len().saturating_sub(held.len()));
                        if sw.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                    let _ = sw.shutdown(std::net::Shutdown::Write);
                });
                let (mut sr, mut cw, o) = (server, client, o.clone());
                std::thread::spawn(move || {
                    let mut buf = [0u8; 16384];
                    while let Ok(n @ 1..) = sr.read(&mut buf) {
                        if gated.load(Ordering::SeqCst) {
                            let (lock, cv) = &*o;
                            let _unused = cv.wait_timeout_while(lock.lock().unwrap(), GATE_LIMIT, |open| !*open).unwrap();
                        }
                        if cw.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                    let _ = cw.shutdown(std::net::Shutdown::Both);
                });
            }
        });
        Gate { addr, open }
    }

    /// A function that lets the held responses through.
    fn opener(&self) -> impl Fn() + Send + 'static {
        let o = self.open.clone();
        move || {
            *o.0.lock().unwrap() = true;
            o.1.notify_all();
        }
    }
}

#[test]
fn layers_are_unpacked_while_later_ones_still_download() {
    let reg = Registry::seeded();
    let d = TestDaemon::start();
    let layers = layer_digests(&reg, "busybox");
    let (first, last) = (layers[0].clone(), layers[layers.len() - 1].clone());
    // The top layer's download does not end until the bottom one is unpacked.
    let gate = Gate::start(reg.addr().to_string(), &last);
    let open = gate.opener();
    let seen: Arc<Mutex<Vec<Progress>>> = Arc::default();
    let s = seen.clone();
    let f = first.clone();
    let cb = Box::new(move |p: &Progress| {
        if p.digest == f && p.status == ProgressStatus::Extracting && p.total > 0 && p.current == p.total {
            open();
        }
        s.lock().unwrap().push(p.clone());
    });
    let r = format!("{}/test/busybox:latest", gate.addr);
    let opts = options(json!({"plain_http": [gate.addr], "max_concurrent_downloads": 3}));
    let t0 = std::time::Instant::now();
    let info = d.remote.pull_image(&r, &opts, Some(cb)).expect("pull with unpack");
    assert_eq!(info.name, r);
    let seen = seen.lock().unwrap().clone();
    let at = |digest: &str, status: ProgressStatus, done: bool| {
        seen.iter()
            .position(|p| p.digest == digest && p.status == status && (!done || p.current == p.total))
            .unwrap_or_else(|| panic!("no {status:?} of {digest}: {seen:?}"))
    };
    let first_unpacked = at(&first, ProgressStatus::Extracting, true);
    let last_downloaded = at(&last, ProgressStatus::Done, false);
    assert!(
        first_unpacked < last_downloaded,
        "layer 1 unpacked (report {first_unpacked}) only after layer {} was downloaded (report {last_downloaded}), in {:?}: {seen:?}",
        layers.len(),
        t0.elapsed()
    );
    // Every layer unpacked, bottom first, each after its own download.
    let unpacked: Vec<usize> = layers.iter().map(|l| at(l, ProgressStatus::Extracting, true)).collect();
    assert!(unpacked.windows(2).all(|w| w[0] < w[1]), "{seen:?}");
    for (l, u) in layers.iter().zip(&unpacked) {
        assert!(at(l, ProgressStatus::Done, false) < *u, "{l} unpacked before it was downloaded: {seen:?}");
    }
    // The image is registered with every layer in the snapshotter: nothing left to unpack.
    assert_eq!(names(&d.remote), vec![r.clone()]);
    let again = Mutex::new(0);
    let count = |_: containerd::images::ProgressEvent| *again.lock().unwrap() += 1;
    d.remote.unpack_image(&r, None, Some(&count)).expect("unpacked");
    assert_eq!(*again.lock().unwrap(), 0);
}

/// `ctr events` on a test daemon, collecting what it prints until stopped.
struct Events {
    child: std::process::Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Events {
    fn start(d: &TestDaemon) -> Events {
        let mut child = std::process::Command::new("ctr")
            .arg("--address")
            .arg(d.state_dir.join("containerd/containerd.sock"))
            .arg("events")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("ctr events");
        let out = child.stdout.take().unwrap();
        let lines: Arc<Mutex<Vec<String>>> = Arc::default();
        let l = lines.clone();
        std::thread::spawn(move || {
            for line in std::io::BufRead::lines(std::io::BufReader::new(out)).map_while(|l| l.ok()) {
                l.lock().unwrap().push(line);
            }
        });
        // The subscription is in place once a first event comes through.
        let t0 = std::time::Instant::now();
        for n in 0.. {
            if !lines.lock().unwrap().is_empty() || t0.elapsed() > std::time::Duration::from_secs(10) {
                break;
            }
            let _ = std::process::Command::new("ctr")
                .arg("--address")
                .arg(d.state_dir.join("containerd/containerd.sock"))
                .args(["namespaces", "create", &format!("lcd-events-probe-{n}")])
                .stderr(std::process::Stdio::null())
                .status();
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        assert!(!lines.lock().unwrap().is_empty(), "ctr events printed nothing");
        Events { child, lines }
    }

    /// The digests of the `/content/delete` events seen (after a moment for the last
    /// ones to come through).
    fn content_deleted(mut self) -> Vec<String> {
        std::thread::sleep(std::time::Duration::from_millis(500));
        let _ = self.child.kill();
        let _ = self.child.wait();
        let lines = self.lines.lock().unwrap();
        lines
            .iter()
            .filter(|l| l.contains("/content/delete"))
            .filter_map(|l| l.split("\"digest\":\"").nth(1).and_then(|r| r.split('"').next()).map(String::from))
            .collect()
    }
}

/// The diff ids of `repo:latest` in the registry.
fn diff_ids(reg: &Registry, repo: &str) -> Vec<String> {
    let config = reg.manifest(repo)["config"]["digest"].as_str().unwrap().to_string();
    let config: serde_json::Value = serde_json::from_slice(&std::fs::read(reg.blob_path(&config)).unwrap()).unwrap();
    config["rootfs"]["diff_ids"].as_array().unwrap().iter().map(|d| d.as_str().unwrap().to_string()).collect()
}

#[test]
fn gzip_layers_above_the_first_are_decompressed_by_the_library_and_their_blobs_deleted() {
    let reg = Registry::seeded();
    let r = reg.reference("busybox:latest");
    let ids = diff_ids(&reg, "busybox");
    assert!(ids.len() >= 3, "{ids:?}");
    for (opts, decompressed) in [(json!({"plain_http": [reg.addr()]}), true), (json!({"plain_http": [reg.addr()], "library_decompression": false}), false)] {
        let d = TestDaemon::start();
        let events = Events::start(&d);
        d.remote.pull_image(&r, &options(opts.clone()), None).expect("pull with unpack");
        let deleted = events.content_deleted();
        // Each uncompressed blob the library wrote was applied and then deleted: the
        // first layer is applied from its compressed blob, every later one from the
        // blob named by its diff id.
        for (i, id) in ids.iter().enumerate() {
            assert_eq!(deleted.contains(id), decompressed && i > 0, "layer {i} ({id}), {opts}: deleted {deleted:?}");
        }
        // Either way the image is whole: nothing is left to unpack (the containers of
        // tests/image_containers.rs run from images pulled the default way).
        let again = Mutex::new(0);
        let count = |_: containerd::images::ProgressEvent| *again.lock().unwrap() += 1;
        d.remote.unpack_image(&r, None, Some(&count)).expect("unpacked");
        assert_eq!(*again.lock().unwrap(), 0, "{opts}");
    }
}

// ---------------------------------------------------------------------------------
// Hostile archives

/// A tar entry with a raw (unchecked) name.
fn raw_entry(out: &mut Vec<u8>, name: &str, kind: tar::EntryType, data: &[u8], link: Option<&str>, claimed: Option<u64>) {
    let mut h = tar::Header::new_gnu();
    {
        let old = h.as_old_mut();
        old.name[..name.len()].copy_from_slice(name.as_bytes());
        if let Some(l) = link {
            old.linkname[..l.len()].copy_from_slice(l.as_bytes());
        }
    }
    h.set_entry_type(kind);
    h.set_mode(0o644);
    h.set_size(claimed.unwrap_or(data.len() as u64));
    h.set_cksum();
    out.extend_from_slice(h.as_bytes());
    out.extend_from_slice(data);
    let pad = (512 - data.len() % 512) % 512;
    out.extend(std::iter::repeat_n(0u8, pad));
}

fn sha(data: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// An OCI layout whose single manifest's layer is `layer_entry` (built by the caller).
fn oci_layout_with(layer_entry: impl FnOnce(&mut Vec<u8>, &str), layer: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let layer_digest = sha(layer);
    let config = br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
    let manifest = json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha(config), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest, "size": layer.len()}],
    })
    .to_string();
    let index = json!({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": sha(manifest.as_bytes()), "size": manifest.len(),
        "annotations": {"org.opencontainers.image.ref.name": "example.com/hostile:1"}}]})
    .to_string();
    raw_entry(&mut out, "oci-layout", tar::EntryType::Regular, br#"{"imageLayoutVersion":"1.0.0"}"#, None, None);
    raw_entry(&mut out, "index.json", tar::EntryType::Regular, index.as_bytes(), None, None);
    let blob = |d: &str| format!("blobs/sha256/{}", d.strip_prefix("sha256:").unwrap());
    raw_entry(&mut out, &blob(&sha(config)), tar::EntryType::Regular, config, None, None);
    raw_entry(&mut out, &blob(&sha(manifest.as_bytes())), tar::EntryType::Regular, manifest.as_bytes(), None, None);
    layer_entry(&mut out, &blob(&layer_digest));
    out.extend(std::iter::repeat_n(0u8, 1024));
    out
}

#[test]
fn hostile_and_truncated_archives_are_invalid_and_write_nothing() {
    let d = TestDaemon::start();
    let dir = tempfile::tempdir().unwrap();
    let outside = dir.path().join("escaped");
    let layer = b"pretend layer".to_vec();
    let regular = |l: Vec<u8>| move |out: &mut Vec<u8>, p: &str| raw_entry(out, p, tar::EntryType::Regular, &l, None, None);

    // The well-formed layout imports, so each case below fails for its one defect.
    let good = oci_layout_with(regular(layer.clone()), &layer);
    let good_path = dir.path().join("good.tar");
    std::fs::write(&good_path, &good).unwrap();
    let ok = d.remote.import_images(&good_path, &ImportOptions::default()).expect("well-formed layout");
    assert_eq!(ok[0].name, "example.com/hostile:1");
    d.remote.remove_image("example.com/hostile:1").unwrap();

    let esc = outside.to_str().unwrap().to_string();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("traversal", oci_layout_with(|o, _| raw_entry(o, "../../escaped", tar::EntryType::Regular, b"x", None, None), &layer)),
        ("absolute", oci_layout_with(|o, _| raw_entry(o, &esc, tar::EntryType::Regular, b"x", None, None), &layer)),
        ("symlink out", oci_layout_with(|o, p| raw_entry(o, p, tar::EntryType::Symlink, b"", Some("../../../../etc/passwd"), None), &layer)),
        ("absolute symlink", oci_layout_with(|o, p| raw_entry(o, p, tar::EntryType::Symlink, b"", Some("/etc/passwd"), None), &layer)),
        ("hard link out", oci_layout_with(|o, p| raw_entry(o, p, tar::EntryType::Link, b"", Some("../etc/passwd"), None), &layer)),
        ("huge size", oci_layout_with(|o, p| raw_entry(o, p, tar::EntryType::Regular, &layer, None, Some(1 << 40)), &layer)),
        ("size mismatch", oci_layout_with(regular(b"another layer, longer".to_vec()), &layer)),
        ("digest mismatch", oci_layout_with(regular(b"pretend layeR".to_vec()), &layer)),
        ("truncated", good[..good.len() / 2 + 100].to_vec()),
        ("not a tar", b"this is not an archive at all".repeat(40)),
        ("empty", Vec::new()),
    ];
    for (what, bytes) in cases {
        let p = dir.path().join("case.tar");
        std::fs::write(&p, &bytes).unwrap();
        let e = d.remote.import_images(&p, &ImportOptions::default()).unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{what}: {e}");
        assert!(!outside.exists(), "{what}: wrote outside containerd");
        assert!(names(&d.remote).is_empty(), "{what}: registered an image");
    }
    // `docker save` archives: a layer path leading out.
    let mut docker = Vec::new();
    let manifest = json!([{"Config": "c.json", "RepoTags": ["x:1"], "Layers": ["../../etc/passwd"]}]).to_string();
    raw_entry(&mut docker, "manifest.json", tar::EntryType::Regular, manifest.as_bytes(), None, None);
    raw_entry(&mut docker, "c.json", tar::EntryType::Regular, br#"{"rootfs":{"diff_ids":["sha256:0000000000000000000000000000000000000000000000000000000000000000"]}}"#, None, None);
    docker.extend(std::iter::repeat_n(0u8, 1024));
    let p = dir.path().join("docker.tar");
    std::fs::write(&p, &docker).unwrap();
    assert_eq!(d.remote.import_images(&p, &ImportOptions::default()).unwrap_err().code(), Code::InvalidArgument);
    assert!(names(&d.remote).is_empty());
}
