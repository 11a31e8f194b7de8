//! `restore`: re-adopting a container this library created, after the host program
//! or containerd restarted.

use std::sync::Arc;

use containerd_client::services::v1::{GetContainerRequest, GetRequest};
use containerd_client::types::v1::Status;

use super::lifecycle::{self, stdin_closer, OPTIONS_LABEL, RESTARTS_LABEL, STOPPED_LABEL, UNKNOWN_EXIT};
use super::{info, ClientInner};
use crate::backend::State;
use crate::error::{Code, Error, Result};
use crate::events::{unix_nanos, Event};
use crate::io::{FifoSet, ProcessIo};
use crate::spec::{CreateOptions, INIT_PROCESS_ID};

/// The run directory of a task whose stdout fifo is `stdout`: its parent, if that is
/// inside `container_dir` (the container's fifo directory), else none (fifos the
/// library does not own are never removed).
fn run_dir_of(container_dir: &std::path::Path, stdout: &str) -> Option<std::path::PathBuf> {
    let parent = std::path::Path::new(stdout).parent()?;
    (parent.starts_with(container_dir) && !stdout.contains("/../")).then(|| parent.to_path_buf())
}

/// `restore`: see [`crate::Client::restore`].
pub(crate) fn restore(client: &Arc<ClientInner>, id: &str, options: &CreateOptions) -> Result<()> {
    let conn = client.conn().clone();
    let c = client.register(id)?;
    let found = crate::call::wait(async {
        let ctr = match conn.call(GetContainerRequest { id: id.into() }, |c, r| async move { c.containers().get(c.request(r)).await }).await {
            Ok(r) => r.container,
            Err(s) if s.code() == tonic::Code::NotFound => None,
            Err(s) => return Err(Error::from_status(format!("restore container {id}"), &s)),
        };
        let req = GetRequest { container_id: id.into(), exec_id: String::new() };
        let task = match conn.call(req, |c, r| async move { c.tasks().get(c.request(r)).await }).await {
            Ok(r) => r.process,
            Err(s) if s.code() == tonic::Code::NotFound => None,
            Err(s) => return Err(Error::from_status(format!("restore container {id}"), &s)),
        };
        Ok((ctr, task))
    });
    let (ctr, task) = match found {
        Ok(x) => x,
        Err(e) => {
            client.unregister(&c);
            return Err(e);
        }
    };
    // The create options: the caller's, else those kept with the container.
    let options = if *options != CreateOptions::default() {
        options.clone()
    } else {
        ctr.as_ref()
            .and_then(|k| k.labels.get(OPTIONS_LABEL))
            .and_then(|j| serde_json::from_str(j).ok())
            .unwrap_or_default()
    };
    // What happened to it before: an explicit stop, restarts done by its policy.
    let label = |key: &str| ctr.as_ref().and_then(|k| k.labels.get(key));
    let manual_stop = label(STOPPED_LABEL).is_some_and(|v| v == "true");
    let restarts: u32 = label(RESTARTS_LABEL).and_then(|v| v.parse().ok()).unwrap_or(0);
    let spec = ctr.as_ref().and_then(|k| k.spec.as_ref()).and_then(|a| serde_json::from_slice::<oci_spec::runtime::Spec>(&a.value).ok());
    let process = spec.as_ref().and_then(|s| s.process().clone());
    let cgroup = spec.as_ref().and_then(|s| s.linux().as_ref()).and_then(|l| l.cgroups_path().clone()).map(|p| p.to_string_lossy().into_owned());
    let guard = match crate::call::wait(async { Ok(c.op.clone().lock_owned().await) }) {
        Ok(g) => g,
        Err(e) => {
            client.unregister(&c);
            return Err(e);
        }
    };
    {
        let mut run = c.run.lock().unwrap();
        run.options = options;
        run.manual_stop = manual_stop;
        run.process = process;
        run.cgroup = cgroup;
        run.snapshot = ctr.as_ref().and_then(crate::images::rootfs::Snapshot::of_record);
        // `started` is set only once the run is really taken over (below): events that
        // arrive before that are dropped and recovered by the check at the end.
        run.pid = task.as_ref().map(|t| t.pid).unwrap_or(0);
        // The run's fifo directory (removed when it ends): the one its fifos are in,
        // if it is ours.
        run.fifo_dir = task.as_ref().and_then(|t| run_dir_of(&client.remote.fifo_dir(id), &t.stdout));
    }
    let status = task.as_ref().map(|t| Status::try_from(t.status).unwrap_or(Status::Unknown));
    let paused = matches!(status, Some(Status::Paused | Status::Pausing));
    match (task, status) {
        (Some(t), Some(Status::Running | Status::Paused | Status::Pausing | Status::Created)) => {
            if !client.remote.live_restore() {
                {
                    let mut run = c.run.lock().unwrap();
                    run.started = true;
                    run.paused = paused;
                }
                client.remote.set_owned(id, true);
                drop(guard);
                crate::runtime::block_on(lifecycle::stop_and_wait(client, c));
                return Ok(());
            }
            let fifos = FifoSet {
                stdin: t.stdin.clone().into(),
                stdout: t.stdout.clone().into(),
                stderr: (!t.stderr.is_empty()).then(|| t.stderr.clone().into()),
                terminal: t.terminal,
            };
            let opened = if t.stdout.is_empty() || t.stdin.is_empty() {
                Err(Error::new(Code::FailedPrecondition, format!("container {id} has no stdio fifos to re-open")))
            } else {
                ProcessIo::open(fifos, false, stdin_closer(conn.clone(), id.into(), String::new()))
            };
            let (io, pipe) = match opened {
                Ok(x) => x,
                Err(e) => {
                    drop(guard);
                    client.unregister(&c);
                    return Err(e);
                }
            };
            drop(guard);
            if let Err(e) = client.attach(id, INIT_PROCESS_ID, pipe) {
                io.close_keep_files();
                client.unregister(&c);
                return Err(e);
            }
            let _g = c.op.clone().blocking_lock_owned();
            if let Err(e) = client.still_open_after_attach() {
                io.close_keep_files();
                client.unregister(&c);
                return Err(e);
            }
            {
                let mut run = c.run.lock().unwrap();
                run.begin(t.pid, io);
                run.paused = paused;
                run.reported_paused = paused;
            }
            client.remote.set_owned(id, true);
            c.arm_restarts(&c.run.lock().unwrap(), restarts);
            client.report(id, info(State::Restore, t.pid, INIT_PROCESS_ID));
            if paused {
                client.report(id, info(State::Pause, t.pid, INIT_PROCESS_ID));
            }
            // It may have exited (or been frozen or thawed) between our look and now.
            if let Some(ev) = crate::runtime::block_on(lifecycle::missed_exit(&conn, id, "", t.pid)) {
                c.post(ev);
            }
            Ok(())
        }
        (Some(t), _) => {
            // Exited while nobody watched: report its real exit code (or restart it,
            // as its policy says).
            {
                let mut run = c.run.lock().unwrap();
                run.started = true;
                run.exited_while_away = true;
            }
            c.arm_restarts(&c.run.lock().unwrap(), restarts);
            drop(guard);
            c.post(Event::Exit {
                container_id: id.into(),
                process_id: id.into(),
                pid: t.pid,
                exit_status: t.exit_status,
                exited_at: unix_nanos(t.exited_at.as_ref()),
            });
            Ok(())
        }
        (None, _) => {
            // Gone without a trace (its record, if any, is removed by the exit path).
            // A record without a task (containerd lost it, e.g. across a reboot) is an
            // exit while away: the restart policy may bring it back.
            {
                let mut run = c.run.lock().unwrap();
                run.started = true;
                if ctr.is_some() {
                    run.exited_while_away = true;
                    c.arm_restarts(&run, restarts);
                }
            }
            drop(guard);
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as i64).unwrap_or(0);
            c.post(Event::Exit { container_id: id.into(), process_id: id.into(), pid: 0, exit_status: UNKNOWN_EXIT, exited_at: now });
            Ok(())
        }
    }
}
