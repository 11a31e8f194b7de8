//! `lcd_call`: a deadline and a cancellation for the blocking calls that take one.

use super::util::guard_value;
use crate::call::Call;
use crate::error::Result;

/// A deadline and a cancellation, shared by any number of calls (like a Go context).
/// Opaque; made by `lcd_call_new`, released by `lcd_call_free`.
///
/// Every export that can block takes a trailing `const lcd_call *call`: NULL means no
/// deadline and not cancellable (the behaviour of ABI 1). A call given an `lcd_call`
/// that is already cancelled or past its deadline fails at once, before it does
/// anything; one under way returns within 100 ms of `lcd_call_cancel` or of the
/// deadline, whatever containerd is doing (down, hung, restarting), with
/// `LCD_CANCELLED` or `LCD_DEADLINE_EXCEEDED` — whichever came first: a cancel wins
/// over a deadline that passed after it. What is then done or undone is stated by
/// each export. The time a call spends in the caller's own callback
/// (`attach_streams`) is not cut short: the call ends when it returns.
pub struct lcd_call {
    call: Call,
}

/// A new call with no deadline, not cancelled. The caller owns it and frees it with
/// `lcd_call_free`. NULL only if memory cannot be allocated. Thread-safe.
#[no_mangle]
pub extern "C" fn lcd_call_new() -> *mut lcd_call {
    guard_value(std::ptr::null_mut(), || Box::into_raw(Box::new(lcd_call { call: Call::new() })))
}

/// Sets the deadline of `c` to now + `ms` milliseconds (0: no deadline). Calls already
/// under way with `c` see the new deadline too. NULL is a no-op. Any thread.
#[no_mangle]
pub unsafe extern "C" fn lcd_call_set_timeout_ms(c: *mut lcd_call, ms: u64) {
    // SAFETY: NULL or a live handle from lcd_call_new.
    if let Some(c) = unsafe { c.as_ref() } {
        guard_value((), || c.call.set_timeout((ms > 0).then(|| std::time::Duration::from_millis(ms))));
    }
}

/// Cancels every call using `c`, under way or to come: they return `LCD_CANCELLED`
/// within 100 ms. Idempotent; from any thread (not from a signal handler). NULL is a
/// no-op.
#[no_mangle]
pub unsafe extern "C" fn lcd_call_cancel(c: *mut lcd_call) {
    // SAFETY: NULL or a live handle from lcd_call_new.
    if let Some(c) = unsafe { c.as_ref() } {
        guard_value((), || c.call.cancel());
    }
}

/// Frees `c`. Only once every call using it has returned; `c` is invalid afterwards.
/// NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn lcd_call_free(c: *mut lcd_call) {
    if c.is_null() {
        return;
    }
    // SAFETY: a handle from lcd_call_new, freed once.
    guard_value((), || drop(unsafe { Box::from_raw(c) }))
}

/// Runs the body of a blocking export under `call` (NULL: none): it fails at once if
/// the call is cancelled or past its deadline, and each blocking step gives up when
/// it is.
///
/// # Safety
/// `call` is NULL or a live handle from `lcd_call_new`.
pub(crate) unsafe fn with_call<T>(call: *const lcd_call, f: impl FnOnce() -> Result<T>) -> Result<T> {
    // SAFETY: per the contract.
    match unsafe { call.as_ref() } {
        Some(c) => c.call.run(f),
        None => crate::call::scope(None, f),
    }
}
