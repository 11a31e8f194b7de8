//! Stats, pids and the process summary.

use std::sync::Arc;

use containerd_client::services::v1::{ListPidsRequest, MetricsRequest};
use prost::Message;

use super::runc::ProcessDetails;
use super::{ClientInner, ProcessSummary};
use crate::error::{Error, Result};
use crate::spec::INIT_PROCESS_ID;

/// `stats`.
pub(crate) fn stats(client: &Arc<ClientInner>, id: &str) -> Result<serde_json::Value> {
    let conn = client.conn();
    let metrics = crate::call::wait(async {
        let req = MetricsRequest { filters: vec![format!("id=={id}")] };
        conn.call(req, |c, r| async move { c.tasks().metrics(c.request(r)).await })
            .await
            .map_err(|s| Error::from_status(format!("stats of container {id}"), &s))
    })?
    .metrics;
    let m = metrics.into_iter().find(|m| m.id == id).ok_or_else(|| Error::not_found(format!("no such container: {id}")))?;
    crate::metrics::stats_json(&m)
}

async fn list_pids(client: &ClientInner, id: &str) -> Result<Vec<containerd_client::types::v1::ProcessInfo>> {
    let conn = client.conn();
    Ok(conn
        .call(ListPidsRequest { container_id: id.into() }, |c, r| async move { c.tasks().list_pids(c.request(r)).await })
        .await
        .map_err(|s| Error::from_status(format!("list pids of container {id}"), &s))?
        .processes)
}

/// `get_pids`.
pub(crate) fn pids(client: &Arc<ClientInner>, id: &str) -> Result<Vec<u32>> {
    crate::call::wait(async { Ok(list_pids(client, id).await?.into_iter().map(|p| p.pid).collect()) })
}

/// `summary`: each pid with `init`, its exec id, or "" for a process started inside.
pub(crate) fn summary(client: &Arc<ClientInner>, id: &str) -> Result<Vec<ProcessSummary>> {
    let procs = crate::call::wait(list_pids(client, id))?;
    let init_pid = match client.container(id) {
        Some(c) => c.run.lock().unwrap().pid,
        None => match crate::call::wait(super::lifecycle::process_state(client.conn(), id, "")) {
            Ok(s) => s.3,
            Err(e) if crate::call::is_call_end(&e) => return Err(e),
            Err(_) => 0,
        },
    };
    Ok(procs
        .into_iter()
        .map(|p| {
            let exec = p.info.as_ref().and_then(|a| ProcessDetails::decode(a.value.as_slice()).ok()).map(|d| d.exec_id).unwrap_or_default();
            let process_id = if p.pid == init_pid { INIT_PROCESS_ID.to_string() } else { exec };
            ProcessSummary { pid: p.pid, process_id }
        })
        .collect())
}
