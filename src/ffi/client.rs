//! `lcd_client`: the container lifecycle for one backend.
//!
//! Every function checks all its arguments (NULL, UTF-8, ids, JSON) before it uses
//! the handle or asks containerd anything, so an invalid argument never has a side
//! effect.

use std::ffi::{c_char, c_int};
use std::ptr::NonNull;

use super::call::{lcd_call, with_call};
use super::error::lcd_error;
use super::util::{c_str, guard, guard_value, non_null, opt_c_str, out_json, out_param, write_out};
use crate::client::{check_stop_signal, parse_restart_policy, Client};
use crate::error::Result;
use crate::spec::{parse_resources, validate_exec_id, validate_id, ContainerSpec, CreateOptions, ProcessSpec};

/// A client: creates and drives containers, reporting to one `lcd_backend`. Opaque;
/// made by `lcd_remote_client`, released by `lcd_client_free`. Every function on it
/// is blocking and thread-safe and may be called from inside a callback, except that
/// `lcd_client_free` must not race with another call on the same handle.
pub struct lcd_client {
    client: Client,
}

impl lcd_client {
    pub(crate) fn into_raw(client: Client) -> *mut lcd_client {
        Box::into_raw(Box::new(lcd_client { client }))
    }
}

const CLIENT: &str = "c (lcd_client *)";

/// Checks the handle for NULL only; it is used once every other argument is checked.
fn handle(c: *mut lcd_client) -> Result<NonNull<lcd_client>> {
    non_null(c, CLIENT)
}

/// A reference of its own to a checked handle's client: a callback run during the
/// call may free the handle (`lcd_client_free` from inside `attach_streams`), and the
/// call must not touch it after that.
///
/// # Safety
/// `c` is a live handle from `lcd_remote_client`.
unsafe fn client(c: NonNull<lcd_client>) -> Client {
    // SAFETY: per the contract.
    unsafe { c.as_ref().client.clone() }
}

/// Borrows and checks a container id argument.
///
/// # Safety
/// `p` is NULL or a NUL-terminated string.
unsafe fn container_id<'a>(p: *const c_char) -> Result<&'a str> {
    // SAFETY: forwarded.
    let id = unsafe { c_str(p, "id") }?;
    validate_id("container id", id)?;
    Ok(id)
}

/// Borrows and checks a process id argument (`init` allowed).
///
/// # Safety
/// `p` is NULL or a NUL-terminated string.
unsafe fn checked_process_id<'a>(p: *const c_char) -> Result<&'a str> {
    // SAFETY: forwarded.
    let id = unsafe { c_str(p, "process_id") }?;
    validate_id("process id", id)?;
    Ok(id)
}

/// Creates and starts container `id`: makes the container and its task, calls
/// `attach_streams` (on this thread, before the process starts), starts the init
/// process and reports `start-container`.
///
/// `id`: 1–64 characters, runs of `[A-Za-z0-9]` joined by single `.`, `_` or `-`
/// (containerd's identifier grammar: no leading, trailing or doubled separator).
/// `spec_json`: an OCI
/// runtime spec whose `root.path` is an existing absolute host directory holding the
/// rootfs (unless `image` is given). `options_json` (may be NULL): `{"runtime": {"path", "args"},
/// "restart_policy": {"name": "no|always|on-failure|unless-stopped",
/// "maximum_retry_count"}, "image": "<ref>", "snapshotter": "overlayfs|native"}`.
/// With `image` (pulled or imported before; `LCD_NOT_FOUND` if it is not there) the
/// container runs on a writable snapshot of it, keyed by `id` and removed with the
/// container: `root.path` is ignored (`root.readonly` is honoured), and the image
/// config supplies what the spec's process leaves out (args = entrypoint + cmd, env
/// merged with the spec's keys winning, cwd, user), unpacking the image first if
/// needed. Strings are borrowed. Invalid arguments are `LCD_INVALID_ARGUMENT` before
/// anything is created. A taken id is
/// `LCD_ALREADY_EXISTS` before anything is touched (no fifo, no `attach_streams`, no
/// event): taken by any client of the same remote, or known to containerd (e.g. a
/// container left running across a restart of the host program: restore it). An id
/// whose container waits out a restart backoff is taken over: that restart is
/// cancelled and the old container's `exit` reported before this one's
/// `start-container`. Blocking, thread-safe.
///
/// `call` (may be NULL): see `lcd_call`; the time spent in `attach_streams` is not cut
/// short. Given up (`LCD_CANCELLED`, `LCD_DEADLINE_EXCEEDED`): not done. Whatever
/// containerd made of it (container, task, snapshot) is removed again in the
/// background, no event is reported for it (the pipes given to `attach_streams` see
/// EOF), and the id stays taken until that removal has ended: a later create of it
/// waits for the removal (as for a container being reaped).
#[no_mangle]
pub unsafe extern "C" fn lcd_client_create(
    c: *mut lcd_client,
    id: *const c_char,
    spec_json: *const c_char,
    options_json: *const c_char,
    call: *const lcd_call,
) -> *mut lcd_error {
    guard(|| {
        let c = handle(c)?;
        // SAFETY (all string arguments of this module): NULL or NUL-terminated,
        // borrowed for the call.
        let id = unsafe { container_id(id) }?;
        let spec_json = unsafe { c_str(spec_json, "spec_json") }?;
        let options = CreateOptions::from_json(unsafe { opt_c_str(options_json, "options_json") }?)?;
        let spec = ContainerSpec::for_options(spec_json, &options)?;
        // SAFETY (all handles of this module): a live handle from lcd_remote_client.
        unsafe { with_call(call, || client(c).create(id, &spec, &options)) }
    })
}

/// Sends signal `sig` to the init process of container `id`. SIGTERM and SIGKILL are
/// an explicit stop (no restart follows); a paused container is thawed so that the
/// signal is delivered. Blocking, thread-safe.
///
/// `call` (may be NULL): see `lcd_call`. Given up: the signal may have been delivered
/// if the request had reached containerd; SIGTERM and SIGKILL count as an explicit stop
/// either way.
#[no_mangle]
pub unsafe extern "C" fn lcd_client_signal(c: *mut lcd_client, id: *const c_char, sig: c_int, call: *const lcd_call) -> *mut lcd_error {
    guard(|| {
        let c = handle(c)?;
        let id = unsafe { container_id(id) }?;
        unsafe { with_call(call, || client(c).signal(id, sig)) }
    })
}

/// Sends signal `sig` to process `process_id` (`"init"` or an exec's id) of container
/// `id`. Blocking, thread-safe.
///
/// `call` (may be NULL): see `lcd_call`. Given up: the signal may have been delivered
/// if the request had reached containerd.
#[no_mangle]
pub unsafe extern "C" fn lcd_client_signal_process(
    c: *mut lcd_client,
    id: *const c_char,
    process_id: *const c_char,
    sig: c_int,
    call: *const lcd_call,
) -> *mut lcd_error {
    guard(|| {
        let c = handle(c)?;
        let id = unsafe { container_id(id) }?;
        let pid = unsafe { checked_process_id(process_id) }?;
        unsafe { with_call(call, || client(c).signal_process(id, pid, sig)) }
    })
}

/// Runs another process in container `id`: `attach_streams` is called on this thread
/// before it starts, then `start-process` and later `exit-process` are reported.
/// `process_id` follows the id rules and is not `"init"`. `process_json`:
/// `{"args" (required), "terminal", "user": {"uid", "gid", "additionalGids"}, "env",
/// "cwd", "capabilities", "ambientCapabilities", "rlimits", "apparmorProfile",
/// "selinuxLabel", "consoleSize": {"height", "width"}}`; unset fields come from the
/// container's own process. `capabilities` fill the bounding, effective and permitted
/// sets only: a non-root user keeps a capability across `execve` only when it is also
/// listed in `ambientCapabilities`. `consoleSize` (with `terminal`) is the terminal's
/// size from the start. Strings are borrowed. Blocking,
/// thread-safe.
///
/// `call` (may be NULL): see `lcd_call`; the time spent in `attach_streams` is not cut
/// short. Given up: not done. The process, if containerd started it, is killed and
/// removed in the background, with no `start-process` or `exit-process` reported; its
/// process id stays taken until then.
#[no_mangle]
pub unsafe extern "C" fn lcd_client_add_process(
    c: *mut lcd_client,
    id: *const c_char,
    process_id: *const c_char,
    process_json: *const c_char,
    call: *const lcd_call,
) -> *mut lcd_error {
    guard(|| {
        let c = handle(c)?;
        let id = unsafe { container_id(id) }?;
        let pid = unsafe { c_str(process_id, "process_id") }?;
        validate_exec_id(pid)?;
        let process = ProcessSpec::from_json(unsafe { c_str(process_json, "process_json") }?)?;
        unsafe { with_call(call, || client(c).add_process(id, pid, &process)) }.map(drop)
    })
}

/// Resizes the terminal of process `process_id` (`"init"` or an exec's id) of
/// container `id` to `width` columns and `height` rows. Blocking, thread-safe.
///
/// `call` (may be NULL): see `lcd_call`. Given up: one request; if it had reached
/// containerd, the terminal may have been resized.
#[no_mangle]
pub unsafe extern "C" fn lcd_client_resize(
    c: *mut lcd_client,
    id: *const c_char,
    process_id: *const c_char,
    width: u32,
    height: u32,
    call: *const lcd_call,
) -> *mut lcd_error {
    guard(|| {
        let c = handle(c)?;
        let id = unsafe { container_id(id) }?;
        let pid = unsafe { checked_process_id(process_id) }?;
        unsafe { with_call(call, || client(c).resize(id, pid, width, height)) }
    })
}

/// Freezes container `id`; returns once containerd has paused it (`pause` follows
/// through `state_changed`). Blocking, thread-safe.
///
/// `call` (may be NULL): see `lcd_call`. Given up: one request; if it had reached
/// containerd, the container may be paused (its `pause` event then follows).
#[no_mangle]
pub unsafe extern "C" fn lcd_client_pause(c: *mut lcd_client, id: *const c_char, call: *const lcd_call) -> *mut lcd_error {
    guard(|| {
        let c = handle(c)?;
        let id = unsafe { container_id(id) }?;
        unsafe { with_call(call, || client(c).pause(id)) }
    })
}

/// Thaws container `id`; returns once containerd has resumed it (`resume` follows
/// through `state_changed`). Blocking, thread-safe.
///
/// `call` (may be NULL): see `lcd_call`. Given up: one request; if it had reached
/// containerd, the container may be resumed (its `resume` event then follows).
#[no_mangle]
pub unsafe extern "C" fn lcd_client_resume(c: *mut lcd_client, id: *const c_char, call: *const lcd_call) -> *mut lcd_error {
    guard(|| {
        let c = handle(c)?;
        let id = unsafe { container_id(id) }?;
        unsafe { with_call(call, || client(c).resume(id)) }
    })
}

/// Re-adopts container `id`, created by this library, after the host program or
/// containerd restarted. `options_json` is as for `lcd_client_create` (may be NULL).
/// A running container gets `attach_streams` and `restore` (or is stopped and reported
/// as `exit` with `live_restore` off); one that exited meanwhile is reported as `exit`
/// with its real code, one gone without a trace as `exit` 255 (and this returns OK).
/// Blocking, thread-safe.
///
/// `call` (may be NULL): see `lcd_call`. Given up while containerd is asked about the
/// container: not done, the client is unchanged (restore it later). Once containerd has
/// answered, the re-adoption is carried out to its end (and so is the stop with
/// `live_restore` off).
#[no_mangle]
pub unsafe extern "C" fn lcd_client_restore(
    c: *mut lcd_client,
    id: *const c_char,
    options_json: *const c_char,
    call: *const lcd_call,
) -> *mut lcd_error {
    guard(|| {
        let c = handle(c)?;
        let id = unsafe { container_id(id) }?;
        let options = CreateOptions::from_json(unsafe { opt_c_str(options_json, "options_json") }?)?;
        unsafe { with_call(call, || client(c).restore(id, &options)) }
    })
}

/// The cgroup figures of container `id` as JSON: `read` (RFC 3339), `cgroup`, `cpu`,
/// `memory`, `pids`, `blkio`. On success `*stats_json` receives a string the caller
/// frees with `lcd_string_free`. Blocking, thread-safe.
///
/// `call` (may be NULL): see `lcd_call`. Given up: nothing happened.
#[no_mangle]
pub unsafe extern "C" fn lcd_client_stats(
    c: *mut lcd_client,
    id: *const c_char,
    stats_json: *mut *mut c_char,
    call: *const lcd_call,
) -> *mut lcd_error {
    guard(|| {
        let c = handle(c)?;
        let id = unsafe { container_id(id) }?;
        let out = out_param(stats_json, "stats_json")?;
        let stats = unsafe { with_call(call, || client(c).stats(id)) }?;
        let s = out_json(&stats)?;
        // SAFETY (all out-parameters of this module): writable, checked above.
        unsafe { write_out(out, s) };
        Ok(())
    })
}

/// The host pids of every process in container `id`, as a JSON array of numbers. On
/// success `*pids_json` receives a string the caller frees with `lcd_string_free`.
/// Blocking, thread-safe.
///
/// `call` (may be NULL): see `lcd_call`. Given up: nothing happened.
#[no_mangle]
pub unsafe extern "C" fn lcd_client_get_pids(
    c: *mut lcd_client,
    id: *const c_char,
    pids_json: *mut *mut c_char,
    call: *const lcd_call,
) -> *mut lcd_error {
    guard(|| {
        let c = handle(c)?;
        let id = unsafe { container_id(id) }?;
        let out = out_param(pids_json, "pids_json")?;
        let pids = unsafe { with_call(call, || client(c).get_pids(id)) }?;
        let s = out_json(&pids)?;
        unsafe { write_out(out, s) };
        Ok(())
    })
}

/// Every process of container `id` as a JSON array of `{"pid", "process_id"}`
/// (`process_id` is `"init"`, an exec's id, or empty for a process the library did not
/// start). On success `*summary_json` receives a string the caller frees with
/// `lcd_string_free`. Blocking, thread-safe.
///
/// `call` (may be NULL): see `lcd_call`. Given up: nothing happened.
#[no_mangle]
pub unsafe extern "C" fn lcd_client_summary(
    c: *mut lcd_client,
    id: *const c_char,
    summary_json: *mut *mut c_char,
    call: *const lcd_call,
) -> *mut lcd_error {
    guard(|| {
        let c = handle(c)?;
        let id = unsafe { container_id(id) }?;
        let out = out_param(summary_json, "summary_json")?;
        let summary = unsafe { with_call(call, || client(c).summary(id)) }?;
        let s = out_json(&summary)?;
        unsafe { write_out(out, s) };
        Ok(())
    })
}

/// Applies OCI `LinuxResources` (`resources_json`, borrowed) to running container
/// `id`. Blocking, thread-safe.
///
/// `call` (may be NULL): see `lcd_call`. Given up: one request; if it had reached
/// containerd, the resources may have been applied.
#[no_mangle]
pub unsafe extern "C" fn lcd_client_update_resources(
    c: *mut lcd_client,
    id: *const c_char,
    resources_json: *const c_char,
    call: *const lcd_call,
) -> *mut lcd_error {
    guard(|| {
        let c = handle(c)?;
        let id = unsafe { container_id(id) }?;
        let resources = parse_resources(unsafe { c_str(resources_json, "resources_json") }?)?;
        unsafe { with_call(call, || client(c).update_resources(id, &resources)) }
    })
}

/// The containers of this client's namespace as a JSON array of `{"id", "pid",
/// "status", "processes": [{"process_id", "pid", "status"}]}`, status one of
/// `created`, `running`, `paused`, `stopped`. On success `*containers_json` receives
/// a string the caller frees with `lcd_string_free`. Blocking, thread-safe.
///
/// `call` (may be NULL): see `lcd_call`. Given up: nothing happened.
#[no_mangle]
pub unsafe extern "C" fn lcd_client_list(c: *mut lcd_client, containers_json: *mut *mut c_char, call: *const lcd_call) -> *mut lcd_error {
    guard(|| {
        let c = handle(c)?;
        let out = out_param(containers_json, "containers_json")?;
        let list = unsafe { with_call(call, || client(c).list()) }?;
        let s = out_json(&list)?;
        unsafe { write_out(out, s) };
        Ok(())
    })
}

/// Stops container `id`: sends `sig` (0: the container's stop signal — the spec's
/// `org.opencontainers.image.stopSignal` annotation, else its image's
/// `io.containerd.image.config.stop-signal` label, else SIGTERM), thaws it if it is
/// paused, sends SIGKILL if init is still alive `timeout_ms` later, and returns once
/// init has exited (its `exit` is queued, not necessarily delivered yet). It is an
/// explicit stop: restart policies are cancelled, also a restart already pending, and
/// `restore` remembers it. A container between two runs of its restart policy is
/// ended (OK). `sig` outside 0..64 is `LCD_INVALID_ARGUMENT`; a container containerd
/// does not have is `LCD_NOT_FOUND`. Blocking, thread-safe.
///
/// `call` (may be NULL): see `lcd_call`. Given up: the stop counts as explicit (restart
/// policies stay cancelled) and its signal, or the SIGKILL, may have been sent; the
/// container may still be running or exit later (its `exit` is reported as usual).
#[no_mangle]
pub unsafe extern "C" fn lcd_client_stop(c: *mut lcd_client, id: *const c_char, sig: c_int, timeout_ms: u32, call: *const lcd_call) -> *mut lcd_error {
    guard(|| {
        let c = handle(c)?;
        let id = unsafe { container_id(id) }?;
        check_stop_signal(sig)?;
        unsafe { with_call(call, || client(c).stop(id, sig, std::time::Duration::from_millis(timeout_ms.into()))) }
    })
}

/// Replaces the restart policy of container `id` (moby's restart manager
/// `SetPolicy`): `policy_json` (borrowed) is `{"name":
/// "no|always|on-failure|unless-stopped", "maximum_retry_count"}` as in the create
/// options. The new policy decides the container's next exits (the restart count and
/// backoff carry on) and is recorded with the container, so that `lcd_client_restore`
/// without options uses it. `{"name": "no"}` also cancels a restart already pending:
/// the container then ends with its `exit`. An explicitly stopped container stays
/// stopped. Blocking, thread-safe.
///
/// `call` (may be NULL): see `lcd_call`. Given up: for a container this client tracks
/// the new policy is in effect, and only its record in containerd (which a later
/// `lcd_client_restore` reads) may not have been updated; otherwise that record may or
/// may not have been updated.
#[no_mangle]
pub unsafe extern "C" fn lcd_client_update_restart_policy(
    c: *mut lcd_client,
    id: *const c_char,
    policy_json: *const c_char,
    call: *const lcd_call,
) -> *mut lcd_error {
    guard(|| {
        let c = handle(c)?;
        let id = unsafe { container_id(id) }?;
        let policy = parse_restart_policy(unsafe { c_str(policy_json, "policy_json") }?)?;
        unsafe { with_call(call, || client(c).update_restart_policy(id, &policy)) }
    })
}

/// Closes and frees the client: stops event delivery, waits for callbacks in flight
/// (`state_changed`, and `attach_streams` including a restart's), then calls the
/// backend's `user_data_free` exactly once, before it returns; no callback starts
/// after it returned. From inside a callback the wait (and `user_data_free`) is
/// deferred to the end of the callbacks in flight. The client's containers keep
/// running, unwatched; if this was the remote's last handle, the remote ends as
/// `lcd_remote_free` says. NULL is a no-op. Must not race with another call on the
/// same handle; `c` is invalid afterwards.
#[no_mangle]
pub unsafe extern "C" fn lcd_client_free(c: *mut lcd_client) {
    if c.is_null() {
        return;
    }
    guard_value((), || {
        // SAFETY: a handle from lcd_remote_client, freed once.
        let c = unsafe { Box::from_raw(c) };
        c.client.close();
    })
}
