//! The opt-in shim pool (`shim_pool` remote option): containers spread over a bounded
//! number of shared containerd-shim-runc-v2 processes, each kept warm by a keeper task.
//!
//! containerd 1.6's runc v2 shim serves every container whose spec carries the same
//! `io.containerd.runc.v2.group` annotation from one process. The pool gives each
//! container it creates one of `N` group names, the least loaded (ties broken
//! round-robin), so that concurrent creates go to different shims. A group's shim
//! exits once its last task is deleted, so each group holds a *keeper*: a task that is
//! created and never started (its `runc init` waits for a start that never comes), so
//! a container of the group joins a running shim instead of starting one.
//!
//! Isolation trade-off: a shim holds every container of its group. If it dies (crash,
//! OOM kill) all of them end at once; containerd then publishes one exit per task and
//! the library reports each container's `exit` exactly once (its exit path takes the
//! first exit of a run and drops the rest). Stats, OOM and exit events of a group all
//! pass through one process.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use containerd_client::services::v1::container::Runtime;
use containerd_client::services::v1::{
    Container as CtrContainer, CreateContainerRequest, CreateTaskRequest, DeleteContainerRequest, DeleteTaskRequest, GetRequest,
    KillRequest,
};

use super::connection::Connection;

/// The spec annotation by which containerd's runc v2 shim groups containers.
pub const GROUP_ANNOTATION: &str = "io.containerd.runc.v2.group";

/// The largest `shim_pool` accepted.
pub const MAX_SHIM_POOL: u32 = 64;

/// Label marking a pool's keeper container in containerd.
pub const KEEPER_LABEL: &str = "io.libcontainerd.shim-pool-keeper";

/// Prefix of the pool's group names and keeper container ids.
const PREFIX: &str = "libcontainerd-shim-pool-";

/// The executable a keeper's spec names: an empty file, never run (the keeper is never
/// started), which `runc create` only checks for.
const KEEPER_EXE: &str = "keeper";

/// The pool of one remote.
pub(crate) struct ShimPool {
    /// Containers placed in each group and not yet released.
    load: Mutex<Vec<usize>>,
    /// Next group to prefer among the least loaded.
    next: Mutex<usize>,
    /// Per group: held while its keeper is being checked or made; true once it runs.
    keepers: Vec<tokio::sync::Mutex<bool>>,
    /// The keepers' root filesystem (the keeper file and a `/proc` mount point).
    rootfs: PathBuf,
}

/// One container's place in the pool; released when dropped.
pub(crate) struct PoolSlot {
    pool: Arc<ShimPool>,
    index: usize,
}

impl PoolSlot {
    /// The group annotation value of this slot.
    pub fn group(&self) -> String {
        group_name(self.index)
    }

    /// The index of this slot's group.
    pub fn index(&self) -> usize {
        self.index
    }
}

impl Drop for PoolSlot {
    fn drop(&mut self) {
        let mut load = self.pool.load.lock().unwrap();
        load[self.index] = load[self.index].saturating_sub(1);
    }
}

fn group_name(index: usize) -> String {
    format!("{PREFIX}{index}")
}

/// The keeper container id of group `index`.
pub(crate) fn keeper_id(index: usize) -> String {
    format!("{PREFIX}{index}-keeper")
}

impl ShimPool {
    /// A pool of `size` groups (> 0) whose keepers' files live under `state_dir`.
    pub fn new(size: u32, state_dir: &Path) -> Arc<ShimPool> {
        let n = size as usize;
        Arc::new(ShimPool {
            load: Mutex::new(vec![0; n]),
            next: Mutex::new(0),
            keepers: (0..n).map(|_| tokio::sync::Mutex::new(false)).collect(),
            rootfs: state_dir.join("shim-pool/rootfs"),
        })
    }

    /// Places one container in the least loaded group.
    pub fn acquire(self: &Arc<Self>) -> PoolSlot {
        let mut load = self.load.lock().unwrap();
        let mut next = self.next.lock().unwrap();
        let n = load.len();
        let index = (0..n).map(|k| (*next + k) % n).min_by_key(|&i| load[i]).unwrap_or(0);
        load[index] += 1;
        *next = (index + 1) % n;
        PoolSlot { pool: self.clone(), index }
    }

    /// Makes sure the keeper of group `index` exists (best effort: without it the
    /// group's shim merely starts with its first container and stops with its last).
    pub async fn ensure_keeper(&self, conn: &Connection, index: usize, runtime: Runtime) {
        let mut ready = self.keepers[index].lock().await;
        if *ready {
            return;
        }
        match self.make_keeper(conn, index, runtime).await {
            Ok(()) => *ready = true,
            Err(e) => log::warn!("shim pool: keeper of group {}: {e}", group_name(index)),
        }
    }

    /// The keeper of group `index` is gone (its shim died): the next container of the
    /// group makes a new one.
    pub fn keeper_gone(&self, index: usize) {
        if let Some(k) = self.keepers.get(index) {
            if let Ok(mut ready) = k.try_lock() {
                *ready = false;
            } else {
                // Being made right now: that maker sets it.
            }
        }
    }

    fn write_rootfs(&self) -> std::io::Result<()> {
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(self.rootfs.join("proc"))?;
        std::fs::OpenOptions::new().create(true).truncate(false).write(true).mode(0o755).open(self.rootfs.join(KEEPER_EXE))?;
        Ok(())
    }

    async fn make_keeper(&self, conn: &Connection, index: usize, runtime: Runtime) -> Result<(), String> {
        let id = keeper_id(index);
        // One left by an earlier remote (live_restore) may still be waiting.
        match conn.tasks().get(conn.request(GetRequest { container_id: id.clone(), exec_id: String::new() })).await {
            Ok(r) if r.get_ref().process.as_ref().is_some_and(|p| p.status == containerd_client::types::v1::Status::Created as i32) => {
                return Ok(());
            }
            _ => remove_keeper(conn, &id).await,
        }
        self.write_rootfs().map_err(|e| format!("write {}: {e}", self.rootfs.display()))?;
        let spec = keeper_spec(&self.rootfs, &group_name(index), conn.namespace(), &id);
        let container = CtrContainer {
            id: id.clone(),
            labels: HashMap::from([(KEEPER_LABEL.to_string(), "true".to_string())]),
            runtime: Some(runtime),
            spec: Some(crate::client::runc::json_any(crate::client::runc::SPEC_TYPE_URL, spec)),
            ..Default::default()
        };
        conn.containers().create(conn.request(CreateContainerRequest { container: Some(container) })).await.map_err(|s| s.message().to_string())?;
        let task = CreateTaskRequest { container_id: id.clone(), ..Default::default() };
        if let Err(s) = conn.tasks().create(conn.request(task)).await {
            remove_keeper(conn, &id).await;
            return Err(s.message().to_string());
        }
        Ok(())
    }

    /// Removes every keeper of this pool (at the remote's cleanup).
    pub async fn remove_keepers(&self, conn: &Connection) {
        for index in 0..self.keepers.len() {
            let mut ready = self.keepers[index].lock().await;
            remove_keeper(conn, &keeper_id(index)).await;
            *ready = false;
        }
    }

    /// The group index of a keeper id of this pool.
    pub fn keeper_index(&self, id: &str) -> Option<usize> {
        (0..self.keepers.len()).find(|&i| keeper_id(i) == id)
    }
}

/// Kills and deletes a keeper's task and record (errors ignored: it may not exist).
async fn remove_keeper(conn: &Connection, id: &str) {
    let _ = conn.tasks().kill(conn.request(KillRequest { container_id: id.into(), exec_id: String::new(), signal: 9, all: true })).await;
    let _ = conn.tasks().delete(conn.request(DeleteTaskRequest { container_id: id.into() })).await;
    let _ = conn.containers().delete(conn.request(DeleteContainerRequest { id: id.into() })).await;
}

/// The spec of a keeper: the smallest container `runc create` accepts, in the group.
fn keeper_spec(rootfs: &Path, group: &str, namespace: &str, id: &str) -> Vec<u8> {
    let v = serde_json::json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": {"uid": 0, "gid": 0},
            "args": [format!("/{KEEPER_EXE}")],
            "cwd": "/",
            "noNewPrivileges": true,
        },
        "root": {"path": rootfs, "readonly": true},
        // runc's init needs /proc to close its descriptors before it waits.
        "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}],
        "annotations": {GROUP_ANNOTATION: group},
        "linux": {
            "cgroupsPath": format!("/{namespace}/{id}"),
            "namespaces": [{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "network"}],
        },
    });
    serde_json::to_vec(&v).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn least_loaded_then_round_robin() {
        let pool = ShimPool::new(3, Path::new("/nonexistent"));
        let a = pool.acquire();
        let b = pool.acquire();
        let c = pool.acquire();
        assert_eq!([a.index, b.index, c.index], [0, 1, 2]);
        drop(b);
        let d = pool.acquire();
        assert_eq!(d.index, 1, "the emptied group is the least loaded");
        let _e = pool.acquire();
        let load = pool.load.lock().unwrap().clone();
        assert_eq!((load.iter().sum::<usize>(), *load.iter().max().unwrap()), (4, 2), "{load:?}");
        assert_eq!(pool.keeper_index(&keeper_id(2)), Some(2));
        assert_eq!(pool.keeper_index(&group_name(2)), None);
    }
}
