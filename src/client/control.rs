//! Signals, terminal size, pause/resume and resource updates.

use std::sync::Arc;

use containerd_client::services::v1::{KillRequest, PauseTaskRequest, ResizePtyRequest, ResumeTaskRequest, UpdateTaskRequest};
use containerd_client::types::v1::Status;
use oci_spec::runtime::LinuxResources;

use super::lifecycle::{process_state, set_label, STOPPED_LABEL};
use super::runc::{json_any, RESOURCES_TYPE_URL};
use super::{ClientInner, Container};
use crate::error::{Error, Result};
use crate::remote::connection::Connection;
use crate::spec::INIT_PROCESS_ID;

/// Highest signal number Linux knows.
const MAX_SIGNAL: i32 = 64;

fn exec_id(process_id: Option<&str>) -> String {
    match process_id {
        None | Some(INIT_PROCESS_ID) => String::new(),
        Some(p) => p.to_string(),
    }
}

fn what(id: &str, process_id: Option<&str>) -> String {
    match process_id {
        None | Some(INIT_PROCESS_ID) => format!("container {id}"),
        Some(p) => format!("process {p} of container {id}"),
    }
}

/// `signal` / `signal_process`.
pub(crate) fn signal(client: &Arc<ClientInner>, id: &str, process_id: Option<&str>, signal: i32) -> Result<()> {
    if !(1..=MAX_SIGNAL).contains(&signal) {
        return Err(Error::invalid(format!("signal {signal} is out of range 1..{MAX_SIGNAL}")));
    }
    let conn = client.conn();
    let tracked = client.container(id);
    let is_init = exec_id(process_id).is_empty();
    let stop = is_init && (signal == libc::SIGTERM || signal == libc::SIGKILL);
    if stop {
        if let Some(c) = &tracked {
            c.run.lock().unwrap().manual_stop = true;
            c.cancel_restarts();
        }
    }
    crate::call::wait(async {
        if stop && tracked.is_some() {
            set_label(conn, id, STOPPED_LABEL, "true").await;
        }
        let req = KillRequest { container_id: id.into(), exec_id: exec_id(process_id), signal: signal as u32, all: false };
        if let Err(s) = conn.call(req, |c, r| async move { c.tasks().kill(c.request(r)).await }).await {
            // Between two runs there is no task: the stop has taken effect by
            // cancelling the pending restart.
            let restarting = tracked.as_ref().is_some_and(|c| {
                let run = c.run.lock().unwrap();
                let restarted = c.restart.lock().unwrap().as_ref().is_some_and(|m| m.restart_count() > 0);
                run.exited || (!run.started && restarted)
            });
            // A shim that closes as its run ends (containerd: "ttrpc: closed") takes
            // the stop with it: the run's exit is reported as it comes, and no
            // restart follows.
            let shim_closing = s.code() == tonic::Code::Unknown && s.message().contains("ttrpc: closed");
            if stop && ((restarting && s.code() == tonic::Code::NotFound) || shim_closing) {
                return Ok(());
            }
            return Err(Error::from_status(format!("signal {}", what(id, process_id)), &s));
        }
        // A frozen cgroup holds signals until it is thawed (runc thaws a container
        // itself on SIGKILL; then it is already stopped).
        thaw_if_paused(conn, id, tracked.as_ref(), "after signalling it").await;
        Ok(())
    })
}

/// `resize`.
/// Resumes container `id` if it is paused (`tracked`: the client's record of it, else
/// containerd's task status says), so that a signal sent to it is delivered. A failure
/// is logged at debug level with `why`.
pub(super) async fn thaw_if_paused(conn: &Connection, id: &str, tracked: Option<&Arc<Container>>, why: &str) {
    let paused = match tracked {
        Some(c) => c.run.lock().unwrap().paused,
        None => matches!(process_state(conn, id, "").await, Ok((Status::Paused | Status::Pausing, ..))),
    };
    if paused {
        if let Err(s) = conn.tasks().resume(conn.request(ResumeTaskRequest { container_id: id.into() })).await {
            log::debug!("resume container {id} {why}: {}", s.message());
        }
        if let Some(c) = tracked {
            c.run.lock().unwrap().paused = false;
        }
    }
}

pub(crate) fn resize(client: &Arc<ClientInner>, id: &str, process_id: &str, width: u32, height: u32) -> Result<()> {
    if width == 0 || height == 0 || width > u16::MAX as u32 || height > u16::MAX as u32 {
        return Err(Error::invalid(format!("terminal size {width}x{height} is out of range 1..65535")));
    }
    let conn = client.conn();
    crate::call::wait(async {
        let req = ResizePtyRequest { container_id: id.into(), exec_id: exec_id(Some(process_id)), width, height };
        conn.call(req, |c, r| async move { c.tasks().resize_pty(c.request(r)).await }).await.map_err(|s| Error::from_status(format!("resize {}", what(id, Some(process_id))), &s))?;
        Ok(())
    })
}

/// `pause` / `resume`: returns once containerd has frozen or thawed the task.
pub(crate) fn set_paused(client: &Arc<ClientInner>, id: &str, paused: bool) -> Result<()> {
    let conn = client.conn();
    crate::call::wait(async {
        let r = if paused {
            conn.call(PauseTaskRequest { container_id: id.into() }, |c, r| async move { c.tasks().pause(c.request(r)).await }).await
        } else {
            conn.call(ResumeTaskRequest { container_id: id.into() }, |c, r| async move { c.tasks().resume(c.request(r)).await }).await
        };
        r.map_err(|s| Error::from_status(format!("{} container {id}", if paused { "pause" } else { "resume" }), &s))
    })?;
    if let Some(c) = client.container(id) {
        c.run.lock().unwrap().paused = paused;
    }
    Ok(())
}

/// `update_resources`.
pub(crate) fn update_resources(client: &Arc<ClientInner>, id: &str, resources: &LinuxResources) -> Result<()> {
    let json = serde_json::to_vec(resources).map_err(|e| Error::internal(format!("encode resources: {e}")))?;
    let conn = client.conn();
    crate::call::wait(async {
        let req = UpdateTaskRequest { container_id: id.into(), resources: Some(json_any(RESOURCES_TYPE_URL, json)), annotations: Default::default() };
        conn.call(req, |c, r| async move { c.tasks().update(c.request(r)).await }).await.map_err(|s| Error::from_status(format!("update resources of container {id}"), &s))?;
        Ok(())
    })
}
