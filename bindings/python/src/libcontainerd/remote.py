"""The remote: the access point to containerd."""

from __future__ import annotations

import ctypes
import os
from typing import Any, Dict, Optional, Sequence, Union

from . import _call, _lib
from ._call import CancelToken
from ._handle import Handle, HandleOwner
from .backend import Backend
from .client import Client
from .images import ImagesMixin

__all__ = ["Remote", "DEFAULT_STATE_DIR", "DEFAULT_NAMESPACE"]

#: The library's default state directory.
DEFAULT_STATE_DIR = "/run/libcontainerd"
#: The library's default containerd namespace.
DEFAULT_NAMESPACE = "libcontainerd"

#: A filesystem path: a string or a path object.
PathArg = Union[str, "os.PathLike[str]"]


def _free_remote(ptr: int) -> None:
    _lib.lib().lcd_remote_free(ptr)


class Remote(HandleOwner, ImagesMixin):
    """A connection to containerd, possibly to a daemon the library starts itself.

    With ``start_daemon`` (the default unless ``remote_addr`` is given) the library
    writes a containerd config under ``state_dir``, starts containerd with its socket,
    root and state there, health-checks it and relaunches it if it dies; a second
    remote on the same ``state_dir`` reuses the live daemon. With ``remote_addr`` (a
    containerd socket) and ``start_daemon`` left unset it connects to that daemon.

    Use it as a context manager, or call :meth:`close`: the last reference (clients
    keep their remote alive) ends it exactly as :meth:`cleanup` does. Containers of
    clients already closed, whom nothing can reach any more, are then killed at once
    (SIGKILL, no event) unless ``live_restore`` is set: call :meth:`cleanup` before
    closing the clients for a graceful stop whose ``exit`` events are delivered.
    Invalid options raise
    :class:`~libcontainerd.InvalidArgument` before anything happens.

    :param state_dir: directory for the daemon's files and the stdio fifos (0700).
    :param start_daemon: start (or reuse) a daemon under ``state_dir``; None means
        True unless ``remote_addr`` is given.
    :param remote_addr: socket of a containerd to use instead (with
        ``start_daemon=True`` it is :class:`~libcontainerd.InvalidArgument`).
    :param debug_log: run containerd at log level debug.
    :param live_restore: leave containers running at cleanup (to :meth:`Client.restore`
        them later).
    :param oom_score: ``oom_score_adj`` of the containerd process (-1000..1000).
    :param runtime_path: a runc-compatible runtime binary (default ``runc``).
    :param runtime_args: global arguments placed before the runtime's subcommand.
    :param namespace: the containerd namespace of this remote's containers.
    :param containerd_path: the containerd binary to start (default: from ``PATH``).
    :param shim_pool: spread containers over at most this many shared shims (0..64;
        0: one shim per container). A shim crash then ends every container of its
        group (each gets one ``exit``).
    :param timeout: seconds the connection (and the daemon's start) may take (None: no
        deadline); past it :class:`~libcontainerd.DeadlineExceeded` is raised within
        100 ms; a remote being made is ended again in the background (stopping a
        daemon it started, unless another remote uses it).
    :param cancel: a :class:`~libcontainerd.CancelToken` that cancels the connection
        (:class:`~libcontainerd.Cancelled`). Neither is kept: later calls take their own.
    """

    def __init__(
        self,
        state_dir: PathArg = DEFAULT_STATE_DIR,
        start_daemon: Optional[bool] = None,
        remote_addr: Optional[PathArg] = None,
        debug_log: bool = False,
        live_restore: bool = False,
        oom_score: Optional[int] = None,
        runtime_path: Optional[PathArg] = None,
        runtime_args: Sequence[str] = (),
        namespace: str = DEFAULT_NAMESPACE,
        containerd_path: Optional[PathArg] = None,
        shim_pool: int = 0,
        *,
        timeout: Optional[float] = None,
        cancel: Optional[CancelToken] = None,
    ) -> None:
        """Connects (starting a daemon if so configured); see the class docs."""
        opts: Dict[str, Any] = {
            "state_dir": os.fspath(state_dir),
            "debug_log": bool(debug_log),
            "live_restore": bool(live_restore),
            "namespace": namespace,
        }
        if start_daemon is not None:
            opts["start_daemon"] = bool(start_daemon)
        if remote_addr is not None:
            opts["remote_addr"] = os.fspath(remote_addr)
        if oom_score is not None:
            opts["oom_score"] = int(oom_score)
        if runtime_path is not None:
            opts["runtime_path"] = os.fspath(runtime_path)
        if runtime_args:
            opts["runtime_args"] = [str(a) for a in runtime_args]
        if containerd_path is not None:
            opts["containerd_path"] = os.fspath(containerd_path)
        if shim_pool:
            opts["shim_pool"] = int(shim_pool)
        #: The state directory.
        self.state_dir: str = opts["state_dir"]
        #: The containerd namespace.
        self.namespace: str = namespace
        out = ctypes.c_void_p()
        with _call.scope(timeout, cancel) as call:
            _lib.check(_lib.lib().lcd_remote_new(_lib.to_json(opts), ctypes.byref(out), call))
        assert out.value is not None
        self._own(Handle(out.value, _free_remote, "remote"))

    def client(
        self,
        backend: Optional[Backend] = None,
        *,
        timeout: Optional[float] = None,
        cancel: Optional[CancelToken] = None,
    ) -> Client:
        """A new client whose events and stdio go to ``backend``.

        Without a backend, events are ignored and output is discarded. ``timeout``
        (seconds) and ``cancel`` bound the call (no client is made if it ends first).
        """
        return Client(self, backend, timeout=timeout, cancel=cancel)

    def update_options(
        self,
        *,
        live_restore: Optional[bool] = None,
        oom_score: Optional[int] = None,
        debug_log: Optional[bool] = None,
        runtime_path: Optional[PathArg] = None,
        runtime_args: Optional[Sequence[str]] = None,
    ) -> None:
        """Changes the options that may change on a live remote; None leaves one as is.

        ``oom_score`` and ``debug_log`` apply only to a daemon this remote started
        (:class:`~libcontainerd.FailedPrecondition` otherwise). It does not wait for
        containerd, so it takes no ``timeout``.
        """
        opts: Dict[str, Any] = {}
        if live_restore is not None:
            opts["live_restore"] = bool(live_restore)
        if oom_score is not None:
            opts["oom_score"] = int(oom_score)
        if debug_log is not None:
            opts["debug_log"] = bool(debug_log)
        if runtime_path is not None:
            opts["runtime_path"] = os.fspath(runtime_path)
        if runtime_args is not None:
            opts["runtime_args"] = [str(a) for a in runtime_args]
        with self._handle.use() as r:
            _lib.check(_lib.lib().lcd_remote_update_options(r, _lib.to_json(opts)))

    def cleanup(self, *, timeout: Optional[float] = None, cancel: Optional[CancelToken] = None) -> None:
        """Stops the containers unless ``live_restore`` is set: those of open clients
        with SIGTERM, then SIGKILL after 10 s (their ``exit`` events are delivered
        before it returns), those of closed clients with SIGKILL at once (no event);
        pending restarts are cancelled. Then stops the daemon this remote started.
        Idempotent; :meth:`close` is still needed afterwards.

        ``timeout`` (seconds) and ``cancel`` bound the call: when it ends first,
        :class:`~libcontainerd.DeadlineExceeded` or :class:`~libcontainerd.Cancelled`
        is raised within 100 ms; the cleanup is not undone but goes on to its end in
        the background, and a second ``cleanup`` waits for it."""
        with _call.scope(timeout, cancel) as call, self._handle.use() as r:
            _lib.check(_lib.lib().lcd_remote_cleanup(r, call))

    def close(self) -> None:
        """Drops this reference; the last one (clients count) ends the remote as
        :meth:`cleanup` does and returns when that is done (it takes no ``timeout``:
        call :meth:`cleanup` with one first to bound that). Idempotent."""
        super().close()
