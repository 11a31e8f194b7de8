//! The exec process (`process_json` of `lcd_client_add_process`): never panics; a
//! refusal is INVALID_ARGUMENT naming the document (an unknown key by name); an
//! accepted process has a command and an absolute cwd, survives a round trip, and
//! turns into an OCI process (with and without a base) without panicking.
#![no_main]

use containerd::ProcessSpec;
use libcontainerd_fuzz::{check_rejection, check_unknown_keys_named, text, Schema};
use libfuzzer_sys::fuzz_target;
use oci_spec::runtime::Process;

const WHAT: &str = "process";
const USER: Schema = Schema { keys: &[("uid", None), ("gid", None), ("additionalGids", None)] };
const CONSOLE: Schema = Schema { keys: &[("height", None), ("width", None)] };
const SCHEMA: Schema = Schema {
    keys: &[
        ("terminal", None),
        ("user", Some(&USER)),
        ("args", None),
        ("env", None),
        ("cwd", None),
        ("capabilities", None),
        ("ambientCapabilities", None),
        ("consoleSize", Some(&CONSOLE)),
        ("rlimits", None),
        ("apparmorProfile", None),
        ("selinuxLabel", None),
    ],
};

fuzz_target!(|data: &[u8]| {
    let Some(json) = text(data) else { return };
    match ProcessSpec::from_json(json) {
        Ok(p) => {
            assert!(!p.args.is_empty(), "process without args accepted");
            if let Some(cwd) = &p.cwd {
                assert!(cwd.starts_with('/'), "relative cwd {cwd:?} accepted");
            }
            let again = ProcessSpec::from_json(&serde_json::to_string(&p).unwrap()).expect("round trip");
            assert_eq!(again, p);
            let base: Process = serde_json::from_str(r#"{"args": ["sh"], "cwd": "/", "env": ["A=1"], "user": {"uid": 0, "gid": 0}}"#).unwrap();
            for b in [None, Some(&base)] {
                match p.to_oci(b) {
                    Ok(oci) => assert_eq!(oci.args().as_ref(), Some(&p.args), "exec args not carried over"),
                    Err(e) => check_rejection(&e, WHAT),
                }
            }
        }
        Err(e) => check_rejection(&e, WHAT),
    }
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(json) {
        check_unknown_keys_named(&v, &SCHEMA, &|s| ProcessSpec::from_json(s), WHAT);
    }
});
