//! `LinuxResources` (`resources_json` of `lcd_client_update_resources`): never panics;
//! a refusal is INVALID_ARGUMENT naming the document; accepted memory and pids limits
//! are never below -1 (unlimited).
#![no_main]

use containerd::spec::parse_resources;
use libcontainerd_fuzz::{check_rejection, text};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some(json) = text(data) else { return };
    match parse_resources(json) {
        Ok(r) => {
            if let Some(m) = r.memory() {
                for v in [m.limit(), m.reservation(), m.swap()].into_iter().flatten() {
                    assert!(v >= -1, "memory value {v} accepted");
                }
            }
            if let Some(p) = r.pids() {
                assert!(p.limit() >= -1, "pids.limit {} accepted", p.limit());
            }
            serde_json::to_string(&r).expect("accepted resources encode");
        }
        Err(e) => check_rejection(&e, "resources"),
    }
});
