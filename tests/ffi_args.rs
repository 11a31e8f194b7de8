//! The C ABI's argument checking, through the `extern "C"` functions themselves. No
//! containerd is needed: every call here fails (or succeeds) before anything would
//! reach it.
//!
//! Every export checks all its arguments before it uses a handle, so the client and
//! remote handles below are dangling pointers that are never dereferenced: a call
//! with a bad argument must not touch them.

use std::ffi::{c_char, c_void, CStr, CString};
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicU32, Ordering};

use containerd::ffi::client::*;
use containerd::ffi::error::*;
use containerd::ffi::remote::*;
use containerd::ffi::{lcd_backend, lcd_client, lcd_code, lcd_error, lcd_remote, LCD_ABI_VERSION};

/// Takes an error apart and frees it.
fn take(e: *mut lcd_error) -> (lcd_code, String) {
    unsafe {
        let code = lcd_error_code(e);
        let msg = CStr::from_ptr(lcd_error_message(e)).to_str().unwrap().to_string();
        lcd_error_free(e);
        (code, msg)
    }
}

/// Asserts INVALID_ARGUMENT with a message that contains `needle`.
#[track_caller]
fn invalid(e: *mut lcd_error, needle: &str) {
    assert!(!e.is_null(), "expected INVALID_ARGUMENT naming {needle:?}, got success");
    let (code, msg) = take(e);
    assert_eq!(code, lcd_code::LCD_INVALID_ARGUMENT, "{msg}");
    assert!(msg.contains(needle), "message {msg:?} does not name {needle:?}");
}

/// A handle that must never be dereferenced.
fn fake_client() -> *mut lcd_client {
    NonNull::dangling().as_ptr()
}

fn fake_remote() -> *mut lcd_remote {
    NonNull::dangling().as_ptr()
}

/// A recognisable value for out-parameters that must stay untouched.
fn sentinel<T>() -> *mut T {
    0x5e47_1000 as *mut T
}

fn cs(s: &str) -> CString {
    CString::new(s).unwrap()
}

const BAD_UTF8: &[u8] = b"we\xffb\0";

fn bad_utf8() -> *const c_char {
    BAD_UTF8.as_ptr().cast()
}

/// Container ids that must be refused, with a word the message must contain.
fn bad_ids() -> Vec<(String, &'static str)> {
    vec![
        ("../x".into(), "../x"),
        ("a/b".into(), "a/b"),
        ("".into(), "empty"),
        ("a".repeat(65), "65"),
        (".hidden".into(), ".hidden"),
        ("a b".into(), "a b"),
    ]
}

fn spec_json(root: &str) -> CString {
    cs(&format!(
        r#"{{"ociVersion": "1.0.2", "process": {{"args": ["true"], "cwd": "/", "user": {{"uid": 0, "gid": 0}}}}, "root": {{"path": "{root}"}}}}"#
    ))
}

#[test]
fn errors_and_versions() {
    unsafe {
        assert_eq!(lcd_error_code(ptr::null()), lcd_code::LCD_OK);
        assert_eq!(CStr::from_ptr(lcd_error_message(ptr::null())).to_bytes(), b"");
        lcd_error_free(ptr::null_mut());
        lcd_string_free(ptr::null_mut());
        lcd_remote_free(ptr::null_mut());
        lcd_client_free(ptr::null_mut());

        let e = lcd_error_new(lcd_code::LCD_NOT_FOUND as i32, c"no such thing".as_ptr());
        assert_eq!(take(e), (lcd_code::LCD_NOT_FOUND, "no such thing".to_string()));
        let e = lcd_error_new(lcd_code::LCD_IO as i32, ptr::null());
        assert_eq!(take(e), (lcd_code::LCD_IO, String::new()));
        let e = lcd_error_new(lcd_code::LCD_IO as i32, bad_utf8());
        assert_eq!(take(e), (lcd_code::LCD_IO, "we\u{fffd}b".to_string()));
        // An error never claims success, and an unknown code is not undefined behaviour.
        for code in [0, 12, -1, 1000] {
            let (c, msg) = take(lcd_error_new(code, c"oops".as_ptr()));
            assert_eq!(c, lcd_code::LCD_INTERNAL);
            assert!(msg.contains(&code.to_string()) && msg.contains("oops"), "{msg}");
        }

        let name = |c: i32| CStr::from_ptr(lcd_code_name(c)).to_str().unwrap();
        assert_eq!(name(0), "OK");
        assert_eq!(name(1), "INVALID_ARGUMENT");
        assert_eq!(name(9), "INTERNAL");
        assert_eq!(name(10), "UNSUPPORTED");
        assert_eq!(name(11), "PERMISSION_DENIED");
        assert_eq!(name(12), "UNKNOWN");
        assert_eq!(name(-3), "UNKNOWN");

        assert_eq!(CStr::from_ptr(lcd_version()).to_str().unwrap(), containerd::VERSION);
        assert_eq!(lcd_abi_version(), LCD_ABI_VERSION);
        assert_eq!(lcd_abi_version(), containerd::ABI_VERSION);
    }
}

#[test]
fn remote_new_rejects_bad_options_before_doing_anything() {
    unsafe {
        // NULL out: refused before the options are even looked at (valid ones here).
        invalid(lcd_remote_new(c"{}".as_ptr(), ptr::null_mut(), std::ptr::null()), "out");
        invalid(lcd_remote_new(ptr::null(), ptr::null_mut(), std::ptr::null()), "out");

        let cases: &[(&str, &str)] = &[
            (r#"{"start_deamon": true}"#, "start_deamon"),
            (r#"{"state_dir": "/tmp/x", "namespcae": "a"}"#, "namespcae"),
            ("{", "remote options"),
            ("", "remote options"),
            ("42", "remote options"),
            (r#"{"start_daemon": "yes"}"#, "expected a boolean"),
            (r#"{"oom_score": 5000}"#, "oom_score"),
            (r#"{"state_dir": "relative/dir"}"#, "state_dir"),
            (r#"{"remote_addr": ""}"#, "remote_addr"),
            (r#"{"namespace": "../x"}"#, "namespace"),
            (r#"{"runtime_path": ""}"#, "runtime_path"),
            (r#"{"start_daemon": false}"#, "remote_addr"),
        ];
        for (json, needle) in cases {
            let mut out = sentinel::<lcd_remote>();
            eprintln!("options: {json}");
            invalid(lcd_remote_new(cs(json).as_ptr(), &mut out, std::ptr::null()), needle);
            assert_eq!(out, sentinel(), "out written for {json}");
        }
        let mut out = sentinel::<lcd_remote>();
        invalid(lcd_remote_new(bad_utf8(), &mut out, std::ptr::null()), "options_json");
        assert_eq!(out, sentinel());
    }
}

#[test]
fn remote_update_options_and_cleanup_check_their_arguments() {
    unsafe {
        invalid(lcd_remote_update_options(ptr::null_mut(), c"{}".as_ptr()), "r (lcd_remote *)");
        invalid(lcd_remote_update_options(ptr::null_mut(), ptr::null()), "r (lcd_remote *)");
        invalid(lcd_remote_update_options(fake_remote(), c"{\"live_restor\": true}".as_ptr()), "live_restor");
        invalid(lcd_remote_update_options(fake_remote(), c"{".as_ptr()), "remote options");
        invalid(lcd_remote_update_options(fake_remote(), bad_utf8()), "options_json");
        invalid(lcd_remote_cleanup(ptr::null_mut(), std::ptr::null()), "r (lcd_remote *)");
    }
}

static FREED: AtomicU32 = AtomicU32::new(0);

unsafe extern "C" fn count_free(_: *mut c_void) {
    FREED.fetch_add(1, Ordering::SeqCst);
}

#[test]
fn remote_client_checks_its_arguments_and_keeps_user_data_on_failure() {
    let table = lcd_backend {
        struct_size: std::mem::size_of::<lcd_backend>() as u32,
        user_data: ptr::null_mut(),
        state_changed: None,
        attach_streams: None,
        user_data_free: Some(count_free),
    };
    unsafe {
        let mut out = sentinel::<lcd_client>();
        invalid(lcd_remote_client(ptr::null_mut(), &table, &mut out, std::ptr::null()), "r (lcd_remote *)");
        invalid(lcd_remote_client(fake_remote(), ptr::null(), &mut out, std::ptr::null()), "backend");
        invalid(lcd_remote_client(fake_remote(), &table, ptr::null_mut(), std::ptr::null()), "out");
        let zero = lcd_backend { struct_size: 0, ..table };
        invalid(lcd_remote_client(fake_remote(), &zero, &mut out, std::ptr::null()), "struct_size");
        assert_eq!(out, sentinel());
    }
    assert_eq!(FREED.load(Ordering::SeqCst), 0, "user_data_free called for a failed lcd_remote_client");
}

#[test]
fn client_calls_refuse_a_null_client() {
    let root = tempfile::tempdir().unwrap();
    let spec = spec_json(root.path().to_str().unwrap());
    let c = ptr::null_mut();
    let id = c"web".as_ptr();
    let pid = c"exec1".as_ptr();
    let what = "c (lcd_client *)";
    unsafe {
        let mut s = sentinel::<c_char>();
        invalid(lcd_client_create(c, id, spec.as_ptr(), ptr::null(), std::ptr::null()), what);
        invalid(lcd_client_signal(c, id, 15, std::ptr::null()), what);
        invalid(lcd_client_signal_process(c, id, pid, 15, std::ptr::null()), what);
        invalid(lcd_client_add_process(c, id, pid, c"{\"args\": [\"true\"]}".as_ptr(), std::ptr::null()), what);
        invalid(lcd_client_resize(c, id, pid, 80, 25, std::ptr::null()), what);
        invalid(lcd_client_pause(c, id, std::ptr::null()), what);
        invalid(lcd_client_resume(c, id, std::ptr::null()), what);
        invalid(lcd_client_restore(c, id, ptr::null(), std::ptr::null()), what);
        invalid(lcd_client_stats(c, id, &mut s, std::ptr::null()), what);
        invalid(lcd_client_get_pids(c, id, &mut s, std::ptr::null()), what);
        invalid(lcd_client_summary(c, id, &mut s, std::ptr::null()), what);
        invalid(lcd_client_update_resources(c, id, c"{}".as_ptr(), std::ptr::null()), what);
        invalid(lcd_client_stop(c, id, 0, 1000, std::ptr::null()), what);
        invalid(lcd_client_update_restart_policy(c, id, c"{\"name\": \"no\"}".as_ptr(), std::ptr::null()), what);
        invalid(lcd_client_list(c, &mut s, std::ptr::null()), what);
        assert_eq!(s, sentinel());
    }
}

#[test]
fn client_calls_refuse_null_arguments() {
    let root = tempfile::tempdir().unwrap();
    let spec = spec_json(root.path().to_str().unwrap());
    let c = fake_client();
    let id = c"web".as_ptr();
    let pid = c"exec1".as_ptr();
    let null = ptr::null();
    let process = c"{\"args\": [\"true\"]}".as_ptr();
    unsafe {
        invalid(lcd_client_create(c, null, spec.as_ptr(), null, std::ptr::null()), "id is NULL");
        invalid(lcd_client_create(c, id, null, null, std::ptr::null()), "spec_json is NULL");
        invalid(lcd_client_signal(c, null, 9, std::ptr::null()), "id is NULL");
        invalid(lcd_client_signal_process(c, null, pid, 9, std::ptr::null()), "id is NULL");
        invalid(lcd_client_signal_process(c, id, null, 9, std::ptr::null()), "process_id is NULL");
        invalid(lcd_client_add_process(c, null, pid, process, std::ptr::null()), "id is NULL");
        invalid(lcd_client_add_process(c, id, null, process, std::ptr::null()), "process_id is NULL");
        invalid(lcd_client_add_process(c, id, pid, null, std::ptr::null()), "process_json is NULL");
        invalid(lcd_client_resize(c, null, pid, 80, 25, std::ptr::null()), "id is NULL");
        invalid(lcd_client_resize(c, id, null, 80, 25, std::ptr::null()), "process_id is NULL");
        invalid(lcd_client_pause(c, null, std::ptr::null()), "id is NULL");
        invalid(lcd_client_resume(c, null, std::ptr::null()), "id is NULL");
        invalid(lcd_client_restore(c, null, null, std::ptr::null()), "id is NULL");
        invalid(lcd_client_update_resources(c, null, c"{}".as_ptr(), std::ptr::null()), "id is NULL");
        invalid(lcd_client_update_resources(c, id, null, std::ptr::null()), "resources_json is NULL");
        invalid(lcd_client_stop(c, null, 0, 1000, std::ptr::null()), "id is NULL");
        invalid(lcd_client_stop(c, id, 65, 1000, std::ptr::null()), "signal 65");
        invalid(lcd_client_stop(c, id, -1, 1000, std::ptr::null()), "signal -1");
        invalid(lcd_client_update_restart_policy(c, null, c"{\"name\": \"no\"}".as_ptr(), std::ptr::null()), "id is NULL");
        invalid(lcd_client_update_restart_policy(c, id, null, std::ptr::null()), "policy_json is NULL");
        invalid(lcd_client_update_restart_policy(c, id, c"{\"name\": \"no\", \"count\": 1}".as_ptr(), std::ptr::null()), "count");
        invalid(lcd_client_update_restart_policy(c, id, c"{\"name\": \"always\", \"maximum_retry_count\": 1}".as_ptr(), std::ptr::null()), "maximum_retry_count");

        let mut s = sentinel::<c_char>();
        invalid(lcd_client_stats(c, null, &mut s, std::ptr::null()), "id is NULL");
        invalid(lcd_client_get_pids(c, null, &mut s, std::ptr::null()), "id is NULL");
        invalid(lcd_client_summary(c, null, &mut s, std::ptr::null()), "id is NULL");
        assert_eq!(s, sentinel());
        invalid(lcd_client_stats(c, id, ptr::null_mut(), std::ptr::null()), "stats_json is NULL");
        invalid(lcd_client_get_pids(c, id, ptr::null_mut(), std::ptr::null()), "pids_json is NULL");
        invalid(lcd_client_summary(c, id, ptr::null_mut(), std::ptr::null()), "summary_json is NULL");
        invalid(lcd_client_list(c, ptr::null_mut(), std::ptr::null()), "containers_json is NULL");
    }
}

#[test]
fn client_calls_refuse_bad_container_ids() {
    let root = tempfile::tempdir().unwrap();
    let spec = spec_json(root.path().to_str().unwrap());
    let c = fake_client();
    let pid = c"exec1".as_ptr();
    let process = c"{\"args\": [\"true\"]}".as_ptr();
    let mut cases = bad_ids();
    cases.push(("x".into(), "")); // placeholder replaced below by invalid UTF-8
    for (i, (bad, needle)) in cases.iter().enumerate() {
        let owned = cs(bad);
        let (id, needle) = if i + 1 == cases.len() { (bad_utf8(), "UTF-8") } else { (owned.as_ptr(), *needle) };
        unsafe {
            let mut s = sentinel::<c_char>();
            invalid(lcd_client_create(c, id, spec.as_ptr(), ptr::null(), std::ptr::null()), needle);
            invalid(lcd_client_signal(c, id, 9, std::ptr::null()), needle);
            invalid(lcd_client_signal_process(c, id, c"init".as_ptr(), 9, std::ptr::null()), needle);
            invalid(lcd_client_add_process(c, id, pid, process, std::ptr::null()), needle);
            invalid(lcd_client_resize(c, id, c"init".as_ptr(), 80, 25, std::ptr::null()), needle);
            invalid(lcd_client_pause(c, id, std::ptr::null()), needle);
            invalid(lcd_client_resume(c, id, std::ptr::null()), needle);
            invalid(lcd_client_restore(c, id, ptr::null(), std::ptr::null()), needle);
            invalid(lcd_client_stats(c, id, &mut s, std::ptr::null()), needle);
            invalid(lcd_client_get_pids(c, id, &mut s, std::ptr::null()), needle);
            invalid(lcd_client_summary(c, id, &mut s, std::ptr::null()), needle);
            invalid(lcd_client_update_resources(c, id, c"{}".as_ptr(), std::ptr::null()), needle);
            invalid(lcd_client_stop(c, id, 0, 0, std::ptr::null()), needle);
            invalid(lcd_client_update_restart_policy(c, id, c"{\"name\": \"no\"}".as_ptr(), std::ptr::null()), needle);
            assert_eq!(s, sentinel());
        }
    }
}

#[test]
fn client_calls_refuse_bad_process_ids() {
    let c = fake_client();
    let id = c"web".as_ptr();
    let process = c"{\"args\": [\"true\"]}".as_ptr();
    unsafe {
        for (bad, needle) in bad_ids() {
            let p = cs(&bad);
            invalid(lcd_client_signal_process(c, id, p.as_ptr(), 9, std::ptr::null()), needle);
            invalid(lcd_client_add_process(c, id, p.as_ptr(), process, std::ptr::null()), needle);
            invalid(lcd_client_resize(c, id, p.as_ptr(), 80, 25, std::ptr::null()), needle);
        }
        invalid(lcd_client_signal_process(c, id, bad_utf8(), 9, std::ptr::null()), "process_id is not valid UTF-8");
        // "init" names the container's first process: no exec may take it.
        invalid(lcd_client_add_process(c, id, c"init".as_ptr(), process, std::ptr::null()), "init");
    }
}

#[test]
fn client_calls_refuse_bad_json() {
    let root = tempfile::tempdir().unwrap();
    let root = root.path().to_str().unwrap();
    let spec = spec_json(root);
    let c = fake_client();
    let id = c"web".as_ptr();
    let pid = c"exec1".as_ptr();
    unsafe {
        // The OCI spec.
        invalid(lcd_client_create(c, id, c"{".as_ptr(), ptr::null(), std::ptr::null()), "OCI spec");
        invalid(lcd_client_create(c, id, bad_utf8(), ptr::null(), std::ptr::null()), "spec_json is not valid UTF-8");
        invalid(lcd_client_create(c, id, c"{\"ociVersion\": \"1.0.2\"}".as_ptr(), ptr::null(), std::ptr::null()), "process");
        let missing = spec_json("/nonexistent/rootfs/for/lcd");
        invalid(lcd_client_create(c, id, missing.as_ptr(), ptr::null(), std::ptr::null()), "root.path");
        let relative = spec_json("rootfs");
        invalid(lcd_client_create(c, id, relative.as_ptr(), ptr::null(), std::ptr::null()), "root.path");

        // Create and restore options: strict, unknown keys named.
        for (json, needle) in [
            (r#"{"restart_polcy": {"name": "always"}}"#, "restart_polcy"),
            (r#"{"runtime": {"path": "/usr/bin/runc", "argz": []}}"#, "argz"),
            (r#"{"runtime": {"path": ""}}"#, "runtime.path"),
            ("{", "create options"),
            ("null", "create options"),
        ] {
            let j = cs(json);
            invalid(lcd_client_create(c, id, spec.as_ptr(), j.as_ptr(), std::ptr::null()), needle);
            invalid(lcd_client_restore(c, id, j.as_ptr(), std::ptr::null()), needle);
        }
        invalid(lcd_client_create(c, id, spec.as_ptr(), bad_utf8(), std::ptr::null()), "options_json is not valid UTF-8");
        invalid(lcd_client_restore(c, id, bad_utf8(), std::ptr::null()), "options_json is not valid UTF-8");

        // The exec process.
        for (json, needle) in [
            (r#"{"args": ["sh"], "tty": true}"#, "tty"),
            (r#"{"args": []}"#, "args"),
            (r#"{"env": ["A=1"]}"#, "args"),
            (r#"{"args": ["sh"], "cwd": "tmp"}"#, "cwd"),
            (r#"{"args": ["sh"], "user": {"uid": 0, "gid": 0, "groups": []}}"#, "groups"),
            ("{", "process"),
        ] {
            let j = cs(json);
            invalid(lcd_client_add_process(c, id, pid, j.as_ptr(), std::ptr::null()), needle);
        }
        invalid(lcd_client_add_process(c, id, pid, bad_utf8(), std::ptr::null()), "process_json is not valid UTF-8");

        // LinuxResources.
        invalid(lcd_client_update_resources(c, id, c"{".as_ptr(), std::ptr::null()), "resources");
        invalid(lcd_client_update_resources(c, id, c"{\"memory\": {\"limit\": -5}}".as_ptr(), std::ptr::null()), "memory.limit");
        invalid(lcd_client_update_resources(c, id, bad_utf8(), std::ptr::null()), "resources_json is not valid UTF-8");
    }
}

#[test]
fn spec_default_checks_its_arguments() {
    use containerd::ffi::spec::lcd_spec_default;
    unsafe {
        let mut s = sentinel::<c_char>();
        invalid(lcd_spec_default(ptr::null(), ptr::null_mut()), "spec_json is NULL");
        invalid(lcd_spec_default(c"{\"rootfz\": \"/\"}".as_ptr(), &mut s), "rootfz");
        invalid(lcd_spec_default(c"{\"memory_limit\": -1}".as_ptr(), &mut s), "memory_limit");
        invalid(lcd_spec_default(c"[]".as_ptr(), &mut s), "spec options");
        invalid(lcd_spec_default(bad_utf8(), &mut s), "UTF-8");
        assert_eq!(s, sentinel());
        assert!(lcd_spec_default(ptr::null(), &mut s).is_null());
        let json = CStr::from_ptr(s).to_str().unwrap().to_string();
        lcd_string_free(s);
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["process"]["noNewPrivileges"], true, "{json}");
    }
}
