//! containerd's event stream: subscription (re-established after every reconnection),
//! decoding into [`Event`]s, and per-container ordered dispatch to the backend.

mod dispatch;

use std::time::Duration;

use containerd_client::events::{TaskDelete, TaskExit, TaskOom, TaskPaused, TaskResumed};
use containerd_client::services::v1::{PublishRequest, SubscribeRequest};
use prost::Message;
use tokio_stream::StreamExt;

pub use dispatch::{current as current_dispatcher, Dispatcher};

use crate::error::{Error, Result};
use crate::remote::connection::Connection;

/// Topic of the marker event the library publishes to learn that a subscription is live.
pub const PING_TOPIC: &str = "/libcontainerd/ping";

/// A decoded containerd event that concerns a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A process exited (`process_id == container_id` for init).
    Exit {
        /// Container id.
        container_id: String,
        /// containerd's process id: the container id for init, else the exec id.
        process_id: String,
        /// Host pid.
        pid: u32,
        /// Exit status.
        exit_status: u32,
        /// Exit time, ns since the epoch.
        exited_at: i64,
    },
    /// The OOM killer struck in the container.
    Oom {
        /// Container id.
        container_id: String,
        /// Found by the reconciliation after an outage (the cgroup's OOM count), not
        /// published by containerd: it stands for "at least one OOM kill so far".
        recovered: bool,
    },
    /// The container was frozen.
    Paused {
        /// Container id.
        container_id: String,
    },
    /// The container was thawed.
    Resumed {
        /// Container id.
        container_id: String,
    },
    /// containerd's shim has deleted the container's task (containerd is still
    /// stopping the shim and removing the bundle when it is published).
    TaskDeleted {
        /// Container id.
        container_id: String,
    },
}

impl Event {
    /// The container concerned.
    pub fn container_id(&self) -> &str {
        match self {
            Event::Exit { container_id, .. }
            | Event::Oom { container_id, .. }
            | Event::Paused { container_id }
            | Event::Resumed { container_id }
            | Event::TaskDeleted { container_id } => container_id,
        }
    }
}

/// Nanoseconds since the epoch of a protobuf timestamp (0 when absent).
pub fn unix_nanos(ts: Option<&prost_types::Timestamp>) -> i64 {
    ts.map(|t| t.seconds.saturating_mul(1_000_000_000).saturating_add(t.nanos as i64)).unwrap_or(0)
}

/// Decodes an envelope's payload; `None` for topics the library does not act on.
pub fn decode(topic: &str, event: Option<&prost_types::Any>) -> Option<Event> {
    let any = event?;
    let body = any.value.as_slice();
    match topic {
        "/tasks/exit" => {
            let e = TaskExit::decode(body).ok()?;
            Some(Event::Exit {
                exited_at: unix_nanos(e.exited_at.as_ref()),
                container_id: e.container_id,
                process_id: e.id,
                pid: e.pid,
                exit_status: e.exit_status,
            })
        }
        "/tasks/oom" => Some(Event::Oom { container_id: TaskOom::decode(body).ok()?.container_id, recovered: false }),
        "/tasks/paused" => Some(Event::Paused { container_id: TaskPaused::decode(body).ok()?.container_id }),
        "/tasks/resumed" => Some(Event::Resumed { container_id: TaskResumed::decode(body).ok()?.container_id }),
        "/tasks/delete" => Some(Event::TaskDeleted { container_id: TaskDelete::decode(body).ok()?.container_id }),
        _ => None,
    }
}

/// What the event loop reports to its owner.
pub enum Notice {
    /// A container event.
    Event(Event),
    /// The subscription is (again) live; after a reconnection, events may have been
    /// missed and the owner must reconcile.
    Subscribed {
        /// False for the first subscription.
        reconnected: bool,
    },
}

async fn publish_ping(conn: &Connection) {
    let ev = prost_types::Any { type_url: "libcontainerd.Ping".into(), value: Vec::new() };
    let req = conn.request_with_timeout(PublishRequest { topic: PING_TOPIC.into(), event: Some(ev) }, Some(Duration::from_secs(2)));
    if let Err(s) = conn.events().publish(req).await {
        log::debug!("publish ping: {}", s.message());
    }
}

/// Subscribes and waits until the subscription is proven live (our own ping came
/// back), then forwards every event until the stream breaks.
async fn run_once(conn: &Connection, reconnected: bool, sink: &(dyn Fn(Notice) + Send + Sync)) -> Result<()> {
    let ns = conn.namespace().to_string();
    let filters = vec![format!("namespace=={ns},topic~=\"^/tasks/\""), format!("namespace=={ns},topic==\"{PING_TOPIC}\"")];
    let req = conn.request_with_timeout(SubscribeRequest { filters }, None);
    let mut events = conn.events();
    let sub = events.subscribe(req);
    tokio::pin!(sub);
    // containerd sends the response headers with the first event: keep pinging until
    // the stream opens. A ping published before containerd registered the subscription
    // is not delivered, so the first ones follow each other closely (1 ms, doubling up
    // to 100 ms): a remote is ready within milliseconds of containerd's answer.
    let mut pause = Duration::from_millis(1);
    let resp = loop {
        tokio::select! {
            r = &mut sub => break r.map_err(|s| Error::from_status("subscribe to containerd events", &s))?,
            _ = async {
                publish_ping(conn).await;
                tokio::time::sleep(pause).await;
            } => pause = (pause * 2).min(Duration::from_millis(100)),
        }
    };
    let mut stream = resp.into_inner();
    let mut live = false;
    loop {
        let next = if live {
            stream.next().await
        } else {
            tokio::select! {
                n = stream.next() => n,
                _ = async { publish_ping(conn).await; tokio::time::sleep(Duration::from_millis(100)).await; std::future::pending::<()>().await } => None,
            }
        };
        match next {
            None => return Err(Error::new(crate::Code::Unavailable, "containerd closed the event stream")),
            Some(Err(s)) => return Err(Error::from_status("containerd event stream", &s)),
            Some(Ok(env)) => {
                if env.topic == PING_TOPIC {
                    if !live {
                        live = true;
                        sink(Notice::Subscribed { reconnected });
                    }
                    continue;
                }
                if !live {
                    // Anything we receive proves the stream is live.
                    live = true;
                    sink(Notice::Subscribed { reconnected });
                }
                let ev = decode(&env.topic, env.event.as_ref());
                if crate::trace::enabled() {
                    let id = ev.as_ref().map(Event::container_id).unwrap_or("-");
                    crate::trace::event(&env.topic, unix_nanos(env.timestamp.as_ref()) / 1000, id);
                }
                if let Some(ev) = ev {
                    sink(Notice::Event(ev));
                }
            }
        }
    }
}

/// The event loop of a remote: subscribes, forwards, and re-subscribes after every
/// break (containerd restarted), until `stop` resolves.
pub async fn event_loop(conn: Connection, sink: impl Fn(Notice) + Send + Sync + 'static, stop: tokio::sync::watch::Receiver<bool>) {
    let mut reconnected = false;
    let mut stop = stop;
    loop {
        let r = tokio::select! {
            r = run_once(&conn, reconnected, &sink) => r,
            _ = stop.wait_for(|s| *s) => return,
        };
        if let Err(e) = r {
            log::info!("event subscription ended: {e}; subscribing again");
        }
        reconnected = true;
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}
