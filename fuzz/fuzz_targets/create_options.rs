//! Create and restore options (`options_json` of `lcd_client_create` and
//! `lcd_client_restore`): never panics; a refusal is INVALID_ARGUMENT naming the
//! document (an unknown key by name, nested ones too); an accepted document has a
//! runtime path and a valid restart policy, and survives a round trip.
#![no_main]

use containerd::CreateOptions;
use libcontainerd_fuzz::{check_rejection, check_unknown_keys_named, text, Schema};
use libfuzzer_sys::fuzz_target;

const WHAT: &str = "create options";
const RUNTIME: Schema = Schema { keys: &[("path", None), ("args", None)] };
const POLICY: Schema = Schema { keys: &[("name", None), ("maximum_retry_count", None)] };
const SCHEMA: Schema = Schema {
    keys: &[("runtime", Some(&RUNTIME)), ("restart_policy", Some(&POLICY)), ("image", None), ("snapshotter", None)],
};

fuzz_target!(|data: &[u8]| {
    let Some(json) = text(data) else { return };
    match CreateOptions::from_json(Some(json)) {
        Ok(o) => {
            if let Some(rt) = &o.runtime {
                assert!(!rt.path.is_empty(), "empty runtime.path accepted");
            }
            if let Some(p) = &o.restart_policy {
                p.validate().expect("accepted restart policy validates");
            }
            let again = CreateOptions::from_json(Some(&serde_json::to_string(&o).unwrap())).expect("round trip");
            assert_eq!(again, o);
        }
        Err(e) => check_rejection(&e, WHAT),
    }
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(json) {
        check_unknown_keys_named(&v, &SCHEMA, &|s| CreateOptions::from_json(Some(s)), WHAT);
    }
});
