//! Exec: `add_process` and the end of an exec process.

use std::sync::Arc;

use containerd_client::services::v1::{DeleteProcessRequest, ExecProcessRequest, KillRequest, StartRequest};
use containerd_client::types::v1::Status;

use super::lifecycle::{stdin_closer, DRAIN_IDLE};
use super::runc::{json_any, PROCESS_TYPE_URL};
use super::{info, ClientInner, Container, ExecRun};
use crate::backend::{State, StateInfo};
use crate::error::{Code, Error, Result};
use crate::io::{FifoSet, ProcessIo};
use crate::remote::connection::Connection;
use crate::spec::ProcessSpec;

/// `add_process`: see [`crate::Client::add_process`].
pub(crate) fn add_process(client: &Arc<ClientInner>, id: &str, process_id: &str, process: &ProcessSpec) -> Result<u32> {
    if process_id == id {
        return Err(Error::invalid(format!("process id {process_id:?} is the container's id; containerd would take its exit for the container's")));
    }
    let c = client.tracked(id)?;
    let (base, dir) = {
        let mut run = c.run.lock().unwrap();
        if !run.started || run.exited {
            return Err(Error::precondition(format!("container {id} is not running")));
        }
        if run.execs.contains_key(process_id) {
            return Err(Error::new(Code::AlreadyExists, format!("process {process_id} already exists in container {id}")));
        }
        (run.process.clone(), run.process_fifo_dir(&client.remote, id))
    };
    let oci = process.to_oci(base.as_ref())?;
    let terminal = oci.terminal().unwrap_or(false);
    let spec = serde_json::to_vec(&oci).map_err(|e| Error::internal(format!("encode process: {e}")))?;
    let fifos = FifoSet::new(&dir, process_id, terminal);
    let conn = client.conn().clone();
    let setup = (|| {
        fifos.create()?;
        let (io, pipe) = ProcessIo::open(fifos.clone(), true, stdin_closer(conn.clone(), id.to_string(), process_id.to_string()))?;
        client.attach(id, process_id, pipe)?;
        Ok(io)
    })();
    let mut io = match setup {
        Ok(io) => io,
        Err(e) => {
            fifos.remove();
            return Err(e);
        }
    };
    // Exit events of this exec wait until it is registered.
    let guard = match crate::call::check_current().and_then(|()| crate::call::wait(async { Ok(c.op.clone().lock_owned().await) })) {
        Ok(g) => g,
        Err(e) => {
            io.close();
            return Err(e);
        }
    };
    if let Err(e) = client.still_open_after_attach() {
        io.close();
        return Err(e);
    }
    {
        let mut run = c.run.lock().unwrap();
        if !run.started || run.exited {
            drop(run);
            io.close();
            return Err(Error::precondition(format!("container {id} is not running")));
        }
        if run.execs.contains_key(process_id) {
            drop(run);
            io.close();
            return Err(Error::new(Code::AlreadyExists, format!("process {process_id} already exists in container {id}")));
        }
        run.execs.insert(process_id.to_string(), ExecRun { pid: 0, started: false, exited: false, io: None });
    }
    let (stdin, stdout, stderr) = fifos.as_strings();
    let reconnections = client.remote.reconnections();
    let exec = {
        let (conn, id, process_id) = (conn.clone(), id.to_string(), process_id.to_string());
        async move { exec_and_start(&conn, &id, &process_id, stdin, stdout, stderr, terminal, spec).await }
    };
    // Given up while containerd works on it: the process, once started, is killed and
    // removed again, and no event is reported of it; its id stays taken until then.
    let undo = {
        let (conn, c, process_id) = (conn.clone(), c.clone(), process_id.to_string());
        move |r: Result<u32>| async move {
            if r.is_ok() {
                discard_exec(&conn, &c.id, &process_id).await;
            }
            let mut run = c.run.lock().unwrap();
            if run.execs.get(&process_id).is_some_and(|e| !e.started) {
                run.execs.remove(&process_id);
            }
        }
    };
    crate::test_hooks::at(crate::test_hooks::Point::Execing, id, process_id);
    let started = crate::call::detach(exec, || {}, undo);
    match started {
        Ok(pid) => {
            crate::test_hooks::at(crate::test_hooks::Point::Started, id, process_id);
            io.mark_started();
            {
                let mut run = c.run.lock().unwrap();
                if let Some(e) = run.execs.get_mut(process_id) {
                    e.pid = pid;
                    e.started = true;
                    e.io = Some(io);
                }
            }
            client.report(id, info(State::StartProcess, pid, process_id));
            super::lifecycle::recheck_if_reconnected(client, &c, reconnections);
            drop(guard);
            Ok(pid)
        }
        Err(e) => {
            if !crate::call::is_call_end(&e) {
                c.run.lock().unwrap().execs.remove(process_id);
            }
            io.close();
            drop(guard);
            Err(e)
        }
    }
}

/// Creates exec `process_id` in container `id` and starts it; returns its pid.
#[allow(clippy::too_many_arguments)]
async fn exec_and_start(
    conn: &Connection,
    id: &str,
    process_id: &str,
    stdin: String,
    stdout: String,
    stderr: String,
    terminal: bool,
    spec: Vec<u8>,
) -> Result<u32> {
    let req = ExecProcessRequest { container_id: id.into(), stdin, stdout, stderr, terminal, spec: Some(json_any(PROCESS_TYPE_URL, spec)), exec_id: process_id.into() };
    if let Err(s) = conn.call_unrepeated(req, |c, r| async move { c.tasks().exec(c.request(r)).await }).await {
        return Err(match s.code() {
            tonic::Code::AlreadyExists => Error::new(Code::AlreadyExists, format!("process {process_id} already exists in container {id}")),
            _ => refused(conn, id, &format!("exec {process_id} in {id}"), &s).await,
        });
    }
    let start = StartRequest { container_id: id.into(), exec_id: process_id.into() };
    let r = conn.call_unrepeated(start, |c, r| async move { c.tasks().start(c.request(r)).await }).await;
    match r {
        Ok(r) => Ok(r.pid),
        Err(s) => {
            let _ = conn.tasks().delete_process(conn.request(DeleteProcessRequest { container_id: id.into(), exec_id: process_id.into() })).await;
            Err(refused(conn, id, &format!("start process {process_id} in {id}"), &s).await)
        }
    }
}

/// The error of an exec that containerd refused: FAILED_PRECONDITION when the
/// container's task has meanwhile stopped or gone (an exec racing the container's
/// exit; containerd and runc say so with UNKNOWN), else containerd's own.
async fn refused(conn: &Connection, id: &str, what: &str, s: &tonic::Status) -> Error {
    if matches!(s.code(), tonic::Code::Unknown | tonic::Code::Internal | tonic::Code::FailedPrecondition | tonic::Code::NotFound) {
        let stopped = match super::lifecycle::process_state(conn, id, "").await {
            Ok((status, ..)) => status == Status::Stopped,
            Err(e) => e.code() == Code::NotFound,
        };
        if stopped {
            return Error::precondition(format!("{what}: container {id} is not running (it exited): {}", s.message()));
        }
    }
    Error::from_status(what, s)
}

/// Kills exec `process_id` of container `id` and removes it once it has exited.
async fn discard_exec(conn: &Connection, id: &str, process_id: &str) {
    let kill = KillRequest { container_id: id.into(), exec_id: process_id.into(), signal: 9, all: false };
    let _ = conn.tasks().kill(conn.request(kill)).await;
    for _ in 0..100 {
        match super::lifecycle::process_state(conn, id, process_id).await {
            Ok((Status::Stopped, ..)) | Err(_) => break,
            _ => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
        }
    }
    let _ = conn.tasks().delete_process(conn.request(DeleteProcessRequest { container_id: id.into(), exec_id: process_id.into() })).await;
}

/// The end of an exec: waits for its output to be handed over, reaps it, reports
/// `exit-process` (once; duplicates and exits of unknown execs are dropped).
pub(crate) async fn handle_exec_exit(client: &Arc<ClientInner>, c: &Arc<Container>, exec_id: &str, pid: u32, code: u32, exited_at: i64) {
    let _g = c.op.clone().lock_owned().await;
    let (io, epid, oom) = {
        let mut run = c.run.lock().unwrap();
        let oom = run.oom;
        let Some(e) = run.execs.get_mut(exec_id) else { return };
        if !e.started || e.exited || (pid != 0 && e.pid != 0 && pid != e.pid) {
            return;
        }
        e.exited = true;
        (e.io.take(), e.pid, oom)
    };
    if let Some(io) = &io {
        io.wait_drained(DRAIN_IDLE).await;
    }
    let conn = client.conn();
    if let Err(s) = conn.tasks().delete_process(conn.request(DeleteProcessRequest { container_id: c.id.clone(), exec_id: exec_id.into() })).await {
        if s.code() != tonic::Code::NotFound {
            log::warn!("delete process {exec_id} of {}: {}", c.id, s.message());
        }
    }
    if let Some(io) = io {
        io.close();
    }
    c.run.lock().unwrap().execs.remove(exec_id);
    client.report(
        &c.id,
        StateInfo { state: State::ExitProcess, pid: epid, exit_code: code, process_id: exec_id.into(), oom_killed: oom, exited_at_unix_nano: exited_at },
    );
}

/// Used by `list`: the execs of a tracked container.
pub(crate) fn exec_ids(c: &Container) -> Vec<(String, u32)> {
    c.run.lock().unwrap().execs.iter().filter(|(_, e)| e.started && !e.exited).map(|(k, e)| (k.clone(), e.pid)).collect()
}
