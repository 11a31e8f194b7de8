//! `lcd_error`, `lcd_code`, library-owned strings and the version calls.

use std::ffi::{c_char, CStr, CString};
use std::ptr;

use super::util::{guard_value, opt_c_str_lossy};
use crate::error::{Code, Error};

/// Stable error classes. The numeric values are part of the ABI and never reused.
///
/// Functions that take a code from the caller (`lcd_error_new`, `lcd_code_name`)
/// take an `int32_t` so that an out-of-range value is an error, not undefined
/// behaviour.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum lcd_code {
    /// Success. `lcd_error_code(NULL)` returns it.
    LCD_OK = 0,
    /// The caller passed something malformed: a bad id, bad JSON, an unknown key, NULL.
    LCD_INVALID_ARGUMENT = 1,
    /// The container, process or file named does not exist.
    LCD_NOT_FOUND = 2,
    /// The id is already in use.
    LCD_ALREADY_EXISTS = 3,
    /// The object is not in a state that allows the call (e.g. not running).
    LCD_FAILED_PRECONDITION = 4,
    /// containerd cannot be reached.
    LCD_UNAVAILABLE = 5,
    /// A deadline passed before the call completed.
    LCD_DEADLINE_EXCEEDED = 6,
    /// The call was cancelled.
    LCD_CANCELLED = 7,
    /// An operating-system I/O error.
    LCD_IO = 8,
    /// A bug or an unexpected condition; a panic caught at the boundary is reported as this.
    LCD_INTERNAL = 9,
    /// The operation is not supported here.
    LCD_UNSUPPORTED = 10,
    /// Credentials were refused (e.g. by an image registry).
    LCD_PERMISSION_DENIED = 11,
}

impl From<Code> for lcd_code {
    fn from(c: Code) -> Self {
        match c {
            Code::Ok => lcd_code::LCD_OK,
            Code::InvalidArgument => lcd_code::LCD_INVALID_ARGUMENT,
            Code::NotFound => lcd_code::LCD_NOT_FOUND,
            Code::AlreadyExists => lcd_code::LCD_ALREADY_EXISTS,
            Code::FailedPrecondition => lcd_code::LCD_FAILED_PRECONDITION,
            Code::Unavailable => lcd_code::LCD_UNAVAILABLE,
            Code::DeadlineExceeded => lcd_code::LCD_DEADLINE_EXCEEDED,
            Code::Cancelled => lcd_code::LCD_CANCELLED,
            Code::Io => lcd_code::LCD_IO,
            Code::Internal => lcd_code::LCD_INTERNAL,
            Code::Unsupported => lcd_code::LCD_UNSUPPORTED,
            Code::PermissionDenied => lcd_code::LCD_PERMISSION_DENIED,
        }
    }
}

impl From<lcd_code> for Code {
    fn from(c: lcd_code) -> Self {
        match c {
            lcd_code::LCD_OK => Code::Ok,
            lcd_code::LCD_INVALID_ARGUMENT => Code::InvalidArgument,
            lcd_code::LCD_NOT_FOUND => Code::NotFound,
            lcd_code::LCD_ALREADY_EXISTS => Code::AlreadyExists,
            lcd_code::LCD_FAILED_PRECONDITION => Code::FailedPrecondition,
            lcd_code::LCD_UNAVAILABLE => Code::Unavailable,
            lcd_code::LCD_DEADLINE_EXCEEDED => Code::DeadlineExceeded,
            lcd_code::LCD_CANCELLED => Code::Cancelled,
            lcd_code::LCD_IO => Code::Io,
            lcd_code::LCD_INTERNAL => Code::Internal,
            lcd_code::LCD_UNSUPPORTED => Code::Unsupported,
            lcd_code::LCD_PERMISSION_DENIED => Code::PermissionDenied,
        }
    }
}

/// Every code, in value order.
const ALL_CODES: [lcd_code; 12] = [
    lcd_code::LCD_OK,
    lcd_code::LCD_INVALID_ARGUMENT,
    lcd_code::LCD_NOT_FOUND,
    lcd_code::LCD_ALREADY_EXISTS,
    lcd_code::LCD_FAILED_PRECONDITION,
    lcd_code::LCD_UNAVAILABLE,
    lcd_code::LCD_DEADLINE_EXCEEDED,
    lcd_code::LCD_CANCELLED,
    lcd_code::LCD_IO,
    lcd_code::LCD_INTERNAL,
    lcd_code::LCD_UNSUPPORTED,
    lcd_code::LCD_PERMISSION_DENIED,
];

impl lcd_code {
    /// The code with this numeric value, if there is one.
    pub fn from_i32(v: i32) -> Option<lcd_code> {
        usize::try_from(v).ok().and_then(|i| ALL_CODES.get(i)).copied()
    }

    fn name_c_str(self) -> &'static CStr {
        match self {
            lcd_code::LCD_OK => c"OK",
            lcd_code::LCD_INVALID_ARGUMENT => c"INVALID_ARGUMENT",
            lcd_code::LCD_NOT_FOUND => c"NOT_FOUND",
            lcd_code::LCD_ALREADY_EXISTS => c"ALREADY_EXISTS",
            lcd_code::LCD_FAILED_PRECONDITION => c"FAILED_PRECONDITION",
            lcd_code::LCD_UNAVAILABLE => c"UNAVAILABLE",
            lcd_code::LCD_DEADLINE_EXCEEDED => c"DEADLINE_EXCEEDED",
            lcd_code::LCD_CANCELLED => c"CANCELLED",
            lcd_code::LCD_IO => c"IO",
            lcd_code::LCD_INTERNAL => c"INTERNAL",
            lcd_code::LCD_UNSUPPORTED => c"UNSUPPORTED",
            lcd_code::LCD_PERMISSION_DENIED => c"PERMISSION_DENIED",
        }
    }
}

/// An error: a stable code and a message. Opaque in C; returned by every fallible
/// function (NULL meaning success) and freed with `lcd_error_free`.
pub struct lcd_error {
    code: lcd_code,
    message: CString,
}

impl lcd_error {
    /// Boxes `err` for C; the caller of the export owns the result.
    pub(crate) fn into_raw(err: Error) -> *mut lcd_error {
        let code = match lcd_code::from(err.code()) {
            // An error must not claim success: lcd_error_code() of a non-NULL error is never OK.
            lcd_code::LCD_OK => lcd_code::LCD_INTERNAL,
            c => c,
        };
        Box::into_raw(Box::new(lcd_error { code, message: c_string_lossy(err.message()) }))
    }

    /// Takes back an error a callback returned (made by `lcd_error_new` or returned by
    /// another call of this library), freeing it. NULL is success.
    ///
    /// # Safety
    /// `p` is NULL or a pointer obtained from this library that has not been freed.
    pub(crate) unsafe fn take(p: *mut lcd_error) -> Option<Error> {
        if p.is_null() {
            return None;
        }
        // SAFETY: per the contract, `p` came from Box::into_raw in `into_raw`.
        let e = unsafe { Box::from_raw(p) };
        Some(Error::new(e.code.into(), e.message.to_string_lossy().into_owned()))
    }
}

/// A CString of `s`, with interior NULs spelled out so that nothing is cut off.
pub(crate) fn c_string_lossy(s: &str) -> CString {
    CString::new(s).unwrap_or_else(|_| CString::new(s.replace('\0', "\\0")).unwrap_or_default())
}

/// Makes an error, for a callback to return: the library takes ownership of an error a
/// callback returns and frees it. Otherwise free it with `lcd_error_free`.
///
/// `code` is one of the `lcd_code` values other than `LCD_OK`; `LCD_OK` or an unknown
/// value gives an `LCD_INTERNAL` error saying so. `message` is copied; NULL means an
/// empty message and invalid UTF-8 is replaced. Never returns NULL. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn lcd_error_new(code: i32, message: *const c_char) -> *mut lcd_error {
    // SAFETY: `message` is NULL or a NUL-terminated string (the caller's contract).
    let made = guard_value(None, || {
        let msg = unsafe { opt_c_str_lossy(message) }.unwrap_or_default();
        Some(match lcd_code::from_i32(code) {
            Some(c) if c != lcd_code::LCD_OK => {
                Box::into_raw(Box::new(lcd_error { code: c, message: c_string_lossy(&msg) }))
            }
            _ => lcd_error::into_raw(Error::internal(format!("lcd_error_new: invalid error code {code}: {msg}"))),
        })
    });
    made.unwrap_or_else(|| lcd_error::into_raw(Error::internal("lcd_error_new failed")))
}

/// The error's code; `LCD_OK` for NULL (so that `lcd_error_code(f(...))` can be tested
/// directly). Borrows `e`. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn lcd_error_code(e: *const lcd_error) -> lcd_code {
    // SAFETY: `e` is NULL or a live error of this library.
    guard_value(lcd_code::LCD_INTERNAL, || unsafe { e.as_ref() }.map_or(lcd_code::LCD_OK, |e| e.code))
}

/// The error's message, NUL-terminated UTF-8, owned by the error: valid until
/// `lcd_error_free(e)`; do not free it. For NULL, a static empty string.
/// Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn lcd_error_message(e: *const lcd_error) -> *const c_char {
    // SAFETY: `e` is NULL or a live error of this library.
    guard_value(c"".as_ptr(), || unsafe { e.as_ref() }.map_or(c"".as_ptr(), |e| e.message.as_ptr()))
}

/// Frees an error returned by this library or made with `lcd_error_new`. NULL is a
/// no-op. Must be called exactly once per error (not for one returned from a callback:
/// the library owns those). May be called from any thread.
#[no_mangle]
pub unsafe extern "C" fn lcd_error_free(e: *mut lcd_error) {
    // SAFETY: `e` is NULL or a live error of this library, not used afterwards.
    guard_value((), || drop(unsafe { lcd_error::take(e) }))
}

/// The upper-case name of a code, e.g. `"NOT_FOUND"`, as a static NUL-terminated
/// string (never freed); `"UNKNOWN"` for a value that is no `lcd_code`. Thread-safe.
#[no_mangle]
pub extern "C" fn lcd_code_name(code: i32) -> *const c_char {
    lcd_code::from_i32(code).map_or(c"UNKNOWN", lcd_code::name_c_str).as_ptr()
}

/// Frees a string the library returned (the JSON of `lcd_client_stats`,
/// `lcd_client_get_pids`, `lcd_client_summary`, `lcd_client_list`). NULL is a no-op.
/// Never pass it anything else (not `lcd_error_message`, not `lcd_version`), and do
/// not write into the string before freeing it (copy it to tokenize it). May be called
/// from any thread.
#[no_mangle]
pub unsafe extern "C" fn lcd_string_free(s: *mut c_char) {
    if s.is_null() {
        return;
    }
    // SAFETY: `s` came from CString::into_raw in `util::out_string`.
    guard_value((), || drop(unsafe { CString::from_raw(s) }))
}

static VERSION_C: &str = concat!(env!("CARGO_PKG_VERSION"), "\0");

/// The library version (e.g. `"0.1.0"`): a static NUL-terminated string, never freed.
/// Thread-safe.
#[no_mangle]
pub extern "C" fn lcd_version() -> *const c_char {
    VERSION_C.as_ptr().cast()
}

/// The C ABI version of the loaded library; compare it with `LCD_ABI_VERSION`.
/// Thread-safe.
#[no_mangle]
pub extern "C" fn lcd_abi_version() -> u32 {
    crate::ABI_VERSION
}

/// `ptr::null_mut()` typed as an error: success.
pub(crate) fn ok() -> *mut lcd_error {
    ptr::null_mut()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_keep_their_values() {
        for (i, c) in ALL_CODES.iter().enumerate() {
            assert_eq!(*c as i32, i as i32);
            assert_eq!(lcd_code::from_i32(i as i32), Some(*c));
            let core: Code = (*c).into();
            assert_eq!(core as i32, *c as i32);
            assert_eq!(lcd_code::from(core), *c);
            assert_eq!(c.name_c_str().to_str().unwrap(), core.name());
        }
        assert_eq!(lcd_code::from_i32(12), None);
        assert_eq!(lcd_code::from_i32(-1), None);
    }

    #[test]
    fn version_is_the_crate_version() {
        let v = unsafe { CStr::from_ptr(lcd_version()) };
        assert_eq!(v.to_str().unwrap(), crate::VERSION);
    }

    #[test]
    fn interior_nul_is_kept_visible() {
        assert_eq!(c_string_lossy("a\0b").to_str().unwrap(), "a\\0b");
    }

    #[test]
    fn taken_error_keeps_code_and_message() {
        let p = lcd_error::into_raw(Error::new(Code::NotFound, "no such container \"x\""));
        let e = unsafe { lcd_error::take(p) }.unwrap();
        assert_eq!(e.code(), Code::NotFound);
        assert_eq!(e.message(), "no such container \"x\"");
        assert!(unsafe { lcd_error::take(ptr::null_mut()) }.is_none());
    }
}
