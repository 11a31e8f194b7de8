//! The fifos of one process: `<dir>/<process_id>-{stdin,stdout,stderr}`.

use std::fs;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::sys::stat::Mode;
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::sync::watch;

use super::relay;
use crate::backend::IoPipe;
use crate::error::{Error, Result};

/// The longest the reaping of an exited process waits for its output to be read.
pub const DRAIN_LIMIT: Duration = Duration::from_secs(30);

/// The pause between two looks of `wait_drained` when its fifo cannot be watched
/// through the runtime's epoll.
const DRAIN_POLL: Duration = Duration::from_millis(5);

/// The fifo paths of one process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FifoSet {
    /// stdin fifo.
    pub stdin: PathBuf,
    /// stdout fifo.
    pub stdout: PathBuf,
    /// stderr fifo; `None` with a terminal.
    pub stderr: Option<PathBuf>,
    /// Whether the process has a terminal.
    pub terminal: bool,
}

impl FifoSet {
    /// The paths for `process_id` in `dir`.
    pub fn new(dir: &Path, process_id: &str, terminal: bool) -> Self {
        FifoSet {
            stdin: dir.join(format!("{process_id}-stdin")),
            stdout: dir.join(format!("{process_id}-stdout")),
            stderr: (!terminal).then(|| dir.join(format!("{process_id}-stderr"))),
            terminal,
        }
    }

    /// Paths as containerd wants them (empty for an absent stream).
    pub fn as_strings(&self) -> (String, String, String) {
        let s = |p: &Path| p.to_string_lossy().into_owned();
        (s(&self.stdin), s(&self.stdout), self.stderr.as_deref().map(s).unwrap_or_default())
    }

    fn all(&self) -> impl Iterator<Item = &PathBuf> {
        [Some(&self.stdin), Some(&self.stdout), self.stderr.as_ref()].into_iter().flatten()
    }

    /// Creates the directory (0700) and the fifos (0600), replacing stale ones.
    pub fn create(&self) -> Result<()> {
        if let Some(dir) = self.stdout.parent() {
            fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(|e| Error::io(format!("create {}", dir.display()), e))?;
        }
        for p in self.all() {
            let _ = fs::remove_file(p);
            nix::unistd::mkfifo(p, Mode::from_bits_truncate(0o600))
                .map_err(|e| Error::io(format!("mkfifo {}", p.display()), e.into()))?;
        }
        Ok(())
    }

    /// Removes the fifo files (open descriptors stay valid).
    pub fn remove(&self) {
        for p in self.all() {
            let _ = fs::remove_file(p);
        }
    }
}

fn open_fifo(path: &Path, flags: i32) -> Result<OwnedFd> {
    let f = fs::OpenOptions::new()
        .read(flags & libc::O_ACCMODE != libc::O_WRONLY)
        .write(flags & libc::O_ACCMODE != libc::O_RDONLY)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| Error::io(format!("open {}", path.display()), e))?;
    Ok(f.into())
}

fn set_blocking(fd: &OwnedFd) -> Result<()> {
    let flags = fcntl(fd.as_fd(), FcntlArg::F_GETFL).map_err(|e| Error::io("fcntl", e.into()))?;
    let flags = OFlag::from_bits_truncate(flags) & !OFlag::O_NONBLOCK;
    fcntl(fd.as_fd(), FcntlArg::F_SETFL(flags)).map_err(|e| Error::io("fcntl", e.into()))?;
    Ok(())
}

/// Our side of one process's stdio while it lives.
pub struct ProcessIo {
    fifos: FifoSet,
    /// Write ends held until the shim has opened its own, so that a reader never sees
    /// a premature EOF.
    keepalive: Vec<OwnedFd>,
    /// Duplicates of the output read ends, watched (never read) to learn when the shim
    /// has copied everything.
    watch: Vec<OwnedFd>,
    /// Set once containerd has started the process: CloseIO may be sent from then on.
    started: watch::Sender<bool>,
    relay: Option<tokio::task::JoinHandle<()>>,
}

impl ProcessIo {
    /// Opens our ends of existing fifos and returns the pipe for `attach_streams`.
    /// `close_stdin` is called (once, after the process started) when the caller
    /// closes its stdin; `fresh` is false for a restored process whose shim already
    /// holds the fifos open.
    pub fn open<F, Fut>(fifos: FifoSet, fresh: bool, close_stdin: F) -> Result<(ProcessIo, IoPipe)>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let mut keepalive = Vec::new();
        let mut watch = Vec::new();
        let stdout = open_fifo(&fifos.stdout, libc::O_RDONLY)?;
        let stderr = match &fifos.stderr {
            Some(p) => Some(open_fifo(p, libc::O_RDONLY)?),
            None => None,
        };
        for (fd, path) in [(Some(&stdout), &fifos.stdout), (stderr.as_ref(), fifos.stderr.as_ref().unwrap_or(&fifos.stdout))] {
            let Some(fd) = fd else { continue };
            // A writer opened after our reader also makes the kernel report POLLHUP
            // once every writer is gone (see `wait_drained`).
            let writer = open_fifo(path, libc::O_WRONLY)?;
            if fresh {
                keepalive.push(writer);
            }
            watch.push(fd.try_clone().map_err(|e| Error::io("dup", e))?);
            set_blocking(fd)?;
        }
        let (pipe_r, pipe_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| Error::io("pipe", e.into()))?;
        let (started, started_rx) = watch::channel(false);
        let relay = crate::runtime::handle().spawn(relay::stdin_relay(pipe_r, fifos.stdin.clone(), started_rx, close_stdin));
        let pipe = IoPipe { stdin: pipe_w, stdout, stderr, terminal: fifos.terminal };
        Ok((ProcessIo { fifos, keepalive, watch, started, relay: Some(relay) }, pipe))
    }

    /// The fifo paths.
    pub fn fifos(&self) -> &FifoSet {
        &self.fifos
    }

    /// The process runs: drop the keepalive writers and let a pending CloseIO go out.
    pub fn mark_started(&mut self) {
        self.keepalive.clear();
        let _ = self.started.send(true);
    }

    /// Waits until the shim has closed every output fifo (all output handed over), as
    /// long as the reader keeps making progress; gives up after `idle` without
    /// progress, and after [`DRAIN_LIMIT`] in any case (a background process that
    /// inherited the output can keep it open for ever). The wait is on the runtime's
    /// epoll: the shim closing its end (EPOLLHUP) or writing more wakes it, and the
    /// progress of the reader is checked at the idle deadline.
    pub async fn wait_drained(&self, idle: Duration) {
        let deadline = Instant::now() + DRAIN_LIMIT;
        let mut last = (Instant::now(), usize::MAX);
        loop {
            let (open, pending) = self.output_state();
            let Some(first_open) = open else { return };
            let now = Instant::now();
            if now >= deadline {
                log::debug!("output of {} still open after {DRAIN_LIMIT:?}", self.fifos.stdout.display());
                return;
            }
            if pending != last.1 {
                last = (now, pending);
            } else if now.duration_since(last.0) >= idle {
                log::debug!("output of {} not drained after {idle:?} without progress", self.fifos.stdout.display());
                return;
            }
            let wake = tokio::time::Instant::from_std((last.0 + idle).min(deadline));
            // Every fifo must close: waiting on the first still open one is enough.
            // SAFETY: the descriptor is this process's own duplicate, kept open in
            // `self.watch` for as long as the registration (dropped in this iteration)
            // lives, and registered nowhere else.
            match unsafe { AsyncFd::register_with_interest(self.watch[first_open].as_fd(), Interest::READABLE) } {
                Ok(reg) => {
                    if let Ok(Ok(mut ready)) = tokio::time::timeout_at(wake, reg.readable()).await {
                        // Output or the hang-up: the loop looks at which.
                        ready.clear_ready();
                    }
                }
                Err(_) => {
                    log::debug!("epoll registration of {} failed", self.fifos.stdout.display());
                    tokio::time::sleep(DRAIN_POLL.min(wake.saturating_duration_since(tokio::time::Instant::now()))).await;
                }
            }
        }
    }

    /// The index of the first output fifo the shim still holds open (`None`: all
    /// closed), and the bytes waiting in them.
    fn output_state(&self) -> (Option<usize>, usize) {
        let mut pending = 0usize;
        let mut open = None;
        for (i, fd) in self.watch.iter().enumerate() {
            let mut pfd = [nix::poll::PollFd::new(fd.as_fd(), nix::poll::PollFlags::POLLIN)];
            let _ = nix::poll::poll(&mut pfd, nix::poll::PollTimeout::ZERO);
            let rev = pfd[0].revents().unwrap_or(nix::poll::PollFlags::empty());
            if !rev.contains(nix::poll::PollFlags::POLLHUP) && open.is_none() {
                open = Some(i);
            }
            let mut n: libc::c_int = 0;
            // SAFETY: FIONREAD writes one c_int into `n`.
            if unsafe { libc::ioctl(fd.as_raw_fd(), libc::FIONREAD, &mut n) } == 0 {
                pending += n.max(0) as usize;
            }
        }
        (open, pending)
    }

    /// Stops relaying stdin without closing the process's stdin: once the client is
    /// gone, its caller closing the pipe must not end a container that lives on.
    pub fn stop_relay(&mut self) {
        if let Some(r) = self.relay.take() {
            r.abort();
        }
    }

    /// Stops the stdin relay, leaving the fifo files in place (they belong to a
    /// process that keeps running).
    pub fn close_keep_files(mut self) {
        self.stop_relay();
    }

    /// Stops the stdin relay and removes the fifo files.
    pub fn close(mut self) {
        self.stop_relay();
        self.fifos.remove();
    }
}

impl Drop for ProcessIo {
    fn drop(&mut self) {
        self.stop_relay();
    }
}
