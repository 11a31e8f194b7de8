//! The library's logs for the host: a process-wide `log::Log` that forwards records to
//! a host-supplied sink on a library thread, through a bounded queue.
//!
//! The core logs through the `log` crate (containerd relaunched, health checks that
//! failed, restarts that failed, lifecycle details at debug level). Nothing is
//! forwarded until [`set_sink`] installs a sink (`lcd_log_set_callback` in C). Then:
//!
//! - a log call never waits for the host: it formats the record and puts it on a
//!   queue of [`QUEUE_CAPACITY`] records; when the queue is full (the sink is slower
//!   than the library logs) the record is dropped and counted, and the sink's next
//!   record is preceded by a warning saying how many were lost;
//! - one thread the library owns (`lcd-log`) calls the sink, one record at a time, in
//!   the order they were logged, with no library lock held, so a sink may call back
//!   into the library and a slow sink delays nothing but later log records;
//! - records above the sink's level are not even formatted (the `log` crate's global
//!   maximum level follows the sink's).
//!
//! A Rust program that installs its own `log` logger keeps it: [`set_sink`] then
//! fails with FAILED_PRECONDITION, and the records go to that logger.

mod forwarder;

pub use forwarder::Sink;

use log::{LevelFilter, Log, Metadata, Record};
use once_cell::sync::Lazy;

use crate::error::{Error, Result};
use forwarder::Forwarder;

/// How many records may wait for the sink before new ones are dropped.
pub const QUEUE_CAPACITY: usize = 4096;

static FORWARDER: Lazy<Forwarder> = Lazy::new(|| Forwarder::new(QUEUE_CAPACITY));

/// The `log::Log` installed process-wide by the first [`set_sink`].
struct HostLogger;

impl Log for HostLogger {
    fn enabled(&self, metadata: &Metadata) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record) {
        if self.enabled(record.metadata()) {
            FORWARDER.push(record.level(), record.target(), record.args().to_string());
        }
    }

    fn flush(&self) {}
}

static LOGGER: HostLogger = HostLogger;

/// Installs the library's logger once; fails if the process already has another one.
fn install() -> Result<()> {
    static INSTALLED: Lazy<std::result::Result<(), String>> = Lazy::new(|| {
        log::set_logger(&LOGGER).map_err(|_| {
            "another logger is installed in this process (log::set_logger); the library's records go there".to_string()
        })
    });
    INSTALLED.clone().map_err(Error::precondition)
}

/// Forwards the library's records up to `max_level` to `sink`, or stops forwarding
/// (`None`, or `LevelFilter::Off`). Process-wide; the last call wins.
///
/// When it returns, the previous sink is not running and will not be called again
/// (called from inside the sink itself, it returns at once and the sink is not
/// called again after that call returns).
pub fn set_sink(max_level: LevelFilter, sink: Option<Sink>) -> Result<()> {
    let sink = sink.filter(|_| max_level != LevelFilter::Off);
    if sink.is_some() {
        install()?;
        log::set_max_level(max_level);
        FORWARDER.set_sink(sink.map(|s| (s, max_level)));
    } else {
        if log::logger() as *const dyn Log as *const () == &LOGGER as *const HostLogger as *const () {
            log::set_max_level(LevelFilter::Off);
        }
        FORWARDER.set_sink(None);
    }
    Ok(())
}

/// Records dropped so far because the queue was full and not yet reported to the sink.
pub fn dropped_records() -> u64 {
    FORWARDER.dropped()
}

/// The `log` level filter for a C level: 0 off, 1 error, 2 warn, 3 info, 4 debug,
/// 5 trace; `None` outside that range.
pub fn level_filter(level: i32) -> Option<LevelFilter> {
    Some(match level {
        0 => LevelFilter::Off,
        1 => LevelFilter::Error,
        2 => LevelFilter::Warn,
        3 => LevelFilter::Info,
        4 => LevelFilter::Debug,
        5 => LevelFilter::Trace,
        _ => return None,
    })
}

/// The C level (1 error … 5 trace) of a record's level.
pub fn level_number(level: log::Level) -> i32 {
    level as i32
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::channel;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    #[test]
    fn levels_match_the_c_numbers() {
        assert_eq!(level_number(log::Level::Error), 1);
        assert_eq!(level_number(log::Level::Trace), 5);
        assert_eq!(level_filter(0), Some(LevelFilter::Off));
        assert_eq!(level_filter(4), Some(LevelFilter::Debug));
        assert_eq!(level_filter(6), None);
        assert_eq!(level_filter(-1), None);
    }

    /// The one test of this binary that touches the process-wide logger.
    #[test]
    fn the_global_logger_forwards_up_to_the_level_and_stops() {
        let (tx, rx) = channel();
        let tx = Mutex::new(tx);
        let sink: Sink = Arc::new(move |l: log::Level, t: &str, m: &str| {
            if t == module_path!() {
                let _ = tx.lock().unwrap().send((l, m.to_string()));
            }
        });
        set_sink(LevelFilter::Info, Some(sink)).unwrap();
        log::debug!("not wanted");
        log::warn!("wanted {}", 1);
        let (l, m) = rx.recv_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!((l, m.as_str()), (log::Level::Warn, "wanted 1"));
        set_sink(LevelFilter::Off, None).unwrap();
        assert_eq!(log::max_level(), LevelFilter::Off);
        log::error!("after");
        assert!(rx.recv_timeout(Duration::from_millis(200)).is_err());
    }
}
