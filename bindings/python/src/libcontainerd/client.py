"""The client: creates and drives containers, reporting to one backend."""

from __future__ import annotations

import ctypes
import itertools
import logging
import threading
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Sequence, Union

from . import _call, _lib
from ._call import CancelToken
from ._handle import Handle, HandleOwner
from .backend import Backend, IOPipe, StateInfo, _state
from .errors import InvalidArgument, LibcontainerdError
from .types import ContainerEntry, ExecProcess, Resources, RestartPolicyDict, RuntimeDict, Spec, Stats, SummaryEntry

if TYPE_CHECKING:
    from .remote import Remote

__all__ = [
    "Client",
    "RestartPolicy",
    "Runtime",
    "ContainerInfo",
    "ProcessStatus",
    "ProcessSummary",
]

log = logging.getLogger("libcontainerd")


@dataclass(frozen=True)
class RestartPolicy:
    """When the library restarts a container whose init process exited.

    ``name`` is ``"no"``, ``"always"``, ``"on-failure"`` or ``"unless-stopped"``;
    ``maximum_retry_count`` bounds ``on-failure`` (0: no bound). Restarts back off
    from 100 ms doubling to 1 min, reset after 10 s of running; an explicit stop
    (SIGTERM or SIGKILL through :meth:`Client.signal`) cancels them.
    """

    #: The policy's name.
    name: str
    #: The most restarts ``on-failure`` makes (0: unbounded).
    maximum_retry_count: int = 0

    def to_json(self) -> Dict[str, Any]:
        """The ``restart_policy`` object of the create options."""
        return {"name": self.name, "maximum_retry_count": self.maximum_retry_count}


@dataclass(frozen=True)
class Runtime:
    """A runc-compatible runtime binary for one container, with global arguments."""

    #: Path of the runtime binary.
    path: str
    #: Arguments placed before the runtime's subcommand (e.g. ``["--debug"]``).
    args: Sequence[str] = ()

    def to_json(self) -> Dict[str, Any]:
        """The ``runtime`` object of the create options."""
        return {"path": self.path, "args": list(self.args)}


@dataclass(frozen=True)
class ProcessStatus:
    """An exec process as :meth:`Client.list` reports it."""

    #: The exec's process id.
    process_id: str
    #: Its host pid (0 when unknown).
    pid: int
    #: ``created``, ``running``, ``paused`` or ``stopped``.
    status: str


@dataclass(frozen=True)
class ContainerInfo:
    """A container as :meth:`Client.list` reports it."""

    #: The container's id.
    id: str
    #: Host pid of its init process (0 when unknown).
    pid: int
    #: ``created``, ``running``, ``paused`` or ``stopped``.
    status: str
    #: Its exec processes.
    processes: List[ProcessStatus]


@dataclass(frozen=True)
class ProcessSummary:
    """A process of a container as :meth:`Client.summary` reports it."""

    #: Host pid.
    pid: int
    #: ``"init"``, an exec's id, or empty for a process the library did not start.
    process_id: str


#: What ``runtime=`` accepts: a :class:`Runtime`, its path, or its JSON object.
RuntimeArg = Union[Runtime, str, RuntimeDict, Mapping[str, Any], None]
#: What ``restart_policy=`` accepts: a :class:`RestartPolicy`, its name, or its JSON object.
RestartPolicyArg = Union[RestartPolicy, str, RestartPolicyDict, Mapping[str, Any], None]
#: What ``create`` takes as spec: an OCI runtime spec; annotate yours as
#: :class:`~libcontainerd.types.Spec` and ``mypy --strict`` checks it.
SpecArg = Union[Spec, Mapping[str, Any]]
#: What ``add_process`` takes: a :class:`~libcontainerd.types.ExecProcess` or any mapping.
ProcessArg = Union[ExecProcess, Mapping[str, Any]]
#: What ``update_resources`` takes: :class:`~libcontainerd.types.Resources` or any mapping.
ResourcesArg = Union[Resources, Mapping[str, Any]]
_Containers = List[ContainerInfo]
_Summary = List[ProcessSummary]
_Pids = List[int]


def _create_options(
    runtime: RuntimeArg,
    restart_policy: RestartPolicyArg,
    image: Optional[str] = None,
    snapshotter: Optional[str] = None,
) -> Optional[bytes]:
    """The ``options_json`` of create and restore (None when nothing is set)."""
    opts: Dict[str, Any] = {}
    if image is not None:
        opts["image"] = image
    if snapshotter is not None:
        opts["snapshotter"] = snapshotter
    if isinstance(runtime, Runtime):
        opts["runtime"] = runtime.to_json()
    elif isinstance(runtime, str):
        opts["runtime"] = {"path": runtime}
    elif runtime is not None:
        opts["runtime"] = dict(runtime)
    if restart_policy is not None:
        opts["restart_policy"] = _policy_json(restart_policy)
    return _lib.to_json(opts) if opts else None


def _policy_json(restart_policy: Union[RestartPolicy, str, Mapping[str, Any]]) -> Dict[str, Any]:
    """A restart policy argument as its JSON object."""
    if isinstance(restart_policy, RestartPolicy):
        return restart_policy.to_json()
    if isinstance(restart_policy, str):
        return {"name": restart_policy}
    return dict(restart_policy)


# ---- callbacks -------------------------------------------------------------------
#
# One set of C function pointers serves every client: they live as long as the module
# (so no callback can outlive its CFUNCTYPE object, even one the library runs after a
# deferred free) and find the client's backend by the key passed as user_data.

_backends: Dict[int, Backend] = {}
_backends_lock = threading.Lock()
_keys = itertools.count(1)


def _backend_of(user_data: Optional[int]) -> Optional[Backend]:
    with _backends_lock:
        return _backends.get(user_data or 0)


def _error_from(exc: BaseException, where: str) -> Optional[int]:
    """Logs a callback's exception and makes the ``lcd_error *`` that reports it."""
    log.error("libcontainerd: %s raised %s: %s", where, type(exc).__name__, exc, exc_info=exc)
    if isinstance(exc, LibcontainerdError) and 1 <= exc.code <= 11:
        code, message = exc.code, exc.message
    else:
        code, message = 9, f"{where} raised {type(exc).__name__}: {exc}"
    try:
        err: Optional[int] = _lib.lib().lcd_error_new(code, _lib.c_str(message))
        return err
    except BaseException:
        return None


def _on_state_changed(user_data: Optional[int], container_id: bytes, info_p: Any) -> Optional[int]:
    try:
        backend = _backend_of(user_data)
        if backend is None:
            return None
        c = info_p.contents
        info = StateInfo(
            state=_state(c.state.decode("utf-8", "replace")),
            pid=int(c.pid),
            exit_code=int(c.exit_code),
            process_id=c.process_id.decode("utf-8", "replace"),
            oom_killed=bool(c.oom_killed),
            exited_at_unix_nano=int(c.exited_at_unix_nano),
        )
        backend.state_changed(container_id.decode("utf-8", "replace"), info)
        return None
    except BaseException as e:
        return _error_from(e, "state_changed")


def _on_attach_streams(
    user_data: Optional[int], container_id: bytes, process_id: bytes, io_p: Any
) -> Optional[int]:
    io: Optional[IOPipe] = None
    try:
        c = io_p.contents
        io = IOPipe.from_fds(int(c.stdin_fd), int(c.stdout_fd), int(c.stderr_fd), bool(c.terminal))
        backend = _backend_of(user_data)
        if backend is None:
            io.discard()
            return None
        backend.attach_streams(
            container_id.decode("utf-8", "replace"), process_id.decode("utf-8", "replace"), io
        )
        return None
    except BaseException as e:
        if io is not None:
            io.close()
        return _error_from(e, "attach_streams")


def _on_user_data_free(user_data: Optional[int]) -> None:
    try:
        with _backends_lock:
            backend = _backends.pop(user_data or 0, None)
        if backend is not None:
            backend.client_closed()
    except BaseException as e:
        log.error("libcontainerd: client_closed raised %s: %s", type(e).__name__, e, exc_info=e)


_STATE_CHANGED_FN = _lib.STATE_CHANGED(_on_state_changed)
_ATTACH_STREAMS_FN = _lib.ATTACH_STREAMS(_on_attach_streams)
_USER_DATA_FREE_FN = _lib.USER_DATA_FREE(_on_user_data_free)


def _overrides(backend: Backend, name: str) -> bool:
    """Whether the backend's class replaces the base class's method ``name``."""
    return getattr(type(backend), name) is not getattr(Backend, name)


def _free_client(ptr: int) -> None:
    _lib.lib().lcd_client_free(ptr)


# ---- the client --------------------------------------------------------------------


class Client(HandleOwner):
    """Creates and drives containers; their events and stdio go to one backend.

    Made by :meth:`Remote.client`. Every method blocks (releasing the GIL) and may be
    called from any thread, including from inside the backend's callbacks; each takes
    keywords ``timeout`` (seconds; None: no deadline) and ``cancel`` (a
    :class:`~libcontainerd.CancelToken`), see :meth:`create`. Use it as a context
    manager, or call :meth:`close`. Errors raise a
    :class:`~libcontainerd.LibcontainerdError` subclass.
    """

    def __init__(
        self,
        remote: Remote,
        backend: Optional[Backend] = None,
        *,
        timeout: Optional[float] = None,
        cancel: Optional[CancelToken] = None,
    ) -> None:
        """A new client of ``remote``; prefer :meth:`Remote.client`."""
        backend = backend if backend is not None else Backend()
        cdll = _lib.lib()
        key = next(_keys)
        table = _lib.BackendC()
        table.struct_size = ctypes.sizeof(_lib.BackendC)
        table.user_data = key
        if _overrides(backend, "state_changed"):
            table.state_changed = _STATE_CHANGED_FN
        if _overrides(backend, "attach_streams"):
            table.attach_streams = _ATTACH_STREAMS_FN
        table.user_data_free = _USER_DATA_FREE_FN
        out = ctypes.c_void_p()
        with _backends_lock:
            _backends[key] = backend
        try:
            with _call.scope(timeout, cancel) as call, remote._handle.use() as r:
                _lib.check(cdll.lcd_remote_client(r, ctypes.byref(table), ctypes.byref(out), call))
        except BaseException:
            # On failure the library does not call user_data_free: the key is ours.
            with _backends_lock:
                _backends.pop(key, None)
            raise
        assert out.value is not None
        #: The remote this client belongs to.
        self.remote: Remote = remote
        #: The backend its events and stdio go to.
        self.backend: Backend = backend
        self._own(Handle(out.value, _free_client, "client"))

    # -- lifecycle ------------------------------------------------------------------

    def close(self) -> None:
        """Closes the client: stops event delivery, waits for callbacks in flight,
        then calls the backend's :meth:`~Backend.client_closed`. Idempotent.

        Running containers keep running (the remote's cleanup stops them). From
        inside one of this client's callbacks the library finishes the close once
        that callback has returned.
        """
        super().close()

    def create(
        self,
        id: str,
        spec: SpecArg,
        *,
        runtime: RuntimeArg = None,
        restart_policy: RestartPolicyArg = None,
        image: Optional[str] = None,
        snapshotter: Optional[str] = None,
        timeout: Optional[float] = None,
        cancel: Optional[CancelToken] = None,
    ) -> None:
        """Creates and starts container ``id`` from an OCI runtime spec.

        ``spec["root"]["path"]`` is an existing absolute host directory holding the
        rootfs, unless ``image`` names an image (pulled or imported before;
        :class:`~libcontainerd.NotFound` if it is not there): the container then runs
        on a writable snapshot of it (on ``snapshotter``, default ``overlayfs``),
        removed with the container; ``root.path`` is ignored and the image config
        fills what ``spec["process"]`` leaves out (``args``, ``env`` merged with the
        spec's keys winning, ``cwd``, ``user``). The backend's ``attach_streams`` runs on this thread before the
        process starts; then ``start-container`` is reported. ``runtime``: a
        :class:`Runtime` (or its path); ``restart_policy``: a :class:`RestartPolicy`
        (or its name). A taken id raises :class:`~libcontainerd.AlreadyExists`.

        ``timeout`` (seconds) and ``cancel`` bound the call: when the deadline passes
        or the token is cancelled first, it raises
        :class:`~libcontainerd.DeadlineExceeded` or :class:`~libcontainerd.Cancelled`
        within 100 ms and the container is undone (nothing of it is left, no event is
        reported; the removal may finish in the background, and a later create of the
        id waits for it). The other methods take the same two keywords; what each
        leaves when given up is what its C function documents in ``libcontainerd.h``.
        """
        opts = _create_options(runtime, restart_policy, image, snapshotter)
        with _call.scope(timeout, cancel) as call, self._handle.use() as c:
            _lib.check(
                _lib.lib().lcd_client_create(c, _lib.c_str(id), _lib.to_json(dict(spec)), opts, call)
            )

    def signal(
        self, id: str, sig: int, *, timeout: Optional[float] = None, cancel: Optional[CancelToken] = None
    ) -> None:
        """Sends ``sig`` to the init process of container ``id``.

        SIGTERM and SIGKILL are an explicit stop (no restart follows); a paused
        container is thawed so that the signal is delivered. A ``sig`` that is not an
        integer or does not fit a C ``int`` raises :class:`InvalidArgument` (never cut).
        ``timeout``/``cancel`` as for :meth:`create`; a cancelled signal may or may
        not have been delivered.
        """
        sig = _lib.c_int(sig, "sig")
        with _call.scope(timeout, cancel) as call, self._handle.use() as c:
            _lib.check(_lib.lib().lcd_client_signal(c, _lib.c_str(id), sig, call))

    def stop(
        self,
        id: str,
        sig: int = 0,
        grace: Optional[float] = None,
        *,
        timeout: Optional[float] = None,
        cancel: Optional[CancelToken] = None,
    ) -> None:
        """Stops container ``id`` and returns once its init process has exited.

        Sends ``sig`` (0: the container's stop signal, the spec's
        ``org.opencontainers.image.stopSignal`` annotation, else its image's, else
        SIGTERM), thaws it if paused, and sends SIGKILL if it is still alive after
        ``grace`` seconds (default 10). An explicit stop: restart policies are
        cancelled, also a restart already pending. Its ``exit`` is queued when this
        returns.

        ``timeout``/``cancel`` bound the whole call, the grace period included, as for
        :meth:`create`: given up, the stop still counts as explicit and its signal,
        or the SIGKILL, may have been sent; the container may exit later (its
        ``exit`` is reported as usual). Before ``grace`` existed,
        ``timeout=`` was the grace period (as in docker-py's ``stop``): ``timeout=``
        without ``grace=`` still means the grace period, with a
        :class:`DeprecationWarning`; pass ``grace=`` to give ``timeout=`` its meaning
        of every other method.
        """
        if grace is None and timeout is not None:
            warnings.warn(
                "Client.stop(timeout=...) as the grace period is deprecated: pass grace=... "
                "(timeout= is then the call's deadline, as for every other method)",
                DeprecationWarning,
                stacklevel=2,
            )
            grace, timeout = timeout, None
        if grace is None:
            grace = 10.0
        if not 0 <= sig <= 64:
            raise InvalidArgument(f"signal {sig} is out of range 0..64")
        if not grace >= 0:
            raise InvalidArgument(f"stop grace period {grace} is negative")
        ms = min(int(grace * 1000), 2**32 - 1)
        with _call.scope(timeout, cancel) as call, self._handle.use() as c:
            _lib.check(_lib.lib().lcd_client_stop(c, _lib.c_str(id), int(sig), ms, call))

    def update_restart_policy(
        self,
        id: str,
        restart_policy: RestartPolicyArg,
        *,
        timeout: Optional[float] = None,
        cancel: Optional[CancelToken] = None,
    ) -> None:
        """Replaces the restart policy of container ``id`` (a :class:`RestartPolicy`,
        its name, or its JSON object).

        The new policy decides the container's next exits (the restart count and
        backoff carry on) and is recorded with the container, so that a
        :meth:`restore` without options uses it. ``"no"`` also cancels a restart
        already pending: the container then ends with its ``exit``.
        """
        if restart_policy is None:
            raise InvalidArgument("restart_policy is required")
        policy = _lib.to_json(_policy_json(restart_policy))
        with _call.scope(timeout, cancel) as call, self._handle.use() as c:
            _lib.check(_lib.lib().lcd_client_update_restart_policy(c, _lib.c_str(id), policy, call))

    def signal_process(
        self,
        id: str,
        process_id: str,
        sig: int,
        *,
        timeout: Optional[float] = None,
        cancel: Optional[CancelToken] = None,
    ) -> None:
        """Sends ``sig`` to process ``process_id`` (``"init"`` or an exec) of ``id``."""
        sig = _lib.c_int(sig, "sig")
        with _call.scope(timeout, cancel) as call, self._handle.use() as c:
            _lib.check(
                _lib.lib().lcd_client_signal_process(c, _lib.c_str(id), _lib.c_str(process_id), sig, call)
            )

    def add_process(
        self,
        id: str,
        process_id: str,
        process: ProcessArg,
        *,
        timeout: Optional[float] = None,
        cancel: Optional[CancelToken] = None,
    ) -> None:
        """Runs another process in container ``id``.

        ``process``: ``{"args" (required), "terminal", "user": {"uid", "gid",
        "additionalGids"}, "env", "cwd", "capabilities", "rlimits", "apparmorProfile",
        "selinuxLabel"}``; unset fields come from the container's own process. The
        backend's ``attach_streams`` runs on this thread before it starts; then
        ``start-process`` (carrying its pid) and later ``exit-process`` are reported.
        A cancelled or timed-out call leaves no process behind and reports no event.
        """
        with _call.scope(timeout, cancel) as call, self._handle.use() as c:
            _lib.check(
                _lib.lib().lcd_client_add_process(
                    c, _lib.c_str(id), _lib.c_str(process_id), _lib.to_json(dict(process)), call
                )
            )

    def resize(
        self,
        id: str,
        process_id: str,
        width: int,
        height: int,
        *,
        timeout: Optional[float] = None,
        cancel: Optional[CancelToken] = None,
    ) -> None:
        """Resizes the terminal of ``process_id`` of ``id`` to ``width`` x ``height``."""
        w = _lib.c_int(width, "width", 0, _lib.UINT32_MAX)
        h = _lib.c_int(height, "height", 0, _lib.UINT32_MAX)
        with _call.scope(timeout, cancel) as call, self._handle.use() as c:
            _lib.check(_lib.lib().lcd_client_resize(c, _lib.c_str(id), _lib.c_str(process_id), w, h, call))

    def pause(self, id: str, *, timeout: Optional[float] = None, cancel: Optional[CancelToken] = None) -> None:
        """Freezes container ``id``; ``pause`` follows through ``state_changed``."""
        with _call.scope(timeout, cancel) as call, self._handle.use() as c:
            _lib.check(_lib.lib().lcd_client_pause(c, _lib.c_str(id), call))

    def resume(self, id: str, *, timeout: Optional[float] = None, cancel: Optional[CancelToken] = None) -> None:
        """Thaws container ``id``; ``resume`` follows through ``state_changed``."""
        with _call.scope(timeout, cancel) as call, self._handle.use() as c:
            _lib.check(_lib.lib().lcd_client_resume(c, _lib.c_str(id), call))

    def restore(
        self,
        id: str,
        *,
        runtime: RuntimeArg = None,
        restart_policy: RestartPolicyArg = None,
        timeout: Optional[float] = None,
        cancel: Optional[CancelToken] = None,
    ) -> None:
        """Re-adopts container ``id`` after the host program or containerd restarted.

        Takes the same options as :meth:`create`. A running container gets
        ``attach_streams`` and ``restore`` (or, without live restore, is stopped and
        reported as ``exit``); one that exited meanwhile is reported as ``exit`` with
        its real code, one gone without a trace as ``exit`` 255.
        """
        opts = _create_options(runtime, restart_policy)
        with _call.scope(timeout, cancel) as call, self._handle.use() as c:
            _lib.check(_lib.lib().lcd_client_restore(c, _lib.c_str(id), opts, call))

    def stats(self, id: str, *, timeout: Optional[float] = None, cancel: Optional[CancelToken] = None) -> Stats:
        """The cgroup figures of container ``id``.

        Keys: ``read`` (RFC 3339), ``cgroup``, ``cpu`` (``usage.total`` in ns, ...),
        ``memory`` (``usage.usage``, ``usage.limit`` in bytes, ...), ``pids``
        (``current``, ``limit``), ``blkio``.
        """
        with _call.scope(timeout, cancel) as call, self._handle.use() as c:
            stats: Stats = _lib.call_json(_lib.lib().lcd_client_stats, c, _lib.c_str(id), call=call)
        return stats

    def get_pids(self, id: str, *, timeout: Optional[float] = None, cancel: Optional[CancelToken] = None) -> _Pids:
        """The host pids of every process in container ``id``."""
        with _call.scope(timeout, cancel) as call, self._handle.use() as c:
            pids = _lib.call_json(_lib.lib().lcd_client_get_pids, c, _lib.c_str(id), call=call)
        return [int(p) for p in pids]

    def summary(self, id: str, *, timeout: Optional[float] = None, cancel: Optional[CancelToken] = None) -> _Summary:
        """Every process of container ``id``, with the process id it was started as."""
        with _call.scope(timeout, cancel) as call, self._handle.use() as c:
            procs: List[SummaryEntry] = _lib.call_json(_lib.lib().lcd_client_summary, c, _lib.c_str(id), call=call)
        return [ProcessSummary(int(p["pid"]), str(p.get("process_id", ""))) for p in procs]

    def update_resources(
        self,
        id: str,
        resources: ResourcesArg,
        *,
        timeout: Optional[float] = None,
        cancel: Optional[CancelToken] = None,
    ) -> None:
        """Applies OCI ``LinuxResources`` (e.g. ``{"memory": {"limit": 1 << 26}}``)."""
        with _call.scope(timeout, cancel) as call, self._handle.use() as c:
            _lib.check(
                _lib.lib().lcd_client_update_resources(c, _lib.c_str(id), _lib.to_json(dict(resources)), call)
            )

    def list(self, *, timeout: Optional[float] = None, cancel: Optional[CancelToken] = None) -> _Containers:
        """The containers of this client's namespace."""
        with _call.scope(timeout, cancel) as call, self._handle.use() as c:
            items: List[ContainerEntry] = _lib.call_json(_lib.lib().lcd_client_list, c, call=call)
        return [
            ContainerInfo(
                id=str(i["id"]),
                pid=int(i.get("pid", 0)),
                status=str(i.get("status", "")),
                processes=[
                    ProcessStatus(str(p["process_id"]), int(p.get("pid", 0)), str(p.get("status", "")))
                    for p in i.get("processes", [])
                ],
            )
            for i in items
        ]
