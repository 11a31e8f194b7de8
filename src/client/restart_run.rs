//! A restart by the restart policy: the backoff, the next run (its stdio handed to
//! `attach_streams` on a thread of the library's own, its task), and what ends the
//! container instead (the restart cancelled or failing, a `create` replacing it).
//!
//! Between two runs the container holds its pending `exit` ([`Container::pending_end`]);
//! whoever takes it while holding the container's operation lock ends the container
//! (reports that `exit`), so the end happens exactly once. No lock is held while the
//! host's `attach_streams` runs: it may call anything, `lcd_remote_cleanup` included.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use containerd_client::services::v1::KillRequest;

use super::lifecycle::{recheck_if_reconnected, set_label, start_task, stdin_closer, RESTARTS_LABEL};
use super::removal::finish;
use super::{info, ClientInner, Container};
use crate::backend::State;
use crate::error::{Error, Result};
use crate::io::{FifoSet, ProcessIo};
use crate::spec::INIT_PROCESS_ID;

/// The stdio of the next run, handed over to the host and not yet started.
struct Prepared {
    io: ProcessIo,
    fifos: FifoSet,
    dir: PathBuf,
}

impl Prepared {
    /// Gives up the run: its stdio closes and its fifo directory goes.
    fn discard(self, client: &ClientInner, id: &str) {
        self.io.close();
        client.remote.remove_run_dir(id, Some(&self.dir));
    }
}

fn cancelled(c: &Container) -> bool {
    c.restart.lock().unwrap().as_ref().is_none_or(|m| m.is_cancelled())
}

/// Waits out the backoff, then starts a new run; if the restart was cancelled
/// meanwhile (an explicit stop, cleanup, close) or fails, the container ends with its
/// pending `exit`, unless something else ended it first.
pub(crate) async fn restart_after(client: Arc<ClientInner>, c: Arc<Container>, delay: Duration) {
    tokio::select! {
        _ = tokio::time::sleep(delay) => {}
        _ = c.restart_cancelled.notified() => {}
    }
    let mut prepared = None;
    if !cancelled(&c) && client.is_open() {
        match prepare(&client, &c).await {
            Ok(p) => prepared = Some(p),
            Err(e) => log::warn!("restarting container {} failed: {e}", c.id),
        }
    }
    let _g = c.op.clone().lock_owned().await;
    let Some(end) = c.pending_end.lock().unwrap().take() else {
        // Ended while attach_streams ran (a stop, a create of its id).
        if let Some(p) = prepared {
            p.discard(&client, &c.id);
        }
        return;
    };
    if let Some(p) = prepared {
        // The client may have been closed, or the restart cancelled, while the callback ran.
        if cancelled(&c) || !client.is_open() {
            p.discard(&client, &c.id);
        } else {
            match start(&client, &c, p).await {
                Ok(()) => return,
                Err(e) => log::warn!("restarting container {} failed: {e}", c.id),
            }
        }
    }
    finish(&client, &c, end).await;
}

/// The next run's fifos, in a directory of its own, handed to `attach_streams` on a
/// thread of the library's own (no lock held).
async fn prepare(client: &Arc<ClientInner>, c: &Arc<Container>) -> Result<Prepared> {
    let terminal = c.run.lock().unwrap().process.as_ref().and_then(|p| p.terminal()).unwrap_or(false);
    let dir = client.remote.new_run_dir(&c.id);
    let fifos = FifoSet::new(&dir, INIT_PROCESS_ID, terminal);
    let opened = fifos.create().and_then(|()| ProcessIo::open(fifos.clone(), true, stdin_closer(client.conn().clone(), c.id.clone(), String::new())));
    let (io, pipe) = match opened {
        Ok(x) => x,
        Err(e) => {
            client.remote.remove_run_dir(&c.id, Some(&dir));
            return Err(e);
        }
    };
    let attached = {
        let (cl, id) = (client.clone(), c.id.clone());
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let _ = tx.send(cl.attach(&id, INIT_PROCESS_ID, pipe));
        });
        rx.await.unwrap_or_else(|_| Err(Error::internal("attach_streams thread ended")))
    };
    let p = Prepared { io, fifos, dir };
    match attached {
        Ok(()) => Ok(p),
        Err(e) => {
            p.discard(client, &c.id);
            Err(e)
        }
    }
}

/// Starts the prepared run (the caller holds the op lock): a new task, then
/// `start-container`.
async fn start(client: &Arc<ClientInner>, c: &Arc<Container>, p: Prepared) -> Result<()> {
    {
        let mut run = c.run.lock().unwrap();
        run.pid = 0;
        run.started = false;
        run.exited = false;
        run.oom = false;
        run.paused = false;
        run.reported_paused = false;
        run.exited_while_away = false;
        run.execs.clear();
        run.fifo_dir = Some(p.dir.clone());
    }
    // A restart keeps the container's snapshot: its mounts become the new task's rootfs.
    let snapshot = c.run.lock().unwrap().snapshot.clone();
    let rootfs = match &snapshot {
        Some(s) => match crate::images::rootfs::mounts(client.conn(), s).await {
            Ok(m) => m,
            Err(e) => {
                p.discard(client, &c.id);
                return Err(e);
            }
        },
        None => Vec::new(),
    };
    let restarts = c.restart.lock().unwrap().as_ref().map(|m| m.restart_count()).unwrap_or(0);
    set_label(client.conn(), &c.id, RESTARTS_LABEL, &restarts.to_string()).await;
    let reconnections = client.remote.reconnections();
    match start_task(client.conn(), &c.id, &p.fifos, rootfs).await {
        Ok(pid) => {
            c.run.lock().unwrap().begin(pid, p.io);
            client.report(&c.id, info(State::StartContainer, pid, INIT_PROCESS_ID));
            recheck_if_reconnected(client, c, reconnections);
            // A stop that arrived while the run was being started applies to it.
            if cancelled(c) {
                let kill = KillRequest { container_id: c.id.clone(), exec_id: String::new(), signal: 9, all: false };
                let _ = client.conn().tasks().kill(client.conn().request(kill)).await;
            }
            Ok(())
        }
        Err(e) => {
            c.run.lock().unwrap().fifo_dir = None;
            p.discard(client, &c.id);
            Err(e)
        }
    }
}

/// `create` of an id whose container (of any client of the remote) waits out a
/// restart backoff: the restart is cancelled and that container ends (its `exit` is
/// reported), so the id is free for the new one (moby's behaviour).
pub(crate) fn replace_restarting(client: &ClientInner, id: &str) {
    let Some(owner) = client.remote.registry.holder(id).and_then(|h| client.remote.client_by_id(h)) else { return };
    let Some(c) = owner.container(id) else { return };
    if c.pending_end.lock().unwrap().is_none() {
        return;
    }
    c.cancel_restarts();
    crate::runtime::block_on(async {
        let _g = c.op.clone().lock_owned().await;
        let pending = c.pending_end.lock().unwrap().take();
        if let Some(end) = pending {
            finish(&owner, &c, end).await;
        }
    });
}
