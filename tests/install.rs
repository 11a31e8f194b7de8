//! The installed library's version rule (Cargo.toml's cargo-c metadata): its file
//! version is `<ABI_VERSION>.<crate minor>.<crate patch>`, so the SONAME
//! `libcontainerd.so.<ABI_VERSION>` changes exactly when the C ABI does. The install
//! itself is checked by scripts/install-check.sh.

use std::path::Path;

/// The `version` of `[package.metadata.capi.library]` in Cargo.toml.
fn capi_library_version() -> String {
    let manifest = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml")).unwrap();
    let mut in_section = false;
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_section = line == "[package.metadata.capi.library]";
        } else if in_section {
            if let Some(v) = line.strip_prefix("version = ") {
                return v.trim_matches('"').to_string();
            }
        }
    }
    panic!("no version in [package.metadata.capi.library] of Cargo.toml");
}

#[test]
fn the_library_file_version_is_the_abi_then_the_crate_minor_and_patch() {
    let crate_version: Vec<&str> = containerd::VERSION.split('.').collect();
    let want = format!("{}.{}.{}", containerd::ABI_VERSION, crate_version[1], crate_version[2]);
    assert_eq!(
        capi_library_version(),
        want,
        "Cargo.toml [package.metadata.capi.library] version must be <ABI_VERSION>.<minor>.<patch> of the crate"
    );
}
