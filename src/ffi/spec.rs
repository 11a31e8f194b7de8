//! `lcd_spec_default`: a complete, safe default OCI runtime spec as JSON.

use std::ffi::c_char;

use super::error::lcd_error;
use super::util::{guard, opt_c_str, out_json, out_param, write_out};
use crate::spec_default::{default_spec, SpecOptions};

/// Builds a complete, safe OCI runtime spec, as containerd's `oci.GenerateSpec` does:
/// new pid, ipc, uts, mount and network namespaces; containerd's default capability
/// set (bounding, effective, permitted; none ambient); `noNewPrivileges`;
/// `RLIMIT_NOFILE` 1024; `/proc`, `/dev`, `/dev/pts`, `/dev/shm`, `/dev/mqueue`,
/// `/sys` (read-only), `/sys/fs/cgroup` (read-only) and `/run`; masked and read-only
/// `/proc` paths; a device cgroup denying all but runc's default devices.
///
/// `options_json` (may be NULL: all defaults), every key optional, unknown keys
/// refused: `"rootfs"` (absolute host directory, `root.path`), `"readonly"` (bool),
/// `"args"` (array; `lcd_client_create` needs them), `"env"` (`KEY=value` entries
/// added to the default `PATH`, later keys win), `"cwd"` (absolute, default `/`),
/// `"user"` (`"uid"`, `"uid:gid"`, `"name"` or `"name:group"`, names looked up in the
/// rootfs's `/etc/passwd` and `/etc/group` without leaving it; the user's
/// supplementary groups and `HOME` come from there too), `"hostname"`, `"terminal"`
/// (bool; adds `TERM=xterm`), `"cgroups_path"`, `"memory_limit"` (bytes),
/// `"cpu_shares"`, `"pids_limit"`, `"privileged"` (bool: every capability, nothing
/// masked, `/sys` writable, all devices allowed).
///
/// On success `*spec_json` receives the spec, which the caller frees with
/// `lcd_string_free`. Invalid options are `LCD_INVALID_ARGUMENT` naming the key. Does
/// not touch containerd; thread-safe.
#[no_mangle]
pub unsafe extern "C" fn lcd_spec_default(options_json: *const c_char, spec_json: *mut *mut c_char) -> *mut lcd_error {
    guard(|| {
        // SAFETY: NULL or a NUL-terminated string, borrowed for the call.
        let options = SpecOptions::from_json(unsafe { opt_c_str(options_json, "options_json") }?)?;
        let out = out_param(spec_json, "spec_json")?;
        let spec = default_spec(&options)?;
        let s = out_json(&spec)?;
        // SAFETY: a writable out-parameter, checked above.
        unsafe { write_out(out, s) };
        Ok(())
    })
}
