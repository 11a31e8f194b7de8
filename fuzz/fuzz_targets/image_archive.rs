//! Untrusted tar archives: indexing never panics; every file found lies inside the
//! archive's bytes, every lookup stays inside the archive (no absolute or `..` path
//! resolves), and a refusal is INVALID_ARGUMENT.
#![no_main]

use std::io::Write;

use containerd::images::archive::ArchiveIndex;
use containerd::Code;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut f = tempfile::tempfile().expect("temp file");
    f.write_all(data).unwrap();
    match ArchiveIndex::read(&f, "fuzz") {
        Ok(index) => {
            for p in ["index.json", "manifest.json", "oci-layout", "blobs/sha256/x", "a/b"] {
                if let Ok(e) = index.lookup(p) {
                    assert!(e.offset + e.size <= data.len() as u64, "{p}: {e:?} past the end");
                }
            }
            for p in ["/etc/passwd", "../etc/passwd", "a/../../b"] {
                assert!(index.lookup(p).is_err(), "{p} resolved");
            }
        }
        Err(e) => assert_eq!(e.code(), Code::InvalidArgument, "{e}"),
    }
});
