//! A container's rootfs from an image: a writable snapshot keyed by the container id
//! over the image's top layer (unpacking first if needed), whose mounts containerd
//! gets as the task's rootfs, and its removal with the container.
//!
//! The life of the snapshot, as the client's lifecycle uses it:
//! - `create`: [`prepare`] (under a lease, the spec's process completed from the
//!   image config), [`PreparedRootfs::fill_record`] on the container record,
//!   `mounts` to `Tasks.Create`, then [`PreparedRootfs::commit`] once the record exists
//!   (the record now keeps the snapshot) or [`PreparedRootfs::abandon`] if the create
//!   failed.
//! - a restart (a new task of the same container): [`mounts`] again.
//! - the container's removal (every path: the final exit, `cleanup`): [`remove`]
//!   after the record is deleted. A restart keeps it.
//! - `restore`: [`Snapshot::of_record`] names it from the container record.
//!
//! `root.readonly` is honoured the way Docker does it: the snapshot stays writable and
//! runc mounts the rootfs read-only in the container (so runc can still create the
//! mount points the spec needs).
//!
//! The image's `User` is resolved from the snapshot's own `/etc/passwd` and
//! `/etc/group`, read through its mounts' layer directories (see [`super::users`]),
//! without mounting anything in the host.

use std::collections::HashMap;

use containerd_client::services::v1::snapshots::{MountsRequest, PrepareSnapshotRequest, RemoveSnapshotRequest};
use containerd_client::services::v1::Container as CtrContainer;
use containerd_client::types::Mount;

use super::config::{self, ProcessDefaults};
use super::lease::Lease;
use super::{unpack, users};
use crate::error::{Code, Error, Result};
use crate::remote::connection::Connection;
use crate::spec::{ContainerSpec, CreateOptions};

/// Label on the container record holding the image's stop signal (the Go client's
/// name for it), for `stop` with signal 0.
pub const STOP_SIGNAL_LABEL: &str = "io.containerd.image.config.stop-signal";

/// A snapshot: its snapshotter and key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The snapshotter holding it.
    pub snapshotter: String,
    /// Its key (the container id).
    pub key: String,
}

impl Snapshot {
    /// The snapshot a container record names, if any.
    pub fn of_record(c: &CtrContainer) -> Option<Snapshot> {
        (!c.snapshot_key.is_empty() && !c.snapshotter.is_empty())
            .then(|| Snapshot { snapshotter: c.snapshotter.clone(), key: c.snapshot_key.clone() })
    }
}

/// A container's rootfs prepared from an image, before the container record exists.
#[derive(Debug)]
pub struct PreparedRootfs {
    /// The spec with the image's process defaults filled in and `root.path` set to the
    /// bundle's rootfs.
    pub spec: ContainerSpec,
    /// The snapshot's mounts (the task's rootfs).
    pub mounts: Vec<Mount>,
    /// The snapshot.
    pub snapshot: Snapshot,
    /// The image's name.
    pub image: String,
    /// The image's stop signal ("" when it names none).
    pub stop_signal: String,
    lease: Lease,
}

impl PreparedRootfs {
    /// Names the image, the snapshotter and the snapshot in the container record.
    pub fn fill_record(&self, c: &mut CtrContainer) {
        c.image = self.image.clone();
        c.snapshotter = self.snapshot.snapshotter.clone();
        c.snapshot_key = self.snapshot.key.clone();
        if !self.stop_signal.is_empty() {
            c.labels.insert(STOP_SIGNAL_LABEL.to_string(), self.stop_signal.clone());
        }
    }

    /// The container record exists and keeps the snapshot: the lease ends.
    pub async fn commit(self) {
        self.lease.release().await;
    }

    /// The create failed: the snapshot goes, then the lease.
    pub async fn abandon(self, conn: &Connection) {
        remove(conn, &self.snapshot).await;
        self.lease.release().await;
    }
}

/// Prepares container `id`'s rootfs when `options` name an image (`None` otherwise):
/// resolves the image (NOT_FOUND if there is none), unpacks it if needed, prepares
/// the writable snapshot `id` over it (ALREADY_EXISTS if a snapshot of that key is
/// there) and completes the spec from the image config. Nothing is left behind on
/// failure.
pub async fn prepare(conn: &Connection, id: &str, spec: &ContainerSpec, options: &CreateOptions) -> Result<Option<PreparedRootfs>> {
    let Some(image_ref) = options.image.as_deref() else { return Ok(None) };
    // The lease is taken while the image is looked up (and unpacked if it must be).
    let look_up = async {
        let snapshotter = unpack::snapshotter_for(conn, options.snapshotter.as_deref()).await?;
        let image = config::resolve(conn, image_ref).await?;
        let top = unpack::unpack_resolved(conn, &image, &snapshotter, None).await?;
        Ok::<_, Error>((snapshotter, image, top))
    };
    let (found, lease) = tokio::join!(look_up, Lease::acquire(conn, "create"));
    let lease = lease?;
    let (snapshotter, image, top) = match found {
        Ok(f) => f,
        Err(e) => {
            lease.release().await;
            return Err(e);
        }
    };
    let snapshot = Snapshot { snapshotter: snapshotter.clone(), key: id.to_string() };
    let req = PrepareSnapshotRequest { snapshotter: snapshotter.clone(), key: id.to_string(), parent: top, labels: HashMap::new() };
    let mut prepared = conn.snapshots().prepare(lease.request(req.clone())).await;
    if prepared.as_ref().is_err_and(|s| s.code() == tonic::Code::NotFound) {
        // The layers went since this process last unpacked the image: again.
        unpack::forget(conn, &image, &snapshotter);
        match unpack::unpack_resolved(conn, &image, &snapshotter, None).await {
            Ok(_) => prepared = conn.snapshots().prepare(lease.request(req)).await,
            Err(e) => {
                lease.release().await;
                return Err(e);
            }
        }
    }
    let mounts = match prepared {
        Ok(r) => r.into_inner().mounts,
        Err(s) => {
            lease.release().await;
            return Err(match s.code() {
                tonic::Code::AlreadyExists => Error::new(Code::AlreadyExists, format!("a snapshot {id:?} already exists in {}", snapshot.snapshotter)),
                _ => Error::from_status(format!("prepare the rootfs of {id}"), &s),
            });
        }
    };
    let defaults = ProcessDefaults::of(&image.config);
    let completed = (|| {
        let mut v: serde_json::Value = serde_json::from_str(&spec.json).map_err(|e| Error::invalid(format!("OCI spec: {e}")))?;
        let layers = users::layer_dirs(&mounts);
        config::apply(&mut v, &defaults, |u| users::resolve(&layers, u))?;
        ContainerSpec::for_image(&v.to_string())
    })();
    let spec = match completed {
        Ok(s) => s,
        Err(e) => {
            remove(conn, &snapshot).await;
            lease.release().await;
            return Err(e);
        }
    };
    Ok(Some(PreparedRootfs { spec, mounts, snapshot, image: image.name, stop_signal: defaults.stop_signal, lease }))
}

/// The mounts of an existing snapshot (a new task of the same container).
pub async fn mounts(conn: &Connection, snapshot: &Snapshot) -> Result<Vec<Mount>> {
    let req = MountsRequest { snapshotter: snapshot.snapshotter.clone(), key: snapshot.key.clone() };
    conn.call(req, |c, r| async move { c.snapshots().mounts(c.request(r)).await })
        .await
        .map(|r| r.mounts)
        .map_err(|s| Error::from_status(format!("rootfs of {}", snapshot.key), &s))
}

/// Removes a container's snapshot (already gone is fine; a failure is logged, and
/// containerd's collector reclaims it once no record names it).
pub async fn remove(conn: &Connection, snapshot: &Snapshot) {
    let req = RemoveSnapshotRequest { snapshotter: snapshot.snapshotter.clone(), key: snapshot.key.clone() };
    if let Err(s) = conn.call(req, |c, r| async move { c.snapshots().remove(c.request(r)).await }).await {
        if s.code() != tonic::Code::NotFound {
            log::warn!("remove snapshot {} of {}: {}", snapshot.key, snapshot.snapshotter, s.message());
        }
    }
}

/// The snapshot container `id`'s record names (`None` without one, or when
/// containerd cannot be asked).
pub async fn snapshot_of(conn: &Connection, id: &str) -> Option<Snapshot> {
    let req = containerd_client::services::v1::GetContainerRequest { id: id.to_string() };
    let r = conn.containers().get(conn.request(req)).await.ok()?;
    r.into_inner().container.as_ref().and_then(Snapshot::of_record)
}
