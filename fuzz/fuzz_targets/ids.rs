//! Container and process id validation: never panics; an accepted id is a single
//! plain path component (no '/', no NUL, not "." or "..", at most 64 bytes) that
//! cannot escape the directory it names a file or directory in; a refusal is
//! INVALID_ARGUMENT naming the argument.
#![no_main]

use containerd::io::FifoSet;
use containerd::spec::{validate_exec_id, validate_id, INIT_PROCESS_ID};
use libcontainerd_fuzz::{check_rejection, check_safe_component};
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let id = String::from_utf8_lossy(data);
    match validate_id("container id", &id) {
        Ok(()) => {
            check_safe_component(&id);
            let dir = Path::new("/run/libcontainerd/fifo/ns/c");
            let fifos = FifoSet::new(dir, &id, false);
            let (stdin, stdout, stderr) = fifos.as_strings();
            for p in [stdin, stdout, stderr] {
                assert_eq!(Path::new(&p).parent(), Some(dir), "fifo {p:?} of {id:?} escapes its directory");
            }
        }
        Err(e) => check_rejection(&e, "container id"),
    }
    match validate_exec_id(&id) {
        Ok(()) => {
            check_safe_component(&id);
            assert_ne!(id, INIT_PROCESS_ID, "init accepted as an exec id");
        }
        Err(e) => check_rejection(&e, "process id"),
    }
});
