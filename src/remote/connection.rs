//! The gRPC connection to containerd: one channel (tonic re-dials it by itself after
//! the daemon restarts), the namespace header, call deadlines, and the wait of a call
//! made while containerd is away.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use containerd_client::services::v1::containers_client::ContainersClient;
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

/// When a call that failed because containerd was away may be sent again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Only when it never reached containerd (the socket refused or was missing):
    /// for calls that must not run twice (creating a container, a task, an exec).
    IfNotSent,
    /// Also when containerd went away while it ran: for reads and calls whose repeat
    /// does no harm (signal, pause, resume, resize, update).
    IfUnavailable,
}

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

    /// Sends `req` with the unary call `call` makes of it; while containerd cannot be
    /// reached and `retry` allows it, sends it again every 100 ms for up to
    /// [`OUTAGE_WAIT`], then gives up with UNAVAILABLE. A call never waits longer than
    /// that plus its own deadline.
    pub async fn call<R, T, F, Fut>(&self, retry: Retry, req: R, call: F) -> std::result::Result<T, tonic::Status>
    where
        R: Clone,
        F: Fn(Connection, R) -> Fut,
        Fut: std::future::Future<Output = std::result::Result<tonic::Response<T>, tonic::Status>>,
    {
        let give_up = Instant::now() + OUTAGE_WAIT;
        loop {
            let status = match call(self.clone(), req.clone()).await {
                Ok(r) => return Ok(r.into_inner()),
                Err(s) => s,
            };
            let away = match outage(&status) {
                Some(Outage::NotReached) => true,
                Some(Outage::Lost) => retry == Retry::IfUnavailable,
                None => false,
            };
            if !away || self.closed.load(Ordering::SeqCst) {
                return Err(status);
            }
            if Instant::now() >= give_up {
                return Err(tonic::Status::unavailable(format!(
                    "containerd at {} did not answer for {OUTAGE_WAIT:?}: {}",
                    self.socket.display(),
                    status.message()
                )));
            }
            tokio::time::sleep(OUTAGE_RETRY).await;
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
    /// missing, or the connection was already closed (a broken pipe, or a reset, which
    /// on a Unix socket means the daemon's end was closed with our bytes unread).
    NotReached,
    /// The connection failed otherwise while the call ran, or containerd said
    /// UNAVAILABLE: it may have acted on the request.
    Lost,
}

/// Whether, and how, `status` says containerd could not be reached.
fn outage(status: &tonic::Status) -> Option<Outage> {
    let mut transport = false;
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(status);
    while let Some(e) = source {
        transport |= e.is::<tonic::transport::Error>();
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind as K;
            if matches!(io.kind(), K::ConnectionRefused | K::NotFound | K::BrokenPipe | K::ConnectionReset) {
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
        let r = crate::runtime::block_on(conn.call(Retry::IfNotSent, (), |c, r| async move { c.version().version(Request::new(r)).await }));
        assert!(r.is_err() && t0.elapsed() < OUTAGE_WAIT);
    }

    #[test]
    fn statuses_from_containerd_are_outages_only_when_unavailable() {
        assert_eq!(outage(&tonic::Status::unavailable("shim gone")), Some(Outage::Lost));
        assert_eq!(outage(&tonic::Status::not_found("no such task")), None);
        assert_eq!(outage(&tonic::Status::unknown("transport error")), None);
    }
}
