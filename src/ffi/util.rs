//! Plumbing every export goes through: the panic boundary, NULL checks, borrowed C
//! strings in, library-owned strings out, out-parameters.

use std::ffi::{c_char, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr::NonNull;

use super::error::lcd_error;
use crate::error::{panic_message, Error, Result};

/// Runs the body of a fallible export: `Ok` becomes NULL, an error becomes a new
/// `lcd_error`, and a panic is caught and becomes an `LCD_INTERNAL` error, so that no
/// unwinding ever crosses the C boundary.
pub fn guard<F>(f: F) -> *mut lcd_error
where
    F: FnOnce() -> Result<()>,
{
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => super::error::ok(),
        Ok(Err(e)) => lcd_error::into_raw(e),
        Err(payload) => {
            lcd_error::into_raw(Error::internal(format!("panic in libcontainerd: {}", panic_message(payload))))
        }
    }
}

/// Runs the body of an infallible export, returning `default` if it panics.
pub fn guard_value<T, F>(default: T, f: F) -> T
where
    F: FnOnce() -> T,
{
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(v) => v,
        Err(payload) => {
            // Dropping a payload can itself panic; keep that inside too.
            let _ = catch_unwind(AssertUnwindSafe(move || drop(payload)));
            default
        }
    }
}

/// INVALID_ARGUMENT for a NULL `name`.
pub fn null_arg(name: &str) -> Error {
    Error::invalid(format!("{name} is NULL"))
}

/// Checks that a pointer argument is not NULL, without dereferencing it.
pub fn non_null<T>(p: *const T, name: &str) -> Result<NonNull<T>> {
    NonNull::new(p.cast_mut()).ok_or_else(|| null_arg(name))
}

/// Checks that an out-parameter is not NULL; write it with [`write_out`] once the call
/// has succeeded.
pub fn out_param<T>(p: *mut T, name: &str) -> Result<NonNull<T>> {
    NonNull::new(p).ok_or_else(|| null_arg(name))
}

/// Writes an out-parameter checked with [`out_param`].
///
/// # Safety
/// `out` points to writable memory for a `T` (the caller's contract for out-parameters).
pub unsafe fn write_out<T>(out: NonNull<T>, value: T) {
    // SAFETY: see above; the previous value is a plain pointer slot and is not dropped.
    unsafe { out.as_ptr().write(value) }
}

/// Borrows a required NUL-terminated UTF-8 string argument.
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string that outlives `'a`.
pub unsafe fn c_str<'a>(p: *const c_char, name: &str) -> Result<&'a str> {
    if p.is_null() {
        return Err(null_arg(name));
    }
    // SAFETY: non-NULL and NUL-terminated per the contract.
    let s = unsafe { CStr::from_ptr(p) };
    s.to_str().map_err(|e| Error::invalid(format!("{name} is not valid UTF-8 ({e})")))
}

/// Borrows an optional string argument: NULL is `None`.
///
/// # Safety
/// As for [`c_str`].
pub unsafe fn opt_c_str<'a>(p: *const c_char, name: &str) -> Result<Option<&'a str>> {
    if p.is_null() {
        Ok(None)
    } else {
        // SAFETY: forwarded contract.
        unsafe { c_str(p, name) }.map(Some)
    }
}

/// An optional string argument where bad UTF-8 is replaced rather than refused (for
/// messages).
///
/// # Safety
/// As for [`c_str`].
pub unsafe fn opt_c_str_lossy(p: *const c_char) -> Option<String> {
    if p.is_null() {
        return None;
    }
    // SAFETY: non-NULL and NUL-terminated per the contract.
    Some(unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
}

/// A library-owned C string for an out-parameter, freed with `lcd_string_free`.
pub fn out_string(s: String) -> Result<*mut c_char> {
    CString::new(s)
        .map(CString::into_raw)
        .map_err(|e| Error::internal(format!("output contains a NUL byte at {}", e.nul_position())))
}

/// Serializes `value` as JSON into a library-owned C string.
pub fn out_json<T: serde::Serialize>(value: &T) -> Result<*mut c_char> {
    let s = serde_json::to_string(value).map_err(|e| Error::internal(format!("encode JSON: {e}")))?;
    out_string(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ffi::error::{lcd_code, lcd_error_code, lcd_error_free, lcd_error_message};

    fn take(e: *mut lcd_error) -> (lcd_code, String) {
        unsafe {
            let code = lcd_error_code(e);
            let msg = CStr::from_ptr(lcd_error_message(e)).to_str().unwrap().to_string();
            lcd_error_free(e);
            (code, msg)
        }
    }

    #[test]
    fn ok_is_null_and_errors_keep_their_code() {
        assert!(guard(|| Ok(())).is_null());
        let (code, msg) = take(guard(|| Err(Error::not_found("no such container \"web\""))));
        assert_eq!(code, lcd_code::LCD_NOT_FOUND);
        assert_eq!(msg, "no such container \"web\"");
    }

    #[test]
    fn a_caught_panic_is_internal() {
        let (code, msg) = take(guard(|| panic!("boom {}", 42)));
        assert_eq!(code, lcd_code::LCD_INTERNAL);
        assert!(msg.contains("boom 42"), "{msg}");
        let (code, msg) = take(guard(|| std::panic::panic_any(7_u8)));
        assert_eq!(code, lcd_code::LCD_INTERNAL);
        assert!(msg.contains("panic"), "{msg}");
        assert_eq!(guard_value(5, || -> i32 { panic!("x") }), 5);
    }

    #[test]
    fn strings_in() {
        unsafe {
            assert_eq!(c_str(c"abc".as_ptr(), "id").unwrap(), "abc");
            let e = c_str(std::ptr::null(), "id").unwrap_err();
            assert_eq!(e.code(), crate::Code::InvalidArgument);
            assert_eq!(e.message(), "id is NULL");
            let bad = b"a\xffb\0";
            let e = c_str(bad.as_ptr().cast(), "spec_json").unwrap_err();
            assert!(e.message().starts_with("spec_json is not valid UTF-8"), "{e}");
            assert_eq!(opt_c_str(std::ptr::null(), "x").unwrap(), None);
            assert_eq!(opt_c_str_lossy(bad.as_ptr().cast()).unwrap(), "a\u{fffd}b");
        }
    }

    #[test]
    fn strings_out() {
        let p = out_json(&vec![1u32, 2]).unwrap();
        assert_eq!(unsafe { CStr::from_ptr(p) }.to_str().unwrap(), "[1,2]");
        unsafe { crate::ffi::error::lcd_string_free(p) };
        assert!(out_string("a\0b".into()).is_err());
    }
}
