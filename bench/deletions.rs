//! Sees containerd delete a container: the point every lifecycle peer of the benchmark is timed to.
//!
//! The library reports `exit` before containerd has deleted the task and the container
//! (it asks for both right after), so a driver that stopped its clock at `exit` would
//! leave the removal out. [`Deletions`] subscribes to containerd's own events
//! (`/tasks/delete` of the init process and `/containers/delete`) on a connection of its
//! own, with the `containerd-client` crate, and calls back once both have been seen
//! for an id. For containers created from an image, [`Deletions::start_with_snapshots`]
//! also waits until the container's snapshot (keyed by its id) is gone: its
//! `/snapshot/remove` event, or, since containerd's garbage collector may take the
//! snapshot once the record is gone and publishes nothing when it does, a `Stat` of the
//! snapshot answering NOT_FOUND (asked every few ms from the moment the task and the
//! record are gone).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use containerd_client::events::{ContainerDelete, SnapshotRemove, TaskDelete};
use containerd_client::services::v1::events_client::EventsClient;
use containerd_client::services::v1::snapshots::snapshots_client::SnapshotsClient;
use containerd_client::services::v1::snapshots::StatSnapshotRequest;
use containerd_client::services::v1::{PublishRequest, SubscribeRequest};
use containerd_client::types::Envelope;
use prost::Message;
use tonic::transport::Channel;

/// Topic of the marker event published until it comes back: the subscription is live.
const PING_TOPIC: &str = "/lcdbench/ping";
/// How often a snapshot that may have gone without an event is looked up.
const SNAPSHOT_POLL: Duration = Duration::from_millis(2);

/// What has been seen of one container's removal.
#[derive(Default)]
struct Seen {
    task: bool,
    container: bool,
    snapshot: bool,
}

/// A live subscription to one namespace's deletions; dropping it ends it.
pub struct Deletions {
    rt: Option<tokio::runtime::Runtime>,
}

impl Deletions {
    /// Subscribes and returns once the subscription is proven live (its own marker
    /// event came back): a container created after this returns is seen deleted.
    /// `deleted(id)` runs on the watcher's thread once the task and the container of
    /// `id` are both gone.
    #[allow(dead_code)] // each driver uses one of the two
    pub fn start(socket: &Path, namespace: &str, deleted: impl Fn(&str) + Send + Sync + 'static) -> Result<Deletions, String> {
        Self::watch(socket, namespace, None, deleted)
    }

    /// As [`Deletions::start`], but `deleted(id)` waits until the snapshot keyed `id`
    /// in `snapshotter` is gone as well (a container created from an image). It may
    /// then run more than once for an id.
    #[allow(dead_code)] // each driver uses one of the two
    pub fn start_with_snapshots(
        socket: &Path,
        namespace: &str,
        snapshotter: &str,
        deleted: impl Fn(&str) + Send + Sync + 'static,
    ) -> Result<Deletions, String> {
        Self::watch(socket, namespace, Some(snapshotter.to_string()), deleted)
    }

    fn watch(socket: &Path, namespace: &str, snapshotter: Option<String>, deleted: impl Fn(&str) + Send + Sync + 'static) -> Result<Deletions, String> {
        let snapshots = snapshotter.is_some();
        let deleted = Arc::new(deleted);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("lcdbench-deletions")
            .enable_all()
            .build()
            .map_err(|e| format!("runtime: {e}"))?;
        let channel = rt
            .block_on(containerd_client::connect(socket))
            .map_err(|e| format!("connect {}: {e}", socket.display()))?;
        let mut stream = rt.block_on(subscribe(channel.clone(), namespace, snapshots))?;
        let namespace = namespace.to_string();
        rt.spawn(async move {
            let mut seen: HashMap<String, Seen> = HashMap::new();
            loop {
                match stream.message().await {
                    Ok(Some(env)) => match record(&mut seen, &env, snapshots) {
                        Some(Gone::All(id)) => deleted(&id),
                        Some(Gone::SnapshotLeft(id)) => {
                            let (channel, namespace, deleted) = (channel.clone(), namespace.clone(), deleted.clone());
                            let snapshotter = snapshotter.clone().unwrap_or_default();
                            tokio::spawn(async move {
                                snapshot_gone(channel, &namespace, &snapshotter, &id).await;
                                deleted(&id);
                            });
                        }
                        None => {}
                    },
                    Ok(None) | Err(_) => {
                        // Nothing more can be timed: the driver would wait forever.
                        eprintln!("lcd_bench: containerd's event stream ended");
                        std::process::exit(1);
                    }
                }
            }
        });
        Ok(Deletions { rt: Some(rt) })
    }
}

impl Drop for Deletions {
    fn drop(&mut self) {
        // The event stream never ends by itself; stop its task without waiting for it.
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

/// What an event completed of a container's removal.
enum Gone {
    /// Everything watched for.
    All(String),
    /// The task and the record; the snapshot's event has not come (yet).
    SnapshotLeft(String),
}

/// Waits until the snapshot `key` is gone (NOT_FOUND, or any error: nothing to wait for).
async fn snapshot_gone(channel: Channel, namespace: &str, snapshotter: &str, key: &str) {
    let mut client = SnapshotsClient::new(channel);
    loop {
        let req = request(StatSnapshotRequest { snapshotter: snapshotter.to_string(), key: key.to_string() }, namespace);
        if client.stat(req).await.is_err() {
            return;
        }
        tokio::time::sleep(SNAPSHOT_POLL).await;
    }
}

/// Notes one event; what it completed of a container's removal, if anything.
fn record(seen: &mut HashMap<String, Seen>, env: &Envelope, snapshots: bool) -> Option<Gone> {
    let body = env.event.as_ref()?.value.as_slice();
    let id = match env.topic.as_str() {
        "/tasks/delete" => {
            let e = TaskDelete::decode(body).ok()?;
            // The init process's deletion (an exec's names the exec).
            if !e.id.is_empty() && e.id != e.container_id {
                return None;
            }
            seen.entry(e.container_id.clone()).or_default().task = true;
            e.container_id
        }
        "/containers/delete" => {
            let e = ContainerDelete::decode(body).ok()?;
            seen.entry(e.id.clone()).or_default().container = true;
            e.id
        }
        "/snapshot/remove" if snapshots => {
            let e = SnapshotRemove::decode(body).ok()?;
            seen.entry(e.key.clone()).or_default().snapshot = true;
            e.key
        }
        _ => return None,
    };
    let s = seen.get(&id)?;
    if !(s.task && s.container) {
        return None;
    }
    if s.snapshot || !snapshots {
        seen.remove(&id);
        return Some(Gone::All(id));
    }
    // Reported once: the events after it for this id are the snapshot's.
    (env.topic != "/snapshot/remove").then_some(Gone::SnapshotLeft(id))
}

fn request<T>(msg: T, namespace: &str) -> tonic::Request<T> {
    let mut req = tonic::Request::new(msg);
    req.metadata_mut().insert("containerd-namespace", namespace.parse().expect("namespace"));
    req
}

async fn ping(channel: &Channel, namespace: &str) {
    let ev = prost_types::Any { type_url: "lcdbench.Ping".into(), value: Vec::new() };
    let req = request(PublishRequest { topic: PING_TOPIC.into(), event: Some(ev) }, namespace);
    let _ = EventsClient::new(channel.clone()).publish(req).await;
}

/// Subscribes to the deletions and the marker in `namespace`, publishing the marker
/// until it comes back (containerd sends the stream's headers with its first event).
async fn subscribe(channel: Channel, namespace: &str, snapshots: bool) -> Result<tonic::Streaming<Envelope>, String> {
    let topics: &[&str] = if snapshots { &["/tasks/delete", "/containers/delete", "/snapshot/remove", PING_TOPIC] } else { &["/tasks/delete", "/containers/delete", PING_TOPIC] };
    let filters = topics
        .iter()
        .map(|t| format!("namespace=={namespace},topic==\"{t}\""))
        .collect();
    let mut events = EventsClient::new(channel.clone());
    let sub = events.subscribe(request(SubscribeRequest { filters }, namespace));
    tokio::pin!(sub);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut stream = loop {
        tokio::select! {
            r = &mut sub => break r.map_err(|s| format!("subscribe: {}", s.message()))?.into_inner(),
            _ = async { ping(&channel, namespace).await; tokio::time::sleep(Duration::from_millis(100)).await } => {}
        }
        if tokio::time::Instant::now() > deadline {
            return Err("subscribe: no answer within 30 s".into());
        }
    };
    loop {
        match tokio::time::timeout(Duration::from_millis(100), stream.message()).await {
            Ok(Ok(Some(env))) if env.topic == PING_TOPIC => return Ok(stream),
            Ok(Ok(Some(_))) => {}
            Ok(Ok(None)) => return Err("subscribe: the stream ended".into()),
            Ok(Err(s)) => return Err(format!("subscribe: {}", s.message())),
            Err(_) => ping(&channel, namespace).await,
        }
        if tokio::time::Instant::now() > deadline {
            return Err("subscribe: the marker event never came back".into());
        }
    }
}
