//! Image manifests, indexes, configs and references from untrusted bytes: never
//! panics; an accepted document has only well-formed digests and non-negative sizes,
//! and a refusal is INVALID_ARGUMENT or UNSUPPORTED; an accepted reference prints as a
//! reference that parses back to itself.
#![no_main]

use containerd::images::manifest::{self, ImageConfig, Manifest};
use containerd::images::reference::{check_digest, Reference};
use containerd::Code;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match manifest::parse(data, None) {
        Ok(m) => {
            for d in m.children() {
                assert!(check_digest(&d.digest).is_ok(), "accepted digest {:?}", d.digest);
                assert!(d.size >= 0);
            }
            if let Manifest::Index { manifests, .. } = &m {
                if let Ok(d) = manifest::select_platform(manifests, &manifest::Platform::host()) {
                    assert!(!manifest::is_index(&d.media_type));
                }
            }
        }
        Err(e) => assert!(matches!(e.code(), Code::InvalidArgument | Code::Unsupported), "{e}"),
    }
    if let Ok(c) = ImageConfig::parse(data) {
        for d in c.rootfs.map(|r| r.diff_ids).unwrap_or_default() {
            assert!(check_digest(&d).is_ok());
        }
    }
    let s = String::from_utf8_lossy(data);
    match Reference::parse(&s) {
        Ok(r) => {
            let again = Reference::parse(&r.to_string()).expect("a normalised reference parses");
            assert_eq!(again, r);
            assert!(!r.repository.split('/').any(|c| c == ".." || c == "."));
        }
        Err(e) => assert_eq!(e.code(), Code::InvalidArgument),
    }
});
