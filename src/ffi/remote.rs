//! `lcd_remote`: the access point to containerd.

use std::ffi::c_char;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::Arc;

use super::backend::{lcd_backend, FfiBackend};
use super::client::lcd_client;
use super::call::{lcd_call, with_call};
use super::error::lcd_error;
use super::util::{guard, guard_value, non_null, opt_c_str, out_param, write_out};
use crate::backend::Backend;
use crate::remote::{Remote, RemoteOptions};

/// A reference to a remote (containerd, possibly a daemon the library started and
/// supervises). Opaque; made by `lcd_remote_new`, released by `lcd_remote_free`.
/// Every function on it is thread-safe, except that `lcd_remote_free` must not race
/// with another call on the same handle.
pub struct lcd_remote {
    pub(crate) remote: Remote,
}

/// Connects to containerd as `options_json` says, starting and supervising a daemon
/// of its own under `state_dir` unless `remote_addr` is given (a second remote on the
/// same `state_dir` reuses a live daemon). On success `*out` receives a new handle the
/// caller owns and frees with `lcd_remote_free`.
///
/// `options_json` (borrowed, may be NULL for all defaults) is an object with the
/// optional keys `state_dir`, `start_daemon`, `remote_addr`, `containerd_path`,
/// `debug_log`, `live_restore`, `oom_score`, `runtime_path`, `runtime_args`,
/// `namespace`, `shim_pool`; an unknown key is `LCD_INVALID_ARGUMENT` naming it, and
/// so is `start_daemon: true` together with `remote_addr` (a started daemon listens
/// under `state_dir`).
///
/// `shim_pool` (0..64, default 0: one shim per container) spreads the containers this
/// remote creates over at most that many shared containerd-shim-runc-v2 processes
/// (the `io.containerd.runc.v2.group` annotation, unless a spec sets its own), the
/// least loaded first; each pooled shim is kept running by a never-started keeper task
/// (ids `libcontainerd-shim-pool-<n>-keeper`, left out of `lcd_client_list`, removed at
/// cleanup). Trade-off: a shim holds every container of its group, so a shim crash
/// ends all of them at once; each still gets exactly one `exit`. It cannot change on a
/// live remote. Invalid options are rejected before anything happens (no daemon is
/// started). A started containerd gets a clean environment: only `PATH` (a default
/// one when the host has none), `TMPDIR` and the `HTTP(S)_PROXY`/`NO_PROXY`
/// variables of the host's; never `NOTIFY_SOCKET`. Blocking, thread-safe.
///
/// `call` (may be NULL): see `lcd_call`. Given up (`LCD_CANCELLED`,
/// `LCD_DEADLINE_EXCEEDED`): not done, `*out` is untouched; a remote being made
/// meanwhile is ended again in the background once that has finished (stopping a daemon
/// it started, unless another remote uses it).
#[no_mangle]
pub unsafe extern "C" fn lcd_remote_new(options_json: *const c_char, out: *mut *mut lcd_remote, call: *const lcd_call) -> *mut lcd_error {
    guard(|| {
        let out = out_param(out, "out")?;
        // SAFETY: a NUL-terminated string or NULL, borrowed for the call.
        let json = unsafe { opt_c_str(options_json, "options_json") }?;
        let options = RemoteOptions::from_json(json)?;
        let remote = unsafe { with_call(call, || Remote::new(options)) }?;
        // SAFETY: `out` is a writable out-parameter.
        unsafe { write_out(out, Box::into_raw(Box::new(lcd_remote { remote }))) };
        Ok(())
    })
}

/// Changes the options that may change on a live remote (`live_restore`,
/// `oom_score`, `debug_log`, `runtime_path`, `runtime_args`); keys left out stay as
/// they are, and changing another one is `LCD_FAILED_PRECONDITION`. NULL
/// `options_json` changes nothing. `r` and `options_json` are borrowed. Blocking,
/// thread-safe.
#[no_mangle]
pub unsafe extern "C" fn lcd_remote_update_options(r: *mut lcd_remote, options_json: *const c_char) -> *mut lcd_error {
    guard(|| {
        let r = non_null(r, "r (lcd_remote *)")?;
        // SAFETY: a NUL-terminated string or NULL, borrowed for the call.
        let Some(json) = (unsafe { opt_c_str(options_json, "options_json") })? else {
            return Ok(());
        };
        let options = RemoteOptions::update_from_json(Some(json))?;
        // SAFETY: a live handle from lcd_remote_new (the caller's contract).
        let remote = unsafe { r.as_ref() }.remote.clone();
        remote.update_options(options)
    })
}

/// Makes a client whose events and stdio go to the callbacks of `backend`. The table
/// is copied (it may be released after the call; `user_data` may not); see
/// `lcd_backend` for when each callback runs. On success `*out` receives a new client
/// the caller owns and frees with `lcd_client_free`, and the library owns `user_data`
/// (released with `user_data_free` when the client is freed). On failure
/// `user_data_free` is not called: `user_data` stays the caller's. The client keeps
/// the remote alive. Blocking, thread-safe.
///
/// `call` (may be NULL): see `lcd_call`. Given up: not done (no client; `user_data`
/// stays the caller's).
#[no_mangle]
pub unsafe extern "C" fn lcd_remote_client(
    r: *mut lcd_remote,
    backend: *const lcd_backend,
    out: *mut *mut lcd_client,
    call: *const lcd_call,
) -> *mut lcd_error {
    guard(|| {
        let r = non_null(r, "r (lcd_remote *)")?;
        let table = non_null(backend, "backend")?;
        let out = out_param(out, "out")?;
        // SAFETY: `backend` points to an initialised table of at least struct_size bytes.
        let backend = Arc::new(unsafe { FfiBackend::from_c(table) }?);
        // SAFETY: a live handle from lcd_remote_new.
        let remote = unsafe { r.as_ref() }.remote.clone();
        let shared: Arc<dyn Backend> = backend.clone();
        // Whatever happens inside, user_data goes back to the caller unless a client
        // was made (we hold a reference, so the table cannot be dropped before that).
        match catch_unwind(AssertUnwindSafe(|| unsafe { with_call(call, || remote.client(shared)) })) {
            Ok(Ok(client)) => {
                // SAFETY: `out` is a writable out-parameter.
                unsafe { write_out(out, lcd_client::into_raw(client)) };
                Ok(())
            }
            Ok(Err(e)) => {
                backend.disarm();
                Err(e)
            }
            Err(panic) => {
                backend.disarm();
                resume_unwind(panic)
            }
        }
    })
}

/// Ends the remote. Unless `live_restore` is on, it stops the containers: those of
/// clients still open with SIGTERM, then SIGKILL after 10 s, their `exit` events
/// delivered before it returns (except to a client whose `state_changed` is making
/// this call: those follow once it returns); those of clients already freed, which
/// nobody is left to hear of, with SIGKILL at once and no event. Pending restarts are
/// cancelled either way (a container between two runs ends with its `exit`, also
/// when this is called from that restart's `attach_streams`). Then it stops the
/// containerd daemon if this remote started or adopted it and no other remote uses
/// it. Idempotent; later calls on the remote's clients fail with
/// `LCD_FAILED_PRECONDITION`. `r` is borrowed and stays to be freed. Blocking,
/// thread-safe.
///
/// `call` (may be NULL): see `lcd_call`. Given up: the cleanup is not undone but goes
/// on to its end in the background (later calls on the remote's clients fail as after a
/// cleanup); a second `lcd_remote_cleanup` waits for it.
#[no_mangle]
pub unsafe extern "C" fn lcd_remote_cleanup(r: *mut lcd_remote, call: *const lcd_call) -> *mut lcd_error {
    guard(|| {
        let r = non_null(r, "r (lcd_remote *)")?;
        // SAFETY: a live handle from lcd_remote_new.
        // A reference of our own: a callback during cleanup may free the handle.
        let remote = unsafe { r.as_ref() }.remote.clone();
        unsafe { with_call(call, || remote.cleanup()) }
    })
}

/// Drops this reference to the remote. Clients made from it keep it alive. Freeing
/// the last handle (this one, or the last `lcd_client_free`) ends the remote exactly
/// as `lcd_remote_cleanup` does, if it was not cleaned up before, and returns once
/// that is done. Since a freed client hears nothing more, without `live_restore` the
/// containers of freed clients are then killed with SIGKILL at once, without events:
/// call `lcd_remote_cleanup` before freeing the clients for a graceful stop whose
/// `exit` events are delivered. NULL is a no-op. Must not race with another call on
/// the same handle; `r` is invalid afterwards.
#[no_mangle]
pub unsafe extern "C" fn lcd_remote_free(r: *mut lcd_remote) {
    if r.is_null() {
        return;
    }
    // SAFETY: a handle from lcd_remote_new, freed once.
    guard_value((), || drop(unsafe { Box::from_raw(r) }))
}
