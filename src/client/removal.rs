//! The removal of a container from containerd once its run has ended: the task, the
//! record (as soon as containerd publishes the task's deletion), the snapshot and the
//! fifos, and the final `exit` of a container whose task is gone.

use std::sync::Arc;

use containerd_client::services::v1::{DeleteContainerRequest, DeleteTaskRequest};

use super::{ClientInner, Container};
use crate::backend::StateInfo;
use crate::images::rootfs;
use crate::remote::connection::Connection;

/// Deletes a container's task and then its record and snapshot: those as soon as
/// containerd publishes the task's deletion (its shim is done with the task;
/// containerd goes on stopping the shim and removing the bundle, which the record's
/// removal does not wait for), or when the task's deletion returns without that event.
/// What is left ([`remove_local`]) is the caller's, once the run's fifos are gone. Both
/// requests are sent again while containerd is away (a repeat finds nothing:
/// NOT_FOUND), so that an outage right after the exit does not leave the shim and
/// record.
pub(crate) async fn remove_task_and_record(client: &ClientInner, c: &Container) {
    let (conn, id) = (client.conn(), &c.id);
    let published = client.remote.task_deleted(id);
    let delete = DeleteTaskRequest { container_id: id.clone() };
    let delete = conn.call(delete, |c, r| async move { c.tasks().delete(c.request(r)).await });
    tokio::pin!(delete);
    let early = tokio::select! {
        r = &mut delete => Some(r),
        _ = published => None,
    };
    let deleted = match early {
        Some(r) => {
            remove_record_and_snapshot(client, c).await;
            r
        }
        None => tokio::join!(delete, remove_record_and_snapshot(client, c)).0,
    };
    client.remote.forget_task_delete(id);
    if let Err(s) = deleted {
        if s.code() != tonic::Code::NotFound {
            log::warn!("delete task {id}: {}", s.message());
        }
    }
}

/// Deletes a container's record and removes its snapshot, at once: the task that
/// mounted the snapshot is gone.
async fn remove_record_and_snapshot(client: &ClientInner, c: &Container) {
    let conn = client.conn();
    let snapshot = c.run.lock().unwrap().snapshot.take();
    let remove_snapshot = async {
        if let Some(s) = &snapshot {
            rootfs::remove(conn, s).await;
        }
    };
    tokio::join!(delete_record(conn, &c.id), remove_snapshot);
}

/// Deletes container record `id` (sent again while containerd is away; NOT_FOUND is
/// success).
pub(crate) async fn delete_record(conn: &Connection, id: &str) {
    let delete = DeleteContainerRequest { id: id.to_string() };
    if let Err(s) = conn.call(delete, |c, r| async move { c.containers().delete(c.request(r)).await }).await {
        if s.code() != tonic::Code::NotFound {
            log::warn!("delete container {id}: {}", s.message());
        }
    }
}

/// What is left of a container once containerd removed its record and snapshot: its
/// fifo directory, and its place among the remote's containers.
pub(crate) fn remove_local(client: &ClientInner, c: &Container) {
    let id = &c.id;
    // Each run removed its own fifo directory: the container's goes once empty.
    client.remote.remove_run_dir(id, None);
    client.remote.set_owned(id, false);
}

/// The final end of a container whose task is gone: removes its record and fifos,
/// frees the id and reports `end` (its `exit`).
pub(crate) async fn finish(client: &ClientInner, c: &Arc<Container>, end: StateInfo) {
    remove_record_and_snapshot(client, c).await;
    remove_local(client, c);
    client.unregister(c);
    client.report(&c.id, end);
}
