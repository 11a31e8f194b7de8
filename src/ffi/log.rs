//! `lcd_log_set_callback`: the library's log records, forwarded to a host callback.

use std::ffi::{c_char, c_void, CString};
use std::sync::Arc;

use super::error::{c_string_lossy, lcd_error};
use super::util::guard;
use crate::error::Error;
use crate::logging::{self, Sink};

/// `max_level` of `lcd_log_set_callback`: forward nothing.
pub const LCD_LOG_OFF: i32 = 0;
/// Log level: an error the library could not handle (e.g. relaunching containerd failed).
pub const LCD_LOG_ERROR: i32 = 1;
/// Log level: something went wrong and was handled (e.g. containerd died and was relaunched).
pub const LCD_LOG_WARN: i32 = 2;
/// Log level: a notable event (e.g. containerd is ready).
pub const LCD_LOG_INFO: i32 = 3;
/// Log level: lifecycle details (e.g. a stale exit dropped, a resume after a signal).
pub const LCD_LOG_DEBUG: i32 = 4;
/// Log level: the finest detail.
pub const LCD_LOG_TRACE: i32 = 5;

/// Receives one log record: `level` is one of `LCD_LOG_ERROR` (1) … `LCD_LOG_TRACE`
/// (5); `target` names the part of the library that logged (e.g.
/// `"containerd::remote::supervisor"`); `message` is the text. Both strings are
/// borrowed for the duration of the call.
pub type lcd_log_fn =
    Option<unsafe extern "C" fn(user_data: *mut c_void, level: i32, target: *const c_char, message: *const c_char)>;

/// The host's callback and its `user_data`, callable from the log thread.
struct HostCallback {
    cb: unsafe extern "C" fn(*mut c_void, i32, *const c_char, *const c_char),
    user_data: *mut c_void,
}

// SAFETY: the contract of lcd_log_set_callback: the callback may be called from a
// library thread with this user_data until it is replaced.
unsafe impl Send for HostCallback {}
// SAFETY: as above; the library calls it from one thread at a time.
unsafe impl Sync for HostCallback {}

impl HostCallback {
    fn call(&self, level: log::Level, target: &str, message: &str) {
        let target = c_string_lossy(target);
        let message = c_string_lossy(message);
        call_host(self, logging::level_number(level), &target, &message);
    }
}

fn call_host(h: &HostCallback, level: i32, target: &CString, message: &CString) {
    // SAFETY: the host's function with its own user_data; the strings outlive the call.
    unsafe { (h.cb)(h.user_data, level, target.as_ptr(), message.as_ptr()) }
}

/// Forwards the library's log records, up to `max_level`, to `cb`; a NULL `cb` or
/// `max_level` `LCD_LOG_OFF` (0) turns forwarding off, which is the default.
/// Process-wide: the library's logger is global, and the last call wins.
///
/// `max_level` is `LCD_LOG_OFF` (0), `LCD_LOG_ERROR` (1), `LCD_LOG_WARN` (2),
/// `LCD_LOG_INFO` (3), `LCD_LOG_DEBUG` (4) or `LCD_LOG_TRACE` (5); anything else is
/// `LCD_INVALID_ARGUMENT` and changes nothing.
///
/// Threads: `cb` runs on one thread the library owns (`lcd-log`), one record at a
/// time, in the order the records were logged, never while the library holds a lock
/// that an API call needs: it may call any `lcd_` function, including this one. The
/// library never waits for it: records wait in a queue of 4096; when the queue is full
/// new records are dropped, and the next record delivered is preceded by an
/// `LCD_LOG_WARN` record saying how many were lost. A slow callback therefore delays
/// only later log records, never a call or an event.
///
/// Ownership: `user_data` is passed to `cb` unchanged and never freed by the library.
/// When this function returns, the previous callback is not running and will not be
/// called again, so its `user_data` may be freed; called from inside the callback, it
/// returns at once and the previous callback is not called again once the current
/// call returns.
///
/// `LCD_FAILED_PRECONDITION` if the process already has another logger for the Rust
/// `log` crate (a Rust host that installed its own). Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn lcd_log_set_callback(max_level: i32, cb: lcd_log_fn, user_data: *mut c_void) -> *mut lcd_error {
    guard(|| {
        let level = logging::level_filter(max_level).ok_or_else(|| {
            Error::invalid(format!(
                "max_level {max_level} is not a log level (0 off, 1 error, 2 warn, 3 info, 4 debug, 5 trace)"
            ))
        })?;
        let sink = cb.map(|cb| {
            let host = HostCallback { cb, user_data };
            Arc::new(move |l: log::Level, t: &str, m: &str| host.call(l, t, m)) as Sink
        });
        logging::set_sink(level, sink)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ffi::error::{lcd_code, lcd_error_code, lcd_error_free};

    #[test]
    fn an_unknown_level_is_invalid() {
        for level in [-1, 6, i32::MAX] {
            // SAFETY: NULL callback and user_data.
            let e: *mut lcd_error = unsafe { lcd_log_set_callback(level, None, std::ptr::null_mut()) };
            // SAFETY: e is an error of this library.
            unsafe {
                assert_eq!(lcd_error_code(e), lcd_code::LCD_INVALID_ARGUMENT);
                lcd_error_free(e);
            }
        }
    }
}
