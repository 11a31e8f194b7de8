//! Deadlines and cancellation of blocking calls: a [`Call`] (shared like a Go context) and the scope that makes each blocking step of the library honour it.
//!
//! A blocking API call made inside [`Call::run`] (the C ABI does this for its `call`
//! argument) checks the call before it starts, and every step that waits (a request to
//! containerd, an outage, a container's operation lock, an id being removed) gives up
//! with `CANCELLED` or `DEADLINE_EXCEEDED` as soon as the call is cancelled or its
//! deadline passes. A step that must not be left half done is [`detach`]ed: it runs on
//! to its end on the library's runtime, and what it made is then undone.

use std::cell::RefCell;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{oneshot, Notify};
use tokio_util::sync::CancellationToken;

use crate::error::{Code, Error, Result};

/// A deadline and a cancellation shared by any number of calls, from any thread.
/// Clones share it. Once cancelled or past its deadline, every call using it fails at
/// once with `CANCELLED` or `DEADLINE_EXCEEDED`: whichever happened first (a cancel
/// wins over a deadline that passed after it).
#[derive(Clone, Default)]
pub struct Call {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    token: CancellationToken,
    times: Mutex<Times>,
    /// Woken when the deadline changes.
    changed: Notify,
}

#[derive(Default, Clone, Copy)]
struct Times {
    deadline: Option<Instant>,
    cancelled_at: Option<Instant>,
}

impl Call {
    /// A call with no deadline, not cancelled.
    pub fn new() -> Call {
        Call::default()
    }

    /// Sets the deadline to now + `timeout` (`None` or zero: no deadline). Calls already
    /// under way with this call see the new deadline too.
    pub fn set_timeout(&self, timeout: Option<Duration>) {
        let deadline = timeout.filter(|t| !t.is_zero()).map(|t| Instant::now() + t);
        self.inner.times.lock().unwrap().deadline = deadline;
        self.inner.changed.notify_waiters();
    }

    /// Cancels every call using this one, now and later. Idempotent; any thread.
    pub fn cancel(&self) {
        {
            let mut t = self.inner.times.lock().unwrap();
            if t.cancelled_at.is_none() {
                t.cancelled_at = Some(Instant::now());
            }
        }
        self.inner.token.cancel();
    }

    /// The error a call using this one fails with now, if any.
    pub fn error(&self) -> Option<Error> {
        let t = *self.inner.times.lock().unwrap();
        let now = Instant::now();
        let past_deadline = |at: Instant| t.deadline.is_some_and(|d| d <= at);
        match t.cancelled_at {
            Some(c) if !past_deadline(c) => Some(cancelled()),
            Some(_) => Some(deadline_exceeded()),
            None if past_deadline(now) => Some(deadline_exceeded()),
            None => None,
        }
    }

    /// `Ok` while the call may go on, else its error.
    pub fn check(&self) -> Result<()> {
        self.error().map_or(Ok(()), Err)
    }

    /// Runs `f` (blocking calls of this library) under this call: nothing starts if it
    /// is already cancelled or past its deadline, and every blocking step of `f` on this
    /// thread gives up when it is.
    pub fn run<T>(&self, f: impl FnOnce() -> Result<T>) -> Result<T> {
        self.check()?;
        scope(Some(self.clone()), f)
    }

    /// Resolves, with the call's error, once it is cancelled or past its deadline.
    pub async fn done(&self) -> Error {
        loop {
            let changed = self.inner.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if let Some(e) = self.error() {
                return e;
            }
            let deadline = self.inner.times.lock().unwrap().deadline;
            let sleep = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = self.inner.token.cancelled() => {}
                _ = sleep => {}
                _ = changed => {}
            }
        }
    }
}

fn cancelled() -> Error {
    Error::new(Code::Cancelled, "the call was cancelled")
}

fn deadline_exceeded() -> Error {
    Error::new(Code::DeadlineExceeded, "the call's deadline passed")
}

/// Whether `e` is a call's own end (cancelled or past its deadline).
pub(crate) fn is_call_end(e: &Error) -> bool {
    matches!(e.code(), Code::Cancelled | Code::DeadlineExceeded)
}

thread_local! {
    /// The call governing the library calls made on this thread.
    static CURRENT: RefCell<Option<Call>> = const { RefCell::new(None) };
}

/// Runs `f` with `call` (`None`: no deadline, not cancellable) as this thread's
/// current call; the previous one is back afterwards (also if `f` panics), so a
/// callback may make calls of its own under another call.
pub(crate) fn scope<T>(call: Option<Call>, f: impl FnOnce() -> T) -> T {
    struct Restore(Option<Call>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let prev = self.0.take();
            CURRENT.with(|c| *c.borrow_mut() = prev);
        }
    }
    let prev = CURRENT.with(|c| c.replace(call));
    let _restore = Restore(prev);
    f()
}

/// This thread's current call.
pub(crate) fn current() -> Option<Call> {
    CURRENT.with(|c| c.borrow().clone())
}

/// `Ok` unless this thread's current call is cancelled or past its deadline.
pub(crate) fn check_current() -> Result<()> {
    current().map_or(Ok(()), |c| c.check())
}

/// Runs `fut` to completion from a caller's thread, giving up (and dropping it) when
/// the current call ends. For steps whose interruption leaves nothing behind: reads,
/// waits, and single requests whose possible effect the caller's contract states.
pub(crate) fn wait<T>(fut: impl Future<Output = Result<T>>) -> Result<T> {
    let Some(call) = current() else {
        return crate::runtime::block_on(fut);
    };
    call.check()?;
    crate::runtime::block_on(async {
        tokio::select! {
            biased;
            r = fut => r,
            e = call.done() => Err(e),
        }
    })
}

/// Runs `fut` on the library's runtime and waits for it from a caller's thread. When
/// the current call ends first, `on_cancel` runs on this thread, the call returns its
/// error at once, and `fut` runs on to its end, whose result goes to `undo` (which
/// removes what `fut` made). So the step is either done (`Ok`) or undone, never half.
pub(crate) fn detach<T, F, U, UF>(fut: F, on_cancel: impl FnOnce(), undo: U) -> Result<T>
where
    T: Send + 'static,
    F: Future<Output = Result<T>> + Send + 'static,
    U: FnOnce(Result<T>) -> UF + Send + 'static,
    UF: Future<Output = ()> + Send + 'static,
{
    let Some(call) = current() else {
        return crate::runtime::block_on(fut);
    };
    call.check()?;
    let (tx, rx) = oneshot::channel();
    // Whoever ends up with an abandoned result takes `undo`.
    let undo = Arc::new(Mutex::new(Some(undo)));
    let take_undo = {
        let undo = undo.clone();
        move || undo.lock().unwrap().take()
    };
    crate::runtime::handle().spawn(async move {
        let r = fut.await;
        if let Err(r) = tx.send(r) {
            if let Some(u) = take_undo() {
                u(r).await;
            }
        }
    });
    await_detached(&call, rx, on_cancel, |r| {
        if let Some(u) = undo.lock().unwrap().take() {
            crate::runtime::handle().spawn(u(r));
        }
    })
}

/// Waits for a detached step's result on `rx`, or for the end of `call`: then
/// `on_cancel` runs, and a result that came meanwhile is ours to `abandon` (otherwise
/// the step abandons it itself when it finds nobody listening).
fn await_detached<T>(call: &Call, mut rx: oneshot::Receiver<Result<T>>, on_cancel: impl FnOnce(), abandon: impl FnOnce(Result<T>)) -> Result<T> {
    crate::runtime::block_on(async {
        tokio::select! {
            biased;
            r = &mut rx => r.unwrap_or_else(|_| Err(Error::internal("a detached step ended without a result"))),
            e = call.done() => {
                on_cancel();
                rx.close();
                if let Ok(r) = rx.try_recv() {
                    abandon(r);
                }
                Err(e)
            }
        }
    })
}

/// Like [`detach`], for a step that runs blocking on a thread of its own (`f`); `undo`
/// gets an abandoned result on that thread.
pub(crate) fn detach_thread<T, F, U>(f: F, on_cancel: impl FnOnce(), undo: U) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T> + Send + 'static,
    U: FnOnce(Result<T>) + Send + 'static,
{
    let Some(call) = current() else {
        return f();
    };
    call.check()?;
    let (tx, rx) = oneshot::channel();
    let undo = Arc::new(Mutex::new(Some(undo)));
    let take_undo = undo.clone();
    std::thread::Builder::new()
        .name("libcontainerd-call".into())
        .spawn(move || {
            if let Err(r) = tx.send(f()) {
                if let Some(u) = take_undo.lock().unwrap().take() {
                    u(r);
                }
            }
        })
        .map_err(|e| Error::io("start a thread", e))?;
    await_detached(&call, rx, on_cancel, |r| {
        if let Some(u) = undo.lock().unwrap().take() {
            std::thread::spawn(move || u(r));
        }
    })
}

/// Waits in slices for `ready` (checked under the caller's own locking), up to `wait`,
/// giving up when the current call ends; returns whether `ready` became true.
pub(crate) fn wait_sliced(wait: Duration, mut ready: impl FnMut(Duration) -> bool) -> Result<bool> {
    let call = current();
    let until = Instant::now() + wait;
    loop {
        if let Some(c) = &call {
            c.check()?;
        }
        let left = until.saturating_duration_since(Instant::now());
        let slice = if call.is_some() { left.min(Duration::from_millis(10)) } else { left };
        if ready(slice) {
            return Ok(true);
        }
        if Instant::now() >= until {
            return Ok(false);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cancel_wins_over_a_later_deadline() {
        let c = Call::new();
        assert!(c.check().is_ok());
        c.set_timeout(Some(Duration::from_millis(20)));
        c.cancel();
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(c.check().unwrap_err().code(), Code::Cancelled);
        c.cancel();
        assert_eq!(c.check().unwrap_err().code(), Code::Cancelled);
    }

    #[test]
    fn a_deadline_that_passed_before_the_cancel_wins() {
        let c = Call::new();
        c.set_timeout(Some(Duration::from_millis(1)));
        std::thread::sleep(Duration::from_millis(5));
        c.cancel();
        assert_eq!(c.check().unwrap_err().code(), Code::DeadlineExceeded);
        let c = Call::new();
        c.set_timeout(Some(Duration::ZERO));
        assert!(c.check().is_ok(), "zero is no deadline");
    }

    #[test]
    fn wait_gives_up_when_the_call_ends() {
        let c = Call::new();
        let c2 = c.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            c2.cancel();
        });
        let start = Instant::now();
        let r: Result<()> = c.run(|| wait(std::future::pending()));
        assert_eq!(r.unwrap_err().code(), Code::Cancelled);
        assert!(start.elapsed() < Duration::from_secs(2));
        t.join().unwrap();
        // Outside a scope nothing is cancelled.
        assert_eq!(wait(async { Ok(5) }).unwrap(), 5);
        let c = Call::new();
        c.set_timeout(Some(Duration::from_millis(20)));
        let r: Result<()> = c.run(|| wait(std::future::pending()));
        assert_eq!(r.unwrap_err().code(), Code::DeadlineExceeded);
    }

    #[test]
    fn a_detached_step_is_undone_after_a_cancel() {
        let c = Call::new();
        c.set_timeout(Some(Duration::from_millis(20)));
        let (tx, rx) = std::sync::mpsc::channel();
        let mut cancelled = false;
        let r: Result<u32> = c.run(|| {
            detach(
                async {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    Ok(7)
                },
                || cancelled = true,
                move |r| async move { tx.send(r.unwrap()).unwrap() },
            )
        });
        assert_eq!(r.unwrap_err().code(), Code::DeadlineExceeded);
        assert!(cancelled);
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)).unwrap(), 7);
    }
}
