//! The host program's side: the [`Backend`] trait through which state changes and
//! stdio reach it, and the values passed to it.

use std::os::fd::OwnedFd;

use crate::error::Result;

/// A state change reported through [`Backend::state_changed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// The container's init process started (a new run).
    StartContainer,
    /// The container was frozen.
    Pause,
    /// The container was thawed.
    Resume,
    /// The container's init process exited; the id is free again.
    Exit,
    /// The container exited and its restart policy is restarting it.
    Restart,
    /// A running container was re-adopted by `restore`.
    Restore,
    /// An exec process started.
    StartProcess,
    /// An exec process exited.
    ExitProcess,
    /// A process in the container was killed by the OOM killer.
    Oom,
}

impl State {
    /// The wire name (`LCD_STATE_*` in C), e.g. `"start-container"`.
    pub fn as_str(self) -> &'static str {
        match self {
            State::StartContainer => "start-container",
            State::Pause => "pause",
            State::Resume => "resume",
            State::Exit => "exit",
            State::Restart => "restart",
            State::Restore => "restore",
            State::StartProcess => "start-process",
            State::ExitProcess => "exit-process",
            State::Oom => "oom",
        }
    }
}

/// What [`Backend::state_changed`] receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateInfo {
    /// What happened.
    pub state: State,
    /// Host pid of the process concerned (0 when unknown).
    pub pid: u32,
    /// Exit code (exits only).
    pub exit_code: u32,
    /// `init` for the container's first process, else the exec's id.
    pub process_id: String,
    /// Whether the OOM killer struck during this run (exits only).
    pub oom_killed: bool,
    /// When the process exited, nanoseconds since the Unix epoch; 0 unless an exit.
    pub exited_at_unix_nano: i64,
}

/// A process's stdio, handed to [`Backend::attach_streams`]. The receiver owns the
/// descriptors. Closing `stdin` delivers EOF to the process.
#[derive(Debug)]
pub struct IoPipe {
    /// Write end; closing it closes the process's stdin.
    pub stdin: OwnedFd,
    /// Read end of the process's stdout (with a terminal: the terminal's output).
    pub stdout: OwnedFd,
    /// Read end of stderr; `None` with a terminal.
    pub stderr: Option<OwnedFd>,
    /// Whether the process has a terminal.
    pub terminal: bool,
}

impl IoPipe {
    /// Closes stdin and reads stdout and stderr to their end in the background,
    /// discarding what they carry, so the process never blocks on a full pipe.
    pub fn discard(self) {
        let IoPipe { stdin, stdout, stderr, .. } = self;
        drop(stdin);
        crate::io::discard(stdout);
        if let Some(e) = stderr {
            crate::io::discard(e);
        }
    }
}

/// The host program's callbacks. Implementations must be thread-safe.
///
/// `state_changed` runs on a thread the library owns (never an async worker); the
/// events of one container arrive in order, each exactly once. `attach_streams` runs
/// on the calling thread of `create`, `add_process` and `restore` before the process
/// starts, so no output is lost; an error it returns fails that call. Both may call
/// back into the library.
pub trait Backend: Send + Sync + 'static {
    /// A container or process changed state.
    fn state_changed(&self, container_id: &str, info: &StateInfo) -> Result<()> {
        let _ = (container_id, info);
        Ok(())
    }

    /// Takes over a process's stdio. The default closes stdin and discards output.
    fn attach_streams(&self, container_id: &str, process_id: &str, io: IoPipe) -> Result<()> {
        let _ = (container_id, process_id);
        io.discard();
        Ok(())
    }
}
