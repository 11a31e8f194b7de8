//! Default spec options (`options_json` of `lcd_spec_default`): never panics; a
//! refusal is INVALID_ARGUMENT naming the document (an unknown key by name); accepted
//! options survive a round trip and (without a rootfs, so no host file is read) build
//! a spec with noNewPrivileges and no ambient capabilities.
#![no_main]

use containerd::{default_spec, SpecOptions};
use libcontainerd_fuzz::{check_rejection, check_unknown_keys_named, text, Schema};
use libfuzzer_sys::fuzz_target;

const WHAT: &str = "spec options";
const SCHEMA: Schema = Schema {
    keys: &[
        ("rootfs", None),
        ("readonly", None),
        ("args", None),
        ("env", None),
        ("cwd", None),
        ("user", None),
        ("hostname", None),
        ("terminal", None),
        ("cgroups_path", None),
        ("memory_limit", None),
        ("cpu_shares", None),
        ("pids_limit", None),
        ("privileged", None),
    ],
};

fuzz_target!(|data: &[u8]| {
    let Some(json) = text(data) else { return };
    match SpecOptions::from_json(Some(json)) {
        Ok(o) => {
            let again = SpecOptions::from_json(Some(&serde_json::to_string(&o).unwrap())).expect("round trip");
            assert_eq!(again, o);
            if o.rootfs.is_none() {
                match default_spec(&o) {
                    Ok(spec) => {
                        let p = spec.process().as_ref().expect("a process");
                        assert_eq!(p.no_new_privileges(), Some(true));
                        assert!(p.capabilities().as_ref().is_some_and(|c| c.ambient().is_none()), "ambient capabilities by default");
                    }
                    Err(e) => check_rejection(&e, WHAT),
                }
            }
        }
        Err(e) => check_rejection(&e, WHAT),
    }
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(json) {
        check_unknown_keys_named(&v, &SCHEMA, &|s| SpecOptions::from_json(Some(s)), WHAT);
    }
});
