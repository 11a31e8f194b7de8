//! containerd leases: what is written while one is held (content, snapshots) is safe
//! from the garbage collector until it is referenced properly or the lease ends.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use containerd_client::services::v1::{AddResourceRequest, CreateRequest, DeleteRequest, Resource};
use tonic::Request;

use crate::error::{Error, Result};
use crate::remote::connection::Connection;

/// The gRPC header that puts a request under a lease.
pub const LEASE_HEADER: &str = "containerd-lease";

/// containerd's lease label: past this time the collector may reclaim the lease, so a
/// client that died holding one leaves nothing pinned for ever.
pub const EXPIRE_LABEL: &str = "containerd.io/gc.expire";

/// How long a lease outlives a client that never released it.
pub const LEASE_EXPIRY: Duration = Duration::from_secs(3600);

/// A lease held in containerd; [`Lease::release`] ends it. Dropped without that (a
/// pull or import given up half-way, its future dropped), it is released in the
/// background.
pub struct Lease {
    conn: Connection,
    id: String,
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lease").field("id", &self.id).finish()
    }
}

impl Lease {
    /// Takes a new lease named after `purpose`, expiring after [`LEASE_EXPIRY`].
    pub async fn acquire(conn: &Connection, purpose: &str) -> Result<Lease> {
        let id = new_id(purpose);
        let expire = crate::timefmt::rfc3339_system_time(SystemTime::now() + LEASE_EXPIRY);
        let req = CreateRequest { id: id.clone(), labels: HashMap::from([(EXPIRE_LABEL.to_string(), expire)]) };
        conn.call(req, |c, r| async move { c.leases().create(c.request(r)).await })
            .await
            .map_err(|s| Error::from_status("create lease", &s))?;
        Ok(Lease { conn: conn.clone(), id })
    }

    /// The lease's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The connection the lease was taken on.
    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    /// `msg` as a request of the lease's connection under this lease.
    pub fn request<T>(&self, msg: T) -> Request<T> {
        self.attach(self.conn.request(msg))
    }

    /// Like [`Lease::request`], with deadline `timeout` (`None`: none, for streams).
    pub fn request_with_timeout<T>(&self, msg: T, timeout: Option<Duration>) -> Request<T> {
        self.attach(self.conn.request_with_timeout(msg, timeout))
    }

    /// Puts `req` under this lease.
    fn attach<T>(&self, mut req: Request<T>) -> Request<T> {
        if let Ok(v) = self.id.parse() {
            req.metadata_mut().insert(LEASE_HEADER, v);
        }
        req
    }

    /// Protects content already in the store (until an image refers to it).
    pub async fn add_content(&self, digest: &str) -> Result<()> {
        let req = AddResourceRequest {
            id: self.id.clone(),
            resource: Some(Resource { id: digest.to_string(), r#type: "content".into() }),
        };
        self.conn
            .call(req, |c, r| async move { c.leases().add_resource(c.request(r)).await })
            .await
            .map_err(|s| Error::from_status(format!("lease {digest}"), &s))?;
        Ok(())
    }

    /// Ends the lease (what it protected is now kept only by its references). A
    /// failure is logged: the lease expires anyway.
    pub async fn release(mut self) {
        let id = std::mem::take(&mut self.id);
        delete(&self.conn, id).await;
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if !self.id.is_empty() {
            let (conn, id) = (self.conn.clone(), std::mem::take(&mut self.id));
            crate::runtime::handle().spawn(async move { delete(&conn, id).await });
        }
    }
}

/// Deletes lease `id`; a failure is logged (the lease expires anyway).
async fn delete(conn: &Connection, id: String) {
    let req = DeleteRequest { id: id.clone(), sync: false };
    if let Err(s) = conn.call(req, |c, r| async move { c.leases().delete(c.request(r)).await }).await {
        if s.code() != tonic::Code::NotFound {
            log::warn!("release lease {id}: {}", s.message());
        }
    }
}

/// A lease id of this process, unique among its leases.
fn new_id(purpose: &str) -> String {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("libcontainerd-{purpose}-{}-{nanos}-{}", std::process::id(), SEQ.fetch_add(1, Ordering::Relaxed))
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_unique() {
        assert_ne!(super::new_id("pull"), super::new_id("pull"));
    }
}
