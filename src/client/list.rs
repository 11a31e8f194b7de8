//! `list`: the containers of the namespace with their processes.

use std::collections::HashMap;
use std::sync::Arc;

use containerd_client::services::v1::{ListContainersRequest, ListTasksRequest};
use containerd_client::types::v1::Status;

use super::{ClientInner, ContainerInfo, ContainerStatus, ProcessInfo};
use crate::error::{Error, Result};

/// Maps containerd's task status onto the list's.
pub(crate) fn status_of(s: Status) -> ContainerStatus {
    match s {
        Status::Created => ContainerStatus::Created,
        Status::Running => ContainerStatus::Running,
        Status::Paused | Status::Pausing => ContainerStatus::Paused,
        Status::Stopped | Status::Unknown => ContainerStatus::Stopped,
    }
}

/// `list`.
pub(crate) fn list(client: &Arc<ClientInner>) -> Result<Vec<ContainerInfo>> {
    let conn = client.conn();
    let before = client.reaping_ids();
    crate::call::wait(async {
        let containers = conn
            .call(ListContainersRequest { filters: vec![] }, |c, r| async move { c.containers().list(c.request(r)).await })
            .await
            .map_err(|s| Error::from_status("list containers", &s))?
            .containers;
        let tasks: HashMap<String, (u32, Status)> = conn
            .call(ListTasksRequest { filter: String::new() }, |c, r| async move { c.tasks().list(c.request(r)).await })
            .await
            .map_err(|s| Error::from_status("list tasks", &s))?
            .tasks
            .into_iter()
            .map(|t| (t.id.clone(), (t.pid, Status::try_from(t.status).unwrap_or(Status::Unknown))))
            .collect();
        // A container whose exit has been reported is gone for the caller, even while
        // containerd still removes it.
        let mut reaping = before;
        reaping.extend(client.reaping_ids());
        let mut out = Vec::with_capacity(containers.len());
        // The shim pool's keepers are the library's own, never the caller's.
        let keeper = |c: &containerd_client::services::v1::Container| c.labels.contains_key(crate::remote::pool::KEEPER_LABEL);
        for ctr in containers.into_iter().filter(|c| !reaping.contains(&c.id) && !keeper(c)) {
            let (pid, status) = tasks.get(&ctr.id).copied().unwrap_or((0, Status::Stopped));
            let mut processes = Vec::new();
            if let Some(c) = client.container(&ctr.id) {
                for (exec_id, epid) in super::exec::exec_ids(&c) {
                    let st = super::lifecycle::process_state(conn, &ctr.id, &exec_id).await.map(|s| s.0).unwrap_or(Status::Stopped);
                    processes.push(ProcessInfo { process_id: exec_id, pid: epid, status: status_of(st) });
                }
                processes.sort_by(|a, b| a.process_id.cmp(&b.process_id));
            }
            out.push(ContainerInfo { id: ctr.id, pid, status: status_of(status), processes });
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    })
}
