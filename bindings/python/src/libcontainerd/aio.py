"""asyncio: the binding's API as coroutines, and state changes as an async iterator.

Every method that calls into the library runs that blocking C call in a thread pool
executor (by default one per :class:`Remote`, of ``max_workers`` threads), so the
event loop never waits on the library or on containerd::

    import asyncio
    import libcontainerd as lcd
    from libcontainerd import aio

    async def main() -> None:
        async with aio.Remote(state_dir="/run/my-app") as remote:
            async with await remote.client() as client:
                async with client.events("hello") as events:
                    await client.create("hello", spec)
                    exit = await events.wait_for(lcd.State.EXIT)
                    print(exit.info.exit_code)

    asyncio.run(main())

State changes reach the loop through ``loop.call_soon_threadsafe``: the library's
threads hand each event over and go on, never waiting for the loop. Each
:meth:`Client.events` stream sees every event from its creation on, in order, once,
until it is closed or the client is (create the stream before the call whose events
it must see). A stream's queue is unbounded unless ``max_pending`` is given: a stream
nobody reads grows; with a bound, a stream that falls that far behind ends with
:class:`EventOverflow` instead of dropping events silently.

Cancelling a task that awaits a call cancels the library's call: the coroutine hands
the cancellation to the call (as a :class:`~libcontainerd.CancelToken`, the one given
as ``cancel=`` or its own), waits for it to return (within 100 ms), then raises
:class:`asyncio.CancelledError`; the call's outcome is then what its ``Cancelled``
documents (a create is undone), unless the call had already completed. Every method
that calls into the library also takes ``timeout=`` (seconds), as in the blocking API.
Process stdio goes to the
:class:`~libcontainerd.Backend` given to :meth:`Remote.client` (its
``attach_streams`` runs on an executor thread, inside the call that starts the
process); without one, stdin is closed and output discarded by the library itself.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import os
import threading
import time
from concurrent.futures import Executor, ThreadPoolExecutor
from types import TracebackType
from typing import (
    Any,
    Awaitable,
    Callable,
    Dict,
    Generator,
    List,
    Optional,
    Sequence,
    Type,
    TypeVar,
    Union,
)

from . import _call
from . import client as _client
from . import remote as _remote
from ._call import CancelToken
from .backend import Backend, Event, IOPipe, StateInfo
from .client import ContainerInfo, ProcessArg, ProcessSummary, ResourcesArg, RestartPolicyArg, RuntimeArg, SpecArg
from .types import Stats

__all__ = ["Remote", "Client", "EventStream", "EventOverflow", "DEFAULT_MAX_WORKERS"]

#: Threads of the executor a :class:`Remote` makes for its calls.
DEFAULT_MAX_WORKERS = 32

_T = TypeVar("_T")

#: What the path options accept.
PathArg = Union[str, "os.PathLike[str]"]


class EventOverflow(RuntimeError):
    """An :class:`EventStream` with ``max_pending`` fell that many events behind.

    Raised by the stream after the events it holds; it has stopped receiving others.
    """


class _End:
    """The item that ends a stream (the client or the stream was closed)."""


class _Overflow:
    """The item that ends a stream that fell ``max_pending`` events behind."""


_END = _End()
_OVERFLOW = _Overflow()


class EventStream:
    """An async iterator of a client's state changes (:class:`~libcontainerd.Event`).

    Made by :meth:`Client.events`; it receives the events from then on (of one
    container, if one was named), in order, each once, and ends when it or the client
    is closed. Use it as an async context manager, or call :meth:`aclose`.
    """

    def __init__(
        self,
        feed: _Feed,
        loop: asyncio.AbstractEventLoop,
        container_id: Optional[str],
        max_pending: int,
    ) -> None:
        """A stream fed by ``feed`` on ``loop``; prefer :meth:`Client.events`."""
        self._feed = feed
        self._loop = loop
        self._container_id = container_id
        self._max_pending = max_pending
        self._queue: asyncio.Queue[Union[Event, _End, _Overflow]] = asyncio.Queue()
        self._lock = threading.Lock()
        self._pending = 0
        self._feeding = True
        self._done = False
        feed._subscribe(self)

    # -- called on the library's threads ----------------------------------------------

    def _post(self, ev: Union[Event, _End]) -> None:
        """Hands an event (or the end) to the loop; never blocks."""
        item: Union[Event, _End, _Overflow] = ev
        with self._lock:
            if not self._feeding:
                return
            if isinstance(ev, Event):
                if self._container_id is not None and ev.container_id != self._container_id:
                    return
                if self._max_pending and self._pending >= self._max_pending:
                    item = _OVERFLOW
                    self._feeding = False
                else:
                    self._pending += 1
            else:
                self._feeding = False
        try:
            self._loop.call_soon_threadsafe(self._queue.put_nowait, item)
        except RuntimeError:  # the loop is closed: nobody will read this stream
            self._feed._unsubscribe(self)

    # -- the async iterator -----------------------------------------------------------

    def __aiter__(self) -> EventStream:
        """The stream itself."""
        return self

    async def __anext__(self) -> Event:
        """The next event; :class:`StopAsyncIteration` once the stream has ended."""
        if self._done:
            raise StopAsyncIteration
        item = await self._queue.get()
        if isinstance(item, Event):
            with self._lock:
                self._pending -= 1
            return item
        self._done = True
        self._feed._unsubscribe(self)
        if isinstance(item, _Overflow):
            raise EventOverflow(
                f"event stream fell {self._max_pending} events behind; it stopped receiving events"
            )
        raise StopAsyncIteration

    async def wait_for(
        self,
        state: str,
        *,
        container_id: Optional[str] = None,
        process_id: Optional[str] = None,
    ) -> Event:
        """Reads the stream up to the next event ``state`` (of ``container_id`` and
        ``process_id``, when given) and returns it; the events before it are consumed.

        Raises :class:`EOFError` if the stream ends first. Combine with
        :func:`asyncio.wait_for` for a timeout.
        """
        async for ev in self:
            if (
                ev.info.state == state
                and (container_id is None or ev.container_id == container_id)
                and (process_id is None or ev.info.process_id == process_id)
            ):
                return ev
        raise EOFError(f"the event stream ended before a {state!s} event")

    def close(self) -> None:
        """Stops receiving events; the iterator ends after those already queued."""
        self._feed._unsubscribe(self)
        with self._lock:
            if not self._feeding:
                return
            self._feeding = False
        self._queue.put_nowait(_END)

    async def aclose(self) -> None:
        """:meth:`close`, as a coroutine."""
        self.close()

    async def __aenter__(self) -> EventStream:
        """The stream itself."""
        return self

    async def __aexit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        """Closes the stream."""
        self.close()


class _Feed(Backend):
    """The backend registered with the library: forwards each event to the user's
    backend (on the library's thread) and to every open :class:`EventStream`."""

    def __init__(self, user: Optional[Backend]) -> None:
        self.user = user
        self._lock = threading.Lock()
        # Insertion-ordered: streams are fed in the order they were opened, so an
        # event has reached every older stream once a newer one sees it.
        self._streams: Dict[EventStream, None] = {}
        self._closed = False

    def _subscribe(self, stream: EventStream) -> None:
        with self._lock:
            closed = self._closed
            if not closed:
                self._streams[stream] = None
        if closed:
            stream._post(_END)

    def _unsubscribe(self, stream: EventStream) -> None:
        with self._lock:
            self._streams.pop(stream, None)

    def state_changed(self, container_id: str, info: StateInfo) -> None:
        """Hands the event to the user's backend, then to every stream."""
        try:
            if self.user is not None:
                self.user.state_changed(container_id, info)
        finally:
            ev = Event(container_id, info, time.monotonic())
            with self._lock:
                streams = list(self._streams)
            for s in streams:
                s._post(ev)

    def client_closed(self) -> None:
        """Ends every stream (after the events it holds), then tells the user's backend."""
        with self._lock:
            self._closed = True
            streams = list(self._streams)
            self._streams.clear()
        for s in streams:
            s._post(_END)
        if self.user is not None:
            self.user.client_closed()


class _FeedWithStreams(_Feed):
    """A :class:`_Feed` for a user backend that takes process stdio."""

    def attach_streams(self, container_id: str, process_id: str, io: IOPipe) -> None:
        """Hands the stdio to the user's backend."""
        assert self.user is not None
        self.user.attach_streams(container_id, process_id, io)


class _Runner:
    """Runs blocking calls on an executor, from the running loop."""

    def __init__(self, executor: Executor) -> None:
        self.executor = executor

    async def run(self, fn: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
        """``fn(*args, **kwargs)`` on the executor; not cancellable once started."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, functools.partial(fn, *args, **kwargs))

    async def call(self, fn: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
        """``fn(*args, **kwargs, cancel=token)`` on the executor, for a method that
        takes ``cancel=``: cancelling the awaiting task cancels the token (the one in
        ``kwargs``, else a new one), waits for the call to return, and re-raises the
        :class:`asyncio.CancelledError`."""
        token = kwargs.get("cancel")
        if token is None:
            token = kwargs["cancel"] = _call.CancelToken()
        loop = asyncio.get_running_loop()
        fut = loop.run_in_executor(self.executor, functools.partial(fn, *args, **kwargs))
        try:
            return await asyncio.shield(fut)
        except asyncio.CancelledError:
            token.cancel()
            # The library returns within 100 ms of the cancel; its outcome (Cancelled,
            # or a result that came first) is superseded by the task's cancellation.
            await asyncio.wait([fut])
            if not fut.cancelled():
                fut.exception()  # retrieved: no "exception never retrieved" warning
            raise


def _async_method(
    target: Optional[object],
    name: str,
    runner: Optional[_Runner],
) -> Callable[..., Awaitable[Any]]:
    """``target.name`` as a coroutine function that runs it on ``runner`` (cancellable,
    see :meth:`_Runner.call`, when it takes ``cancel=``); raises
    :class:`AttributeError` for a private name or one ``target`` lacks."""
    fn = getattr(target, name, None) if target is not None and not name.startswith("_") else None
    if fn is None or not callable(fn) or runner is None:
        raise AttributeError(name)
    try:
        cancellable = "cancel" in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        cancellable = False
    run = runner.call if cancellable else runner.run

    async def call(*args: Any, **kwargs: Any) -> Any:
        return await run(fn, *args, **kwargs)

    call.__name__ = name
    call.__doc__ = fn.__doc__
    return call


class Remote:
    """:class:`libcontainerd.Remote` for asyncio: the connection to containerd.

    Takes the same options; connecting (and starting a daemon) happens when the
    object is awaited or entered, on the executor: ``remote = await aio.Remote(...)``
    or ``async with aio.Remote(...) as remote``. ``executor``: where the blocking calls
    of this remote and its clients run (default: a :class:`ThreadPoolExecutor` of
    ``max_workers`` threads, shut down by :meth:`close`). ``timeout``: seconds the
    connection may take (as for :class:`libcontainerd.Remote`); the connection is
    shared by every task awaiting it, so cancelling one of them does not stop it.
    """

    def __init__(
        self,
        state_dir: PathArg = _remote.DEFAULT_STATE_DIR,
        start_daemon: Optional[bool] = None,
        remote_addr: Optional[PathArg] = None,
        debug_log: bool = False,
        live_restore: bool = False,
        oom_score: Optional[int] = None,
        runtime_path: Optional[PathArg] = None,
        runtime_args: Sequence[str] = (),
        namespace: str = _remote.DEFAULT_NAMESPACE,
        containerd_path: Optional[PathArg] = None,
        shim_pool: int = 0,
        *,
        executor: Optional[Executor] = None,
        max_workers: int = DEFAULT_MAX_WORKERS,
        timeout: Optional[float] = None,
    ) -> None:
        """Records the options; see the class docs. Nothing blocks here."""
        self._options = functools.partial(
            _remote.Remote,
            state_dir=state_dir,
            start_daemon=start_daemon,
            remote_addr=remote_addr,
            debug_log=debug_log,
            live_restore=live_restore,
            oom_score=oom_score,
            runtime_path=runtime_path,
            runtime_args=runtime_args,
            namespace=namespace,
            containerd_path=containerd_path,
            timeout=timeout,
            shim_pool=shim_pool,
        )
        self._own_executor = executor is None
        self._runner = _Runner(
            executor
            if executor is not None
            else ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="libcontainerd-aio")
        )
        self._remote: Optional[_remote.Remote] = None
        self._opening: Optional[asyncio.Future[_remote.Remote]] = None

    @property
    def remote(self) -> _remote.Remote:
        """The blocking :class:`libcontainerd.Remote` underneath (once connected)."""
        if self._remote is None:
            raise RuntimeError("the remote is not connected yet: await it first")
        return self._remote

    @property
    def executor(self) -> Executor:
        """Where the blocking calls run."""
        return self._runner.executor

    def __getattr__(self, name: str) -> Callable[..., Awaitable[Any]]:
        """Any other public method of the blocking remote (once connected), as a
        coroutine on the executor (taking and returning Any)."""
        runner = self.__dict__.get("_runner")
        return _async_method(self.__dict__.get("_remote"), name, runner)

    async def open(self) -> Remote:
        """Connects (starting a daemon if so configured), once; returns the remote."""
        if self._remote is None:
            if self._opening is None:
                self._opening = asyncio.ensure_future(self._runner.run(self._options))
            self._remote = await asyncio.shield(self._opening)
        return self

    def __await__(self) -> Generator[Any, None, Remote]:
        """``await aio.Remote(...)`` connects and returns the remote."""
        return self.open().__await__()

    async def __aenter__(self) -> Remote:
        """Connects; see :meth:`open`."""
        return await self.open()

    async def __aexit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        """Closes the remote; see :meth:`close`."""
        await self.close()

    async def client(
        self,
        backend: Optional[Backend] = None,
        *,
        timeout: Optional[float] = None,
        cancel: Optional[CancelToken] = None,
    ) -> Client:
        """A new :class:`Client`; its events go to :meth:`Client.events` streams and to
        ``backend`` (whose callbacks run on the library's threads, as in the blocking
        API), its processes' stdio to ``backend.attach_streams`` if ``backend``
        overrides it, else the library discards it."""
        remote = (await self.open()).remote
        feed: _Feed = (
            _FeedWithStreams(backend)
            if backend is not None and _client._overrides(backend, "attach_streams")
            else _Feed(backend)
        )
        sync_client = await self._runner.call(remote.client, feed, timeout=timeout, cancel=cancel)
        return Client(self, sync_client, feed)

    async def update_options(
        self,
        *,
        live_restore: Optional[bool] = None,
        oom_score: Optional[int] = None,
        debug_log: Optional[bool] = None,
        runtime_path: Optional[PathArg] = None,
        runtime_args: Optional[Sequence[str]] = None,
    ) -> None:
        """:meth:`libcontainerd.Remote.update_options`, on the executor."""
        await self._runner.run(
            self.remote.update_options,
            live_restore=live_restore,
            oom_score=oom_score,
            debug_log=debug_log,
            runtime_path=runtime_path,
            runtime_args=runtime_args,
        )

    async def cleanup(self, *, timeout: Optional[float] = None, cancel: Optional[CancelToken] = None) -> None:
        """:meth:`libcontainerd.Remote.cleanup`, on the executor."""
        await self._runner.call(self.remote.cleanup, timeout=timeout, cancel=cancel)

    async def close(self) -> None:
        """Drops this reference (the last one cleans up, on the executor), then shuts
        down the executor this remote made. Idempotent."""
        if self._opening is not None and self._remote is None:
            try:
                await self.open()
            except BaseException:
                pass
        if self._remote is not None:
            await self._runner.run(self._remote.close)
        if self._own_executor:
            self._runner.executor.shutdown(wait=False)


class Client:
    """:class:`libcontainerd.Client` for asyncio: the same methods, as coroutines, and
    :meth:`events`. Made by :meth:`Remote.client`; use it as an async context
    manager, or await :meth:`close`."""

    def __init__(self, remote: Remote, client: _client.Client, feed: _Feed) -> None:
        """Wraps a blocking client; prefer :meth:`Remote.client`."""
        #: The remote this client belongs to.
        self.remote: Remote = remote
        #: The blocking :class:`libcontainerd.Client` underneath.
        self.client: _client.Client = client
        self._feed = feed
        self._runner = remote._runner
        self._call = remote._runner.call

    @property
    def backend(self) -> Optional[Backend]:
        """The backend given to :meth:`Remote.client`, if any."""
        return self._feed.user

    def __getattr__(self, name: str) -> Callable[..., Awaitable[Any]]:
        """Any other public method of the blocking client, as a coroutine on the
        executor (the methods above have precise types; these take and return Any)."""
        return _async_method(self.__dict__.get("client"), name, self.__dict__.get("_runner"))

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self.client.closed

    def events(self, container_id: Optional[str] = None, *, max_pending: int = 0) -> EventStream:
        """A stream of the state changes from now on, of ``container_id`` or of every
        container. Must be called on the event loop's thread.

        ``max_pending`` (0: unbounded) bounds the events it holds unread; past it the
        stream ends with :class:`EventOverflow`.
        """
        if max_pending < 0:
            raise ValueError("max_pending must be >= 0")
        return EventStream(self._feed, asyncio.get_running_loop(), container_id, max_pending)

    async def create(
        self,
        id: str,
        spec: SpecArg,
        *,
        runtime: RuntimeArg = None,
        restart_policy: RestartPolicyArg = None,
        image: Optional[str] = None,
        snapshotter: Optional[str] = None,
        timeout: Optional[float] = None, cancel: Optional[CancelToken] = None,
    ) -> None:
        """:meth:`libcontainerd.Client.create`, on the executor; cancelling the task
        undoes the container (see the module docs)."""
        await self._call(
            self.client.create,
            id,
            spec,
            runtime=runtime,
            restart_policy=restart_policy,
            image=image,
            snapshotter=snapshotter,
            timeout=timeout, cancel=cancel,
        )

    async def signal(self, id: str, sig: int, *, timeout: Optional[float] = None, cancel: Optional[CancelToken] = None) -> None:
        """:meth:`libcontainerd.Client.signal`, on the executor."""
        await self._call(self.client.signal, id, sig, timeout=timeout, cancel=cancel)

    async def signal_process(self, id: str, process_id: str, sig: int, *, timeout: Optional[float] = None, cancel: Optional[CancelToken] = None) -> None:
        """:meth:`libcontainerd.Client.signal_process`, on the executor."""
        await self._call(self.client.signal_process, id, process_id, sig, timeout=timeout, cancel=cancel)

    async def add_process(self, id: str, process_id: str, process: ProcessArg, *, timeout: Optional[float] = None, cancel: Optional[CancelToken] = None) -> None:
        """:meth:`libcontainerd.Client.add_process`, on the executor."""
        await self._call(self.client.add_process, id, process_id, process, timeout=timeout, cancel=cancel)

    async def resize(self, id: str, process_id: str, width: int, height: int, *, timeout: Optional[float] = None, cancel: Optional[CancelToken] = None) -> None:
        """:meth:`libcontainerd.Client.resize`, on the executor."""
        await self._call(self.client.resize, id, process_id, width, height, timeout=timeout, cancel=cancel)

    async def pause(self, id: str, *, timeout: Optional[float] = None, cancel: Optional[CancelToken] = None) -> None:
        """:meth:`libcontainerd.Client.pause`, on the executor."""
        await self._call(self.client.pause, id, timeout=timeout, cancel=cancel)

    async def resume(self, id: str, *, timeout: Optional[float] = None, cancel: Optional[CancelToken] = None) -> None:
        """:meth:`libcontainerd.Client.resume`, on the executor."""
        await self._call(self.client.resume, id, timeout=timeout, cancel=cancel)

    async def restore(
        self,
        id: str,
        *,
        runtime: RuntimeArg = None,
        restart_policy: RestartPolicyArg = None,
        timeout: Optional[float] = None, cancel: Optional[CancelToken] = None,
    ) -> None:
        """:meth:`libcontainerd.Client.restore`, on the executor."""
        await self._call(self.client.restore, id, runtime=runtime, restart_policy=restart_policy, timeout=timeout, cancel=cancel)

    async def stats(self, id: str, *, timeout: Optional[float] = None, cancel: Optional[CancelToken] = None) -> Stats:
        """:meth:`libcontainerd.Client.stats`, on the executor."""
        return await self._call(self.client.stats, id, timeout=timeout, cancel=cancel)

    async def get_pids(self, id: str, *, timeout: Optional[float] = None, cancel: Optional[CancelToken] = None) -> List[int]:
        """:meth:`libcontainerd.Client.get_pids`, on the executor."""
        return await self._call(self.client.get_pids, id, timeout=timeout, cancel=cancel)

    async def summary(self, id: str, *, timeout: Optional[float] = None, cancel: Optional[CancelToken] = None) -> List[ProcessSummary]:
        """:meth:`libcontainerd.Client.summary`, on the executor."""
        return await self._call(self.client.summary, id, timeout=timeout, cancel=cancel)

    async def update_resources(self, id: str, resources: ResourcesArg, *, timeout: Optional[float] = None, cancel: Optional[CancelToken] = None) -> None:
        """:meth:`libcontainerd.Client.update_resources`, on the executor."""
        await self._call(self.client.update_resources, id, resources, timeout=timeout, cancel=cancel)

    async def list(self, *, timeout: Optional[float] = None, cancel: Optional[CancelToken] = None) -> List[ContainerInfo]:
        """:meth:`libcontainerd.Client.list`, on the executor."""
        return await self._call(self.client.list, timeout=timeout, cancel=cancel)

    async def close(self) -> None:
        """:meth:`libcontainerd.Client.close`, on the executor: waits for callbacks in
        flight; every :meth:`events` stream then ends after the events it holds."""
        await self._runner.run(self.client.close)

    async def __aenter__(self) -> Client:
        """The client itself."""
        return self

    async def __aexit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        """Closes the client."""
        await self.close()
