//! The size cap of containerd's own log (`<state_dir>/containerd/containerd.log`).
//!
//! containerd writes its stdout and stderr straight into that file (opened in append
//! mode), so it keeps logging even while no library process is running. The
//! supervisor checks the file's size at every health check; once it passes
//! [`LOG_MAX_BYTES`] it is rotated in place ("copytruncate"): its content is copied to
//! `containerd.log.1` (replacing an older one) and the file is truncated to zero.
//! containerd's append-mode descriptor then writes at the new end. At most about
//! twice [`LOG_MAX_BYTES`] is kept; lines written between the copy and the truncation
//! (a few milliseconds) are lost.

use std::fs;
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Size after which containerd's log is rotated.
pub const LOG_MAX_BYTES: u64 = 16 * 1024 * 1024;

/// The previous generation of `log`: `containerd.log.1`.
pub fn rotated_path(log: &Path) -> PathBuf {
    let mut name = log.as_os_str().to_owned();
    name.push(".1");
    PathBuf::from(name)
}

/// Rotates `log` if it is larger than `max_bytes`; returns whether it did.
pub fn rotate_if_larger(log: &Path, max_bytes: u64) -> io::Result<bool> {
    let len = match fs::metadata(log) {
        Ok(m) => m.len(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    if len <= max_bytes {
        return Ok(false);
    }
    let old = rotated_path(log);
    let tmp = rotated_path(&old);
    let mut src = fs::File::open(log)?;
    let mut dst = fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
    io::copy(&mut src, &mut dst)?;
    fs::rename(&tmp, &old)?;
    fs::OpenOptions::new().write(true).open(log)?.set_len(0)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_large_log_is_copied_and_truncated_while_its_writer_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("containerd.log");
        let mut writer = fs::OpenOptions::new().create(true).append(true).open(&log).unwrap();
        writer.write_all(&[b'a'; 100]).unwrap();
        assert!(!rotate_if_larger(&log, 100).unwrap());
        writer.write_all(b"b").unwrap();
        assert!(rotate_if_larger(&log, 100).unwrap());
        assert_eq!(fs::metadata(&log).unwrap().len(), 0);
        assert_eq!(fs::read(rotated_path(&log)).unwrap().len(), 101);
        // The writer's append-mode descriptor goes on at the new end, without a hole.
        writer.write_all(b"after\n").unwrap();
        assert_eq!(fs::read(&log).unwrap(), b"after\n");
        assert!(!rotate_if_larger(&dir.path().join("missing.log"), 1).unwrap());
    }
}
