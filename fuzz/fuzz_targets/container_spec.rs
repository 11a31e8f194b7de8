//! The OCI runtime spec (`spec_json` of `lcd_client_create`): never panics; a refusal
//! is INVALID_ARGUMENT naming the document; an accepted spec has a process with a
//! command and an absolute, existing root.path, and keeps its JSON verbatim.
#![no_main]

use containerd::ContainerSpec;
use libcontainerd_fuzz::{check_rejection, text};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some(json) = text(data) else { return };
    match ContainerSpec::from_json(json) {
        Ok(s) => {
            let args = s.spec.process().as_ref().and_then(|p| p.args().clone()).unwrap_or_default();
            assert!(!args.is_empty(), "spec without process.args accepted");
            let root = s.root_path();
            assert!(root.is_absolute() && root.is_dir(), "root.path {root:?} accepted");
            assert_eq!(s.json, json);
            let _ = s.terminal();
            serde_json::to_string(&s.spec).expect("an accepted spec encodes");
        }
        Err(e) => check_rejection(&e, "OCI spec"),
    }
});
