//! The container lifecycle for one [`Backend`]: the registry of containers this
//! client tracks, and one file per group of calls.

mod control;
mod exec;
mod lifecycle;
mod list;
mod removal;
mod restart_run;
mod restore;
pub(crate) mod runc;
mod stats;
mod stop;

pub(crate) use lifecycle::remove_unwatched;
pub use stop::{check_stop_signal, parse_restart_policy, parse_signal, STOP_SIGNAL_ANNOTATION, STOP_SIGNAL_LABEL};

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};

use oci_spec::runtime::{LinuxResources, Process};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::backend::{Backend, IoPipe, State, StateInfo};
use crate::error::{Code, Error, Result};
use crate::events::{Dispatcher, Event};
use crate::io::ProcessIo;
use crate::remote::connection::Connection;
use crate::remote::RemoteInner;
use crate::spec::{validate_id, ContainerSpec, CreateOptions, ProcessSpec};

/// A container's (or process's) status in `list`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContainerStatus {
    /// Created, not started.
    Created,
    /// Running.
    Running,
    /// Frozen.
    Paused,
    /// Exited, not yet reaped.
    Stopped,
}

/// One process of a container in `list`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessInfo {
    /// Exec id.
    pub process_id: String,
    /// Host pid.
    pub pid: u32,
    /// Status.
    pub status: ContainerStatus,
}

/// One container in `list`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerInfo {
    /// Container id.
    pub id: String,
    /// Host pid of init.
    pub pid: u32,
    /// Status.
    pub status: ContainerStatus,
    /// Exec processes.
    pub processes: Vec<ProcessInfo>,
}

/// One entry of `summary`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessSummary {
    /// Host pid.
    pub pid: u32,
    /// `init`, an exec id, or empty for a process the library did not start itself.
    pub process_id: String,
}

/// A client; clones share it. See [`Client::close`].
#[derive(Clone)]
pub struct Client {
    // Dropped first: when this is the remote's last handle, the remote ends (stopping
    // the containers, reporting their exits) while this client still exists.
    pub(crate) _handle: crate::remote::HandleRef,
    pub(crate) inner: Arc<ClientInner>,
}

/// One exec process of a run.
pub(crate) struct ExecRun {
    pub pid: u32,
    pub started: bool,
    pub exited: bool,
    pub io: Option<ProcessIo>,
}

/// How long a new `create` waits for containerd to finish removing an earlier
/// container of the same id (its `exit` already reported).
const REAP_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// What the library knows of a container's current run.
#[derive(Default)]
pub(crate) struct Run {
    /// Host pid of init (0 until started).
    pub pid: u32,
    /// Init has started (start-container or restore reported).
    pub started: bool,
    /// Init's exit has been taken (reported or being reported): later exits are duplicates.
    pub exited: bool,
    /// The OOM killer struck during this run.
    pub oom: bool,
    /// Frozen, as far as we know.
    pub paused: bool,
    /// Stopped through `signal` with SIGTERM/SIGKILL.
    pub manual_stop: bool,
    /// Init's stdio.
    pub init_io: Option<ProcessIo>,
    /// Exec processes by id.
    pub execs: HashMap<String, ExecRun>,
    /// The container's own process, the base of every exec.
    pub process: Option<Process>,
    /// The options the container was created with.
    pub options: CreateOptions,
    /// The container's cgroup path (`linux.cgroupsPath`).
    pub cgroup: Option<String>,
    /// When init started (for the restart backoff's reset).
    pub started_at: Option<std::time::Instant>,
    /// This run was found exited at `restore`: the restore rule of the policy applies.
    pub exited_while_away: bool,
    /// What was last reported of the freezer: `pause` (true) or `resume`/a start.
    pub reported_paused: bool,
    /// The directory of this run's fifos (`fifo/<ns>/<id>/<run>`), owned by this run
    /// alone: removed when the run ends.
    pub fifo_dir: Option<std::path::PathBuf>,
    /// The container's snapshot when it runs on an image (removed with it).
    pub snapshot: Option<crate::images::rootfs::Snapshot>,
}

impl Run {
    /// Init has started with `pid`: its stdio goes live and the run's clock starts.
    pub(crate) fn begin(&mut self, pid: u32, mut io: ProcessIo) {
        io.mark_started();
        self.pid = pid;
        self.started = true;
        self.init_io = Some(io);
        self.started_at = Some(std::time::Instant::now());
    }

    /// The directory for the fifos of a new process of this run (one of its own if
    /// the run has none, e.g. restored from fifos outside the library's layout).
    pub(crate) fn process_fifo_dir(&mut self, remote: &RemoteInner, id: &str) -> std::path::PathBuf {
        self.fifo_dir.get_or_insert_with(|| remote.new_run_dir(id)).clone()
    }
}

/// A tracked container: its run, the lock that orders operations and exit handling,
/// and the queue of its containerd events.
pub(crate) struct Container {
    pub id: String,
    pub op: Arc<tokio::sync::Mutex<()>>,
    pub run: Mutex<Run>,
    /// The restart policy's state, kept across runs.
    pub restart: Mutex<Option<crate::restart::RestartManager>>,
    /// Wakes a pending restart when it is cancelled.
    pub restart_cancelled: tokio::sync::Notify,
    /// Between two runs: the `exit` to report if the pending restart does not
    /// happen. Whoever takes it (holding `op`) ends the container.
    pub pending_end: Mutex<Option<StateInfo>>,
    /// The queue of its events; taken when the container is no longer tracked, which
    /// ends its event loop.
    events: Mutex<Option<mpsc::UnboundedSender<Event>>>,
    /// Its place in the shim pool, released once it is no longer tracked.
    pub pool_slot: Mutex<Option<crate::remote::pool::PoolSlot>>,
}

impl Container {
    /// Queues an event for this container's loop (dropped once it is untracked).
    pub(crate) fn post(&self, ev: Event) {
        if let Some(tx) = self.events.lock().unwrap().as_ref() {
            let _ = tx.send(ev);
        }
    }

    /// Applies an event of the current run to its state; the run's pid, or `None`
    /// when no run is under way (the event is then dropped).
    fn note(&self, f: impl FnOnce(&mut Run)) -> Option<u32> {
        let mut run = self.run.lock().unwrap();
        if !run.started || run.exited {
            return None;
        }
        f(&mut run);
        Some(run.pid)
    }

    /// Arms the restart policy of the run's create options, counting `restarts` done
    /// before (0 for a new container; the count kept with it at `restore`).
    pub(crate) fn arm_restarts(&self, run: &Run, restarts: u32) {
        *self.restart.lock().unwrap() = run.options.restart_policy.clone().map(|p| crate::restart::RestartManager::new(p, restarts));
    }

    /// An explicit stop: no restart of this container from now on.
    pub(crate) fn cancel_restarts(&self) {
        if let Some(m) = self.restart.lock().unwrap().as_mut() {
            m.cancel();
        }
        self.restart_cancelled.notify_waiters();
        self.restart_cancelled.notify_one();
    }
}

thread_local! {
    /// The client whose `attach_streams` this thread is running (0: none).
    static IN_ATTACH_OF: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// The backend for `attach_streams`, and the calls of it in flight: one lock, so a
/// call that got the backend is always counted before `close` can look.
struct Attach {
    backend: Option<Arc<dyn Backend>>,
    in_flight: usize,
}

pub(crate) struct ClientInner {
    pub(crate) remote: Arc<RemoteInner>,
    /// The backend and the `attach_streams` calls in flight; `attach_done` signals
    /// the end of each call.
    attach_state: Mutex<Attach>,
    attach_done: std::sync::Condvar,
    dispatcher: Dispatcher,
    containers: Mutex<HashMap<String, Arc<Container>>>,
    /// Ids whose `exit` has been reported and whose task and record containerd is
    /// still removing; a new `create` of one waits for its end.
    reaping: Mutex<std::collections::HashSet<String>>,
    reaped: std::sync::Condvar,
    closed: AtomicBool,
}

impl ClientInner {
    pub(crate) fn new(remote: Arc<RemoteInner>, backend: Arc<dyn Backend>) -> Arc<ClientInner> {
        Arc::new(ClientInner {
            remote,
            attach_state: Mutex::new(Attach { backend: Some(backend.clone()), in_flight: 0 }),
            attach_done: std::sync::Condvar::new(),
            dispatcher: Dispatcher::new(backend),
            containers: Mutex::new(HashMap::new()),
            reaping: Mutex::new(Default::default()),
            reaped: std::sync::Condvar::new(),
            closed: AtomicBool::new(false),
        })
    }

    pub(crate) fn conn(&self) -> &Connection {
        &self.remote.conn
    }

    /// Whether the client and its remote are still in service.
    pub(crate) fn is_open(&self) -> bool {
        self.check_open().is_ok()
    }

    fn check_open(&self) -> Result<()> {
        if self.closed.load(Ordering::SeqCst) {
            return Err(Error::precondition("the client has been closed"));
        }
        self.remote.check_live()
    }

    /// Reports a state change (in order, on a dispatcher thread).
    pub(crate) fn report(&self, container_id: &str, info: StateInfo) {
        self.dispatcher.send(container_id, info);
    }

    /// Calls `attach_streams` on this thread; a panic in it becomes INTERNAL.
    pub(crate) fn attach(&self, container_id: &str, process_id: &str, pipe: IoPipe) -> Result<()> {
        let b = {
            let mut st = self.attach_state.lock().unwrap();
            let Some(b) = st.backend.clone() else {
                drop(st);
                pipe.discard();
                return Ok(());
            };
            // Counted under the same lock the backend was taken under: `close` either
            // took it first (then we got none) or waits for this call.
            st.in_flight += 1;
            b
        };
        crate::test_hooks::at(crate::test_hooks::Point::Attaching, container_id, process_id);
        let outer = IN_ATTACH_OF.with(|c| c.replace(self.id()));
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| b.attach_streams(container_id, process_id, pipe)))
            .unwrap_or_else(|_| Err(Error::internal("attach_streams panicked")))
            .map_err(|e| e.context(format!("attach_streams({container_id}, {process_id})")));
        IN_ATTACH_OF.with(|c| c.set(outer));
        drop(b);
        self.attach_state.lock().unwrap().in_flight -= 1;
        self.attach_done.notify_all();
        r
    }

    /// Identifies this client (its key in the remote's id registry).
    pub(crate) fn id(&self) -> usize {
        self as *const ClientInner as usize
    }

    /// Whether the calling thread is inside one of this client's callbacks.
    fn in_callback(&self) -> bool {
        self.dispatcher.in_callback() || IN_ATTACH_OF.with(|c| c.get() == self.id())
    }

    /// After `attach_streams` returned: FAILED_PRECONDITION if the client was closed or
    /// the remote cleaned up meanwhile (the caller then undoes what it prepared).
    pub(crate) fn still_open_after_attach(&self) -> Result<()> {
        self.check_open().map_err(|e| e.context("while attach_streams ran"))
    }

    /// The tracked container `id`.
    pub(crate) fn container(&self, id: &str) -> Option<Arc<Container>> {
        self.containers.lock().unwrap().get(id).cloned()
    }

    /// The tracked container `id`, or NOT_FOUND.
    pub(crate) fn tracked(&self, id: &str) -> Result<Arc<Container>> {
        self.container(id).ok_or_else(|| Error::not_found(format!("no such container: {id}")))
    }

    /// Starts tracking `id` (ALREADY_EXISTS if it is tracked) and its event loop; an
    /// id whose last run is still being removed is waited for first.
    pub(crate) fn register(self: &Arc<Self>, id: &str) -> Result<Arc<Container>> {
        // Remote-wide: no two clients (nor two calls of one) run the same id.
        self.remote.registry.claim(id, self.id(), REAP_WAIT)?;
        let mut map = self.containers.lock().unwrap();
        let refused = self.check_open().and_then(|()| match map.contains_key(id) {
            true => Err(Error::new(Code::AlreadyExists, format!("container {id} is already active"))),
            false => Ok(()),
        });
        if let Err(e) = refused {
            self.remote.registry.release(id, self.id());
            return Err(e);
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let c = Arc::new(Container {
            id: id.to_string(),
            op: Arc::new(tokio::sync::Mutex::new(())),
            run: Mutex::new(Run::default()),
            restart: Mutex::new(None),
            restart_cancelled: tokio::sync::Notify::new(),
            pending_end: Mutex::new(None),
            events: Mutex::new(Some(tx)),
            pool_slot: Mutex::new(None),
        });
        map.insert(id.to_string(), c.clone());
        crate::runtime::handle().spawn(container_loop(Arc::downgrade(self), c.clone(), rx));
        Ok(c)
    }

    /// Stops tracking `c`, whose `exit` is about to be reported while containerd still
    /// removes it: until [`ClientInner::end_reaping`], `list` leaves it out and a new
    /// `create` of its id waits.
    pub(crate) fn begin_reaping(&self, c: &Arc<Container>) {
        self.reaping.lock().unwrap().insert(c.id.clone());
        self.remote.registry.reaping(&c.id, self.id());
        self.unregister(c);
    }

    /// containerd has removed `id`.
    pub(crate) fn end_reaping(&self, id: &str) {
        self.reaping.lock().unwrap().remove(id);
        self.remote.registry.reaped(id);
        self.reaped.notify_all();
    }

    /// The ids whose removal is under way.
    pub(crate) fn reaping_ids(&self) -> std::collections::HashSet<String> {
        self.reaping.lock().unwrap().clone()
    }

    /// Waits until every removal under way has ended (at most [`REAP_WAIT`]).
    async fn wait_all_reaped(&self) {
        let deadline = tokio::time::Instant::now() + REAP_WAIT;
        while !self.reaping.lock().unwrap().is_empty() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }

    /// Stops tracking `c` (if it is still the tracked container of its id).
    pub(crate) fn unregister(&self, c: &Arc<Container>) {
        let mut map = self.containers.lock().unwrap();
        if map.get(&c.id).is_some_and(|cur| Arc::ptr_eq(cur, c)) {
            map.remove(&c.id);
            self.remote.registry.release(&c.id, self.id());
        }
        c.events.lock().unwrap().take();
        c.pool_slot.lock().unwrap().take();
    }

    /// Takes an event for a container this client tracks; false if it tracks none.
    pub(crate) fn accept(&self, ev: &Event) -> bool {
        match self.container(ev.container_id()) {
            Some(c) => {
                c.post(ev.clone());
                true
            }
            None => false,
        }
    }

    fn snapshot(&self) -> Vec<Arc<Container>> {
        self.containers.lock().unwrap().values().cloned().collect()
    }

    /// After a reconnection: asks containerd about every tracked process and feeds
    /// what happened meanwhile into the containers' queues: exits, and the freezer
    /// state or an OOM kill that differ from what was last reported (duplicates of
    /// events that do arrive are dropped there).
    pub(crate) async fn reconcile(&self) {
        for c in self.snapshot() {
            reconcile_container(self.conn(), &c).await;
            crate::test_hooks::at(crate::test_hooks::Point::Reconciled, &c.id, "");
        }
    }

    /// Stops every tracked container (unless `live_restore`) and waits until their
    /// exits have been delivered; then no new container may be created. Pending
    /// restarts are cancelled either way.
    pub(crate) async fn shutdown(self: &Arc<Self>, live_restore: bool, caller: usize) {
        for c in self.snapshot() {
            c.cancel_restarts();
        }
        if !live_restore {
            let mut stops = tokio::task::JoinSet::new();
            for c in self.snapshot() {
                let me = self.clone();
                stops.spawn(async move { lifecycle::stop_and_wait(&me, c).await });
            }
            stops.join_all().await;
            if caller != self.dispatcher.id() {
                self.flush_async().await;
            }
        }
        // The daemon may be stopped next: let containerd finish removing what exited.
        self.wait_all_reaped().await;
        self.closed.store(true, Ordering::SeqCst);
    }

    /// Waits, off the runtime's workers, until queued events have been delivered.
    pub(crate) async fn flush_async(&self) {
        let shared = self.dispatcher.flusher();
        let _ = tokio::task::spawn_blocking(move || shared.flush()).await;
    }

    /// Whether `c` is still the tracked container of its id.
    pub(crate) fn is_tracked(&self, c: &Arc<Container>) -> bool {
        self.containers.lock().unwrap().get(&c.id).is_some_and(|cur| Arc::ptr_eq(cur, c))
    }
}

/// Runs the futures concurrently and waits for all of them.
impl Drop for ClientInner {
    fn drop(&mut self) {
        // Releasing the backend may run foreign code (user_data_free): never on one of
        // the runtime's threads.
        if let Some(b) = self.attach_state.get_mut().unwrap().backend.take() {
            if tokio::runtime::Handle::try_current().is_ok() {
                std::thread::spawn(move || drop(b));
            }
        }
    }
}

/// Handles one container's containerd events, in order.
async fn container_loop(client: Weak<ClientInner>, c: Arc<Container>, mut rx: mpsc::UnboundedReceiver<Event>) {
    while let Some(ev) = rx.recv().await {
        let Some(client) = client.upgrade() else { return };
        match ev {
            Event::Exit { process_id, pid, exit_status, exited_at, .. } => {
                if process_id == c.id {
                    if lifecycle::handle_init_exit(&client, &c, pid, exit_status, exited_at).await {
                        return;
                    }
                } else {
                    exec::handle_exec_exit(&client, &c, &process_id, pid, exit_status, exited_at).await;
                }
            }
            Event::Oom { recovered, .. } => {
                let _g = c.op.lock().await;
                // A recovered OOM is one containerd's event did not bring: reported
                // only if none was during this run.
                let mut new = false;
                if let Some(pid) = c.note(|run| {
                    new = !(recovered && run.oom);
                    run.oom = true;
                }) {
                    if new {
                        client.report(&c.id, info(State::Oom, pid, "init"));
                    }
                }
            }
            // Awaited by the removal of a container no longer tracked (see the remote).
            Event::TaskDeleted { .. } => {}
            Event::Paused { .. } | Event::Resumed { .. } => {
                let paused = matches!(ev, Event::Paused { .. });
                let _g = c.op.lock().await;
                // Reported when it changes what was last reported (a change recovered
                // after an outage and containerd's late event are one change).
                let mut changed = false;
                if let Some(pid) = c.note(|run| {
                    run.paused = paused;
                    changed = run.reported_paused != paused;
                    run.reported_paused = paused;
                }) {
                    if changed {
                        client.report(&c.id, info(if paused { State::Pause } else { State::Resume }, pid, "init"));
                    }
                }
            }
        }
        if !client.is_tracked(&c) {
            return;
        }
    }
}

/// Checks one container's run against containerd after an outage (see
/// [`ClientInner::reconcile`]).
pub(crate) async fn reconcile_container(conn: &Connection, c: &Arc<Container>) {
    let (pid, execs, reported_paused, oom, cgroup) = {
        let run = c.run.lock().unwrap();
        if !run.started || run.exited {
            return;
        }
        let execs: Vec<(String, u32)> = run.execs.iter().filter(|(_, e)| e.started && !e.exited).map(|(k, e)| (k.clone(), e.pid)).collect();
        (run.pid, execs, run.reported_paused, run.oom, run.cgroup.clone())
    };
    for (exec_id, epid) in execs {
        if let Some(ev) = lifecycle::missed_exit(conn, &c.id, &exec_id, epid).await {
            c.post(ev);
        }
    }
    if !oom && cgroup.as_deref().is_some_and(lifecycle::cgroup_saw_oom) {
        c.post(Event::Oom { container_id: c.id.clone(), recovered: true });
    }
    match lifecycle::process_state(conn, &c.id, "").await {
        Ok((containerd_client::types::v1::Status::Paused | containerd_client::types::v1::Status::Pausing, ..)) if !reported_paused => {
            c.post(Event::Paused { container_id: c.id.clone() });
        }
        Ok((containerd_client::types::v1::Status::Running, ..)) if reported_paused => {
            c.post(Event::Resumed { container_id: c.id.clone() });
        }
        _ => {}
    }
    if let Some(ev) = lifecycle::missed_exit(conn, &c.id, "", pid).await {
        c.post(ev);
    }
}

/// A StateInfo without exit details.
pub(crate) fn info(state: State, pid: u32, process_id: &str) -> StateInfo {
    StateInfo { state, pid, exit_code: 0, process_id: process_id.to_string(), oom_killed: false, exited_at_unix_nano: 0 }
}

impl Client {
    /// Creates and starts a container: `attach_streams` runs before the process starts,
    /// then `start-container` is reported.
    pub fn create(&self, id: &str, spec: &ContainerSpec, options: &CreateOptions) -> Result<()> {
        validate_id("container id", id)?;
        self.inner.check_open()?;
        lifecycle::create(&self.inner, id, spec, options)
    }

    /// Sends a signal to the container's init process. SIGTERM and SIGKILL count as an
    /// explicit stop; a paused container is thawed so the signal is delivered.
    pub fn signal(&self, id: &str, signal: i32) -> Result<()> {
        validate_id("container id", id)?;
        self.inner.check_open()?;
        control::signal(&self.inner, id, None, signal)
    }

    /// Sends a signal to one process of the container.
    pub fn signal_process(&self, id: &str, process_id: &str, signal: i32) -> Result<()> {
        validate_id("container id", id)?;
        validate_id("process id", process_id)?;
        self.inner.check_open()?;
        control::signal(&self.inner, id, Some(process_id), signal)
    }

    /// Runs another process in the container; returns its host pid.
    pub fn add_process(&self, id: &str, process_id: &str, process: &ProcessSpec) -> Result<u32> {
        validate_id("container id", id)?;
        crate::spec::validate_exec_id(process_id)?;
        self.inner.check_open()?;
        exec::add_process(&self.inner, id, process_id, process)
    }

    /// Resizes a process's terminal (`init` for the container's own).
    pub fn resize(&self, id: &str, process_id: &str, width: u32, height: u32) -> Result<()> {
        validate_id("container id", id)?;
        validate_id("process id", process_id)?;
        self.inner.check_open()?;
        control::resize(&self.inner, id, process_id, width, height)
    }

    /// Freezes the container; returns once containerd has frozen it.
    pub fn pause(&self, id: &str) -> Result<()> {
        validate_id("container id", id)?;
        self.inner.check_open()?;
        control::set_paused(&self.inner, id, true)
    }

    /// Thaws the container; returns once containerd has thawed it.
    pub fn resume(&self, id: &str) -> Result<()> {
        validate_id("container id", id)?;
        self.inner.check_open()?;
        control::set_paused(&self.inner, id, false)
    }

    /// Re-adopts a container this library created, after a restart of the host program
    /// or of containerd.
    pub fn restore(&self, id: &str, options: &CreateOptions) -> Result<()> {
        validate_id("container id", id)?;
        self.inner.check_open()?;
        restore::restore(&self.inner, id, options)
    }

    /// The container's cgroup figures, as the stats JSON.
    pub fn stats(&self, id: &str) -> Result<serde_json::Value> {
        validate_id("container id", id)?;
        self.inner.check_open()?;
        stats::stats(&self.inner, id)
    }

    /// Host pids of every process in the container.
    pub fn get_pids(&self, id: &str) -> Result<Vec<u32>> {
        validate_id("container id", id)?;
        self.inner.check_open()?;
        stats::pids(&self.inner, id)
    }

    /// Every process with its pid and process id.
    pub fn summary(&self, id: &str) -> Result<Vec<ProcessSummary>> {
        validate_id("container id", id)?;
        self.inner.check_open()?;
        stats::summary(&self.inner, id)
    }

    /// Applies OCI `LinuxResources` to the running container.
    pub fn update_resources(&self, id: &str, resources: &LinuxResources) -> Result<()> {
        validate_id("container id", id)?;
        self.inner.check_open()?;
        control::update_resources(&self.inner, id, resources)
    }

    /// The containers in this client's namespace.
    pub fn list(&self) -> Result<Vec<ContainerInfo>> {
        self.inner.check_open()?;
        list::list(&self.inner)
    }

    /// Waits until every state change queued so far has been delivered (a no-op
    /// inside a callback).
    pub fn flush_events(&self) {
        self.inner.dispatcher.flush();
    }

    /// Stops event delivery, waits for callbacks in flight (unless called from inside
    /// one, then the wait is deferred) and releases the backend. Idempotent; further
    /// calls fail with FAILED_PRECONDITION. Containers keep running.
    pub fn close(&self) {
        self.inner.closed.store(true, Ordering::SeqCst);
        // The containers keep running (and stay known to the remote, which stops them
        // at cleanup unless live restore is on); this client stops tracking them.
        let all: Vec<Arc<Container>> = self.inner.containers.lock().unwrap().drain().map(|(_, c)| c).collect();
        for c in all {
            self.inner.remote.registry.release(&c.id, self.inner.id());
            c.cancel_restarts();
            c.events.lock().unwrap().take();
            let mut run = c.run.lock().unwrap();
            if let Some(io) = run.init_io.as_mut() {
                io.stop_relay();
            }
            for e in run.execs.values_mut() {
                if let Some(io) = e.io.as_mut() {
                    io.stop_relay();
                }
            }
        }
        let b = self.inner.attach_state.lock().unwrap().backend.take();
        drop(b);
        // Callbacks in flight finish first, unless this is one of them (then the backend
        // is released by whoever finishes last).
        let inside = self.inner.in_callback();
        if !inside {
            let mut st = self.inner.attach_state.lock().unwrap();
            while st.in_flight > 0 {
                st = self.inner.attach_done.wait(st).unwrap();
            }
        }
        self.inner.dispatcher.close_waiting(!inside);
    }
}
