//! Delivery of state changes to the backend on threads the library owns: one FIFO
//! queue per container (events of one container in order, one at a time), containers
//! served in parallel by threads started on demand, so that a callback blocking for one
//! container holds up only that container's events.
//!
//! Bounds while callbacks block:
//! - at most [`MAX_DELIVERY_THREADS`] callbacks of one client run at once (one per
//!   container); while that many block, other containers' events wait in their queues.
//!   A thread with nothing to deliver for [`IDLE_THREAD_TIMEOUT`] ends.
//! - a container's queue holds at most [`QUEUE_BOUND`] events of the kinds anyone can
//!   cause at any rate (`pause`, `resume`, `oom`: notices). A notice arriving at a full
//!   queue replaces the oldest queued notice (so the latest state is still reported, in
//!   order), or is dropped if the queue holds no notice; either is logged. Every other
//!   event (`start-container`, `exit`, `restart`, `restore`, `start-process`,
//!   `exit-process`) is always queued and delivered exactly once: each belongs to a run
//!   or an exec the library started, so their number is bounded by the host's own calls.

use std::cell::Cell;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::Duration;

use crate::backend::{Backend, State, StateInfo};

/// Most callbacks of one client running at once (each for a different container).
pub const MAX_DELIVERY_THREADS: usize = 16;

/// Most events queued for one container before notices (`pause`, `resume`, `oom`) are
/// coalesced; other events are never dropped.
pub const QUEUE_BOUND: usize = 256;

/// How long a delivery thread with nothing to do waits before it ends.
pub const IDLE_THREAD_TIMEOUT: Duration = Duration::from_secs(2);

thread_local! {
    /// The id of the dispatcher whose callback this thread is running, if any.
    static IN_CALLBACK_OF: Cell<usize> = const { Cell::new(0) };
}

/// The id of the dispatcher whose callback the calling thread is running (0: none).
pub fn current() -> usize {
    IN_CALLBACK_OF.with(|c| c.get())
}

/// Whether an event may be coalesced when its container's queue is full.
fn is_notice(state: State) -> bool {
    matches!(state, State::Pause | State::Resume | State::Oom)
}

/// One container's queue.
#[derive(Default)]
struct Queue {
    events: VecDeque<StateInfo>,
    /// A callback for this container is running (its next event waits for it).
    busy: bool,
    /// The container is in `Queues::ready`.
    ready: bool,
}

#[derive(Default)]
struct Queues {
    per_container: HashMap<String, Queue>,
    /// Containers with events to deliver and no callback running, oldest first.
    ready: VecDeque<String>,
    /// Callbacks running.
    in_flight: usize,
    /// Delivery threads alive.
    threads: usize,
    /// Delivery threads waiting for work.
    idle: usize,
    closed: bool,
}

impl Queues {
    /// Whether nothing is queued or being delivered.
    fn drained(&self) -> bool {
        self.in_flight == 0 && self.per_container.values().all(|q| q.events.is_empty())
    }
}

struct Shared {
    queues: Mutex<Queues>,
    /// Signalled when work arrives or the dispatcher closes.
    wake: Condvar,
    /// Signalled when the queues drain, a thread ends, or the dispatcher closes.
    changed: Condvar,
    backend: Mutex<Option<Arc<dyn Backend>>>,
}

/// A client's event dispatcher.
pub struct Dispatcher {
    shared: Arc<Shared>,
}

impl Dispatcher {
    /// A dispatcher delivering to `backend`; threads start with the first events.
    pub fn new(backend: Arc<dyn Backend>) -> Dispatcher {
        let shared = Arc::new(Shared {
            queues: Mutex::new(Queues::default()),
            wake: Condvar::new(),
            changed: Condvar::new(),
            backend: Mutex::new(Some(backend)),
        });
        Dispatcher { shared }
    }

    /// Identifies this dispatcher (see [`current`]).
    pub fn id(&self) -> usize {
        Arc::as_ptr(&self.shared) as usize
    }

    /// Queues `info` for `container_id` (see the module's documentation for the
    /// bound); dropped once the dispatcher is closed. Never blocks on a callback.
    pub fn send(&self, container_id: &str, info: StateInfo) {
        log::debug!("{container_id}: {} (process {}, pid {}, exit code {})", info.state.as_str(), info.process_id, info.pid, info.exit_code);
        let mut q = self.shared.queues.lock().unwrap();
        if q.closed {
            return;
        }
        let queue = q.per_container.entry(container_id.to_string()).or_default();
        if queue.events.len() >= QUEUE_BOUND && is_notice(info.state) {
            match queue.events.iter().position(|e| is_notice(e.state)) {
                Some(i) => {
                    let old = queue.events.remove(i).map(|e| e.state.as_str()).unwrap_or("");
                    log::warn!("events of {container_id}: queue full ({QUEUE_BOUND}) while its callback blocks; dropped an older {old} notice");
                }
                None => {
                    log::warn!("events of {container_id}: queue full ({QUEUE_BOUND}) while its callback blocks; dropped a {} notice", info.state.as_str());
                    return;
                }
            }
        }
        queue.events.push_back(info);
        if !queue.busy && !queue.ready {
            queue.ready = true;
            q.ready.push_back(container_id.to_string());
        }
        self.start_thread_if_needed(q);
    }

    /// Wakes an idle delivery thread, or starts one when none is idle and fewer than
    /// [`MAX_DELIVERY_THREADS`] run.
    fn start_thread_if_needed(&self, mut q: MutexGuard<'_, Queues>) {
        if q.ready.is_empty() {
            return;
        }
        let wake = q.idle > 0;
        // Each waiting thread takes one ready container: start another thread when more
        // containers wait than threads do.
        let start = q.ready.len() > q.idle && q.threads < MAX_DELIVERY_THREADS;
        if start {
            q.threads += 1;
        }
        // Woken after the lock is released, so that the woken thread does not run into
        // the lock still held here and sleep again.
        drop(q);
        if wake {
            self.shared.wake.notify_one();
        }
        if !start {
            return;
        }
        let s = self.shared.clone();
        let started = thread::Builder::new().name("lcd-events".into()).spawn(move || worker(s));
        if let Err(e) = started {
            log::error!("cannot start an event delivery thread: {e}");
            thread_ended(&self.shared, self.shared.queues.lock().unwrap());
        }
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
    /// (unless called from inside one), and the backend is released exactly once: here
    /// when no delivery thread runs, else by the last one to end.
    pub fn close(&self) {
        self.close_waiting(!self.in_callback());
    }

    /// [`Dispatcher::close`]; `wait` false skips waiting for callbacks in flight (the
    /// caller is inside a callback of the same client, which would never finish).
    pub fn close_waiting(&self, wait: bool) {
        let mut q = self.shared.queues.lock().unwrap();
        if !q.closed {
            q.closed = true;
            q.per_container.clear();
            q.ready.clear();
            self.shared.wake.notify_all();
            self.shared.changed.notify_all();
            if q.threads == 0 {
                let b = self.shared.backend.lock().unwrap().take();
                drop(q);
                drop(b);
                return;
            }
        }
        if !wait {
            // The calling thread is one of ours: the backend is dropped when the last
            // delivery thread (perhaps this one) leaves its loop.
            return;
        }
        while q.threads > 0 {
            q = self.shared.changed.wait(q).unwrap();
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
        while !q.closed && !q.drained() {
            q = self.0.changed.wait(q).unwrap();
        }
    }
}

impl Drop for Dispatcher {
    fn drop(&mut self) {
        self.close();
    }
}

/// Accounts for a delivery thread that ends; the last one to end after the dispatcher
/// closed releases the backend (with the lock released while it drops).
fn thread_ended<'a>(shared: &'a Shared, mut q: MutexGuard<'a, Queues>) {
    if q.closed && q.threads == 1 {
        // Released before the count reaches 0, so that close() waiting for the count
        // returns only after `user_data_free` has run. No other thread can start now.
        let b = shared.backend.lock().unwrap().take();
        drop(q);
        drop(b);
        q = shared.queues.lock().unwrap();
    }
    q.threads -= 1;
    shared.changed.notify_all();
}

fn worker(shared: Arc<Shared>) {
    IN_CALLBACK_OF.with(|c| c.set(Arc::as_ptr(&shared) as usize));
    let mut q = shared.queues.lock().unwrap();
    loop {
        if q.closed {
            thread_ended(&shared, q);
            return;
        }
        let Some(cid) = q.ready.pop_front() else {
            q.idle += 1;
            let (guard, timeout) = shared.wake.wait_timeout(q, IDLE_THREAD_TIMEOUT).unwrap();
            q = guard;
            q.idle -= 1;
            if timeout.timed_out() && q.ready.is_empty() && !q.closed {
                thread_ended(&shared, q);
                return;
            }
            continue;
        };
        let Some(queue) = q.per_container.get_mut(&cid) else { continue };
        queue.ready = false;
        let Some(info) = queue.events.pop_front() else {
            q.per_container.remove(&cid);
            continue;
        };
        queue.busy = true;
        q.in_flight += 1;
        drop(q);
        let backend = shared.backend.lock().unwrap().clone();
        if let Some(b) = backend {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| b.state_changed(&cid, &info)));
            match r {
                Ok(Ok(())) => {}
                Ok(Err(e)) => log::warn!("state_changed({cid}, {}) returned an error: {e}", info.state.as_str()),
                Err(_) => log::error!("state_changed({cid}, {}) panicked", info.state.as_str()),
            }
        }
        q = shared.queues.lock().unwrap();
        q.in_flight -= 1;
        let more = match q.per_container.get_mut(&cid) {
            Some(queue) => {
                queue.busy = false;
                if queue.events.is_empty() {
                    q.per_container.remove(&cid);
                    false
                } else {
                    queue.ready = true;
                    true
                }
            }
            None => false,
        };
        if more {
            q.ready.push_back(cid);
            if q.ready.len() > 1 && q.idle > 0 {
                shared.wake.notify_one();
            }
        }
        if q.drained() {
            shared.changed.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    /// Blocks callbacks for containers whose id starts with "slow" until opened.
    #[derive(Default)]
    struct Gate {
        open: Mutex<bool>,
        cv: Condvar,
        got: Mutex<Vec<(String, State)>>,
    }
    impl Backend for Gate {
        fn state_changed(&self, c: &str, i: &StateInfo) -> crate::Result<()> {
            if c.starts_with("slow") {
                let mut open = self.open.lock().unwrap();
                while !*open {
                    open = self.cv.wait(open).unwrap();
                }
            }
            self.got.lock().unwrap().push((c.to_string(), i.state));
            Ok(())
        }
    }
    impl Gate {
        fn open(&self) {
            *self.open.lock().unwrap() = true;
            self.cv.notify_all();
        }
    }

    fn ev(state: State) -> StateInfo {
        StateInfo { state, ..info(1) }
    }

    #[test]
    fn a_blocked_container_does_not_hold_up_others() {
        let gate = Arc::new(Gate::default());
        let d = Dispatcher::new(gate.clone());
        d.send("slow-1", ev(State::StartContainer));
        d.send("slow-2", ev(State::StartContainer));
        d.send("slow-1", ev(State::Exit));
        for i in 0..5 {
            d.send(&format!("fast-{i}"), ev(State::Exit));
        }
        let t0 = std::time::Instant::now();
        while gate.got.lock().unwrap().len() < 5 {
            assert!(t0.elapsed() < Duration::from_secs(5), "other containers' events held up: {:?}", gate.got.lock().unwrap());
            thread::sleep(Duration::from_millis(5));
        }
        gate.open();
        d.flush();
        let got = gate.got.lock().unwrap().clone();
        assert_eq!(got.len(), 8, "{got:?}");
        let slow1: Vec<State> = got.iter().filter(|(c, _)| c == "slow-1").map(|(_, s)| *s).collect();
        assert_eq!(slow1, vec![State::StartContainer, State::Exit]);
        d.close();
    }

    #[test]
    fn a_full_queue_coalesces_notices_and_keeps_every_exit() {
        let gate = Arc::new(Gate::default());
        let d = Dispatcher::new(gate.clone());
        d.send("slow", ev(State::StartContainer));
        // Wait until that callback blocks, so that everything after it queues.
        while d.shared.queues.lock().unwrap().in_flight == 0 {
            thread::sleep(Duration::from_millis(1));
        }
        for i in 0..10 * QUEUE_BOUND {
            d.send("slow", ev(if i % 2 == 0 { State::Pause } else { State::Resume }));
            if i % 100 == 0 {
                d.send("slow", ev(State::ExitProcess));
            }
        }
        d.send("slow", ev(State::Exit));
        let queued = d.shared.queues.lock().unwrap().per_container["slow"].events.len();
        let exec_exits = 10 * QUEUE_BOUND / 100 + 1;
        assert!(queued <= QUEUE_BOUND + exec_exits + 1, "{queued} events queued");
        gate.open();
        d.flush();
        let got = gate.got.lock().unwrap().clone();
        assert_eq!(got.iter().filter(|(_, s)| *s == State::ExitProcess).count(), exec_exits);
        assert_eq!(got.last().map(|(_, s)| *s), Some(State::Exit));
        // The latest state survives: the last notice sent was a resume.
        let last_notice = got.iter().rev().find(|(_, s)| is_notice(*s)).map(|(_, s)| *s);
        assert_eq!(last_notice, Some(State::Resume));
        d.close();
    }

    #[test]
    fn threads_are_bounded_and_end_when_idle() {
        let gate = Arc::new(Gate::default());
        let d = Dispatcher::new(gate.clone());
        for i in 0..2 * MAX_DELIVERY_THREADS {
            d.send(&format!("slow-{i}"), ev(State::StartContainer));
        }
        assert_eq!(d.shared.queues.lock().unwrap().threads, MAX_DELIVERY_THREADS);
        gate.open();
        d.flush();
        assert_eq!(gate.got.lock().unwrap().len(), 2 * MAX_DELIVERY_THREADS);
        let t0 = std::time::Instant::now();
        while d.shared.queues.lock().unwrap().threads > 0 {
            assert!(t0.elapsed() < IDLE_THREAD_TIMEOUT * 3, "idle delivery threads did not end");
            thread::sleep(Duration::from_millis(20));
        }
        // Delivery starts again after the threads ended.
        d.send("fast", ev(State::Exit));
        d.flush();
        assert_eq!(gate.got.lock().unwrap().len(), 2 * MAX_DELIVERY_THREADS + 1);
        d.close();
    }
}
