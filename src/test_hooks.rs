//! Pause points that let a test force an interleaving of the library's own threads.
//!
//! Some promises hold only because of an ordering inside the library (a check made
//! after a flag is set, a count taken under the same lock as a reference). The races
//! they close are too narrow to hit from outside; a test installs a hook here to stop
//! a thread at the point where the race would open, does what the other side of the
//! race does, and lets it go. Without a hook installed each point costs one relaxed
//! atomic load. Not part of the supported API.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

/// Where a thread of the library is when it calls the hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Point {
    /// containerd has started a process (`container`, `process`; "init" for a
    /// container's own), and the library has not yet marked it started.
    Started,
    /// An exec (`container`, `process`) is registered under its container's operation
    /// lock and about to be sent to containerd.
    Execing,
    /// A callback is about to call `attach_streams` for (`container`, `process`): it
    /// holds the backend and has done all it does before calling.
    Attaching,
    /// A container's final exit has arrived and the library is about to remove its
    /// task and record, while its output drains and its `exit` is reported (the
    /// process id is empty).
    Removing,
    /// The fifo files of `container`'s run that ended are about to be removed, on a
    /// blocking thread, after its `exit` was queued (the process id is empty).
    RemovingFifos,
    /// A client has checked `container` against containerd after a reconnection
    /// (the process id is empty).
    Reconciled,
}

/// A hook: called with the point, the container id and the process id.
pub type Hook = Arc<dyn Fn(Point, &str, &str) + Send + Sync>;

static SET: AtomicBool = AtomicBool::new(false);
static HOOK: RwLock<Option<Hook>> = RwLock::new(None);

/// Installs `hook` (or removes it with `None`), for every remote in this process.
pub fn set(hook: Option<Hook>) {
    SET.store(hook.is_some(), Ordering::SeqCst);
    *HOOK.write().unwrap_or_else(|e| e.into_inner()) = hook;
}

/// [`at`], from a task on one of the runtime's workers (which hands its other tasks
/// on while the hook holds it).
pub(crate) fn at_on_worker(point: Point, container: &str, process: &str) {
    if SET.load(Ordering::Relaxed) {
        tokio::task::block_in_place(|| at(point, container, process));
    }
}

/// Calls the installed hook, if any.
pub(crate) fn at(point: Point, container: &str, process: &str) {
    if !SET.load(Ordering::Relaxed) {
        return;
    }
    let hook = HOOK.read().unwrap_or_else(|e| e.into_inner()).clone();
    if let Some(h) = hook {
        h(point, container, process);
    }
}
