//! The access point to containerd: options, the supervised daemon, the connection,
//! and the one event subscription that feeds every client.

pub(crate) mod connection;
pub mod daemon_log;
mod options;
pub(crate) mod pool;
pub(crate) mod registry;
pub(crate) mod supervisor;

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

pub use options::{RemoteOptions, DEFAULT_NAMESPACE, DEFAULT_STATE_DIR};

use crate::backend::Backend;
use crate::client::{Client, ClientInner};
use crate::error::{Code, Error, Result};
use crate::events::{self, Notice};
use crate::spec::RuntimeOption;
use connection::Connection;
use supervisor::{Daemon, DaemonConfig, DaemonPaths};

/// How long `Remote::new` waits for the event subscription to go live.
const SUBSCRIBE_TIMEOUT: Duration = Duration::from_secs(20);

/// A reference to a remote; clones share it. The remote ends (as by [`Remote::cleanup`])
/// when the last reference, including those its clients hold, is dropped.
#[derive(Clone)]
pub struct Remote {
    pub(crate) inner: Arc<RemoteInner>,
    _handle: HandleRef,
}

/// One handle the host program holds on a remote (a [`Remote`] or a
/// [`Client`]). The library's own tasks hold the remote without one, so the drop of
/// the last handle, on the host program's thread, is where the remote ends when it was
/// not cleaned up.
pub(crate) struct HandleRef(Arc<RemoteInner>);

impl HandleRef {
    pub(crate) fn new(inner: &Arc<RemoteInner>) -> HandleRef {
        inner.handles.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        HandleRef(inner.clone())
    }
}

impl Clone for HandleRef {
    fn clone(&self) -> Self {
        HandleRef::new(&self.0)
    }
}

impl Drop for HandleRef {
    fn drop(&mut self) {
        if self.0.handles.fetch_sub(1, std::sync::atomic::Ordering::SeqCst) == 1 {
            self.0.last_handle_gone();
        }
    }
}

pub(crate) struct RemoteInner {
    options: Mutex<RemoteOptions>,
    state_dir: PathBuf,
    pub(crate) conn: Connection,
    daemon: Option<Arc<Daemon>>,
    clients: Mutex<Vec<Weak<ClientInner>>>,
    stop: tokio::sync::watch::Sender<bool>,
    cleaned: Mutex<bool>,
    /// Handles the host program holds (see [`HandleRef`]).
    handles: std::sync::atomic::AtomicUsize,
    /// Held for the whole of a cleanup: a second caller waits until it is done.
    cleaning: tokio::sync::Mutex<()>,
    /// Containers the clients of this remote run (created or restored, not yet reaped),
    /// stopped when the last reference goes without `live_restore`.
    owned: Mutex<std::collections::HashSet<String>>,
    /// Which client holds each container id.
    pub(crate) registry: registry::Registry,
    /// How many times the event subscription came back after a break (each time,
    /// events may have been missed).
    reconnections: std::sync::atomic::AtomicU64,
    /// The shim pool (`shim_pool` > 0).
    pub(crate) pool: Option<Arc<pool::ShimPool>>,
    /// Removals waiting for containerd's `/tasks/delete` of their container.
    task_deletes: Mutex<std::collections::HashMap<String, tokio::sync::oneshot::Sender<()>>>,
}

impl Remote {
    /// Connects to containerd, starting and supervising a daemon under `state_dir`
    /// when the options say so (reusing a live one recorded in its pid file).
    pub fn new(options: RemoteOptions) -> Result<Remote> {
        options.validate()?;
        let state_dir = options.state_dir();
        let namespace = options.namespace();
        let start = options.start_daemon();
        let socket = match (&options.remote_addr, start) {
            (Some(addr), false) => addr.clone(),
            _ => DaemonPaths::new(&state_dir).socket(),
        };
        let conn = Connection::new(&socket, &namespace)?;
        let daemon_cfg = DaemonConfig {
            containerd_path: options.containerd_path.clone().unwrap_or_else(|| PathBuf::from("containerd")),
            debug_log: options.debug_log.unwrap_or(false),
            oom_score: options.oom_score,
        };
        let (stop, stop_rx) = tokio::sync::watch::channel(false);
        // Given up by its call, a remote made meanwhile is ended again (stopping a
        // daemon it started).
        crate::call::detach_thread(move || crate::runtime::block_on(async move {
            let daemon = if start {
                Some(Daemon::start_or_adopt(&state_dir, daemon_cfg, &conn).await?)
            } else {
                supervisor::prepare_private_dir(&state_dir)?;
                conn.probe(Duration::from_secs(5)).await.map_err(|e| Error::new(Code::Unavailable, e.message().to_string()))?;
                None
            };
            let shim_pool = options.shim_pool.filter(|n| *n > 0).map(|n| pool::ShimPool::new(n, &state_dir));
            let inner = Arc::new(RemoteInner {
                options: Mutex::new(options),
                state_dir,
                conn: conn.clone(),
                daemon: daemon.clone(),
                clients: Mutex::new(Vec::new()),
                stop,
                cleaned: Mutex::new(false),
                handles: std::sync::atomic::AtomicUsize::new(0),
                cleaning: tokio::sync::Mutex::new(()),
                owned: Mutex::new(Default::default()),
                registry: registry::Registry::default(),
                reconnections: std::sync::atomic::AtomicU64::new(0),
                pool: shim_pool,
                task_deletes: Mutex::default(),
            });
            let (ready_tx, mut ready_rx) = tokio::sync::watch::channel(false);
            let weak = Arc::downgrade(&inner);
            let sink = move |n: Notice| match n {
                Notice::Subscribed { reconnected } => {
                    let _ = ready_tx.send(true);
                    if reconnected {
                        if let Some(r) = weak.upgrade() {
                            // Counted before the reconciliation looks at any run: a run
                            // marked started after it began is checked by its starter.
                            r.reconnections.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                            r.reconcile_all();
                        }
                    }
                }
                Notice::Event(ev) => {
                    if let Some(r) = weak.upgrade() {
                        r.route(ev);
                    }
                }
            };
            crate::runtime::handle().spawn(events::event_loop(conn.clone(), sink, stop_rx));
            if let Some(d) = daemon {
                let w = Arc::downgrade(&inner);
                crate::runtime::handle().spawn(d.supervise(conn.clone(), move || {
                    if let Some(r) = w.upgrade() {
                        log::info!("containerd relaunched under {}", r.state_dir.display());
                    }
                }));
            }
            let live = tokio::time::timeout(SUBSCRIBE_TIMEOUT, ready_rx.wait_for(|r| *r)).await;
            if !matches!(live, Ok(Ok(_))) {
                let _ = inner.shutdown(0).await;
                return Err(Error::new(Code::Unavailable, format!("containerd's event stream did not open within {SUBSCRIBE_TIMEOUT:?}")));
            }
            Ok(Remote { _handle: HandleRef::new(&inner), inner })
        }), || {}, drop)
    }

    /// Applies the options that may change on a live remote (`live_restore`,
    /// `oom_score`, `debug_log`, `runtime_path`, `runtime_args`); fields left unset
    /// stay as they are. Changing the others is FAILED_PRECONDITION.
    pub fn update_options(&self, update: RemoteOptions) -> Result<()> {
        update.validate_update()?;
        self.inner.check_live()?;
        let mut opts = self.inner.options.lock().unwrap();
        // Restating a value in effect (default or not) is fine; changing it is not.
        let containerd = |o: &RemoteOptions| o.containerd_path.clone().unwrap_or_else(|| PathBuf::from("containerd"));
        let fixed: [(&str, bool); 6] = [
            ("shim_pool", update.shim_pool.is_some_and(|v| v != opts.shim_pool.unwrap_or(0))),
            ("state_dir", update.state_dir.as_ref().is_some_and(|v| *v != opts.state_dir())),
            ("start_daemon", update.start_daemon.is_some_and(|v| v != opts.start_daemon())),
            ("remote_addr", update.remote_addr.is_some() && update.remote_addr != opts.remote_addr),
            ("containerd_path", update.containerd_path.is_some() && containerd(&update) != containerd(&opts)),
            ("namespace", update.namespace.as_ref().is_some_and(|v| *v != opts.namespace())),
        ];
        if let Some((name, _)) = fixed.iter().find(|(_, changed)| *changed) {
            return Err(Error::precondition(format!("remote option {name} cannot change on a live remote")));
        }
        if let Some(d) = &self.inner.daemon {
            d.update(update.debug_log, update.oom_score)?;
        } else if update.oom_score.is_some() || update.debug_log.is_some() {
            return Err(Error::precondition("oom_score and debug_log apply only to a daemon this remote started"));
        }
        if update.live_restore.is_some() {
            opts.live_restore = update.live_restore;
        }
        if update.debug_log.is_some() {
            opts.debug_log = update.debug_log;
        }
        if update.oom_score.is_some() {
            opts.oom_score = update.oom_score;
        }
        if update.runtime_path.is_some() {
            opts.runtime_path = update.runtime_path;
        }
        if update.runtime_args.is_some() {
            opts.runtime_args = update.runtime_args;
        }
        Ok(())
    }

    /// A new client whose events and stdio go to `backend`.
    pub fn client(&self, backend: Arc<dyn Backend>) -> Result<Client> {
        self.inner.check_live()?;
        let client = ClientInner::new(self.inner.clone(), backend);
        let mut clients = self.inner.clients.lock().unwrap();
        clients.retain(|w| w.strong_count() > 0);
        clients.push(Arc::downgrade(&client));
        Ok(Client { inner: client, _handle: HandleRef::new(&self.inner) })
    }

    /// Stops the containers of this remote's clients unless `live_restore` is on
    /// (their `exit` events are delivered before it returns), then stops the daemon if
    /// this remote started or adopted it. Idempotent.
    pub fn cleanup(&self) -> Result<()> {
        // From inside a callback, that client's remaining events can only be
        // delivered after the callback returns: cleanup must not wait for them.
        let caller = events::current_dispatcher();
        // Given up by its call, the cleanup goes on to its end in the background.
        let inner = self.inner.clone();
        crate::call::detach(async move { inner.shutdown(caller).await }, || {}, |_| async {})
    }

    /// Pid of the supervised daemon (0 with `remote_addr`).
    pub fn daemon_pid(&self) -> u32 {
        self.inner.daemon.as_ref().map(|d| d.pid()).unwrap_or(0)
    }

    /// The state directory.
    pub fn state_dir(&self) -> PathBuf {
        self.inner.state_dir.clone()
    }
}

impl RemoteInner {
    /// FAILED_PRECONDITION once the remote has been cleaned up.
    pub(crate) fn check_live(&self) -> Result<()> {
        if *self.cleaned.lock().unwrap() {
            return Err(Error::precondition("the remote has been cleaned up"));
        }
        Ok(())
    }

    /// The namespace.
    pub(crate) fn namespace(&self) -> &str {
        self.conn.namespace()
    }

    /// Whether containers keep running at cleanup.
    pub(crate) fn live_restore(&self) -> bool {
        self.options.lock().unwrap().live_restore.unwrap_or(false)
    }

    /// Directory of one container's fifos: one subdirectory per run
    /// ([`RemoteInner::new_run_dir`]).
    pub(crate) fn fifo_dir(&self, container_id: &str) -> PathBuf {
        self.state_dir.join("fifo").join(self.namespace()).join(container_id)
    }

    /// A new directory name for the fifos of one run of a container,
    /// `fifo/<ns>/<id>/<run>`, unique across runs, processes and restarts of the host
    /// program, so that nothing done for one run touches another run's fifos.
    pub(crate) fn new_run_dir(&self, container_id: &str) -> PathBuf {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        self.fifo_dir(container_id).join(format!("{nanos:x}-{}-{n}", std::process::id()))
    }

    /// Removes a run's fifo directory, and the container's once it holds no other run.
    pub(crate) fn remove_run_dir(&self, container_id: &str, run_dir: Option<&std::path::Path>) {
        if let Some(d) = run_dir {
            let _ = std::fs::remove_dir_all(d);
        }
        let _ = std::fs::remove_dir(self.fifo_dir(container_id));
    }

    /// How many times the event subscription has come back after a break.
    pub(crate) fn reconnections(&self) -> u64 {
        self.reconnections.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Root directory runc keeps its state in for our containers.
    pub(crate) fn runc_root(&self) -> PathBuf {
        self.state_dir.join("runc")
    }

    /// The runtime binary for a container: `path` itself, or a generated wrapper under
    /// `state_dir/runtimes` that puts `args` before the runtime's subcommand.
    pub(crate) fn runtime_binary(&self, custom: Option<&RuntimeOption>) -> Result<String> {
        let (path, args) = match custom {
            Some(r) => (r.path.clone(), r.args.clone()),
            None => {
                let o = self.options.lock().unwrap();
                (o.runtime_path(), o.runtime_args.clone().unwrap_or_default())
            }
        };
        if args.is_empty() {
            return Ok(path);
        }
        let quote = |s: &str| format!("'{}'", s.replace('\'', "'\\''"));
        let mut script = String::from("#!/bin/sh\nexec");
        for a in std::iter::once(&path).chain(args.iter()) {
            script.push(' ');
            script.push_str(&quote(a));
        }
        script.push_str(" \"$@\"\n");
        let mut h = DefaultHasher::new();
        script.hash(&mut h);
        let dir = self.state_dir.join("runtimes");
        supervisor::prepare_private_dir(&dir)?;
        let file = dir.join(format!("runtime-{:016x}", h.finish()));
        if !file.exists() {
            let tmp = file.with_extension("tmp");
            {
                use std::io::Write;
                let mut f = std::fs::OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .mode(0o700)
                    .open(&tmp)
                    .map_err(|e| Error::io(format!("write {}", tmp.display()), e))?;
                f.write_all(script.as_bytes()).map_err(|e| Error::io("write runtime wrapper", e))?;
            }
            std::fs::rename(&tmp, &file).map_err(|e| Error::io("rename runtime wrapper", e))?;
        }
        Ok(file.to_string_lossy().into_owned())
    }

    /// Notes that a client of this remote runs container `id` (or no longer does).
    pub(crate) fn set_owned(&self, id: &str, owned: bool) {
        let mut set = self.owned.lock().unwrap();
        if owned {
            set.insert(id.to_string());
        } else {
            set.remove(id);
        }
    }

    fn clients(&self) -> Vec<Arc<ClientInner>> {
        self.clients.lock().unwrap().iter().filter_map(|w| w.upgrade()).collect()
    }

    /// The live client whose [`ClientInner::id`] is `id`.
    pub(crate) fn client_by_id(&self, id: usize) -> Option<Arc<ClientInner>> {
        self.clients().into_iter().find(|c| c.id() == id)
    }

    /// Hands an event to the client holding its container's id (only that one: a
    /// client whose create of the same id is refused never sees it).
    fn route(&self, ev: events::Event) {
        if let events::Event::TaskDeleted { container_id } = &ev {
            if let Some(tx) = self.task_deletes.lock().unwrap().remove(container_id) {
                let _ = tx.send(());
            }
            return;
        }
        if let Some(p) = &self.pool {
            if let Some(index) = p.keeper_index(ev.container_id()) {
                // A keeper only ever exits when its shim died.
                if matches!(ev, events::Event::Exit { .. }) {
                    p.keeper_gone(index);
                }
                return;
            }
        }
        if let Some(holder) = self.registry.holder(ev.container_id()) {
            if let Some(c) = self.client_by_id(holder) {
                if c.accept(&ev) {
                    return;
                }
            }
        }
        log::debug!("event for a container no client tracks: {ev:?}");
    }

    /// Resolves once containerd publishes the deletion of container `id`'s task (or
    /// when another wait for the same id replaces this one); call it before asking for
    /// the deletion.
    pub(crate) fn task_deleted(&self, id: &str) -> tokio::sync::oneshot::Receiver<()> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.task_deletes.lock().unwrap().insert(id.to_string(), tx);
        rx
    }

    /// Stops waiting for the deletion of container `id`'s task.
    pub(crate) fn forget_task_delete(&self, id: &str) {
        self.task_deletes.lock().unwrap().remove(id);
    }

    /// After a reconnection: every client checks its containers for missed exits.
    fn reconcile_all(&self) {
        for c in self.clients() {
            crate::runtime::handle().spawn(async move { c.reconcile().await });
        }
    }

    /// Cleanup; `caller` is the dispatcher whose callback is calling (0: none).
    async fn shutdown(&self, caller: usize) -> Result<()> {
        // A concurrent cleanup finishes before this one returns, except from inside a
        // callback, which that cleanup may be waiting for.
        let _one = if caller == 0 {
            self.cleaning.lock().await
        } else {
            match self.cleaning.try_lock() {
                Ok(g) => g,
                Err(_) => return Ok(()),
            }
        };
        {
            let mut cleaned = self.cleaned.lock().unwrap();
            if *cleaned {
                return Ok(());
            }
            *cleaned = true;
        }
        let live_restore = self.live_restore();
        for c in self.clients() {
            c.shutdown(live_restore, caller).await;
        }
        if !live_restore {
            // Containers of clients that were freed before: nobody hears of them.
            let orphans: Vec<String> = self.owned.lock().unwrap().drain().collect();
            for id in orphans {
                crate::client::remove_unwatched(&self.conn, &id).await;
            }
        }
        // Nothing of the pool outlives the remote but containers: a shim whose
        // containers live on stays while they do, an idle one stops with its keeper.
        if let Some(p) = &self.pool {
            p.remove_keepers(&self.conn).await;
        }
        self.conn.close();
        let _ = self.stop.send(true);
        if let Some(d) = &self.daemon {
            d.stop().await?;
        }
        Ok(())
    }
}

impl RemoteInner {
    /// The host program dropped its last handle without cleaning up: the remote ends
    /// exactly as [`Remote::cleanup`] ends it. Runs on the dropping thread, so that the
    /// free returns only when it is done.
    fn last_handle_gone(&self) {
        let caller = events::current_dispatcher();
        let r = if tokio::runtime::Handle::try_current().is_ok() {
            // Dropped inside an async context: finish on a thread of its own.
            std::thread::scope(|s| s.spawn(|| crate::runtime::block_on(self.shutdown(caller))).join())
                .unwrap_or_else(|_| Err(Error::internal("cleanup panicked")))
        } else {
            crate::runtime::block_on(self.shutdown(caller))
        };
        if let Err(e) = r {
            log::warn!("ending the remote under {}: {e}", self.state_dir.display());
        }
    }
}
