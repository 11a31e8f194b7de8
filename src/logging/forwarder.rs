//! The bounded queue and the delivery thread that hand the library's log records to
//! the host's sink, so that logging never waits for the host.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Condvar, Mutex, Once};
use std::thread::{self, ThreadId};

use log::{Level, LevelFilter};

/// Where records go: called on the forwarder's thread, one record at a time, with the
/// level, the target (the module that logged, e.g. `containerd::remote::supervisor`)
/// and the message.
pub type Sink = Arc<dyn Fn(Level, &str, &str) + Send + Sync>;

/// One queued record.
struct Record {
    level: Level,
    target: String,
    message: String,
}

/// The installed sink, and which sink (by generation) the thread is calling now.
struct Current {
    sink: Option<(Sink, LevelFilter)>,
    generation: u64,
    delivering: Option<u64>,
}

struct Shared {
    current: Mutex<Current>,
    /// Signalled when a delivery ends.
    delivered: Condvar,
    dropped: AtomicU64,
    thread: Mutex<Option<ThreadId>>,
}

/// A bounded queue of records and one thread delivering them to the current sink.
///
/// [`Forwarder::push`] never blocks: when the queue is full the record is dropped and
/// counted, and once the queue has room again the sink first receives a warning that
/// says how many records were lost. No lock is held while the sink runs.
pub struct Forwarder {
    shared: Arc<Shared>,
    tx: SyncSender<Record>,
    rx: Mutex<Option<Receiver<Record>>>,
    start: Once,
}

impl Forwarder {
    /// A forwarder with room for `capacity` records; its thread starts with the first
    /// sink.
    pub fn new(capacity: usize) -> Forwarder {
        let (tx, rx) = sync_channel(capacity);
        Forwarder {
            shared: Arc::new(Shared {
                current: Mutex::new(Current { sink: None, generation: 0, delivering: None }),
                delivered: Condvar::new(),
                dropped: AtomicU64::new(0),
                thread: Mutex::new(None),
            }),
            tx,
            rx: Mutex::new(Some(rx)),
            start: Once::new(),
        }
    }

    /// Queues a record without waiting; a full queue drops it (see [`Forwarder::dropped`]).
    pub fn push(&self, level: Level, target: &str, message: String) {
        let record = Record { level, target: target.to_string(), message };
        match self.tx.try_send(record) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.shared.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Records dropped because the queue was full, not yet reported to the sink.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// Replaces the sink (`None`: records are discarded). Records queued before the
    /// call go to whichever sink is current when they are delivered.
    ///
    /// When it returns, the previous sink is not running and is never called again,
    /// so whatever it borrows may be released, except when called from inside the
    /// sink itself: then it returns at once and the previous sink is not called again
    /// after the current call returns.
    pub fn set_sink(&self, sink: Option<(Sink, LevelFilter)>) {
        if sink.is_some() {
            self.start_thread();
        }
        let on_thread = *self.shared.thread.lock().unwrap() == Some(thread::current().id());
        let mut cur = self.shared.current.lock().unwrap();
        let old = cur.generation;
        cur.generation += 1;
        let previous = std::mem::replace(&mut cur.sink, sink);
        if !on_thread {
            while cur.delivering == Some(old) {
                cur = self.shared.delivered.wait(cur).unwrap();
            }
        }
        drop(cur);
        // Dropped outside the lock: a sink's destructor may itself log.
        drop(previous);
    }

    fn start_thread(&self) {
        self.start.call_once(|| {
            let rx = self.rx.lock().unwrap().take().expect("receiver taken once");
            let shared = self.shared.clone();
            let handle = thread::Builder::new()
                .name("lcd-log".into())
                .spawn(move || deliver(shared, rx))
                .expect("cannot start the log thread");
            *self.shared.thread.lock().unwrap() = Some(handle.thread().id());
        });
    }
}

/// The delivery thread's loop: one record at a time to the sink current at that moment.
fn deliver(shared: Arc<Shared>, rx: Receiver<Record>) {
    while let Ok(record) = rx.recv() {
        let lost = shared.dropped.swap(0, Ordering::Relaxed);
        if lost > 0 {
            let msg = format!("{lost} log records were dropped: the host's log callback is slower than the library logs");
            call(&shared, Level::Warn, module_path!(), &msg);
        }
        call(&shared, record.level, &record.target, &record.message);
    }
}

/// Calls the current sink, if it wants `level`, with no lock held during the call.
fn call(shared: &Shared, level: Level, target: &str, message: &str) {
    let (sink, generation) = {
        let mut cur = shared.current.lock().unwrap();
        let Some((sink, max)) = cur.sink.clone() else { return };
        if level > max {
            return;
        }
        let generation = cur.generation;
        cur.delivering = Some(generation);
        (sink, generation)
    };
    // A panicking sink must not end delivery (nor poison anything).
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| sink(level, target, message)));
    drop(sink);
    let mut cur = shared.current.lock().unwrap();
    if cur.delivering == Some(generation) {
        cur.delivering = None;
    }
    drop(cur);
    shared.delivered.notify_all();
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::channel;
    use std::time::Duration;

    fn collector() -> (Sink, Receiver<(Level, String, String)>) {
        let (tx, rx) = channel();
        let tx = Mutex::new(tx);
        let sink: Sink = Arc::new(move |l: Level, t: &str, m: &str| {
            let _ = tx.lock().unwrap().send((l, t.to_string(), m.to_string()));
        });
        (sink, rx)
    }

    #[test]
    fn records_reach_the_sink_in_order_and_above_its_level_only() {
        let f = Forwarder::new(16);
        let (sink, rx) = collector();
        f.set_sink(Some((sink, LevelFilter::Info)));
        f.push(Level::Warn, "a", "one".into());
        f.push(Level::Debug, "a", "filtered".into());
        f.push(Level::Info, "b", "two".into());
        let got: Vec<_> = (0..2).map(|_| rx.recv_timeout(Duration::from_secs(5)).unwrap()).collect();
        assert_eq!(got[0], (Level::Warn, "a".to_string(), "one".to_string()));
        assert_eq!(got[1], (Level::Info, "b".to_string(), "two".to_string()));
        f.set_sink(None);
        f.push(Level::Error, "a", "after".into());
        assert!(rx.recv_timeout(Duration::from_millis(200)).is_err());
    }

    #[test]
    fn a_full_queue_drops_and_then_reports_the_count() {
        let f = Forwarder::new(4);
        let gate = Arc::new((Mutex::new(false), Condvar::new()));
        let (tx, rx) = channel();
        let tx = Mutex::new(tx);
        let g = gate.clone();
        let sink: Sink = Arc::new(move |_: Level, _: &str, m: &str| {
            let (lock, cv) = &*g;
            let mut open = lock.lock().unwrap();
            while !*open {
                open = cv.wait(open).unwrap();
            }
            let _ = tx.lock().unwrap().send(m.to_string());
        });
        f.set_sink(Some((sink, LevelFilter::Trace)));
        // The first record occupies the thread; 4 more fill the queue; 10 are dropped.
        f.push(Level::Info, "t", "first".into());
        std::thread::sleep(Duration::from_millis(200));
        let start = std::time::Instant::now();
        for i in 0..14 {
            f.push(Level::Info, "t", format!("r{i}"));
        }
        assert!(start.elapsed() < Duration::from_secs(1), "push waited for the sink");
        assert_eq!(f.dropped(), 10);
        *gate.0.lock().unwrap() = true;
        gate.1.notify_all();
        let got: Vec<String> = (0..6).map(|_| rx.recv_timeout(Duration::from_secs(5)).unwrap()).collect();
        assert_eq!(got[0], "first");
        assert!(got[1].starts_with("10 log records were dropped"), "{got:?}");
        assert_eq!(&got[2..], ["r0", "r1", "r2", "r3"]);
    }

    #[test]
    fn set_sink_waits_for_the_previous_sink_to_return() {
        let f = Arc::new(Forwarder::new(4));
        let running = Arc::new(AtomicU64::new(0));
        let r = running.clone();
        let sink: Sink = Arc::new(move |_: Level, _: &str, _: &str| {
            r.store(1, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(300));
            r.store(2, Ordering::SeqCst);
        });
        f.set_sink(Some((sink, LevelFilter::Trace)));
        f.push(Level::Info, "t", "x".into());
        while running.load(Ordering::SeqCst) == 0 {
            std::thread::sleep(Duration::from_millis(5));
        }
        f.set_sink(None);
        assert_eq!(running.load(Ordering::SeqCst), 2, "set_sink returned while the old sink ran");
    }

    #[test]
    fn a_sink_may_replace_itself() {
        let f = Arc::new(Forwarder::new(4));
        let (tx, rx) = channel();
        let tx = Mutex::new(tx);
        let f2 = Arc::downgrade(&f);
        let sink: Sink = Arc::new(move |_: Level, _: &str, _: &str| {
            if let Some(f) = f2.upgrade() {
                f.set_sink(None);
            }
            let _ = tx.lock().unwrap().send(());
        });
        f.set_sink(Some((sink, LevelFilter::Trace)));
        f.push(Level::Info, "t", "x".into());
        f.push(Level::Info, "t", "y".into());
        rx.recv_timeout(Duration::from_secs(5)).unwrap();
        assert!(rx.recv_timeout(Duration::from_millis(300)).is_err(), "called after it turned itself off");
    }
}
