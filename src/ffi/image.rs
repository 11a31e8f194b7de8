//! `lcd_remote_image_*`: pulling, importing, listing and removing images.

use std::ffi::{c_char, c_void, CString};
use std::path::Path;

use super::call::{lcd_call, with_call};
use super::error::lcd_error;
use super::remote::lcd_remote;
use super::util::{c_str, guard, non_null, opt_c_str, out_json, out_param, write_out};
use crate::images::{ImportOptions, Progress, ProgressFn, PullOptions};
use crate::spec::parse_json;

/// A progress callback: `progress_json` (borrowed for the call) is one object
/// `{"ref","digest","status","current","total"}`, `status` one of `resolving`,
/// `waiting`, `downloading`, `verifying`, `extracting`, `done`, `exists`.
pub type lcd_progress_fn = Option<unsafe extern "C" fn(user_data: *mut c_void, progress_json: *const c_char)>;

/// The caller's callback and its `user_data`, moved to the progress thread.
struct ProgressTarget {
    cb: unsafe extern "C" fn(*mut c_void, *const c_char),
    user_data: *mut c_void,
}

// SAFETY: the contract of `lcd_remote_image_pull` makes `user_data` usable from the
// library's progress thread for the duration of the call.
unsafe impl Send for ProgressTarget {}

impl ProgressTarget {
    fn into_fn(self) -> ProgressFn {
        Box::new(move |p: &Progress| self.deliver(p))
    }

    fn deliver(&self, p: &Progress) {
        let Ok(json) = serde_json::to_string(p) else { return };
        let Ok(json) = CString::new(json) else { return };
        // SAFETY: the caller's callback, called as its contract says; the string is
        // borrowed for the call.
        unsafe { (self.cb)(self.user_data, json.as_ptr()) };
    }
}

/// Pulls image `ref` from its registry into containerd (content store and images
/// service, in the remote's namespace) and, unless option `unpack` is false, unpacks
/// it into the snapshotter. `ref` is a normal image reference
/// (`registry.example:5000/ns/name:tag`, `name@sha256:…`; a bare `busybox` means
/// `docker.io/library/busybox:latest`).
///
/// `options_json` (may be NULL): optional keys `platform` (`os/arch[/variant]`,
/// default the host's), `snapshotter` (default `overlayfs`), `unpack` (default
/// true), `plain_http` (registry hosts reached over HTTP), `ca_file` (a PEM bundle
/// trusted besides the system roots), `auth` (`{"username","password"}` or
/// `{"token"}`), `max_concurrent_downloads` (default 3), `library_decompression`
/// (default true: with unpacking, gzip layers above the first are decompressed by
/// the library as they download, and containerd's applier only untars them); an
/// unknown key is `LCD_INVALID_ARGUMENT` naming it.
///
/// `progress` (may be NULL) is called with `user_data` on one library thread (never
/// the caller's), in order, and every call happens before this function returns; it
/// may call back into the library.
///
/// On success `*image_json` receives a library-owned string (free with
/// `lcd_string_free`): `{"name","digest","size","platform","created","labels",
/// "config":{"entrypoint","cmd","env","working_dir","user","stop_signal","labels"}}`.
/// Errors: unknown image or tag `LCD_NOT_FOUND`; registry unreachable
/// `LCD_UNAVAILABLE`; credentials refused `LCD_PERMISSION_DENIED`; malformed reference
/// `LCD_INVALID_ARGUMENT`; a blob whose digest or size is wrong `LCD_IO` naming it (no
/// image is registered then). Blocking, thread-safe.
///
/// `call` (may be NULL): see `lcd_call`. Given up: not done. The transfer stops, its
/// lease is released in the background and the content it wrote is left to containerd's
/// garbage collector; no image is recorded, unless the final registration had already
/// reached containerd (the image is then complete). Every progress call still happens
/// before this returns.
#[no_mangle]
pub unsafe extern "C" fn lcd_remote_image_pull(
    r: *mut lcd_remote,
    r#ref: *const c_char,
    options_json: *const c_char,
    progress: lcd_progress_fn,
    user_data: *mut c_void,
    image_json: *mut *mut c_char,
    call: *const lcd_call,
) -> *mut lcd_error {
    guard(|| {
        let r = non_null(r, "r (lcd_remote *)")?;
        // SAFETY: NUL-terminated strings (or NULL), borrowed for the call.
        let reference = unsafe { c_str(r#ref, "ref") }?;
        let json = unsafe { opt_c_str(options_json, "options_json") }?;
        let out = out_param(image_json, "image_json")?;
        let options: PullOptions = match json {
            Some(j) => parse_json("pull options", j)?,
            None => PullOptions::default(),
        };
        let progress = progress.map(|cb| ProgressTarget { cb, user_data }.into_fn());
        // SAFETY: `r` is a live handle per the contract.
        let remote = unsafe { &r.as_ref().remote };
        let info = unsafe { with_call(call, || remote.pull_image(reference, &options, progress)) }?;
        let s = out_json(&info)?;
        // SAFETY: `out` is a writable out-parameter.
        unsafe { write_out(out, s) };
        Ok(())
    })
}

/// Imports the images of the archive at `archive_path` (borrowed): an OCI image
/// layout archive (as `skopeo copy … oci-archive:` writes it) or a `docker save`
/// archive. Every path in the archive is untrusted: a malformed, truncated or hostile
/// archive (absolute paths, `..`, links leading out, sizes that do not match) is
/// `LCD_INVALID_ARGUMENT`, and nothing is ever written outside containerd.
///
/// `options_json` (may be NULL): optional key `name`, a reference that renames the
/// archive's single image. On success `*images_json` receives a library-owned JSON
/// array (free with `lcd_string_free`) of the images created, each shaped as
/// `lcd_remote_image_pull`'s `image_json`. Blocking, thread-safe.
///
/// `call` (may be NULL): see `lcd_call`. Given up: as for `lcd_remote_image_pull`: the
/// import stops and its lease is released; an image is recorded only if its
/// registration had already reached containerd (complete).
#[no_mangle]
pub unsafe extern "C" fn lcd_remote_image_import(
    r: *mut lcd_remote,
    archive_path: *const c_char,
    options_json: *const c_char,
    images_json: *mut *mut c_char,
    call: *const lcd_call,
) -> *mut lcd_error {
    guard(|| {
        let r = non_null(r, "r (lcd_remote *)")?;
        // SAFETY: NUL-terminated strings (or NULL), borrowed for the call.
        let path = unsafe { c_str(archive_path, "archive_path") }?;
        let json = unsafe { opt_c_str(options_json, "options_json") }?;
        let out = out_param(images_json, "images_json")?;
        let options: ImportOptions = match json {
            Some(j) => parse_json("import options", j)?,
            None => ImportOptions::default(),
        };
        // SAFETY: `r` is a live handle per the contract.
        let remote = unsafe { &r.as_ref().remote };
        let images = unsafe { with_call(call, || remote.import_images(Path::new(path), &options)) }?;
        let s = out_json(&images)?;
        // SAFETY: `out` is a writable out-parameter.
        unsafe { write_out(out, s) };
        Ok(())
    })
}

/// Lists the images of the remote's namespace. On success `*images_json` receives a
/// library-owned JSON array (free with `lcd_string_free`), sorted by name, each
/// element shaped as `lcd_remote_image_pull`'s `image_json`. Blocking, thread-safe.
///
/// `call` (may be NULL): see `lcd_call`. Given up: nothing happened.
#[no_mangle]
pub unsafe extern "C" fn lcd_remote_image_list(r: *mut lcd_remote, images_json: *mut *mut c_char, call: *const lcd_call) -> *mut lcd_error {
    guard(|| {
        let r = non_null(r, "r (lcd_remote *)")?;
        let out = out_param(images_json, "images_json")?;
        // SAFETY: `r` is a live handle per the contract.
        let remote = unsafe { &r.as_ref().remote };
        let s = out_json(&unsafe { with_call(call, || remote.images()) }?)?;
        // SAFETY: `out` is a writable out-parameter.
        unsafe { write_out(out, s) };
        Ok(())
    })
}

/// Removes image `ref` (borrowed; normalised as in `lcd_remote_image_pull`) from the
/// images service; containerd's garbage collector reclaims the content nothing else
/// refers to before this returns. Containers created from it keep running. Unknown
/// image: `LCD_NOT_FOUND`. Blocking, thread-safe.
///
/// `call` (may be NULL): see `lcd_call`. Given up: one request; if it had reached
/// containerd, the image may have been removed.
#[no_mangle]
pub unsafe extern "C" fn lcd_remote_image_remove(r: *mut lcd_remote, r#ref: *const c_char, call: *const lcd_call) -> *mut lcd_error {
    guard(|| {
        let r = non_null(r, "r (lcd_remote *)")?;
        // SAFETY: a NUL-terminated string, borrowed for the call.
        let reference = unsafe { c_str(r#ref, "ref") }?;
        // SAFETY: `r` is a live handle per the contract.
        let remote = unsafe { &r.as_ref().remote };
        unsafe { with_call(call, || remote.remove_image(reference)) }
    })
}
