//! Remote options (`lcd_remote_new`, `lcd_remote_update_options`): never panics; a
//! refusal is INVALID_ARGUMENT naming the document (and an unknown key by name); an
//! accepted document satisfies every range rule, holds no NUL byte in a path or
//! argument, and survives a round trip.
#![no_main]

use containerd::RemoteOptions;
use libcontainerd_fuzz::{check_rejection, check_unknown_keys_named, text, Schema};
use libfuzzer_sys::fuzz_target;

const WHAT: &str = "remote options";
/// Longest unix socket address (sun_path holds 108 bytes with the NUL).
const MAX_SOCKET_PATH: usize = 107;
const SCHEMA: Schema = Schema {
    keys: &[
        ("state_dir", None),
        ("start_daemon", None),
        ("remote_addr", None),
        ("containerd_path", None),
        ("debug_log", None),
        ("live_restore", None),
        ("oom_score", None),
        ("runtime_path", None),
        ("runtime_args", None),
        ("namespace", None),
        ("shim_pool", None),
    ],
};

fn check_accepted(o: &RemoteOptions) {
    if let Some(s) = o.oom_score {
        assert!((-1000..=1000).contains(&s), "oom_score {s} accepted");
    }
    if let Some(n) = o.shim_pool {
        assert!(n <= 64, "shim_pool {n} accepted");
    }
    for p in [&o.state_dir, &o.remote_addr].into_iter().flatten() {
        assert!(p.is_absolute(), "relative path {p:?} accepted");
    }
    // Paths and arguments become C strings: a NUL byte would silently cut them.
    let paths = [&o.state_dir, &o.remote_addr, &o.containerd_path].into_iter().flatten().map(|p| p.as_os_str().as_encoded_bytes());
    let strings = o.runtime_path.iter().chain(o.runtime_args.iter().flatten()).map(|s| s.as_bytes());
    for v in paths.chain(strings) {
        assert!(!v.contains(&0), "a NUL byte accepted in {:?}", String::from_utf8_lossy(v));
    }
    containerd::spec::validate_id("namespace", &o.namespace()).expect("namespace in effect is valid");
    assert!(!o.runtime_path().is_empty());
    let again = RemoteOptions::update_from_json(Some(&serde_json::to_string(o).unwrap())).expect("round trip");
    assert_eq!(&again, o);
}

fuzz_target!(|data: &[u8]| {
    let Some(json) = text(data) else { return };
    match RemoteOptions::from_json(Some(json)) {
        Ok(o) => {
            check_accepted(&o);
            if o.start_daemon() {
                let sock = o.state_dir().join("containerd/containerd.sock.ttrpc");
                assert!(sock.as_os_str().len() <= MAX_SOCKET_PATH, "socket path too long accepted");
            } else {
                assert!(o.remote_addr.is_some(), "no daemon and no address accepted");
            }
        }
        Err(e) => check_rejection(&e, WHAT),
    }
    match RemoteOptions::update_from_json(Some(json)) {
        Ok(o) => check_accepted(&o),
        Err(e) => check_rejection(&e, WHAT),
    }
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(json) {
        check_unknown_keys_named(&v, &SCHEMA, &|s| RemoteOptions::from_json(Some(s)), WHAT);
    }
});
