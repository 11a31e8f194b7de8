//! The library's side of the image benchmarks (Rust API), driven by `bench/images.py`:
//! each invocation connects to the daemon the harness started, runs one workload and
//! prints one JSON object with its measurements on stdout.
//!
//! Usage:
//! - `lcd_bench_images pull --socket S --state-dir D --namespace N --ref R
//!   [--plain-http HOST] [--downloads K]`: one pull with unpack (the harness resets
//!   the namespace between pulls); `pull_ms` is the time of `Remote::pull_image`,
//!   `connect_ms` that of `Remote::new`.
//! - `lcd_bench_images lifecycle --socket S --state-dir D --namespace N --ref R
//!   --prefix P --iters N`: containers created from image R (a snapshot of their own,
//!   the process from the image config), started, exited, deleted; each iteration is
//!   timed to containerd's deletion of its task, its record and its snapshot.

mod deletions;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use containerd::images::PullOptions;
use containerd::{default_spec, Backend, ContainerSpec, CreateOptions, IoPipe, Remote, RemoteOptions, SpecOptions, State, StateInfo};
use serde_json::json;

use deletions::Deletions;

const TIMEOUT: Duration = Duration::from_secs(120);
/// The snapshotter the library (and every peer) uses by default.
const SNAPSHOTTER: &str = "overlayfs";

/// Exit and deletion waiters of the lifecycle iterations.
#[derive(Default)]
struct Waiters {
    exits: Mutex<HashMap<String, Sender<Instant>>>,
    deletions: Mutex<HashMap<String, Sender<Instant>>>,
}

impl Backend for Waiters {
    fn state_changed(&self, container_id: &str, info: &StateInfo) -> containerd::Result<()> {
        if info.state == State::Exit {
            if let Some(tx) = self.exits.lock().unwrap().remove(container_id) {
                let _ = tx.send(Instant::now());
            }
        }
        Ok(())
    }

    fn attach_streams(&self, _container_id: &str, _process_id: &str, io: IoPipe) -> containerd::Result<()> {
        io.discard();
        Ok(())
    }
}

impl Waiters {
    fn expect(map: &Mutex<HashMap<String, Sender<Instant>>>, id: &str) -> Receiver<Instant> {
        let (tx, rx) = channel();
        map.lock().unwrap().insert(id.to_string(), tx);
        rx
    }

    fn deleted(&self, id: &str) {
        if let Some(tx) = self.deletions.lock().unwrap().remove(id) {
            let _ = tx.send(Instant::now());
        }
    }
}

struct Args {
    mode: String,
    socket: PathBuf,
    state_dir: PathBuf,
    namespace: String,
    reference: String,
    plain_http: Vec<String>,
    downloads: Option<u32>,
    prefix: String,
    iters: usize,
}

fn parse_args() -> Args {
    let mut it = std::env::args().skip(1);
    let mode = it.next().unwrap_or_else(|| die("usage: lcd_bench_images pull|lifecycle --socket S ..."));
    let mut a = Args {
        mode,
        socket: PathBuf::new(),
        state_dir: PathBuf::new(),
        namespace: "lcdbench-img".into(),
        reference: String::new(),
        plain_http: Vec::new(),
        downloads: None,
        prefix: "ri".into(),
        iters: 10,
    };
    while let Some(k) = it.next() {
        let v = it.next().unwrap_or_else(|| die(&format!("{k} needs a value")));
        let num = |v: &str| v.parse::<usize>().unwrap_or_else(|_| die(&format!("{k}: not a number: {v}")));
        match k.as_str() {
            "--socket" => a.socket = v.into(),
            "--state-dir" => a.state_dir = v.into(),
            "--namespace" => a.namespace = v,
            "--ref" => a.reference = v,
            "--plain-http" => a.plain_http.push(v),
            "--downloads" => a.downloads = Some(num(&v) as u32),
            "--prefix" => a.prefix = v,
            "--iters" => a.iters = num(&v),
            _ => die(&format!("unknown flag {k}")),
        }
    }
    if a.reference.is_empty() {
        die("--ref is required");
    }
    a
}

fn die(msg: &str) -> ! {
    eprintln!("lcd_bench_images: {msg}");
    std::process::exit(2)
}

fn ok<T>(r: containerd::Result<T>, what: &str) -> T {
    r.unwrap_or_else(|e| die(&format!("{what}: {e}")))
}

fn remote(a: &Args) -> Remote {
    ok(
        Remote::new(RemoteOptions {
            state_dir: Some(a.state_dir.clone()),
            remote_addr: Some(a.socket.clone()),
            start_daemon: Some(false),
            namespace: Some(a.namespace.clone()),
            ..RemoteOptions::default()
        }),
        "remote",
    )
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// One pull with unpack, timed around `Remote::pull_image`; `connect_ms` times
/// `Remote::new` (connection and live event subscription).
fn pull(a: &Args) -> serde_json::Value {
    let t0 = Instant::now();
    let remote = remote(a);
    let connect_ms = ms(t0.elapsed());
    let options = PullOptions {
        plain_http: (!a.plain_http.is_empty()).then(|| a.plain_http.clone()),
        max_concurrent_downloads: a.downloads,
        ..PullOptions::default()
    };
    let t0 = Instant::now();
    let info = ok(remote.pull_image(&a.reference, &options, None), "pull");
    let pull_ms = ms(t0.elapsed());
    json!({"pull_ms": pull_ms, "connect_ms": connect_ms, "digest": info.digest, "size": info.size})
}

/// create from the image → start → `exit` → task, record and snapshot deleted, one
/// container at a time.
fn lifecycle(a: &Args) -> serde_json::Value {
    let waiters = Arc::new(Waiters::default());
    let w = waiters.clone();
    let _deletions =
        Deletions::start_with_snapshots(&a.socket, &a.namespace, SNAPSHOTTER, move |id| w.deleted(id)).unwrap_or_else(|e| die(&e));
    let remote = remote(a);
    let client = ok(remote.client(waiters.clone()), "client");
    let spec = ok(default_spec(&SpecOptions::default()), "default spec");
    let spec_json = serde_json::to_string(&spec).unwrap_or_else(|e| die(&format!("spec: {e}")));
    let spec = ok(ContainerSpec::for_image(&spec_json), "spec");
    let options = CreateOptions { image: Some(a.reference.clone()), ..CreateOptions::default() };
    let (mut lat, mut exit_ms) = (Vec::new(), Vec::new());
    let mut failures = 0;
    let start = Instant::now();
    for i in 0..a.iters {
        let id = format!("{}-{i}", a.prefix);
        let exited = Waiters::expect(&waiters.exits, &id);
        let gone = Waiters::expect(&waiters.deletions, &id);
        let t0 = Instant::now();
        if let Err(e) = client.create(&id, &spec, &options) {
            eprintln!("create {id}: {e}");
            failures += 1;
            continue;
        }
        let Ok(exit) = exited.recv_timeout(TIMEOUT) else {
            eprintln!("{id}: no exit within {TIMEOUT:?}");
            failures += 1;
            continue;
        };
        let Ok(del) = gone.recv_timeout(TIMEOUT) else {
            eprintln!("{id}: task, record and snapshot not all deleted within {TIMEOUT:?}");
            failures += 1;
            continue;
        };
        lat.push(ms(del.max(exit).duration_since(t0)));
        exit_ms.push(ms(exit.duration_since(t0)));
    }
    let elapsed = start.elapsed().as_secs_f64();
    json!({"lat_ms": lat, "exit_ms": exit_ms, "n": exit_ms.len(), "elapsed_s": elapsed, "failures": failures})
}

fn main() {
    let a = parse_args();
    let out = match a.mode.as_str() {
        "pull" => pull(&a),
        "lifecycle" => lifecycle(&a),
        m => die(&format!("unknown mode {m}")),
    };
    println!("{out}");
}
