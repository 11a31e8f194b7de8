//! Create, the end of a run (reaping and the `exit` report), missed-exit detection
//! and stopping.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use containerd_client::services::v1::container::Runtime;
use containerd_client::services::v1::{
    Container as CtrContainer, CreateContainerRequest, CreateTaskRequest, DeleteContainerRequest, DeleteTaskRequest,
    CreateContainerResponse, CreateTaskResponse, GetContainerRequest, GetRequest, KillRequest, StartRequest, StartResponse,
    UpdateContainerRequest,
};
use containerd_client::types::v1::Status;
use containerd_client::types::Mount;

use super::runc::{json_any, runc_options_any, RUNC_RUNTIME, SPEC_TYPE_URL};
use super::removal::{delete_record, finish, remove_local, remove_task_and_record};
use super::{info, ClientInner, Container};
use crate::backend::{State, StateInfo};
use crate::error::{Code, Error, Result};
use crate::events::{unix_nanos, Event};
use crate::images::rootfs::{self, PreparedRootfs};
use crate::io::{FifoSet, ProcessIo};
use crate::remote::connection::Connection;
use crate::remote::pool::{PoolSlot, GROUP_ANNOTATION};
use crate::restart::should_restart_on_restore;
use crate::spec::{ContainerSpec, CreateOptions, INIT_PROCESS_ID};

/// Label under which the create options are kept with the container in containerd,
/// so that `restore` can re-arm them.
pub const OPTIONS_LABEL: &str = "io.libcontainerd.options";

/// Label naming the create call that made the record, so that a create cut off by an
/// outage recognises its own record (and never takes a live container's for it).
pub const CREATE_TOKEN_LABEL: &str = "io.libcontainerd.create";

/// A token no other create (of this or another process) uses.
fn create_token() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    format!("{}-{}-{}", std::process::id(), now_nanos(), NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
}

/// Label set to `true` once the container has been stopped explicitly (`signal` with
/// SIGTERM or SIGKILL), so that a later `restore` knows it too (`unless-stopped`).
pub const STOPPED_LABEL: &str = "io.libcontainerd.stopped";

/// Label holding how many times the restart policy has restarted the container, so
/// that a later `restore` goes on counting (`on-failure`'s maximum).
pub const RESTARTS_LABEL: &str = "io.libcontainerd.restarts";

/// How long the output of an exited process may go unread before it is reaped anyway
/// (as moby: the reaping must not wait on a reader that stopped reading).
pub const DRAIN_IDLE: Duration = Duration::from_secs(2);

/// Grace between SIGTERM and SIGKILL when the library stops a container.
pub const STOP_GRACE: Duration = Duration::from_secs(10);

/// The exit code reported when containerd has no trace of a process.
pub const UNKNOWN_EXIT: u32 = 255;

fn now_nanos() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as i64).unwrap_or(0)
}

/// The spec JSON containerd gets: the caller's, with a cgroup path of our own when
/// the spec names none (so containers of different namespaces never share one), and
/// the shim pool's `group` annotation unless the spec names a group of its own.
fn spec_for_containerd(spec: &ContainerSpec, namespace: &str, id: &str, group: Option<&PoolSlot>) -> Result<(Vec<u8>, String)> {
    let mut v: serde_json::Value = serde_json::from_str(&spec.json).map_err(|e| Error::invalid(format!("OCI spec: {e}")))?;
    let mut cgroup = format!("/{namespace}/{id}");
    if let (Some(o), Some(slot)) = (v.as_object_mut(), group) {
        let annotations = o.entry("annotations").or_insert_with(|| serde_json::json!({}));
        if let Some(a) = annotations.as_object_mut() {
            a.entry(GROUP_ANNOTATION).or_insert_with(|| slot.group().into());
        }
    }
    if let Some(o) = v.as_object_mut() {
        let linux = o.entry("linux").or_insert_with(|| serde_json::json!({}));
        if let Some(l) = linux.as_object_mut() {
            match l.get("cgroupsPath").and_then(|p| p.as_str()) {
                Some(p) if !p.is_empty() => cgroup = p.to_string(),
                _ => {
                    l.insert("cgroupsPath".into(), cgroup.clone().into());
                }
            }
        }
    }
    Ok((serde_json::to_vec(&v).map_err(|e| Error::internal(format!("encode spec: {e}")))?, cgroup))
}

/// Whether the kernel's OOM killer struck in the container's memory cgroup (cgroup v1
/// `memory.oom_control`, v2 `memory.events`). containerd 1.6 may publish its OOM
/// event only after the exit, so the exit path asks the cgroup itself.
pub(crate) fn cgroup_saw_oom(cgroup: &str) -> bool {
    let rel = cgroup.trim_start_matches('/');
    let v1 = std::path::Path::new("/sys/fs/cgroup/memory").join(rel).join("memory.oom_control");
    let v2 = std::path::Path::new("/sys/fs/cgroup").join(rel).join("memory.events");
    [v1, v2].iter().filter_map(|p| std::fs::read_to_string(p).ok()).any(|text| {
        text.lines().any(|l| l.strip_prefix("oom_kill ").and_then(|n| n.trim().parse::<u64>().ok()).is_some_and(|n| n > 0))
    })
}

/// Sends CloseIO for a process's stdin (errors are logged: the process may be gone).
pub(crate) fn stdin_closer(conn: Connection, container_id: String, exec_id: String) -> impl FnOnce() -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> + Send + 'static {
    move || {
        Box::pin(async move {
            let req = conn.request(containerd_client::services::v1::CloseIoRequest { container_id: container_id.clone(), exec_id, stdin: true });
            if let Err(s) = conn.tasks().close_io(req).await {
                if s.code() != tonic::Code::NotFound {
                    log::warn!("close stdin of {container_id}: {}", s.message());
                }
            }
        })
    }
}

/// ALREADY_EXISTS if containerd has a container `id` (one this remote's clients do
/// not run, e.g. left running across a restart of the host program: `restore` it).
async fn refuse_existing(conn: &Connection, id: &str) -> Result<()> {
    let req = GetContainerRequest { id: id.to_string() };
    match conn.call(req, |c, r| async move { c.containers().get(c.request(r)).await }).await {
        Ok(_) => Err(Error::new(Code::AlreadyExists, format!("container {id} already exists in containerd namespace {}", conn.namespace()))),
        Err(s) if s.code() == tonic::Code::NotFound => Ok(()),
        Err(s) => Err(Error::from_status(format!("create container {id}"), &s)),
    }
}

/// Whether the caller's spec sets the shim group annotation itself.
fn spec_names_group(spec: &ContainerSpec) -> bool {
    spec.spec.annotations().as_ref().is_some_and(|a| a.contains_key(GROUP_ANNOTATION))
}

/// `create`: see [`crate::Client::create`]. Nothing is touched (fifos, callbacks)
/// before the id is known to be free: claimed remote-wide, and refused by containerd's
/// `Containers.Create` when it has a container of that id (one this remote's clients do
/// not run, e.g. left running across a restart of the host program: `restore` it).
pub(crate) fn create(client: &Arc<ClientInner>, id: &str, spec: &ContainerSpec, options: &CreateOptions) -> Result<()> {
    crate::trace::mark("create", id);
    let remote = &client.remote;
    let binary = remote.runtime_binary(options.runtime.as_ref())?;
    // The pool places the container unless its spec names a shim group itself.
    let slot = remote.pool.as_ref().filter(|_| !spec_names_group(spec)).map(|p| p.acquire());
    let (spec_bytes, cgroup) = spec_for_containerd(spec, remote.namespace(), id, slot.as_ref())?;
    let options_json = serde_json::to_string(options).map_err(|e| Error::internal(format!("encode options: {e}")))?;
    // A container of this id waiting out a restart backoff is replaced (as moby does).
    super::restart_run::replace_restarting(client, id);
    let c = client.register(id)?;
    let conn = client.conn().clone();
    // In a shim pool: the group's keeper (made once) is made alongside this container's
    // record, and is there before its task, so that the group's shim outlives it.
    let keeper = match (&remote.pool, &slot) {
        (Some(pool), Some(slot)) => {
            let keeper_binary = remote.runtime_binary(None).unwrap_or_else(|_| binary.clone());
            let (pool, index, runtime, conn) = (pool.clone(), slot.index(), runc_runtime(remote, &keeper_binary), conn.clone());
            Some(crate::runtime::handle().spawn(async move { pool.ensure_keeper(&conn, index, runtime).await }))
        }
        _ => None,
    };
    // With an image, the snapshot made next is named after the id: a live container's
    // must not be met, so containerd is asked first.
    if options.image.is_some() {
        if let Err(e) = crate::call::wait(refuse_existing(&conn, id)) {
            client.unregister(&c);
            return Err(e);
        }
    }
    // Given up by its call at any step below, the create is undone: the id stays
    // taken (as while a container is reaped) until what was made is removed again.
    let give_up = || client.begin_reaping(&c);
    let undo = |run_dir: Option<PathBuf>| {
        let (client, id) = (client.clone(), id.to_string());
        move |made_container: bool, image: Option<PreparedRootfs>| async move {
            if made_container {
                rollback(client.conn(), &id).await;
            }
            if let Some(p) = image {
                p.abandon(client.conn()).await;
            }
            client.remote.remove_run_dir(&id, run_dir.as_deref());
            client.end_reaping(&id);
        }
    };
    // With an image: its snapshot, and the spec completed from its config.
    let prepare = {
        let (conn, id, spec, options) = (conn.clone(), id.to_string(), spec.clone(), options.clone());
        async move { rootfs::prepare(&conn, &id, &spec, &options).await }
    };
    let undo_prepare = undo(None);
    let prepared = crate::call::detach(prepare, give_up, move |r| undo_prepare(false, r.ok().flatten())).and_then(|p| match p {
        Some(p) => spec_for_containerd(&p.spec, remote.namespace(), id, slot.as_ref()).map(|s| (Some(p), s)),
        None => Ok((None, (spec_bytes, cgroup))),
    });
    let (image, (spec_bytes, cgroup)) = match prepared {
        Ok(x) => x,
        Err(e) if crate::call::is_call_end(&e) => return Err(e),
        Err(e) => {
            client.unregister(&c);
            return Err(e);
        }
    };
    let image_spec = image.as_ref().map(|p| p.spec.clone());
    let spec = image_spec.as_ref().unwrap_or(spec);
    let mut container = CtrContainer {
        id: id.to_string(),
        labels: HashMap::from([(OPTIONS_LABEL.to_string(), options_json), (CREATE_TOKEN_LABEL.to_string(), create_token())]),
        runtime: Some(runc_runtime(remote, &binary)),
        spec: Some(json_any(SPEC_TYPE_URL, spec_bytes)),
        ..Default::default()
    };
    if let Some(p) = &image {
        p.fill_record(&mut container);
    }
    let mounts = image.as_ref().map(|p| p.mounts.clone()).unwrap_or_default();
    // The record: refused (ALREADY_EXISTS) when containerd has the id, before anything
    // else of this create is made. Given up while containerd works on it, the record,
    // once made, is removed again (and so is the snapshot).
    let image = Arc::new(std::sync::Mutex::new(image));
    let make = {
        let (conn, id) = (conn.clone(), id.to_string());
        async move { make_container(&conn, &id, container).await }
    };
    let undo_make = {
        let (image, undo) = (image.clone(), undo(None));
        move |r: Result<()>| undo(r.is_ok(), image.lock().unwrap().take())
    };
    match crate::call::detach(make, give_up, undo_make) {
        Ok(()) => {}
        Err(e) if crate::call::is_call_end(&e) => return Err(e),
        Err(e) => {
            if let Some(p) = image.lock().unwrap().take() {
                crate::runtime::block_on(p.abandon(&conn));
            }
            client.unregister(&c);
            return Err(e);
        }
    }
    // This run's own fifo directory: a failure below removes it and nothing else.
    let run_dir = remote.new_run_dir(id);
    let fifos = FifoSet::new(&run_dir, INIT_PROCESS_ID, spec.terminal());
    let setup = (|| {
        fifos.create()?;
        let (io, pipe) = ProcessIo::open(fifos.clone(), true, stdin_closer(conn.clone(), id.to_string(), String::new()))?;
        client.attach(id, INIT_PROCESS_ID, pipe)?;
        Ok(io)
    })();
    let io = match setup.and_then(|io| match crate::call::check_current() {
        Ok(()) => Ok(io),
        Err(e) => {
            io.close();
            Err(e)
        }
    }) {
        Ok(io) => io,
        Err(e) if crate::call::is_call_end(&e) => {
            give_up();
            let image = image.lock().unwrap().take();
            crate::runtime::handle().spawn(undo(Some(run_dir))(true, image));
            return Err(e);
        }
        Err(e) => {
            remote.remove_run_dir(id, Some(&run_dir));
            crate::runtime::block_on(delete_record(&conn, id));
            if let Some(p) = image.lock().unwrap().take() {
                crate::runtime::block_on(p.abandon(&conn));
            }
            client.unregister(&c);
            return Err(e);
        }
    };
    // From here until start-container is queued, exit events of this container wait.
    let guard = match crate::call::wait(async { Ok(c.op.clone().lock_owned().await) }) {
        Ok(g) => g,
        Err(e) => {
            io.close();
            give_up();
            let image = image.lock().unwrap().take();
            crate::runtime::handle().spawn(undo(Some(run_dir))(true, image));
            return Err(e);
        }
    };
    let reconnections = remote.reconnections();
    let start = {
        let (conn, id, fifos) = (conn.clone(), id.to_string(), fifos.clone());
        async move {
            if let Some(k) = keeper {
                let _ = k.await;
            }
            let r = start_task(&conn, &id, &fifos, mounts).await;
            if r.is_err() {
                delete_record(&conn, &id).await;
            }
            r
        }
    };
    // Given up while containerd works on it: the container and its task, once made,
    // are removed again (no event is reported of them), and so is the snapshot.
    let undo_start = {
        let (image, undo) = (image.clone(), undo(Some(run_dir.clone())));
        move |_: Result<u32>| undo(true, image.lock().unwrap().take())
    };
    let started = match client.still_open_after_attach() {
        Ok(()) => crate::call::detach(start, give_up, undo_start),
        Err(e) => {
            // Closed while attach_streams ran: the record made above goes again (a
            // failed start removes its own).
            crate::runtime::block_on(delete_record(&conn, id));
            Err(e)
        }
    };
    match started {
        Ok(pid) => {
            crate::test_hooks::at(crate::test_hooks::Point::Started, id, INIT_PROCESS_ID);
            let image = image.lock().unwrap().take();
            {
                let mut run = c.run.lock().unwrap();
                run.begin(pid, io);
                run.process = spec.spec.process().clone();
                run.options = options.clone();
                run.cgroup = Some(cgroup);
                run.fifo_dir = Some(run_dir);
                run.snapshot = image.as_ref().map(|p| p.snapshot.clone());
                c.arm_restarts(&run, 0);
            }
            *c.pool_slot.lock().unwrap() = slot;
            if let Some(p) = image {
                crate::runtime::block_on(p.commit());
            }
            remote.set_owned(id, true);
            client.report(id, info(State::StartContainer, pid, INIT_PROCESS_ID));
            recheck_if_reconnected(client, &c, reconnections);
            drop(guard);
            crate::trace::mark("created", id);
            Ok(())
        }
        Err(e) if crate::call::is_call_end(&e) => {
            io.close();
            drop(guard);
            Err(e)
        }
        Err(e) => {
            io.close();
            remote.remove_run_dir(id, Some(&run_dir));
            if let Some(p) = image.lock().unwrap().take() {
                crate::runtime::block_on(p.abandon(&conn));
            }
            client.unregister(&c);
            drop(guard);
            Err(e)
        }
    }
}

/// Makes container record `id` in containerd from `container`: ALREADY_EXISTS when
/// containerd has one of that id (which is left alone).
async fn make_container(conn: &Connection, id: &str, container: CtrContainer) -> Result<()> {
    let token = container.labels.get(CREATE_TOKEN_LABEL).cloned();
    let req = CreateContainerRequest { container: Some(container) };
    // After an outage: ours if the record there carries our token.
    let ours = |c: Connection| {
        let (id, token) = (id.to_string(), token.clone());
        async move {
            match c.containers().get(c.request(GetContainerRequest { id: id.clone() })).await {
                Ok(r) => match r.into_inner().container {
                    Some(k) if k.labels.get(CREATE_TOKEN_LABEL) == token.as_ref() => Ok(Some(CreateContainerResponse { container: Some(k) })),
                    Some(_) => Err(tonic::Status::already_exists(format!("container \"{id}\": already exists"))),
                    None => Ok(None),
                },
                Err(s) if s.code() == tonic::Code::NotFound => Ok(None),
                Err(s) => Err(s),
            }
        }
    };
    conn.call_once(req, |c, r| async move { c.containers().create(c.request(r)).await }, ours).await.map_err(|s| match s.code() {
        tonic::Code::AlreadyExists => {
            Error::new(Code::AlreadyExists, format!("container {id} already exists in containerd namespace {}", conn.namespace()))
        }
        _ => Error::from_status(format!("create container {id}"), &s),
    })?;
    Ok(())
}

/// How often [`rollback`] tries to remove a container before it gives up.
const ROLLBACK_ATTEMPTS: u32 = 60;

/// Removes container `id` (task, record, snapshot) made by a create given up by its
/// call, waiting out an outage: until containerd says it has no such container.
async fn rollback(conn: &Connection, id: &str) {
    for _ in 0..ROLLBACK_ATTEMPTS {
        remove_unwatched(conn, id).await;
        let req = GetContainerRequest { id: id.to_string() };
        match conn.call(req, |c, r| async move { c.containers().get(c.request(r)).await }).await {
            Err(s) if s.code() == tonic::Code::NotFound => return,
            _ => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
    log::warn!("could not remove container {id} of a create given up by its call");
}

/// The runc v2 runtime record of a container run by `binary`, with the remote's runc root.
fn runc_runtime(remote: &crate::remote::RemoteInner, binary: &str) -> Runtime {
    Runtime { name: RUNC_RUNTIME.into(), options: Some(runc_options_any(binary, &remote.runc_root().to_string_lossy())) }
}

/// After a run or an exec was marked started: if the event subscription came back
/// since `reconnections` was read (before the process was started), the
/// reconciliation may have passed over it while it was not yet marked, and an exit
/// during the outage would be lost; check it now, as the reconciliation would have.
pub(crate) fn recheck_if_reconnected(client: &ClientInner, c: &Arc<Container>, reconnections: u64) {
    if client.remote.reconnections() != reconnections {
        let (conn, c) = (client.conn().clone(), c.clone());
        // Its findings queue behind this call's own reports (the op lock is held).
        crate::runtime::handle().spawn(async move { super::reconcile_container(&conn, &c).await });
    }
}

/// `process_id` ("" for init) of container `id` as containerd has it, `None` if it
/// has no trace of it.
async fn find_process(conn: &Connection, id: &str, exec_id: &str) -> std::result::Result<Option<containerd_client::types::v1::Process>, tonic::Status> {
    match conn.tasks().get(conn.request(GetRequest { container_id: id.into(), exec_id: exec_id.into() })).await {
        Ok(r) => Ok(r.into_inner().process),
        Err(s) if s.code() == tonic::Code::NotFound => Ok(None),
        Err(s) => Err(s),
    }
}

/// After an outage during the creation of a task, or its start: the
/// process as containerd has it once the interrupted call shows its effect (`done`),
/// within [`SETTLE`]. Such a call is never sent twice: the shim may still be carrying
/// out the first, and containerd 1.6's shim can crash on a second. No effect shown is
/// UNAVAILABLE.
async fn settled(
    conn: Connection,
    id: String,
    exec_id: String,
    done: impl Fn(&containerd_client::types::v1::Process) -> bool,
) -> std::result::Result<containerd_client::types::v1::Process, tonic::Status> {
    let deadline = tokio::time::Instant::now() + SETTLE;
    loop {
        match find_process(&conn, &id, &exec_id).await? {
            Some(p) if done(&p) => return Ok(p),
            _ if tokio::time::Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(50)).await,
            _ => {
                let what = if exec_id.is_empty() { format!("container {id}") } else { format!("process {exec_id} of {id}") };
                return Err(tonic::Status::unavailable(format!("containerd went away while creating or starting {what}, which did not happen")));
            }
        }
    }
}

/// How long a call interrupted by an outage may take to show its effect.
const SETTLE: Duration = Duration::from_secs(3);

/// After an outage during a start: the pid, once the process has started.
async fn started(conn: Connection, id: String, exec_id: String) -> std::result::Result<Option<StartResponse>, tonic::Status> {
    let p = settled(conn, id, exec_id, |p| p.status != Status::Created as i32).await?;
    Ok(Some(StartResponse { pid: p.pid }))
}

/// Creates and starts the task of an existing container with the given stdio;
/// on failure nothing of the task is left.
pub(crate) async fn start_task(conn: &Connection, id: &str, fifos: &FifoSet, rootfs: Vec<Mount>) -> Result<u32> {
    let (stdin, stdout, stderr) = fifos.as_strings();
    let task = CreateTaskRequest { container_id: id.to_string(), stdin, stdout, stderr, terminal: fifos.terminal, rootfs, ..Default::default() };
    let r = async {
        let created = |c: Connection| {
            let id = id.to_string();
            async move { settled(c, id.clone(), String::new(), |_| true).await.map(|p| Some(CreateTaskResponse { container_id: id, pid: p.pid })) }
        };
        conn.call_once(task, |c, r| async move { c.tasks().create(c.request(r)).await }, created)
            .await
            .map_err(|s| Error::from_status(format!("create task {id}"), &s))?;
        let start = StartRequest { container_id: id.to_string(), exec_id: String::new() };
        let pid = conn
            .call_once(start, |c, r| async move { c.tasks().start(c.request(r)).await }, |c| started(c, id.to_string(), String::new()))
            .await
            .map_err(|s| Error::from_status(format!("start container {id}"), &s))?
            .pid;
        Ok::<u32, Error>(pid)
    }
    .await;
    if r.is_err() {
        discard_task(conn, id).await;
    }
    r
}

/// Kills a container nobody watches any more and removes its task and record
/// (SIGKILL at once: there is no one to report a graceful stop to).
pub(crate) async fn remove_unwatched(conn: &Connection, id: &str) {
    let snapshot = rootfs::snapshot_of(conn, id).await;
    discard_task(conn, id).await;
    for _ in 0..50 {
        match process_state(conn, id, "").await {
            Ok((Status::Stopped, ..)) | Err(_) => break,
            _ => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
    let _ = conn.tasks().delete(conn.request(DeleteTaskRequest { container_id: id.into() })).await;
    let _ = conn.containers().delete(conn.request(DeleteContainerRequest { id: id.to_string() })).await;
    if let Some(s) = snapshot {
        rootfs::remove(conn, &s).await;
    }
}

/// Kills and deletes a task that failed half-way; errors are irrelevant here.
async fn discard_task(conn: &Connection, id: &str) {
    let _ = conn.tasks().kill(conn.request(KillRequest { container_id: id.into(), exec_id: String::new(), signal: 9, all: true })).await;
    let _ = conn.tasks().delete(conn.request(DeleteTaskRequest { container_id: id.into() })).await;
}

/// The state containerd has of one process: status, exit code and time.
pub(crate) async fn process_state(conn: &Connection, id: &str, exec_id: &str) -> Result<(Status, u32, i64, u32)> {
    let r = conn
        .tasks()
        .get(conn.request(GetRequest { container_id: id.into(), exec_id: exec_id.into() }))
        .await
        .map_err(|s| Error::from_status(format!("get task {id}"), &s))?
        .into_inner();
    let p = r.process.ok_or_else(|| Error::internal("containerd returned no process"))?;
    Ok((Status::try_from(p.status).unwrap_or(Status::Unknown), p.exit_status, unix_nanos(p.exited_at.as_ref()), p.pid))
}

/// An exit containerd knows of (or has no trace of) for a process we think is running;
/// `None` while it runs or when containerd cannot be asked.
pub(crate) async fn missed_exit(conn: &Connection, id: &str, exec_id: &str, pid: u32) -> Option<Event> {
    let process_id = if exec_id.is_empty() { id.to_string() } else { exec_id.to_string() };
    match process_state(conn, id, exec_id).await {
        Ok((Status::Stopped, code, at, _)) => {
            Some(Event::Exit { container_id: id.into(), process_id, pid, exit_status: code, exited_at: if at == 0 { now_nanos() } else { at } })
        }
        Ok(_) => None,
        Err(e) if e.code() == Code::NotFound => {
            Some(Event::Exit { container_id: id.into(), process_id, pid, exit_status: UNKNOWN_EXIT, exited_at: now_nanos() })
        }
        Err(_) => None,
    }
}

/// The end of a run: takes the first exit of the current run (later ones are
/// duplicates), settles the execs, waits for the output to be handed over, reaps the
/// task and the container, frees the id, and reports `exit-process` for every exec
/// still known and then `exit`. Returns true when the container is no longer tracked.
pub(crate) async fn handle_init_exit(client: &Arc<ClientInner>, c: &Arc<Container>, pid: u32, code: u32, exited_at: i64) -> bool {
    let _g = c.op.clone().lock_owned().await;
    let mut pid = pid;
    let (started, exited, current) = {
        let run = c.run.lock().unwrap();
        (run.started, run.exited, run.pid)
    };
    if pid == 0 && started && !exited && current != 0 {
        // An exit without a pid (containerd's own, after a shim died) ends the current
        // run only if its task is really gone.
        match process_state(client.conn(), &c.id, "").await {
            Ok((Status::Stopped, ..)) => pid = current,
            Err(e) if e.code() == Code::NotFound => pid = current,
            _ => return false,
        }
    }
    let (init_io, execs, run_pid, mut oom, cgroup, run_dir) = {
        let mut run = c.run.lock().unwrap();
        if !run.started || run.exited || pid != run.pid {
            log::debug!("dropping a duplicate or stale exit of {} (pid {pid})", c.id);
            return false;
        }
        run.exited = true;
        let execs: Vec<_> = run.execs.drain().filter(|(_, e)| e.started && !e.exited).collect();
        (run.init_io.take(), execs, run.pid, run.oom, run.cgroup.clone(), run.fifo_dir.take())
    };
    crate::trace::mark("exit-taken", &c.id);
    let conn = client.conn();
    // Execs die with init (its pid namespace); collect their real codes before the
    // task is deleted.
    let mut exec_exits = Vec::new();
    for (exec_id, e) in execs {
        let mut state = process_state(conn, &c.id, &exec_id).await;
        for _ in 0..100 {
            if !matches!(state, Ok((Status::Running | Status::Created | Status::Paused | Status::Pausing, ..))) {
                break;
            }
            let _ = conn.tasks().kill(conn.request(KillRequest { container_id: c.id.clone(), exec_id: exec_id.clone(), signal: 9, all: false })).await;
            tokio::time::sleep(Duration::from_millis(20)).await;
            state = process_state(conn, &c.id, &exec_id).await;
        }
        let (ecode, eat) = match state {
            Ok((Status::Stopped, code, at, _)) => (code, at),
            _ => (137, now_nanos()),
        };
        if let Some(io) = &e.io {
            io.wait_drained(DRAIN_IDLE).await;
        }
        exec_exits.push((exec_id, e, ecode, eat));
    }
    // The OOM event may trail the exit; the cgroup (still there until the task is
    // deleted) knows, and its count is final once init is gone.
    if !oom && cgroup.as_deref().is_some_and(cgroup_saw_oom) {
        oom = true;
        c.run.lock().unwrap().oom = true;
        client.report(&c.id, info(State::Oom, run_pid, INIT_PROCESS_ID));
    }
    // The restart decision (it counts the restart), once the code is known.
    let decided = (exited_at != 0).then(|| restart_delay(client, c, code));
    if let Some(None) = decided {
        // The final exit, its code known: containerd removes the task and the record
        // while the output is handed over (the shim's delete waits for its own copying
        // of the output first); `exit` is reported once the output is, and the id is
        // free for `create` once containerd is done.
        client.begin_reaping(c);
        let removal = {
            let (client, c) = (client.clone(), c.clone());
            crate::runtime::handle().spawn(async move {
                crate::test_hooks::at_on_worker(crate::test_hooks::Point::Removing, &c.id, "");
                remove_task_and_record(&client, &c).await;
            })
        };
        if let Some(io) = &init_io {
            io.wait_drained(DRAIN_IDLE).await;
        }
        crate::trace::mark("drained", &c.id);
        // Only the stdin relays stop before the report; the fifo files go after it.
        let ios = stop_io(&mut exec_exits, init_io);
        report_exec_exits(client, &c.id, exec_exits, oom);
        client.report(&c.id, StateInfo { state: State::Exit, pid: run_pid, exit_code: code, process_id: INIT_PROCESS_ID.into(), oom_killed: oom, exited_at_unix_nano: exited_at });
        crate::trace::mark("exit-reported", &c.id);
        let _ = removal.await;
        // Once the task is deleted (no thread of ours competes meanwhile with the
        // delivery of the report), off the runtime's workers (removing them can wait
        // tens of milliseconds for the filesystem's journal on a busy disk), and before
        // the container's directory goes with its record.
        let (remote, id) = (client.remote.clone(), c.id.clone());
        let removed = tokio::task::spawn_blocking(move || {
            crate::test_hooks::at(crate::test_hooks::Point::RemovingFifos, &id, "");
            ios.into_iter().for_each(ProcessIo::close);
            remote.remove_run_dir(&id, run_dir.as_deref());
        });
        if let Err(e) = removed.await {
            log::warn!("remove the fifos of {}: {e}", c.id);
        }
        remove_local(client, c);
        client.end_reaping(&c.id);
        crate::trace::mark("reaped", &c.id);
        return true;
    }
    if let Some(io) = &init_io {
        io.wait_drained(DRAIN_IDLE).await;
    }
    let deleted = conn.tasks().delete(conn.request(DeleteTaskRequest { container_id: c.id.clone() })).await;
    let (code, exited_at) = match deleted {
        Ok(r) if exited_at == 0 => {
            let r = r.into_inner();
            (r.exit_status, unix_nanos(r.exited_at.as_ref()))
        }
        Ok(_) => (code, exited_at),
        Err(s) => {
            if s.code() != tonic::Code::NotFound {
                log::warn!("delete task {}: {}", c.id, s.message());
            }
            (code, exited_at)
        }
    };
    close_io(&mut exec_exits, init_io);
    client.remote.remove_run_dir(&c.id, run_dir.as_deref());
    let exited_at = if exited_at == 0 { now_nanos() } else { exited_at };
    report_exec_exits(client, &c.id, exec_exits, oom);
    let end = StateInfo { state: State::Exit, pid: run_pid, exit_code: code, process_id: INIT_PROCESS_ID.into(), oom_killed: oom, exited_at_unix_nano: exited_at };
    if let Some(delay) = decided.unwrap_or_else(|| restart_delay(client, c, code)) {
        // Pending before `restart` is heard of: a create it prompts replaces it.
        *c.pending_end.lock().unwrap() = Some(end.clone());
        client.report(&c.id, StateInfo { state: State::Restart, ..end });
        crate::runtime::handle().spawn(super::restart_run::restart_after(client.clone(), c.clone(), delay));
        return false;
    }
    finish(client, c, end).await;
    true
}

/// Whether the restart policy restarts the run that just ended, and after how long.
fn restart_delay(client: &ClientInner, c: &Container, code: u32) -> Option<Duration> {
    if !client.is_open() {
        return None;
    }
    let run = c.run.lock().unwrap();
    let mut m = c.restart.lock().unwrap();
    let m = m.as_mut()?;
    if run.exited_while_away {
        // The run ended while the host program was away: the restore rule decides,
        // and a restart happens at once.
        if !should_restart_on_restore(m.policy(), code, run.manual_stop, m.restart_count()) {
            return None;
        }
        return m.should_restart(code, false, crate::restart::RESET_AFTER).map(|_| Duration::ZERO);
    }
    m.should_restart(code, run.manual_stop, run.started_at.map(|t| t.elapsed()).unwrap_or_default())
}

/// An exited process with its exit code and time, and its stdio.
type ExecExit = (String, super::ExecRun, u32, i64);

/// Closes the stdio of the run that ended (the output has been handed over).
fn close_io(exec_exits: &mut [ExecExit], init_io: Option<ProcessIo>) {
    stop_io(exec_exits, init_io).into_iter().for_each(ProcessIo::close);
}

/// Stops the stdin relays of the run that ended and hands its stdio over for
/// [`ProcessIo::close`] (the fifo files are still there).
fn stop_io(exec_exits: &mut [ExecExit], init_io: Option<ProcessIo>) -> Vec<ProcessIo> {
    let mut ios: Vec<ProcessIo> = exec_exits.iter_mut().filter_map(|(_, e, ..)| e.io.take()).chain(init_io).collect();
    ios.iter_mut().for_each(ProcessIo::stop_relay);
    ios
}

/// Reports `exit-process` for each exec that died with init.
fn report_exec_exits(client: &ClientInner, id: &str, exec_exits: Vec<ExecExit>, oom: bool) {
    for (exec_id, e, ecode, eat) in exec_exits {
        client.report(
            id,
            StateInfo { state: State::ExitProcess, pid: e.pid, exit_code: ecode, process_id: exec_id, oom_killed: oom, exited_at_unix_nano: eat },
        );
    }
}

/// Records `key=value` among the container's labels in containerd (best effort: a
/// failure is logged and the operation goes on).
pub(crate) async fn set_label(conn: &Connection, id: &str, key: &str, value: &str) {
    let req = UpdateContainerRequest {
        container: Some(CtrContainer {
            id: id.to_string(),
            labels: HashMap::from([(key.to_string(), value.to_string())]),
            ..Default::default()
        }),
        update_mask: Some(prost_types::FieldMask { paths: vec![format!("labels.{key}")] }),
    };
    if let Err(s) = conn.call(req, |c, r| async move { c.containers().update(c.request(r)).await }).await {
        log::warn!("record {key}={value} on container {id}: {}", s.message());
    }
}

/// Stops a container: SIGTERM, SIGKILL after [`STOP_GRACE`], and waits until its exit
/// has been handled (the container is no longer tracked).
pub(crate) async fn stop_and_wait(client: &ClientInner, c: Arc<Container>) {
    let conn = client.conn();
    {
        // A create or restore still in progress holds the op lock until its run has
        // started (or has given up, seeing the client closed): wait for that.
        let _sync = c.op.clone().lock_owned().await;
        // Between two runs (a restart pending, or its attach_streams under way, which
        // may be what called us): the container ends here, the restart never happens.
        let pending = c.pending_end.lock().unwrap().take();
        if let Some(end) = pending {
            finish(client, &c, end).await;
            return;
        }
        let mut run = c.run.lock().unwrap();
        if !run.started {
            return;
        }
        run.manual_stop = true;
    }
    for (signal, grace) in [(15u32, STOP_GRACE), (9, STOP_GRACE)] {
        let kill = KillRequest { container_id: c.id.clone(), exec_id: String::new(), signal, all: false };
        let _ = conn.tasks().kill(conn.request(kill)).await;
        let paused = c.run.lock().unwrap().paused;
        if paused {
            let _ = conn.tasks().resume(conn.request(containerd_client::services::v1::ResumeTaskRequest { container_id: c.id.clone() })).await;
        }
        let deadline = tokio::time::Instant::now() + grace;
        while client.is_tracked(&c) && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
            // The exit may have happened while we could not hear it.
            let (live, pid) = {
                let run = c.run.lock().unwrap();
                (run.started && !run.exited, run.pid)
            };
            if live {
                if let Some(ev) = missed_exit(conn, &c.id, "", pid).await {
                    c.post(ev);
                }
            }
        }
        if !client.is_tracked(&c) {
            return;
        }
    }
}
