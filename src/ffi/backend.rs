//! The `lcd_backend` callback table and [`FfiBackend`], its adapter to the Rust
//! [`Backend`] trait.

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::mem::{offset_of, size_of};
use std::os::fd::IntoRawFd;
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicBool, Ordering};

use super::error::lcd_error;
use crate::backend::{Backend, IoPipe, State, StateInfo};
use crate::error::{Error, Result};

/// What `state_changed` receives. Every pointer in it is borrowed for the duration
/// of the call only: copy what you keep.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct lcd_state_info {
    /// One of the `LCD_STATE_*` strings (static; compare with `strcmp`).
    pub state: *const c_char,
    /// Host pid of the process concerned (0 when unknown).
    pub pid: u32,
    /// Exit code (exits only).
    pub exit_code: u32,
    /// `"init"` for the container's first process, else the exec's process id.
    pub process_id: *const c_char,
    /// Whether the OOM killer struck during this run (exits only).
    pub oom_killed: bool,
    /// When the process exited, in nanoseconds since the Unix epoch; 0 unless an exit.
    pub exited_at_unix_nano: i64,
}

/// A process's stdio, handed to `attach_streams`. Ownership of the descriptors passes
/// to the callee, which must close each one when done, including when it returns an
/// error. The callee must keep reading `stdout_fd` and `stderr_fd` until they reach
/// end of file: a process whose output nobody reads blocks once a pipe's worth
/// (64 KiB) is buffered, and never exits. To discard a process's output, read it
/// away, or leave `attach_streams` NULL and the library discards it.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct lcd_io_pipe {
    /// Write end of the process's stdin; closing it delivers EOF to the process.
    pub stdin_fd: c_int,
    /// Read end of the process's stdout (with a terminal: the terminal's output).
    pub stdout_fd: c_int,
    /// Read end of the process's stderr; -1 with a terminal.
    pub stderr_fd: c_int,
    /// Whether the process has a terminal.
    pub terminal: bool,
}

/// The host program's callback table, given to `lcd_remote_client`, which copies it.
///
/// Set `struct_size` to `sizeof(lcd_backend)`: it lets the table grow; fields beyond a
/// smaller `struct_size` count as NULL. Every callback may be NULL.
///
/// `user_data` is opaque to the library and passed to every callback. The callbacks
/// run on several threads, concurrently (`state_changed` on threads the library owns,
/// one container's events one at a time but different containers' at once;
/// `attach_streams` on the thread of the call that starts a process, or a library
/// thread for a restart), so the caller guarantees that `user_data` may be used from
/// any thread, concurrently.
///
/// A `state_changed` that blocks holds up only its own container's later events. Up
/// to 16 containers' callbacks of one client run at once (more wait their turn).
/// While a container's callback blocks, its queue keeps every `start-container`,
/// `exit`, `restart`, `restore`, `start-process` and `exit-process`; past 256 queued
/// events a new `pause`, `resume` or `oom` replaces the oldest queued one of those
/// notices (so the latest state is still reported), and the drop is logged.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
// The callback types stay inline so that the header shows them as DESIGN writes them.
#[allow(clippy::type_complexity)]
pub struct lcd_backend {
    /// `sizeof(lcd_backend)` as the caller knows it.
    pub struct_size: u32,
    /// Passed to every callback; released by `user_data_free`.
    pub user_data: *mut c_void,
    /// A container or process changed state. Runs on a thread the library owns (never
    /// the caller's); the events of one container arrive in order, each exactly once.
    /// May call back into the library (except `lcd_client_free` of another client
    /// that is waiting for this callback). A returned error is taken over (freed) by
    /// the library and otherwise ignored. NULL: events are ignored.
    pub state_changed: Option<
        unsafe extern "C" fn(
            user_data: *mut c_void,
            container_id: *const c_char,
            info: *const lcd_state_info,
        ) -> *mut lcd_error,
    >,
    /// Takes over a process's stdio, before the process starts (inside
    /// `lcd_client_create`, `lcd_client_add_process`, `lcd_client_restore`, on the
    /// calling thread; on a library thread for a restart by the restart policy). The
    /// descriptors in `io` are the callee's from then on, whatever it returns; `io`
    /// itself is borrowed for the call. An error it returns (taken over by the library)
    /// fails the call that started the process. The callee must drain stdout and
    /// stderr (see `lcd_io_pipe`): unread output blocks the process. NULL: stdin is
    /// closed and output discarded by the library, so the process never blocks.
    pub attach_streams: Option<
        unsafe extern "C" fn(
            user_data: *mut c_void,
            container_id: *const c_char,
            process_id: *const c_char,
            io: *const lcd_io_pipe,
        ) -> *mut lcd_error,
    >,
    /// Called exactly once with `user_data` when the client is freed, after the last
    /// callback has returned; possibly on a library thread. Not called if
    /// `lcd_remote_client` fails. May be NULL.
    pub user_data_free: Option<unsafe extern "C" fn(user_data: *mut c_void)>,
}

type StateChangedFn = unsafe extern "C" fn(*mut c_void, *const c_char, *const lcd_state_info) -> *mut lcd_error;
type AttachStreamsFn =
    unsafe extern "C" fn(*mut c_void, *const c_char, *const c_char, *const lcd_io_pipe) -> *mut lcd_error;
type UserDataFreeFn = unsafe extern "C" fn(*mut c_void);

/// The static NUL-terminated wire name of a state (`LCD_STATE_*`).
pub fn state_c_str(state: State) -> &'static CStr {
    match state {
        State::StartContainer => c"start-container",
        State::Pause => c"pause",
        State::Resume => c"resume",
        State::Exit => c"exit",
        State::Restart => c"restart",
        State::Restore => c"restore",
        State::StartProcess => c"start-process",
        State::ExitProcess => c"exit-process",
        State::Oom => c"oom",
    }
}

/// A copy of a C callback table, implementing [`Backend`].
///
/// It is `Send + Sync` because the C caller guarantees (see `lcd_backend`) that
/// `user_data` and the callbacks may be used from any thread. `user_data_free` runs
/// once, when the last reference is dropped, unless [`FfiBackend::disarm`] was called.
pub struct FfiBackend {
    user_data: *mut c_void,
    state_changed: Option<StateChangedFn>,
    attach_streams: Option<AttachStreamsFn>,
    user_data_free: Option<UserDataFreeFn>,
    owns_user_data: AtomicBool,
}

// SAFETY: the callbacks and `user_data` are documented as callable from any thread
// (the caller's guarantee); the struct holds nothing else that is thread-bound.
unsafe impl Send for FfiBackend {}
// SAFETY: as above; concurrent calls are allowed by the same guarantee.
unsafe impl Sync for FfiBackend {}

impl std::fmt::Debug for FfiBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FfiBackend")
            .field("user_data", &self.user_data)
            .field("state_changed", &self.state_changed.is_some())
            .field("attach_streams", &self.attach_streams.is_some())
            .field("user_data_free", &self.user_data_free.is_some())
            .finish()
    }
}

/// Whether the field at `offset` of `len` bytes lies within the first `size` bytes.
fn within(offset: usize, len: usize, size: u32) -> bool {
    offset + len <= size as usize
}

impl FfiBackend {
    /// Copies a C callback table, reading only the first `struct_size` bytes of it.
    /// A `struct_size` of 0 (a table left uninitialised) is INVALID_ARGUMENT.
    ///
    /// # Safety
    /// `table` points to a readable, initialised `lcd_backend` prefix of at least
    /// `struct_size` bytes (or of `sizeof(lcd_backend)` if that is smaller), whose
    /// non-NULL callbacks are valid functions of the declared types.
    pub unsafe fn from_c(table: NonNull<lcd_backend>) -> Result<FfiBackend> {
        let base = table.as_ptr();
        // SAFETY: the first field is always present.
        let size = unsafe { ptr::addr_of!((*base).struct_size).read() };
        if size == 0 {
            return Err(Error::invalid("backend.struct_size is 0; set it to sizeof(lcd_backend)"));
        }
        macro_rules! field {
            ($name:ident, $ty:ty, $none:expr) => {
                if within(offset_of!(lcd_backend, $name), size_of::<$ty>(), size) {
                    // SAFETY: within the caller's `struct_size` bytes, so readable.
                    unsafe { ptr::addr_of!((*base).$name).read() }
                } else {
                    $none
                }
            };
        }
        Ok(FfiBackend {
            user_data: field!(user_data, *mut c_void, ptr::null_mut()),
            state_changed: field!(state_changed, Option<StateChangedFn>, None),
            attach_streams: field!(attach_streams, Option<AttachStreamsFn>, None),
            user_data_free: field!(user_data_free, Option<UserDataFreeFn>, None),
            owns_user_data: AtomicBool::new(true),
        })
    }

    /// Gives `user_data` back to the caller: `user_data_free` will not be called (for a
    /// `lcd_remote_client` that failed).
    pub fn disarm(&self) {
        self.owns_user_data.store(false, Ordering::SeqCst);
    }

    /// Turns what a callback returned into a result, freeing the error.
    fn result(err: *mut lcd_error) -> Result<()> {
        // SAFETY: a callback returns NULL or an error of this library whose ownership
        // it hands over (the documented contract).
        match unsafe { lcd_error::take(err) } {
            None => Ok(()),
            Some(e) => Err(e),
        }
    }
}

fn c_string(what: &str, s: &str) -> Result<CString> {
    CString::new(s).map_err(|_| Error::internal(format!("{what} {s:?} contains a NUL byte")))
}

impl Backend for FfiBackend {
    fn state_changed(&self, container_id: &str, info: &StateInfo) -> Result<()> {
        let Some(f) = self.state_changed else {
            return Ok(());
        };
        let cid = c_string("container id", container_id)?;
        let pid = c_string("process id", &info.process_id)?;
        let c_info = lcd_state_info {
            state: state_c_str(info.state).as_ptr(),
            pid: info.pid,
            exit_code: info.exit_code,
            process_id: pid.as_ptr(),
            oom_killed: info.oom_killed,
            exited_at_unix_nano: info.exited_at_unix_nano,
        };
        // SAFETY: `f` is a valid callback per the table's contract; every pointer
        // passed lives until it returns.
        Self::result(unsafe { f(self.user_data, cid.as_ptr(), &c_info) })
    }

    fn attach_streams(&self, container_id: &str, process_id: &str, io: IoPipe) -> Result<()> {
        let Some(f) = self.attach_streams else {
            io.discard();
            return Ok(());
        };
        let cid = c_string("container id", container_id)?;
        let pid = c_string("process id", process_id)?;
        let IoPipe { stdin, stdout, stderr, terminal } = io;
        // From here on the descriptors belong to the callee, whatever it returns.
        let c_io = lcd_io_pipe {
            stdin_fd: stdin.into_raw_fd(),
            stdout_fd: stdout.into_raw_fd(),
            stderr_fd: stderr.map_or(-1, IntoRawFd::into_raw_fd),
            terminal,
        };
        // SAFETY: as in `state_changed`.
        Self::result(unsafe { f(self.user_data, cid.as_ptr(), pid.as_ptr(), &c_io) })
    }
}

impl Drop for FfiBackend {
    fn drop(&mut self) {
        if !self.owns_user_data.swap(false, Ordering::SeqCst) {
            return;
        }
        if let Some(f) = self.user_data_free {
            // SAFETY: called once (the flag above), with the caller's own user_data.
            unsafe { f(self.user_data) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ffi::error::{lcd_code, lcd_error_new};
    use crate::Code;
    use std::os::fd::{FromRawFd, OwnedFd};
    use std::sync::Mutex;

    /// container, state, pid, exit code, process, oom_killed, exited_at
    type Event = (String, String, u32, u32, String, bool, i64);
    /// container, process, the pipe, what stdout held
    type Attached = (String, String, lcd_io_pipe, Vec<u8>);

    #[derive(Default)]
    struct Recorder {
        events: Mutex<Vec<Event>>,
        attached: Mutex<Vec<Attached>>,
        freed: Mutex<u32>,
        fail: bool,
    }

    unsafe extern "C" fn on_state(ud: *mut c_void, cid: *const c_char, info: *const lcd_state_info) -> *mut lcd_error {
        let r = unsafe { &*(ud as *const Recorder) };
        let info = unsafe { &*info };
        let s = |p: *const c_char| unsafe { CStr::from_ptr(p) }.to_str().unwrap().to_string();
        r.events.lock().unwrap().push((
            s(cid),
            s(info.state),
            info.pid,
            info.exit_code,
            s(info.process_id),
            info.oom_killed,
            info.exited_at_unix_nano,
        ));
        if r.fail {
            unsafe { lcd_error_new(lcd_code::LCD_FAILED_PRECONDITION as i32, c"not now".as_ptr()) }
        } else {
            ptr::null_mut()
        }
    }

    unsafe extern "C" fn on_attach(
        ud: *mut c_void,
        cid: *const c_char,
        pid: *const c_char,
        io: *const lcd_io_pipe,
    ) -> *mut lcd_error {
        let r = unsafe { &*(ud as *const Recorder) };
        let io = unsafe { *io };
        let s = |p: *const c_char| unsafe { CStr::from_ptr(p) }.to_str().unwrap().to_string();
        // Read what is waiting on stdout, then close everything we were given.
        let mut buf = [0u8; 16];
        let n = unsafe { libc::read(io.stdout_fd, buf.as_mut_ptr().cast(), buf.len()) };
        for fd in [io.stdin_fd, io.stdout_fd, io.stderr_fd] {
            if fd >= 0 {
                unsafe { libc::close(fd) };
            }
        }
        r.attached.lock().unwrap().push((s(cid), s(pid), io, buf[..n.max(0) as usize].to_vec()));
        if r.fail {
            unsafe { lcd_error_new(lcd_code::LCD_IO as i32, c"cannot attach".as_ptr()) }
        } else {
            ptr::null_mut()
        }
    }

    unsafe extern "C" fn on_free(ud: *mut c_void) {
        let r = unsafe { &*(ud as *const Recorder) };
        *r.freed.lock().unwrap() += 1;
    }

    fn table(r: &Recorder) -> lcd_backend {
        lcd_backend {
            struct_size: size_of::<lcd_backend>() as u32,
            user_data: r as *const Recorder as *mut c_void,
            state_changed: Some(on_state),
            attach_streams: Some(on_attach),
            user_data_free: Some(on_free),
        }
    }

    fn pipe() -> (OwnedFd, OwnedFd) {
        let mut fds = [0; 2];
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
    }

    #[test]
    fn state_changed_gets_the_event() {
        let r = Recorder::default();
        let t = table(&r);
        let b = unsafe { FfiBackend::from_c(NonNull::from(&t)) }.unwrap();
        let info = StateInfo {
            state: State::Exit,
            pid: 42,
            exit_code: 7,
            process_id: "init".into(),
            oom_killed: true,
            exited_at_unix_nano: 1_700_000_000_000_000_000,
        };
        b.state_changed("web", &info).unwrap();
        assert_eq!(
            r.events.lock().unwrap()[0],
            ("web".into(), "exit".into(), 42, 7, "init".into(), true, 1_700_000_000_000_000_000)
        );
        drop(b);
        assert_eq!(*r.freed.lock().unwrap(), 1);
    }

    #[test]
    fn callback_errors_come_back_with_their_code() {
        let r = Recorder { fail: true, ..Default::default() };
        let t = table(&r);
        let b = unsafe { FfiBackend::from_c(NonNull::from(&t)) }.unwrap();
        let info = StateInfo {
            state: State::Pause,
            pid: 1,
            exit_code: 0,
            process_id: "init".into(),
            oom_killed: false,
            exited_at_unix_nano: 0,
        };
        let e = b.state_changed("web", &info).unwrap_err();
        assert_eq!(e.code(), Code::FailedPrecondition);
        assert_eq!(e.message(), "not now");

        let (out_r, out_w) = pipe();
        let (in_r, in_w) = pipe();
        drop(out_w);
        let e = b
            .attach_streams("web", "exec1", IoPipe { stdin: in_w, stdout: out_r, stderr: None, terminal: true })
            .unwrap_err();
        assert_eq!(e.code(), Code::Io);
        assert_eq!(e.message(), "cannot attach");
        drop(in_r);
    }

    #[test]
    fn attach_streams_hands_over_the_descriptors() {
        let r = Recorder::default();
        let t = table(&r);
        let b = unsafe { FfiBackend::from_c(NonNull::from(&t)) }.unwrap();
        let (out_r, out_w) = pipe();
        let (err_r, err_w) = pipe();
        let (in_r, in_w) = pipe();
        assert_eq!(unsafe { libc::write(std::os::fd::AsRawFd::as_raw_fd(&out_w), b"hi".as_ptr().cast(), 2) }, 2);
        b.attach_streams("web", "init", IoPipe { stdin: in_w, stdout: out_r, stderr: Some(err_r), terminal: false })
            .unwrap();
        let attached = r.attached.lock().unwrap();
        let (cid, pid, io, data) = &attached[0];
        assert_eq!((cid.as_str(), pid.as_str(), io.terminal, data.as_slice()), ("web", "init", false, &b"hi"[..]));
        assert!(io.stdin_fd >= 0 && io.stdout_fd >= 0 && io.stderr_fd >= 0);
        drop(attached);
        // The callee closed the read ends it was given: writing to stdout's pipe now fails.
        let w = std::os::fd::AsRawFd::as_raw_fd(&out_w);
        assert_eq!(unsafe { libc::write(w, b"x".as_ptr().cast(), 1) }, -1);
        drop((out_w, err_w, in_r));
    }

    #[test]
    fn terminal_has_no_stderr() {
        let r = Recorder::default();
        let t = table(&r);
        let b = unsafe { FfiBackend::from_c(NonNull::from(&t)) }.unwrap();
        let (out_r, out_w) = pipe();
        let (in_r, in_w) = pipe();
        drop(out_w);
        b.attach_streams("web", "tty", IoPipe { stdin: in_w, stdout: out_r, stderr: None, terminal: true }).unwrap();
        let attached = r.attached.lock().unwrap();
        assert_eq!(attached[0].2.stderr_fd, -1);
        assert!(attached[0].2.terminal);
        drop(in_r);
    }

    #[test]
    fn fields_beyond_struct_size_count_as_null() {
        let r = Recorder::default();
        let mut t = table(&r);
        t.struct_size = offset_of!(lcd_backend, attach_streams) as u32;
        let b = unsafe { FfiBackend::from_c(NonNull::from(&t)) }.unwrap();
        assert!(b.state_changed.is_some());
        assert!(b.attach_streams.is_none());
        assert!(b.user_data_free.is_none());
        drop(b);
        assert_eq!(*r.freed.lock().unwrap(), 0);

        // Only the size field: nothing at all, not even user_data.
        let tiny = lcd_backend { struct_size: size_of::<u32>() as u32, ..t };
        let b = unsafe { FfiBackend::from_c(NonNull::from(&tiny)) }.unwrap();
        assert!(b.user_data.is_null() && b.state_changed.is_none());
        // A NULL state_changed ignores events.
        let info = StateInfo {
            state: State::Oom,
            pid: 0,
            exit_code: 0,
            process_id: "init".into(),
            oom_killed: false,
            exited_at_unix_nano: 0,
        };
        b.state_changed("web", &info).unwrap();

        // A larger table (a newer header): only the fields this library knows are read.
        #[repr(C)]
        struct Newer {
            known: lcd_backend,
            later: [usize; 2],
        }
        let mut newer = Newer { known: table(&r), later: [1, 2] };
        newer.known.struct_size = size_of::<Newer>() as u32;
        let b = unsafe { FfiBackend::from_c(NonNull::from(&newer).cast()) }.unwrap();
        assert!(b.attach_streams.is_some() && b.user_data_free.is_some());
        drop(b);
        assert_eq!(*r.freed.lock().unwrap(), 1);
    }

    #[test]
    fn zero_struct_size_is_rejected() {
        let r = Recorder::default();
        let t = lcd_backend { struct_size: 0, ..table(&r) };
        let e = unsafe { FfiBackend::from_c(NonNull::from(&t)) }.unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument);
        assert!(e.message().contains("struct_size"));
        assert_eq!(*r.freed.lock().unwrap(), 0);
    }

    #[test]
    fn user_data_free_runs_once_unless_disarmed() {
        let r = Recorder::default();
        let t = table(&r);
        let b = std::sync::Arc::new(unsafe { FfiBackend::from_c(NonNull::from(&t)) }.unwrap());
        let as_dyn: std::sync::Arc<dyn Backend> = b.clone();
        drop(b);
        assert_eq!(*r.freed.lock().unwrap(), 0);
        drop(as_dyn);
        assert_eq!(*r.freed.lock().unwrap(), 1);

        let b = unsafe { FfiBackend::from_c(NonNull::from(&t)) }.unwrap();
        b.disarm();
        drop(b);
        assert_eq!(*r.freed.lock().unwrap(), 1);
    }

    #[test]
    fn is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync + 'static>() {}
        assert_send_sync::<FfiBackend>();
    }
}
