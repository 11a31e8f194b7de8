//! `stop` (a signal, SIGKILL after a timeout, return once init has exited) and
//! `update_restart_policy` (the restart manager's SetPolicy/Cancel), both persisted
//! in the container's labels for a later `restore`.

use std::sync::Arc;
use std::time::Duration;

use containerd_client::services::v1::{GetContainerRequest, KillRequest, WaitRequest};
use containerd_client::types::v1::Status;

use super::lifecycle::{missed_exit, process_state, set_label, OPTIONS_LABEL, STOPPED_LABEL};
use super::{Client, ClientInner, Container};
use crate::error::{Code, Error, Result};
use crate::remote::connection::Connection;
use crate::restart::{PolicyName, RestartManager, RestartPolicy};
use crate::spec::{parse_json, validate_id};

/// The OCI image-spec annotation carrying an image's `StopSignal` in a runtime spec.
pub const STOP_SIGNAL_ANNOTATION: &str = "org.opencontainers.image.stopSignal";

/// containerd's container label for an image's stop signal (what its
/// `WithImageStopSignal` sets); a container created from an image carries it.
pub const STOP_SIGNAL_LABEL: &str = "io.containerd.image.config.stop-signal";

/// How long `stop` waits for init to die after SIGKILL before giving up.
const KILL_WAIT: Duration = Duration::from_secs(30);

/// How long `stop` waits, once init is dead, for its exit to be taken by the
/// container's event loop.
const TAKEN_WAIT: Duration = Duration::from_secs(10);

/// Highest signal number Linux knows.
const MAX_SIGNAL: i32 = 64;

/// Parses a stop signal as images and specs write it: `SIGTERM`, `TERM`, `15`,
/// `SIGRTMIN+3`.
pub fn parse_signal(s: &str) -> Option<i32> {
    let s = s.trim();
    if let Ok(n) = s.parse::<i32>() {
        return (1..=MAX_SIGNAL).contains(&n).then_some(n);
    }
    let up = s.to_ascii_uppercase();
    let name = up.strip_prefix("SIG").unwrap_or(&up);
    if let Some(rest) = name.strip_prefix("RTMIN") {
        let off: i32 = if rest.is_empty() { 0 } else { rest.strip_prefix('+')?.parse().ok()? };
        let n = libc::SIGRTMIN() + off;
        return (off >= 0 && n <= libc::SIGRTMAX()).then_some(n);
    }
    if let Some(rest) = name.strip_prefix("RTMAX") {
        let off: i32 = if rest.is_empty() { 0 } else { rest.strip_prefix('-')?.parse().ok()? };
        let n = libc::SIGRTMAX() - off;
        return (off >= 0 && n >= libc::SIGRTMIN()).then_some(n);
    }
    format!("SIG{name}").parse::<nix::sys::signal::Signal>().ok().map(|s| s as i32)
}

/// The signal `stop` sends when asked for 0: the spec's `org.opencontainers.image.stopSignal`
/// annotation, else the container's `io.containerd.image.config.stop-signal` label
/// (set from an image's config), else SIGTERM. Unreadable values fall back to SIGTERM.
async fn stop_signal(conn: &Connection, id: &str) -> i32 {
    let req = GetContainerRequest { id: id.into() };
    let Ok(r) = conn.call(req, |c, r| async move { c.containers().get(c.request(r)).await }).await else {
        return libc::SIGTERM;
    };
    let Some(ctr) = r.container else { return libc::SIGTERM };
    let from_spec = ctr
        .spec
        .as_ref()
        .and_then(|a| serde_json::from_slice::<serde_json::Value>(&a.value).ok())
        .and_then(|v| v.get("annotations")?.get(STOP_SIGNAL_ANNOTATION)?.as_str().map(str::to_string));
    from_spec
        .or_else(|| ctr.labels.get(STOP_SIGNAL_LABEL).cloned())
        .and_then(|s| {
            let sig = parse_signal(&s);
            if sig.is_none() {
                log::warn!("container {id}: unknown stop signal {s:?}; using SIGTERM");
            }
            sig
        })
        .unwrap_or(libc::SIGTERM)
}

/// Waits until init of `id` has exited, at most until `deadline`; true once it has
/// (or containerd has no trace of it).
async fn wait_exited(conn: &Connection, id: &str, deadline: tokio::time::Instant) -> bool {
    loop {
        let req = conn.request_with_timeout(WaitRequest { container_id: id.into(), exec_id: String::new() }, None);
        match tokio::time::timeout_at(deadline, conn.tasks().wait(req)).await {
            Ok(Ok(_)) => return true,
            Ok(Err(s)) if s.code() == tonic::Code::NotFound => return true,
            Ok(Err(_)) => {
                // An outage or a reconnection: ask for the state instead, then wait again.
                match process_state(conn, id, "").await {
                    Ok((Status::Stopped, ..)) => return true,
                    Err(e) if e.code() == Code::NotFound => return true,
                    _ => {}
                }
                if tokio::time::Instant::now() >= deadline {
                    return false;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(_) => return false,
        }
    }
}

/// Waits until the container's event loop has taken the exit of the run it was in
/// (the `exit` is then queued for delivery), feeding it a missed exit if need be.
async fn wait_taken(client: &ClientInner, c: &Arc<Container>) {
    let deadline = tokio::time::Instant::now() + TAKEN_WAIT;
    let mut polls = 0u32;
    while tokio::time::Instant::now() < deadline && client.is_tracked(c) {
        let (live, pid) = {
            let run = c.run.lock().unwrap();
            (run.started && !run.exited, run.pid)
        };
        if !live {
            return;
        }
        polls += 1;
        if polls % 20 == 0 {
            if let Some(ev) = missed_exit(client.conn(), &c.id, "", pid).await {
                c.post(ev);
            }
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Checks the signal of `stop`: 0 (the container's stop signal) or 1..64.
pub fn check_stop_signal(signal: i32) -> Result<()> {
    if !(0..=MAX_SIGNAL).contains(&signal) {
        return Err(Error::invalid(format!("signal {signal} is out of range 0..{MAX_SIGNAL} (0: the container's stop signal)")));
    }
    Ok(())
}

/// `stop`: see [`Client::stop`].
fn stop(client: &Arc<ClientInner>, id: &str, signal: i32, timeout: Duration) -> Result<()> {
    check_stop_signal(signal)?;
    let conn = client.conn();
    let tracked = client.container(id);
    // An explicit stop: no restart from now on, also for a restart now pending.
    if let Some(c) = &tracked {
        c.run.lock().unwrap().manual_stop = true;
        c.cancel_restarts();
    }
    crate::call::wait(async {
        if tracked.is_some() {
            set_label(conn, id, STOPPED_LABEL, "true").await;
        }
        let sig = if signal == 0 { stop_signal(conn, id).await } else { signal };
        let kill = |signal: i32| KillRequest { container_id: id.into(), exec_id: String::new(), signal: signal as u32, all: false };
        if let Err(s) = conn.call(kill(sig), |c, r| async move { c.tasks().kill(c.request(r)).await }).await {
            // Already exited: done. No task at all: between two runs of a tracked
            // container (the cancelled restart ends it), else NOT_FOUND.
            let exited = matches!(process_state(conn, id, "").await, Ok((Status::Stopped, ..)));
            let between_runs = s.code() == tonic::Code::NotFound && tracked.is_some();
            if !(exited || between_runs) {
                return Err(Error::from_status(format!("stop container {id}"), &s));
            }
        } else {
            // A frozen cgroup holds the signal until it is thawed.
            super::control::thaw_if_paused(conn, id, tracked.as_ref(), "to stop it").await;
            if !wait_exited(conn, id, tokio::time::Instant::now() + timeout).await {
                log::debug!("container {id} outlived {timeout:?} after signal {sig}; killing it");
                if let Err(s) = conn.call(kill(libc::SIGKILL), |c, r| async move { c.tasks().kill(c.request(r)).await }).await {
                    if s.code() != tonic::Code::NotFound {
                        return Err(Error::from_status(format!("kill container {id}"), &s));
                    }
                }
                if !wait_exited(conn, id, tokio::time::Instant::now() + KILL_WAIT).await {
                    return Err(Error::new(Code::DeadlineExceeded, format!("container {id} did not exit within {KILL_WAIT:?} of SIGKILL")));
                }
            }
        }
        if let Some(c) = &tracked {
            wait_taken(client, c).await;
        }
        Ok(())
    })
}

/// `update_restart_policy`: see [`Client::update_restart_policy`].
fn update_restart_policy(client: &Arc<ClientInner>, id: &str, policy: &RestartPolicy) -> Result<()> {
    policy.validate()?;
    let conn = client.conn();
    let Some(c) = client.container(id) else {
        // Not tracked here: only the record kept for a later `restore` changes.
        return crate::call::wait(async {
            let req = GetContainerRequest { id: id.into() };
            let ctr = conn
                .call(req, |c, r| async move { c.containers().get(c.request(r)).await })
                .await
                .map_err(|s| Error::from_status(format!("update restart policy of container {id}"), &s))?
                .container
                .ok_or_else(|| Error::not_found(format!("no such container: {id}")))?;
            let mut options: crate::spec::CreateOptions = ctr.labels.get(OPTIONS_LABEL).and_then(|j| serde_json::from_str(j).ok()).unwrap_or_default();
            options.restart_policy = Some(policy.clone());
            let json = serde_json::to_string(&options).map_err(|e| Error::internal(format!("encode options: {e}")))?;
            set_label(conn, id, OPTIONS_LABEL, &json).await;
            Ok(())
        });
    };
    let options_json = {
        let mut run = c.run.lock().unwrap();
        run.options.restart_policy = Some(policy.clone());
        serde_json::to_string(&run.options).map_err(|e| Error::internal(format!("encode options: {e}")))?
    };
    {
        let mut m = c.restart.lock().unwrap();
        match m.as_mut() {
            Some(m) => m.set_policy(policy.clone()),
            None => *m = Some(RestartManager::new(policy.clone(), 0)),
        }
    }
    // moby's Cancel: a restart already decided (its backoff under way) is called off
    // by "no"; the exit it stands for is then reported.
    let pending = {
        let run = c.run.lock().unwrap();
        run.started && run.exited
    };
    if policy.name == PolicyName::No && pending && client.is_tracked(&c) {
        c.cancel_restarts();
    }
    crate::call::wait(async {
        set_label(conn, id, OPTIONS_LABEL, &options_json).await;
        Ok(())
    })
}

impl Client {
    /// Stops container `id`: sends `signal` (0: the container's stop signal — the
    /// spec's `org.opencontainers.image.stopSignal` annotation, else its image's,
    /// else SIGTERM), thaws it if paused, sends SIGKILL if init is still alive after
    /// `timeout`, and returns once init has exited (its `exit` is then queued, not
    /// necessarily delivered). An explicit stop: restarts are cancelled, also a
    /// pending one, and a later `restore` knows it (`unless-stopped`).
    pub fn stop(&self, id: &str, signal: i32, timeout: Duration) -> Result<()> {
        validate_id("container id", id)?;
        check_stop_signal(signal)?;
        self.inner.check_open()?;
        stop(&self.inner, id, signal, timeout)
    }

    /// Replaces the restart policy of container `id` (moby's `SetPolicy`): it decides
    /// the container's next exits, keeps the restart count, and is recorded with the
    /// container so that a `restore` without options uses it. `no` also cancels a
    /// restart already pending (its backoff under way): the container then ends with
    /// its `exit`. A container this client does not track but containerd has only
    /// gets its record updated.
    pub fn update_restart_policy(&self, id: &str, policy: &RestartPolicy) -> Result<()> {
        validate_id("container id", id)?;
        self.inner.check_open()?;
        update_restart_policy(&self.inner, id, policy)
    }
}

/// Parses `policy_json` for `update_restart_policy`: `{"name", "maximum_retry_count"}`,
/// strict.
pub fn parse_restart_policy(json: &str) -> Result<RestartPolicy> {
    let p: RestartPolicy = parse_json("restart policy", json)?;
    p.validate()?;
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_names() {
        assert_eq!(parse_signal("SIGTERM"), Some(15));
        assert_eq!(parse_signal("term"), Some(15));
        assert_eq!(parse_signal("9"), Some(9));
        assert_eq!(parse_signal("SIGUSR1"), Some(libc::SIGUSR1));
        assert_eq!(parse_signal("SIGRTMIN+3"), Some(libc::SIGRTMIN() + 3));
        assert_eq!(parse_signal("RTMAX"), Some(libc::SIGRTMAX()));
        for bad in ["", "0", "65", "SIGNOPE", "RTMIN+99"] {
            assert_eq!(parse_signal(bad), None, "{bad}");
        }
    }

    #[test]
    fn policy_json_is_strict() {
        assert_eq!(parse_restart_policy(r#"{"name": "always"}"#).unwrap().name, PolicyName::Always);
        let e = parse_restart_policy(r#"{"name": "always", "max": 1}"#).unwrap_err();
        assert!(e.message().contains("max"), "{e}");
        assert!(parse_restart_policy(r#"{"name": "always", "maximum_retry_count": 2}"#).is_err());
        assert!(parse_restart_policy(r#"{"name": "sometimes"}"#).is_err());
    }
}
