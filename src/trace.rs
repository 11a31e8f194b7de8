//! Opt-in timing trace of the lifecycle path (`LCD_TRACE_RPC=<file>`): every containerd
//! call sent through [`crate::remote::connection::Connection::call_once`], every
//! containerd event received, and a few milestones of the library, one line each.
//!
//! Off (the variable unset or empty), each trace point costs one load of a cached flag.
//! On, lines are appended to the file, with wall-clock times in µs since the epoch:
//!
//! ```text
//! rpc <start> <end> <Request type> <ok|status code>
//! event <received> <containerd's timestamp> <topic> <container id>
//! mark <at> <milestone> <container id>
//! ```
//!
//! `lcd_bench profile` reads such a file back into a per-step table.

use std::io::Write;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use once_cell::sync::Lazy;

/// The environment variable naming the trace file.
pub const TRACE_ENV: &str = "LCD_TRACE_RPC";

static SINK: Lazy<Option<Mutex<std::fs::File>>> = Lazy::new(|| {
    let path = std::env::var_os(TRACE_ENV).filter(|p| !p.is_empty())?;
    match std::fs::OpenOptions::new().create(true).append(true).open(&path) {
        Ok(f) => Some(Mutex::new(f)),
        Err(e) => {
            log::warn!("{TRACE_ENV}: cannot open {}: {e}", std::path::Path::new(&path).display());
            None
        }
    }
});

/// Whether tracing is on (read once, at the first trace point).
pub fn enabled() -> bool {
    SINK.is_some()
}

/// Now, in µs since the epoch.
pub fn now_us() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as i64).unwrap_or(0)
}

/// The start of a traced step: `Some(now)` when tracing is on.
pub fn start() -> Option<i64> {
    enabled().then(now_us)
}

fn write(line: std::fmt::Arguments<'_>) {
    if let Some(f) = SINK.as_ref() {
        let mut f = f.lock().unwrap_or_else(|p| p.into_inner());
        let _ = f.write_fmt(format_args!("{line}\n"));
    }
}

/// A containerd call that started at `start` (from [`start`]) has ended with `outcome`.
pub fn rpc<T>(start: Option<i64>, request_type: &str, outcome: &std::result::Result<T, tonic::Status>) {
    let Some(t0) = start else { return };
    let name = request_type.rsplit("::").next().unwrap_or(request_type);
    let code = match outcome {
        Ok(_) => "ok".to_string(),
        Err(s) => format!("{:?}", s.code()),
    };
    write(format_args!("rpc {t0} {} {name} {code}", now_us()));
}

/// A containerd event was received (`published_us`: containerd's own timestamp).
pub fn event(topic: &str, published_us: i64, container_id: &str) {
    if enabled() {
        write(format_args!("event {} {published_us} {topic} {container_id}", now_us()));
    }
}

/// A milestone of the library's own work on container `id`.
pub fn mark(milestone: &str, id: &str) {
    if enabled() {
        write(format_args!("mark {} {milestone} {id}", now_us()));
    }
}
