//! The gRPC connection to containerd: one channel (tonic re-dials it by itself after
//! the daemon restarts), the namespace header, call deadlines, and the wait of a call
//! made while containerd is away.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use containerd_client::services::v1::containers_client::ContainersClient;
use containerd_client::services::v1::content_client::ContentClient;
use containerd_client::services::v1::diff_client::DiffClient;
use containerd_client::services::v1::images_client::ImagesClient;
use containerd_client::services::v1::leases_client::LeasesClient;
use containerd_client::services::v1::snapshots::snapshots_client::SnapshotsClient;
use containerd_client::services::v1::events_client::EventsClient;
use containerd_client::services::v1::tasks_client::TasksClient;
use containerd_client::services::v1::version_client::VersionClient;
use tonic::transport::{Channel, Endpoint};
use tonic::Request;

use crate::error::{Code, Error, Result};

/// Deadline of an ordinary unary call.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a call waits for an unreachable containerd to answer again (the
/// supervisor's relaunch, or an external daemon coming back) before it fails with
/// UNAVAILABLE.
pub const OUTAGE_WAIT: Duration = Duration::from_secs(20);

/// How often a call waiting out an outage tries again.
const OUTAGE_RETRY: Duration = Duration::from_millis(100);

/// A connection to one containerd socket in one namespace.
#[derive(Clone)]
pub struct Connection {
    channel: Channel,
    namespace: String,
    socket: PathBuf,
    /// Set when the remote shuts down: calls no longer wait out an outage.
    closed: Arc<AtomicBool>,
}

impl Connection {
    /// A lazily connecting channel to `socket`; nothing is dialled until the first call.
    pub fn new(socket: &Path, namespace: &str) -> Result<Connection> {
        let path = socket.to_path_buf();
        // The channel's background work runs on the library's runtime.
        let _rt = crate::runtime::handle().enter();
        let channel = Endpoint::try_from("http://[::]")
            .map_err(|e| Error::internal(format!("endpoint: {e}")))?
            .connect_timeout(Duration::from_secs(2))
            .connect_with_connector_lazy(tower_service_fn(path));
        Ok(Connection { channel, namespace: namespace.to_string(), socket: socket.to_path_buf(), closed: Arc::default() })
    }

    /// From now on calls fail at once when containerd is away (the remote is ending).
    pub fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
    }

    /// Sends `req` with the unary call `call` makes of it, for a call whose repeat
    /// does no harm (a read, signal, pause, resume, resize, update): while containerd
    /// cannot be reached, sends it again every 100 ms for up to [`OUTAGE_WAIT`], then
    /// gives up with UNAVAILABLE. A call never waits longer than that plus its own
    /// deadline.
    pub async fn call<R, T, F, Fut>(&self, req: R, call: F) -> std::result::Result<T, tonic::Status>
    where
        R: Clone,
        F: Fn(Connection, R) -> Fut,
        Fut: Future<Output = std::result::Result<tonic::Response<T>, tonic::Status>>,
    {
        self.call_once(req, call, |_| async { Ok(None) }).await
    }

    /// Like [`Connection::call`], for a call that must not take effect twice and
    /// cannot be checked afterwards (an exec's creation and start: containerd 1.6's
    /// shim can crash on an exec it is still carrying out being asked for again): sent
    /// again only when it never reached containerd, and UNAVAILABLE when containerd
    /// went away while it ran.
    pub async fn call_unrepeated<R, T, F, Fut>(&self, req: R, call: F) -> std::result::Result<T, tonic::Status>
    where
        R: Clone,
        F: Fn(Connection, R) -> Fut,
        Fut: Future<Output = std::result::Result<tonic::Response<T>, tonic::Status>>,
    {
        let lost = |_| async { Err(tonic::Status::unavailable("containerd went away while the call ran; it may have taken effect")) };
        self.call_once(req, call, lost).await
    }

    /// Like [`Connection::call`], for a call that must not take effect twice
    /// (creating a container, a task or an exec, starting a process): when containerd
    /// went away while the call ran, it waits for containerd to answer again and asks
    /// `took_effect` whether the first attempt did; its answer (`Some`) is the call's,
    /// only `None` (no trace of it) sends the call again, and an error from it other
    /// than containerd still being away is the call's error.
    pub async fn call_once<R, T, F, Fut, C, CFut>(&self, req: R, call: F, took_effect: C) -> std::result::Result<T, tonic::Status>
    where
        R: Clone,
        F: Fn(Connection, R) -> Fut,
        Fut: Future<Output = std::result::Result<tonic::Response<T>, tonic::Status>>,
        C: Fn(Connection) -> CFut,
        CFut: Future<Output = std::result::Result<Option<T>, tonic::Status>>,
    {
        let traced = crate::trace::start();
        let r = self.call_once_untraced(req, call, took_effect).await;
        crate::trace::rpc(traced, std::any::type_name::<R>(), &r);
        r
    }

    async fn call_once_untraced<R, T, F, Fut, C, CFut>(&self, req: R, call: F, took_effect: C) -> std::result::Result<T, tonic::Status>
    where
        R: Clone,
        F: Fn(Connection, R) -> Fut,
        Fut: Future<Output = std::result::Result<tonic::Response<T>, tonic::Status>>,
        C: Fn(Connection) -> CFut,
        CFut: Future<Output = std::result::Result<Option<T>, tonic::Status>>,
    {
        let give_up = Instant::now() + OUTAGE_WAIT;
        let gave_up = |s: &tonic::Status| {
            tonic::Status::unavailable(format!("containerd at {} did not answer for {OUTAGE_WAIT:?}: {}", self.socket.display(), s.message()))
        };
        let mut status = match call(self.clone(), req.clone()).await {
            Ok(r) => return Ok(r.into_inner()),
            Err(s) => s,
        };
        // Once an attempt may have reached containerd, every later one first asks
        // whether it took effect (asking can itself fail with a refused connection).
        let mut maybe_done = false;
        loop {
            let Some(how) = outage(&status) else { return Err(status) };
            if self.closed.load(Ordering::SeqCst) {
                return Err(status);
            }
            if Instant::now() >= give_up {
                return Err(gave_up(&status));
            }
            tokio::time::sleep(OUTAGE_RETRY).await;
            maybe_done |= how == Outage::Lost;
            if maybe_done {
                // It may have taken effect: ask, once containerd answers again.
                match took_effect(self.clone()).await {
                    Ok(Some(done)) => return Ok(done),
                    Ok(None) => {}
                    // Still away: wait on.
                    Err(s) if unreachable(&s) => {
                        status = s;
                        continue;
                    }
                    Err(s) => return Err(s),
                }
            }
            status = match call(self.clone(), req.clone()).await {
                Ok(r) => return Ok(r.into_inner()),
                Err(s) => s,
            };
        }
    }

    /// The socket path.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// The namespace every request carries.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// A request carrying the namespace header and the default deadline.
    pub fn request<T>(&self, msg: T) -> Request<T> {
        self.request_with_timeout(msg, Some(CALL_TIMEOUT))
    }

    /// A request with the namespace header and an optional deadline (`None` for
    /// long-lived streams).
    pub fn request_with_timeout<T>(&self, msg: T, timeout: Option<Duration>) -> Request<T> {
        let mut req = Request::new(msg);
        if let Ok(v) = self.namespace.parse() {
            req.metadata_mut().insert("containerd-namespace", v);
        }
        if let Some(t) = timeout {
            req.set_timeout(t);
        }
        req
    }

    /// The tasks service.
    pub fn tasks(&self) -> TasksClient<Channel> {
        TasksClient::new(self.channel.clone()).max_decoding_message_size(64 << 20)
    }
    /// The containers service.
    pub fn containers(&self) -> ContainersClient<Channel> {
        ContainersClient::new(self.channel.clone()).max_decoding_message_size(64 << 20)
    }
    /// The events service.
    pub fn events(&self) -> EventsClient<Channel> {
        EventsClient::new(self.channel.clone())
    }
    /// The version service.
    pub fn version(&self) -> VersionClient<Channel> {
        VersionClient::new(self.channel.clone())
    }
    /// The content store.
    pub fn content(&self) -> ContentClient<Channel> {
        ContentClient::new(self.channel.clone()).max_decoding_message_size(64 << 20)
    }
    /// The images service.
    pub fn images(&self) -> ImagesClient<Channel> {
        ImagesClient::new(self.channel.clone()).max_decoding_message_size(64 << 20)
    }
    /// The snapshots service (every snapshotter; the request names one).
    pub fn snapshots(&self) -> SnapshotsClient<Channel> {
        SnapshotsClient::new(self.channel.clone()).max_decoding_message_size(64 << 20)
    }
    /// The diff service (applies layers to mounts).
    pub fn diff(&self) -> DiffClient<Channel> {
        DiffClient::new(self.channel.clone())
    }
    /// The leases service.
    pub fn leases(&self) -> LeasesClient<Channel> {
        LeasesClient::new(self.channel.clone())
    }

    /// Asks containerd for its version within `timeout`: the health and readiness probe.
    pub async fn probe(&self, timeout: Duration) -> Result<String> {
        let mut req = Request::new(());
        req.set_timeout(timeout);
        match tokio::time::timeout(timeout, self.version().version(req)).await {
            Ok(Ok(r)) => Ok(r.into_inner().version),
            Ok(Err(s)) => Err(Error::from_status(format!("containerd at {}", self.socket.display()), &s)),
            Err(_) => Err(Error::new(
                Code::DeadlineExceeded,
                format!("containerd at {} did not answer within {timeout:?}", self.socket.display()),
            )),
        }
    }
}

/// How a call failed because containerd was away.
#[derive(Debug, PartialEq, Eq)]
enum Outage {
    /// The request never reached containerd: its socket refused the connection or was
    /// missing. (A broken pipe or a reset is not proof: the connection carries many
    /// calls at once, and containerd may have read this one before it died.)
    NotReached,
    /// The connection failed otherwise while the call ran, or containerd said
    /// UNAVAILABLE: it may have acted on the request.
    Lost,
}

/// Whether `status` is a failure of the connection itself (not an answer).
fn unreachable(status: &tonic::Status) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(status);
    while let Some(e) = source {
        if e.is::<tonic::transport::Error>() || e.is::<std::io::Error>() {
            return true;
        }
        source = e.source();
    }
    false
}

/// Whether, and how, `status` says containerd could not be reached.
fn outage(status: &tonic::Status) -> Option<Outage> {
    let mut transport = false;
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(status);
    while let Some(e) = source {
        transport |= e.is::<tonic::transport::Error>();
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind as K;
            if matches!(io.kind(), K::ConnectionRefused | K::NotFound) {
                return Some(Outage::NotReached);
            }
        }
        source = e.source();
    }
    (transport || status.code() == tonic::Code::Unavailable).then_some(Outage::Lost)
}

fn tower_service_fn(
    path: PathBuf,
) -> impl tower::Service<
    tonic::transport::Uri,
    Response = hyper_util::rt::TokioIo<tokio::net::UnixStream>,
    Error = std::io::Error,
    Future = impl Send,
> + Clone
       + Send
       + 'static {
    tower::service_fn(move |_| {
        let path = path.clone();
        async move { Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(tokio::net::UnixStream::connect(path).await?)) }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_socket_is_not_reached_and_a_closed_connection_gives_up() {
        let dir = std::env::temp_dir().join(format!("lcd-conn-{}", std::process::id()));
        let conn = Connection::new(&dir.join("none.sock"), "default").unwrap();
        let status = crate::runtime::block_on(conn.version().version(Request::new(()))).unwrap_err();
        assert_eq!(outage(&status), Some(Outage::NotReached), "{status:?}");
        // A closed connection gives up at once, with containerd's own status.
        conn.close();
        let t0 = Instant::now();
        let r = crate::runtime::block_on(conn.call((), |c, r| async move { c.version().version(Request::new(r)).await }));
        assert!(r.is_err() && t0.elapsed() < OUTAGE_WAIT);
    }

    #[test]
    fn statuses_from_containerd_are_outages_only_when_unavailable() {
        assert_eq!(outage(&tonic::Status::unavailable("shim gone")), Some(Outage::Lost));
        assert_eq!(outage(&tonic::Status::not_found("no such task")), None);
        assert_eq!(outage(&tonic::Status::unknown("transport error")), None);
    }
}
