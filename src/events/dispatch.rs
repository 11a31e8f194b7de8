//! Delivery of state changes to the backend on threads the library owns: one FIFO
//! queue per container (events of one container in order, one at a time), containers
//! served in parallel by a small pool of threads.

use std::cell::Cell;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;

use crate::backend::{Backend, StateInfo};

/// Threads delivering events of one client.
pub const DISPATCH_THREADS: usize = 2;

thread_local! {
    /// The id of the dispatcher whose callback this thread is running, if any.
    static IN_CALLBACK_OF: Cell<usize> = const { Cell::new(0) };
}

/// The id of the dispatcher whose callback the calling thread is running (0: none).
pub fn current() -> usize {
    IN_CALLBACK_OF.with(|c| c.get())
}

#[derive(Default)]
struct Queues {
    pending: HashMap<String, VecDeque<StateInfo>>,
    ready: VecDeque<String>,
    busy: HashSet<String>,
    in_flight: usize,
    closed: bool,
}

struct Shared {
    queues: Mutex<Queues>,
    wake: Condvar,
    idle: Condvar,
    backend: Mutex<Option<Arc<dyn Backend>>>,
    /// Delivery threads still running; the last one out releases the backend.
    alive: std::sync::atomic::AtomicUsize,
}

/// A client's event dispatcher.
pub struct Dispatcher {
    shared: Arc<Shared>,
    threads: Mutex<Vec<thread::JoinHandle<()>>>,
}

impl Dispatcher {
    /// Starts the delivery threads for `backend`.
    pub fn new(backend: Arc<dyn Backend>) -> Dispatcher {
        let shared = Arc::new(Shared {
            queues: Mutex::new(Queues::default()),
            wake: Condvar::new(),
            idle: Condvar::new(),
            backend: Mutex::new(Some(backend)),
            alive: std::sync::atomic::AtomicUsize::new(DISPATCH_THREADS),
        });
        let threads = (0..DISPATCH_THREADS)
            .map(|i| {
                let s = shared.clone();
                thread::Builder::new()
                    .name(format!("lcd-events-{i}"))
                    .spawn(move || worker(s))
                    .expect("cannot start an event thread")
            })
            .collect();
        Dispatcher { shared, threads: Mutex::new(threads) }
    }

    /// Identifies this dispatcher (see [`current`]).
    pub fn id(&self) -> usize {
        Arc::as_ptr(&self.shared) as usize
    }

    /// Queues `info` for `container_id`; dropped once the dispatcher is closed.
    pub fn send(&self, container_id: &str, info: StateInfo) {
        log::debug!("{container_id}: {} (process {}, pid {}, exit code {})", info.state.as_str(), info.process_id, info.pid, info.exit_code);
        let mut q = self.shared.queues.lock().unwrap();
        if q.closed {
            return;
        }
        q.pending.entry(container_id.to_string()).or_default().push_back(info);
        if !q.busy.contains(container_id) && !q.ready.iter().any(|c| c == container_id) {
            q.ready.push_back(container_id.to_string());
        }
        self.shared.wake.notify_one();
    }

    /// Whether the current thread is inside one of this dispatcher's callbacks.
    pub fn in_callback(&self) -> bool {
        IN_CALLBACK_OF.with(|c| c.get() == self.id())
    }

    /// Waits until every queued event has been delivered (for tests and cleanup).
    pub fn flush(&self) {
        if self.in_callback() {
            return;
        }
        self.flusher().flush();
    }

    /// A handle that can wait for delivery from another thread.
    pub fn flusher(&self) -> Flusher {
        Flusher(self.shared.clone())
    }

    /// Stops delivery: queued events are dropped, callbacks in flight are waited for
    /// (unless called from inside one), and the backend is released by whichever
    /// thread finishes last.
    pub fn close(&self) {
        self.close_waiting(!self.in_callback());
    }

    /// [`Dispatcher::close`]; `wait` false skips waiting for callbacks in flight (the
    /// caller is inside a callback of the same client, which would never finish).
    pub fn close_waiting(&self, wait: bool) {
        {
            let mut q = self.shared.queues.lock().unwrap();
            if q.closed {
                return;
            }
            q.closed = true;
            q.pending.clear();
            q.ready.clear();
            self.shared.wake.notify_all();
            self.shared.idle.notify_all();
        }
        let threads = std::mem::take(&mut *self.threads.lock().unwrap());
        if !wait {
            // The calling thread is one of ours: the others finish by themselves, and
            // the backend is dropped when this callback's thread exits its loop.
            drop(threads);
            return;
        }
        for t in threads {
            let _ = t.join();
        }
    }
}

/// Waits for a dispatcher's queues to drain (see [`Dispatcher::flusher`]).
pub struct Flusher(Arc<Shared>);

impl Flusher {
    /// Blocks until every queued event has been delivered or the dispatcher closed.
    pub fn flush(&self) {
        if IN_CALLBACK_OF.with(|c| c.get() == Arc::as_ptr(&self.0) as usize) {
            return;
        }
        let mut q = self.0.queues.lock().unwrap();
        while !q.closed && (q.in_flight > 0 || !q.pending.is_empty()) {
            q = self.0.idle.wait(q).unwrap();
        }
    }
}

impl Drop for Dispatcher {
    fn drop(&mut self) {
        self.close();
    }
}

fn worker(shared: Arc<Shared>) {
    IN_CALLBACK_OF.with(|c| c.set(Arc::as_ptr(&shared) as usize));
    loop {
        let (cid, info) = {
            let mut q = shared.queues.lock().unwrap();
            loop {
                if q.closed {
                    drop(q);
                    // The last thread out releases the backend, so that a close() made
                    // from inside a callback still releases it exactly once.
                    if shared.alive.fetch_sub(1, std::sync::atomic::Ordering::SeqCst) == 1 {
                        let b = shared.backend.lock().unwrap().take();
                        drop(b);
                    }
                    return;
                }
                if let Some(cid) = q.ready.pop_front() {
                    if let Some(info) = q.pending.get_mut(&cid).and_then(|d| d.pop_front()) {
                        q.busy.insert(cid.clone());
                        q.in_flight += 1;
                        break (cid, info);
                    }
                    q.pending.remove(&cid);
                    continue;
                }
                q = shared.wake.wait(q).unwrap();
            }
        };
        let backend = shared.backend.lock().unwrap().clone();
        if let Some(b) = backend {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| b.state_changed(&cid, &info)));
            match r {
                Ok(Ok(())) => {}
                Ok(Err(e)) => log::warn!("state_changed({cid}, {}) returned an error: {e}", info.state.as_str()),
                Err(_) => log::error!("state_changed({cid}, {}) panicked", info.state.as_str()),
            }
        }
        let mut q = shared.queues.lock().unwrap();
        q.in_flight -= 1;
        q.busy.remove(&cid);
        match q.pending.get(&cid) {
            Some(d) if !d.is_empty() => q.ready.push_back(cid),
            _ => {
                q.pending.remove(&cid);
            }
        }
        if q.in_flight == 0 && q.pending.is_empty() {
            shared.idle.notify_all();
        }
        shared.wake.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::State;
    use std::time::Duration;

    struct Rec(Mutex<Vec<(String, u32)>>);
    impl Backend for Rec {
        fn state_changed(&self, c: &str, i: &StateInfo) -> crate::Result<()> {
            if i.pid.is_multiple_of(7) {
                thread::sleep(Duration::from_millis(1));
            }
            self.0.lock().unwrap().push((c.to_string(), i.pid));
            Ok(())
        }
    }

    fn info(pid: u32) -> StateInfo {
        StateInfo { state: State::Pause, pid, exit_code: 0, process_id: "init".into(), oom_killed: false, exited_at_unix_nano: 0 }
    }

    #[test]
    fn per_container_order_and_exactly_once() {
        let rec = Arc::new(Rec(Mutex::new(Vec::new())));
        let d = Dispatcher::new(rec.clone());
        for i in 0..200u32 {
            d.send(&format!("c{}", i % 5), info(i));
        }
        d.flush();
        let got = rec.0.lock().unwrap().clone();
        assert_eq!(got.len(), 200);
        for c in 0..5 {
            let seq: Vec<u32> = got.iter().filter(|(id, _)| *id == format!("c{c}")).map(|(_, p)| *p).collect();
            let want: Vec<u32> = (0..200).filter(|i| i % 5 == c).collect();
            assert_eq!(seq, want);
        }
        d.close();
    }

    struct Dropped(Arc<Mutex<u32>>);
    impl Backend for Dropped {}
    impl Drop for Dropped {
        fn drop(&mut self) {
            *self.0.lock().unwrap() += 1;
        }
    }

    #[test]
    fn close_releases_backend_once() {
        let n = Arc::new(Mutex::new(0));
        let d = Dispatcher::new(Arc::new(Dropped(n.clone())));
        d.send("a", info(1));
        d.close();
        d.close();
        drop(d);
        assert_eq!(*n.lock().unwrap(), 1);
    }
}
