//! The library's side of the benchmark (Rust API), driven by `bench/run.py`: each
//! invocation connects to the daemon the harness started (`remote_addr`), runs one
//! workload and prints one JSON object with its measurements on stdout.
//!
//! Usage: `lcd_bench MODE --socket S --state-dir D --spec config.json [--namespace N]
//! [--prefix P] [--iters N] [--workers W] [--mib M] [--count N]`, MODE one of
//! `lifecycle`, `exec`, `stdout`, `boundary`, `density`, `profile` (sequential lifecycles
//! traced with `LCD_TRACE_RPC`, printed as a table of steps); or `lcd_bench watch-deletes
//! --socket S --namespace N`, the C driver's helper: prints `ready`, then the id of
//! each container whose task and record containerd has deleted, until stdin closes.

mod deletions;
mod profile;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use containerd::{Backend, Client, ContainerSpec, CreateOptions, IoPipe, ProcessSpec, Remote, RemoteOptions, State, StateInfo};
use serde_json::{json, Value};

use deletions::Deletions;

const TIMEOUT: Duration = Duration::from_secs(120);

/// What a waiter learns when its process exits.
struct Exit {
    /// `state_changed` time minus the process's `exited_at`, in ms.
    event_ms: f64,
    /// The process's `exited_at`, ns since the epoch.
    exited_at: i64,
    /// When `state_changed` delivered it.
    at: Instant,
}

/// When containerd's deletion of a container's task and record was seen.
struct Deleted {
    at: Instant,
    unix_nano: i64,
}

/// Output read from one process's stdout fd.
struct Drained {
    bytes: u64,
    first: Instant,
    last: Instant,
}

#[derive(Default)]
struct Bench {
    /// (container, process) → who waits for its exit.
    waiters: Mutex<HashMap<(String, String), Sender<Exit>>>,
    /// Containers whose stdout is read and timed.
    drains: Mutex<HashMap<String, Sender<Drained>>>,
    /// Container → who waits for containerd to have deleted it.
    deletions: Mutex<HashMap<String, Sender<Deleted>>>,
}

fn now_unix_nano() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as i64).unwrap_or(0)
}

impl Backend for Bench {
    fn state_changed(&self, container_id: &str, info: &StateInfo) -> containerd::Result<()> {
        if matches!(info.state, State::Exit | State::ExitProcess) {
            let now = now_unix_nano();
            let key = (container_id.to_string(), info.process_id.clone());
            if let Some(tx) = self.waiters.lock().unwrap().remove(&key) {
                let event_ms = (now - info.exited_at_unix_nano) as f64 / 1e6;
                let _ = tx.send(Exit { event_ms, exited_at: info.exited_at_unix_nano, at: Instant::now() });
            }
        }
        Ok(())
    }

    fn attach_streams(&self, container_id: &str, _process_id: &str, io: IoPipe) -> containerd::Result<()> {
        let Some(tx) = self.drains.lock().unwrap().remove(container_id) else {
            io.discard();
            return Ok(());
        };
        let IoPipe { stdin, stdout, stderr, .. } = io;
        drop(stdin);
        if let Some(e) = stderr {
            std::thread::spawn(move || drain(std::fs::File::from(e)));
        }
        std::thread::spawn(move || {
            let mut f = std::fs::File::from(stdout);
            let mut buf = vec![0u8; 64 << 10];
            let mut bytes = 0u64;
            let (mut first, mut last) = (Instant::now(), Instant::now());
            while let Ok(n) = f.read(&mut buf) {
                if n == 0 {
                    break;
                }
                last = Instant::now();
                if bytes == 0 {
                    first = last;
                }
                bytes += n as u64;
            }
            let _ = tx.send(Drained { bytes, first, last });
        });
        Ok(())
    }
}

fn drain(mut f: std::fs::File) {
    let mut buf = vec![0u8; 64 << 10];
    while matches!(f.read(&mut buf), Ok(n) if n > 0) {}
}

impl Bench {
    fn expect_exit(&self, id: &str, process_id: &str) -> std::sync::mpsc::Receiver<Exit> {
        let (tx, rx) = channel();
        self.waiters.lock().unwrap().insert((id.to_string(), process_id.to_string()), tx);
        rx
    }

    /// Registers interest in `id`'s deletion (before it is created).
    fn expect_deleted(&self, id: &str) -> std::sync::mpsc::Receiver<Deleted> {
        let (tx, rx) = channel();
        self.deletions.lock().unwrap().insert(id.to_string(), tx);
        rx
    }

    fn deleted(&self, id: &str) {
        let seen = Deleted { at: Instant::now(), unix_nano: now_unix_nano() };
        if let Some(tx) = self.deletions.lock().unwrap().remove(id) {
            let _ = tx.send(seen);
        }
    }
}

#[derive(Clone)]
struct Args {
    mode: String,
    socket: PathBuf,
    state_dir: PathBuf,
    spec: PathBuf,
    namespace: String,
    prefix: String,
    iters: usize,
    workers: usize,
    mib: u64,
    count: usize,
    /// The spec carries the runc shim's group annotation: keep one container of the
    /// group running so that its shim serves every iteration.
    group: bool,
    /// The remote's `shim_pool` (0: off).
    shim_pool: u32,
}

fn parse_args() -> Args {
    let mut it = std::env::args().skip(1);
    let mode = it.next().unwrap_or_else(|| die("usage: lcd_bench MODE --socket S --state-dir D --spec FILE ..."));
    let mut a = Args {
        mode,
        socket: PathBuf::new(),
        state_dir: PathBuf::new(),
        spec: PathBuf::new(),
        namespace: "lcdbench-rust".into(),
        prefix: "rs".into(),
        iters: 10,
        workers: 1,
        mib: 1024,
        count: 200,
        group: false,
        shim_pool: 0,
    };
    while let Some(k) = it.next() {
        let v = it.next().unwrap_or_else(|| die(&format!("{k} needs a value")));
        let num = |v: &str| v.parse::<usize>().unwrap_or_else(|_| die(&format!("{k}: not a number: {v}")));
        match k.as_str() {
            "--socket" => a.socket = v.into(),
            "--state-dir" => a.state_dir = v.into(),
            "--spec" => a.spec = v.into(),
            "--namespace" => a.namespace = v,
            "--prefix" => a.prefix = v,
            "--iters" => a.iters = num(&v),
            "--workers" => a.workers = num(&v).max(1),
            "--mib" => a.mib = num(&v) as u64,
            "--count" => a.count = num(&v),
            "--group" => a.group = num(&v) != 0,
            "--shim-pool" => a.shim_pool = num(&v) as u32,
            _ => die(&format!("unknown flag {k}")),
        }
    }
    a
}

fn die(msg: &str) -> ! {
    eprintln!("lcd_bench: {msg}");
    std::process::exit(2)
}

fn ok<T>(r: containerd::Result<T>, what: &str) -> T {
    r.unwrap_or_else(|e| die(&format!("{what}: {e}")))
}

/// The shared spec with `args` as the process.
fn spec_with(a: &Args, args: &[&str]) -> ContainerSpec {
    let text = std::fs::read_to_string(&a.spec).unwrap_or_else(|e| die(&format!("read {}: {e}", a.spec.display())));
    let mut v: Value = serde_json::from_str(&text).unwrap_or_else(|e| die(&format!("parse spec: {e}")));
    v["process"]["args"] = json!(args);
    ok(ContainerSpec::from_json(&v.to_string()), "spec")
}

/// Connects the library; with `watch`, also watches containerd's deletions in the
/// namespace (on a connection of its own), for [`Bench::expect_deleted`].
fn connect(a: &Args, backend: Arc<Bench>, watch: bool) -> (Option<Deletions>, Remote, Client) {
    let deletions = watch.then(|| watch_deletions(a, &backend));
    let remote = ok(
        Remote::new(RemoteOptions {
            state_dir: Some(a.state_dir.clone()),
            remote_addr: Some(a.socket.clone()),
            start_daemon: Some(false),
            namespace: Some(a.namespace.clone()),
            shim_pool: Some(a.shim_pool),
            ..RemoteOptions::default()
        }),
        "remote",
    );
    let client = ok(remote.client(backend), "client");
    (deletions, remote, client)
}

/// Watches containerd's deletions in the namespace, for [`Bench::expect_deleted`].
fn watch_deletions(a: &Args, backend: &Arc<Bench>) -> Deletions {
    let b = backend.clone();
    Deletions::start(&a.socket, &a.namespace, move |id| b.deleted(id)).unwrap_or_else(|e| die(&e))
}

/// The same watcher as a helper process (`watch-deletes`, as the C driver runs it), so
/// that its memory stays out of this process's RSS; it ends when the returned child's
/// stdin is closed.
fn spawn_watcher(a: &Args, backend: &Arc<Bench>) -> std::process::Child {
    use std::io::BufRead;
    use std::process::{Command, Stdio};
    let exe = std::env::current_exe().unwrap_or_else(|e| die(&format!("current_exe: {e}")));
    let mut child = Command::new(exe)
        .args(["watch-deletes", "--socket"])
        .arg(&a.socket)
        .args(["--namespace", &a.namespace])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| die(&format!("spawn the deletion watcher: {e}")));
    let mut lines = std::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
    if !matches!(lines.next(), Some(Ok(l)) if l == "ready") {
        die("the deletion watcher did not start");
    }
    let b = backend.clone();
    std::thread::spawn(move || lines.map_while(Result::ok).for_each(|id| b.deleted(&id)));
    child
}

/// CPU time (user + system) this process has used so far, in ms.
fn cpu_ms() -> f64 {
    // SAFETY: getrusage fills the struct it is given.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as f64 * 1e3 + t.tv_usec as f64 / 1e3;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// create → start → exit reported → containerd's deletion of task and container seen.
/// Each iteration has an id of its own; its time ends when both deletion events have
/// arrived, so every removal falls inside the elapsed and CPU time; the time to the
/// `exit` report is recorded on the side.
fn lifecycle(a: &Args) -> Value {
    let backend = Arc::new(Bench::default());
    let (_deletions, _remote, client) = connect(a, backend.clone(), true);
    let spec = spec_with(a, &["/bin/true"]);
    let anchor_id = format!("{}-anchor", a.prefix);
    let anchor = a.group.then(|| sleeper(&client, &backend, a, &anchor_id));
    let next = AtomicUsize::new(0);
    let results = Mutex::new(Samples::default());
    let failures = AtomicUsize::new(0);
    let cpu0 = cpu_ms();
    let start = Instant::now();
    std::thread::scope(|s| {
        for w in 0..a.workers {
            let (client, spec, backend, next, results, failures) = (&client, &spec, &backend, &next, &results, &failures);
            s.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= a.iters {
                    return;
                }
                let id = format!("{}-{w}-{i}", a.prefix);
                let rx = backend.expect_exit(&id, "init");
                let gone = backend.expect_deleted(&id);
                let t0 = Instant::now();
                if let Err(e) = client.create(&id, spec, &CreateOptions::default()) {
                    eprintln!("create {id}: {e}");
                    failures.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                let Ok(exit) = rx.recv_timeout(TIMEOUT) else {
                    eprintln!("{id}: no exit within {TIMEOUT:?}");
                    failures.fetch_add(1, Ordering::Relaxed);
                    continue;
                };
                let Ok(del) = gone.recv_timeout(TIMEOUT) else {
                    eprintln!("{id}: not deleted within {TIMEOUT:?}");
                    failures.fetch_add(1, Ordering::Relaxed);
                    continue;
                };
                let mut r = results.lock().unwrap();
                // Done once both are in: the deletion can be seen before a delayed `exit`.
                r.lat_ms.push(ms(del.at.max(exit.at).duration_since(t0)));
                r.exit_ms.push(ms(exit.at.duration_since(t0)));
                r.event_ms.push(exit.event_ms);
                r.reaped_ms.push((del.unix_nano - exit.exited_at) as f64 / 1e6);
            });
        }
    });
    let elapsed = start.elapsed().as_secs_f64();
    let cpu = cpu_ms() - cpu0;
    if let Some(rx) = anchor {
        stop(&client, &anchor_id, rx);
    }
    let r = results.into_inner().unwrap();
    json!({"lat_ms": r.lat_ms, "exit_ms": r.exit_ms, "event_ms": r.event_ms, "reaped_ms": r.reaped_ms,
           "elapsed_s": elapsed, "n": r.exit_ms.len(), "cpu_ms": cpu, "failures": failures.load(Ordering::Relaxed)})
}

/// Per-iteration measurements of the lifecycle, in ms.
#[derive(Default)]
struct Samples {
    /// create → deletion of task and container seen (the iteration's time).
    lat_ms: Vec<f64>,
    /// create → `exit` delivered.
    exit_ms: Vec<f64>,
    /// `exited_at` → `exit` delivered.
    event_ms: Vec<f64>,
    /// `exited_at` → deletion seen.
    reaped_ms: Vec<f64>,
}

/// Starts a `sleep` container and returns the receiver of its exit.
fn sleeper(client: &Client, backend: &Bench, a: &Args, id: &str) -> Sleeper {
    let exit = backend.expect_exit(id, "init");
    let gone = backend.expect_deleted(id);
    ok(client.create(id, &spec_with(a, &["/bin/sleep", "3600"]), &CreateOptions::default()), "create sleeper");
    Sleeper { exit, gone }
}

/// A running `sleep` container's exit and deletion, awaited by [`stop`].
struct Sleeper {
    exit: std::sync::mpsc::Receiver<Exit>,
    gone: std::sync::mpsc::Receiver<Deleted>,
}

/// Kills a sleeper and waits until containerd has deleted it.
fn stop(client: &Client, id: &str, s: Sleeper) {
    ok(client.signal(id, libc::SIGKILL), "kill");
    if s.exit.recv_timeout(TIMEOUT).is_err() {
        die(&format!("{id}: no exit after SIGKILL"));
    }
    if s.gone.recv_timeout(TIMEOUT).is_err() {
        die(&format!("{id}: not deleted after its exit"));
    }
}

/// Exec round trip of `true`: add_process → exit-process reported.
fn exec(a: &Args) -> Value {
    let backend = Arc::new(Bench::default());
    let (_deletions, _remote, client) = connect(a, backend.clone(), true);
    let id = format!("{}-exec", a.prefix);
    let done = sleeper(&client, &backend, a, &id);
    let process: ProcessSpec = ok(ProcessSpec::from_json(r#"{"args": ["/bin/true"]}"#), "process");
    let mut lat = Vec::new();
    let mut events = Vec::new();
    let cpu0 = cpu_ms();
    for i in 0..a.iters {
        let pid = format!("e{i}");
        let rx = backend.expect_exit(&id, &pid);
        let t0 = Instant::now();
        ok(client.add_process(&id, &pid, &process), "add_process");
        let exit = rx.recv_timeout(TIMEOUT).unwrap_or_else(|_| die("exec: no exit-process"));
        lat.push(ms(t0.elapsed()));
        events.push(exit.event_ms);
    }
    let cpu = cpu_ms() - cpu0;
    stop(&client, &id, done);
    json!({"lat_ms": lat, "event_ms": events, "n": lat.len(), "cpu_ms": cpu})
}

/// `dd` writes `mib` MiB to stdout; the fd handed to attach_streams is read with
/// 64 KiB reads; the rate counts from the first byte to the last.
fn stdout(a: &Args) -> Value {
    let backend = Arc::new(Bench::default());
    let (_deletions, _remote, client) = connect(a, backend.clone(), false);
    let count = format!("count={}", a.mib);
    let spec = spec_with(a, &["/bin/dd", "if=/dev/zero", "bs=1M", &count]);
    let mut rates = Vec::new();
    for i in 0..a.iters {
        let id = format!("{}-out-{i}", a.prefix);
        let (tx, rx) = channel();
        backend.drains.lock().unwrap().insert(id.clone(), tx);
        let exit = backend.expect_exit(&id, "init");
        ok(client.create(&id, &spec, &CreateOptions::default()), "create");
        let d = rx.recv_timeout(TIMEOUT).unwrap_or_else(|_| die("stdout: reader did not finish"));
        exit.recv_timeout(TIMEOUT).unwrap_or_else(|_| die("stdout: no exit"));
        if d.bytes != a.mib << 20 {
            die(&format!("stdout: read {} bytes, want {}", d.bytes, a.mib << 20));
        }
        rates.push(d.bytes as f64 / d.last.duration_since(d.first).as_secs_f64() / 1e9);
    }
    json!({"gbps": rates, "n": rates.len()})
}

/// Median time per call, in ns, of `f` over `rounds` batches of `n` calls.
fn per_call_ns(n: usize, rounds: usize, mut f: impl FnMut()) -> f64 {
    let mut v: Vec<f64> = (0..rounds)
        .map(|_| {
            let t0 = Instant::now();
            for _ in 0..n {
                f();
            }
            t0.elapsed().as_nanos() as f64 / n as f64
        })
        .collect();
    v.sort_by(|x, y| x.partial_cmp(y).unwrap());
    v[v.len() / 2]
}

/// A cheap call from Rust: the version through the C entry point called as a Rust
/// function, and `list` on an empty namespace through the Rust API.
fn boundary(a: &Args) -> Value {
    let backend = Arc::new(Bench::default());
    let (_, _remote, client) = connect(a, backend, false);
    let version_ns = per_call_ns(a.iters * 100, 7, || {
        std::hint::black_box(containerd::ffi::error::lcd_version());
    });
    let list_ns = per_call_ns(a.iters, 7, || {
        let l = ok(client.list(), "list");
        assert!(l.is_empty(), "namespace {} is not empty", a.namespace);
        std::hint::black_box(l);
    });
    json!({"version_ns": version_ns, "list_ns": list_ns})
}

fn rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|x, y| x.partial_cmp(y).unwrap());
    v[v.len() / 2]
}

/// What one density cycle measured.
struct Cycle {
    rss_full: u64,
    create_s: f64,
    list_ms: f64,
    stats_ms: f64,
    teardown_s: f64,
    removed_s: f64,
}

/// Creates `count` sleeping containers, times `list` and `stats` over them, kills
/// them all and waits for every exit.
fn density_cycle(a: &Args, client: &Client, backend: &Bench, spec: &ContainerSpec, cycle: usize, mut curve: Option<&mut Vec<Value>>) -> Cycle {
    let mut exits = Vec::new();
    let mut gone = Vec::new();
    let t0 = Instant::now();
    for i in 0..a.count {
        let id = format!("{}-d{cycle}-{i}", a.prefix);
        exits.push((id.clone(), backend.expect_exit(&id, "init")));
        gone.push((id.clone(), backend.expect_deleted(&id)));
        ok(client.create(&id, spec, &CreateOptions::default()), "create");
        if (i + 1) % 25 == 0 || i + 1 == a.count {
            if let Some(c) = curve.as_deref_mut() {
                c.push(json!([i + 1, rss_kib()]));
            }
        }
    }
    let create_s = t0.elapsed().as_secs_f64();
    let list_ms = median(
        (0..5)
            .map(|_| {
                let t = Instant::now();
                let l = ok(client.list(), "list");
                assert_eq!(l.len(), a.count);
                ms(t.elapsed())
            })
            .collect(),
    );
    let stats_ms = median(
        (0..3)
            .map(|_| {
                let t = Instant::now();
                for (id, _) in &exits {
                    std::hint::black_box(ok(client.stats(id), "stats"));
                }
                ms(t.elapsed())
            })
            .collect(),
    );
    let rss_full = rss_kib();
    let t1 = Instant::now();
    for (id, _) in &exits {
        ok(client.signal(id, libc::SIGKILL), "kill");
    }
    for (id, rx) in exits {
        rx.recv_timeout(TIMEOUT).unwrap_or_else(|_| die(&format!("{id}: no exit")));
    }
    let teardown_s = t1.elapsed().as_secs_f64();
    // Nothing of this cycle is left in flight when RSS is read again or the next begins.
    for (id, rx) in gone {
        rx.recv_timeout(TIMEOUT).unwrap_or_else(|_| die(&format!("{id}: not deleted")));
    }
    Cycle { rss_full, create_s, list_ms, stats_ms, teardown_s, removed_s: t1.elapsed().as_secs_f64() }
}

/// `count` sleeping containers under one client: RSS as they are added, then the time
/// of `list` and of `stats` over all of them, then all killed and deleted; then the same
/// once more. The deletion watcher is a helper process, out of the RSS figures.
fn density(a: &Args) -> Value {
    let rss_start = rss_kib();
    let backend = Arc::new(Bench::default());
    let mut watcher = spawn_watcher(a, &backend);
    let (_, _remote, client) = connect(a, backend.clone(), false);
    let spec = spec_with(a, &["/bin/sleep", "3600"]);
    let rss_client = rss_kib();
    let mut curve = vec![json!([0, rss_client])];
    let first = density_cycle(a, &client, &backend, &spec, 0, Some(&mut curve));
    let rss_after = rss_kib();
    // A second cycle tells a leak (RSS grows again) from memory the allocator keeps.
    let second = density_cycle(a, &client, &backend, &spec, 1, None);
    let rss_after2 = rss_kib();
    drop(watcher.stdin.take());
    let _ = watcher.wait();
    json!({"count": a.count, "rss_start_kib": rss_start, "rss_client_kib": rss_client,
           "rss_full_kib": first.rss_full, "rss_after_kib": rss_after, "rss_full2_kib": second.rss_full,
           "rss_after2_kib": rss_after2, "curve": curve, "create_s": first.create_s, "list_ms": first.list_ms,
           "stats_all_ms": first.stats_ms, "teardown_s": first.teardown_s, "removed_s": first.removed_s,
           "removed2_s": second.removed_s})
}

/// The C driver's helper: prints `ready` once the subscription is live, then each
/// deleted container's id, until stdin reaches its end (the driver is done or gone).
fn watch_deletes(a: &Args) {
    let out = Arc::new(Mutex::new(std::io::stdout()));
    let o = out.clone();
    let _watch = Deletions::start(&a.socket, &a.namespace, move |id| {
        let mut o = o.lock().unwrap();
        let _ = writeln!(o, "{id}").and_then(|_| o.flush());
    })
    .unwrap_or_else(|e| die(&e));
    {
        let mut o = out.lock().unwrap();
        let _ = writeln!(o, "ready").and_then(|_| o.flush());
    }
    let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
}

/// Sequential lifecycles with the library's trace on; prints the table of steps on
/// stderr and returns it (with the lifecycle's own figures).
fn profile_lifecycle(a: &Args) -> Value {
    let path = a.state_dir.join(format!("{}.trace", a.prefix));
    let _ = std::fs::remove_file(&path);
    // Read by the library at its first trace point, which comes after this.
    std::env::set_var(containerd::trace::TRACE_ENV, &path);
    let figures = lifecycle(&Args { workers: 1, ..a.clone() });
    let table = profile::table(&path);
    eprintln!("{}", profile::markdown(&table));
    json!({"lifecycle": figures, "profile": table, "trace": path})
}

fn main() {
    let a = parse_args();
    if a.mode == "watch-deletes" {
        watch_deletes(&a);
        return;
    }
    let out = match a.mode.as_str() {
        "lifecycle" => lifecycle(&a),
        "profile" => profile_lifecycle(&a),
        "exec" => exec(&a),
        "stdout" => stdout(&a),
        "boundary" => boundary(&a),
        "density" => density(&a),
        m => die(&format!("unknown mode {m}")),
    };
    println!("{out}");
}
