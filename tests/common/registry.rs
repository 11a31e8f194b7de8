//! The test registry fixture: a real distribution registry (Debian's docker-registry)
//! on 127.0.0.1 with busybox-based test images, driven through
//! `scripts/test-registry.sh` (which the C, Go and Python tests use too).
//!
//! [`Registry::seeded`] starts a registry of the test's own over a copy of the images
//! seeded once per test process (see the script for the images and archives it holds);
//! [`Registry::empty`] one with nothing in it. The registry is stopped when dropped.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The fixture script.
pub fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/test-registry.sh")
}

fn run_script(args: &[&str]) -> String {
    let out = Command::new("bash")
        .arg(script())
        .args(args)
        .env("LCD_TEST_ROOTFS", super::rootfs())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script().display()));
    assert!(
        out.status.success(),
        "test-registry.sh {args:?} failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn temp_dir(prefix: &str) -> tempfile::TempDir {
    let parent = std::env::var_os("LCD_TEST_TMPDIR").filter(|p| !p.is_empty()).map_or_else(|| PathBuf::from("/tmp"), PathBuf::from);
    tempfile::Builder::new().prefix(prefix).tempdir_in(parent).expect("temp dir")
}

/// The images seeded once per test process (the registry that pushed them is stopped;
/// its storage is the template every [`Registry::seeded`] copies).
struct Seed {
    dir: PathBuf,
}

static SEED: OnceLock<Seed> = OnceLock::new();

fn seed() -> &'static Seed {
    SEED.get_or_init(|| {
        let dir = temp_dir("lcd-seed-").keep();
        let d = dir.to_str().unwrap();
        run_script(&["seed", d]);
        run_script(&["stop", d]);
        // SAFETY: registering a plain `extern "C"` function.
        unsafe { libc::atexit(remove_seed) };
        Seed { dir }
    })
}

extern "C" fn remove_seed() {
    if let Some(s) = SEED.get() {
        if !super::keep_state() {
            let _ = std::fs::remove_dir_all(&s.dir);
        }
    }
}

/// A registry of the test's own, stopped when dropped.
pub struct Registry {
    dir: tempfile::TempDir,
    addr: String,
    /// The script's start command and its arguments after the directory.
    start: Vec<String>,
}

impl Registry {
    /// A registry holding the seeded test images (`test/busybox`, `test/multi`,
    /// `test/corrupt`, all `:latest`).
    pub fn seeded() -> Registry {
        Self::start_from(Some(seed()), &["start"])
    }

    /// A seeded registry that requires basic auth with `user:pass`.
    pub fn seeded_with_auth(user_pass: &str) -> Registry {
        Self::start_from(Some(seed()), &["start", user_pass])
    }

    /// A seeded registry served over TLS, with a certificate for 127.0.0.1 signed by a
    /// test CA (see [`Registry::ca_file`]).
    pub fn seeded_over_tls() -> Registry {
        Self::start_from(Some(seed()), &["start-tls"])
    }

    /// A registry with nothing in it.
    pub fn empty() -> Registry {
        Self::start_from(None, &["start"])
    }

    fn start_from(seed: Option<&Seed>, start: &[&str]) -> Registry {
        let dir = temp_dir("lcd-reg-");
        if let Some(seed) = seed {
            let st = Command::new("cp").arg("-a").arg(seed.dir.join("storage")).arg(dir.path()).status().unwrap();
            assert!(st.success(), "copy the seeded registry storage");
        }
        let start: Vec<String> = start.iter().map(|s| s.to_string()).collect();
        let addr = run_script(&Self::start_args(&start, &dir));
        Registry { dir, addr, start }
    }

    fn start_args<'a>(start: &'a [String], dir: &'a tempfile::TempDir) -> Vec<&'a str> {
        let mut args = vec![start[0].as_str(), dir.path().to_str().unwrap()];
        args.extend(start[1..].iter().map(String::as_str));
        args
    }

    /// The test CA's certificate of a registry started by [`Registry::seeded_over_tls`].
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("tls/ca.pem")
    }

    /// `127.0.0.1:<port>`.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// `<addr>/test/<name>`, e.g. `reference("busybox:latest")`.
    pub fn reference(&self, name: &str) -> String {
        format!("{}/test/{name}", self.addr)
    }

    /// Pull options reaching this registry over plain HTTP.
    pub fn pull_options(&self) -> serde_json::Value {
        serde_json::json!({"plain_http": [self.addr], "unpack": false})
    }

    /// Stops the registry (its storage and port are kept for [`Registry::restart`]).
    pub fn stop(&self) {
        run_script(&["stop", self.dir.path().to_str().unwrap()]);
    }

    /// Starts it again on the same port and storage.
    pub fn restart(&self) {
        assert_eq!(run_script(&Self::start_args(&self.start, &self.dir)), self.addr);
    }

    /// The registry's pid.
    pub fn pid(&self) -> i32 {
        std::fs::read_to_string(self.dir.path().join("registry.pid")).unwrap().trim().parse().unwrap()
    }

    /// The file holding blob `digest` (`sha256:<hex>`) in the registry's storage.
    pub fn blob_path(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").expect("sha256 digest");
        self.dir.path().join(format!("storage/docker/registry/v2/blobs/sha256/{}/{hex}/data", &hex[..2]))
    }

    /// The manifest stored for `repo:latest` (a JSON document).
    pub fn manifest(&self, repo: &str) -> serde_json::Value {
        let link = self.dir.path().join(format!("storage/docker/registry/v2/repositories/test/{repo}/_manifests/tags/latest/current/link"));
        let digest = std::fs::read_to_string(link).unwrap();
        serde_json::from_slice(&std::fs::read(self.blob_path(digest.trim())).unwrap()).unwrap()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = Command::new("bash").arg(script()).arg("stop").arg(self.dir.path()).status();
    }
}

/// The seeded archives: `busybox-oci.tar` (oci-archive) and `busybox-docker.tar`
/// (docker save format).
pub fn archive(name: &str) -> PathBuf {
    seed().dir.join("archives").join(name)
}
