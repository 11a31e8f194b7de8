//! The gRPC connection to containerd: one channel (tonic re-dials it by itself after
//! the daemon restarts), the namespace header, and call deadlines.

use std::path::{Path, PathBuf};
use std::time::Duration;

use containerd_client::services::v1::containers_client::ContainersClient;
use containerd_client::services::v1::events_client::EventsClient;
use containerd_client::services::v1::tasks_client::TasksClient;
use containerd_client::services::v1::version_client::VersionClient;
use tonic::transport::{Channel, Endpoint};
use tonic::Request;

use crate::error::{Code, Error, Result};

/// Deadline of an ordinary unary call.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// A connection to one containerd socket in one namespace.
#[derive(Clone)]
pub struct Connection {
    channel: Channel,
    namespace: String,
    socket: PathBuf,
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
        Ok(Connection { channel, namespace: namespace.to_string(), socket: socket.to_path_buf() })
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
