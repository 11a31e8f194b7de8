"""Backends: where a client's state changes and process stdio go.

Subclass :class:`Backend` and override :meth:`Backend.state_changed` and/or
:meth:`Backend.attach_streams`, or use :class:`CollectingBackend`, which records every
event and every process's output and lets you wait for them.
"""

from __future__ import annotations

import enum
import os
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import BinaryIO, Callable, Dict, Iterator, List, Optional, Tuple, Union

__all__ = [
    "State",
    "StateInfo",
    "IOPipe",
    "Backend",
    "Event",
    "Output",
    "CollectingBackend",
]


class State(str, enum.Enum):
    """The values of :attr:`StateInfo.state` (``LCD_STATE_*``); each equals its string."""

    #: The container's init process started (a new run).
    START_CONTAINER = "start-container"
    #: The container was frozen.
    PAUSE = "pause"
    #: The container was thawed.
    RESUME = "resume"
    #: The container's init process exited; the id is free again.
    EXIT = "exit"
    #: The container exited and its restart policy restarts it.
    RESTART = "restart"
    #: A running container was re-adopted by :meth:`Client.restore`.
    RESTORE = "restore"
    #: An exec process started.
    START_PROCESS = "start-process"
    #: An exec process exited.
    EXIT_PROCESS = "exit-process"
    #: A process in the container was killed by the OOM killer.
    OOM = "oom"

    def __str__(self) -> str:
        """The wire name, e.g. ``"start-container"``."""
        return str(self.value)


@dataclass(frozen=True)
class StateInfo:
    """A state change of a container or one of its processes (``lcd_state_info``)."""

    #: One of the :class:`State` values (a ``str``; a newer library may add others).
    state: str
    #: Host pid of the process concerned (0 when unknown).
    pid: int
    #: Exit code (exits only).
    exit_code: int
    #: ``"init"`` for the container's first process, else the exec's process id.
    process_id: str
    #: Whether the OOM killer struck during this run (exits only).
    oom_killed: bool
    #: When the process exited, in nanoseconds since the Unix epoch; 0 unless an exit.
    exited_at_unix_nano: int

    @property
    def exited_at(self) -> Optional[datetime]:
        """:attr:`exited_at_unix_nano` as an aware UTC datetime; None unless an exit."""
        if self.exited_at_unix_nano == 0:
            return None
        return datetime.fromtimestamp(self.exited_at_unix_nano / 1e9, tz=timezone.utc)


def _state(value: str) -> str:
    """The :class:`State` member for a wire name, or the name itself if unknown."""
    try:
        return State(value)
    except ValueError:
        return value


def _drain(stream: BinaryIO) -> None:
    """Reads ``stream`` to its end, discarding what it reads, then closes it."""
    try:
        while stream.read(65536):
            pass
    except (OSError, ValueError):
        pass
    finally:
        try:
            stream.close()
        except OSError:
            pass


class IOPipe:
    """A process's stdio, handed to :meth:`Backend.attach_streams`.

    The streams are unbuffered binary file objects (``read(n)`` returns what is
    available) made from the descriptors the library hands over, and they are the backend's from then on: close each one when done
    (closing :attr:`stdin` delivers EOF to the process). Keep reading :attr:`stdout`
    and :attr:`stderr` until they end: a process whose output nobody reads blocks, and
    the library stops waiting for a reader that makes no progress for 2 s.
    """

    def __init__(
        self, stdin: BinaryIO, stdout: BinaryIO, stderr: Optional[BinaryIO], terminal: bool
    ) -> None:
        """Wraps already opened streams (see :meth:`from_fds`)."""
        #: Write end of the process's stdin; closing it delivers EOF.
        self.stdin: BinaryIO = stdin
        #: Read end of the process's stdout (with a terminal: the terminal's output).
        self.stdout: BinaryIO = stdout
        #: Read end of the process's stderr; None with a terminal.
        self.stderr: Optional[BinaryIO] = stderr
        #: Whether the process has a terminal.
        self.terminal: bool = terminal

    @classmethod
    def from_fds(cls, stdin_fd: int, stdout_fd: int, stderr_fd: int, terminal: bool) -> IOPipe:
        """Takes ownership of the descriptors of an ``lcd_io_pipe`` (-1: absent).

        Every descriptor is either wrapped or closed, even if this raises.
        """
        fds = [stdin_fd, stdout_fd, stderr_fd]
        opened: List[BinaryIO] = []
        try:
            stdin = open(stdin_fd, "wb", buffering=0)
            opened.append(stdin)
            stdout = open(stdout_fd, "rb", buffering=0)
            opened.append(stdout)
            stderr = open(stderr_fd, "rb", buffering=0) if stderr_fd >= 0 else None
        except BaseException:
            for f in opened:
                f.close()
            for fd in fds[len(opened):]:
                if fd >= 0:
                    try:
                        os.close(fd)
                    except OSError:
                        pass
            raise
        return cls(stdin, stdout, stderr, terminal)

    def streams(self) -> Tuple[BinaryIO, ...]:
        """Every stream present: stdin, stdout and (without a terminal) stderr."""
        if self.stderr is None:
            return (self.stdin, self.stdout)
        return (self.stdin, self.stdout, self.stderr)

    def close(self) -> None:
        """Closes every stream (idempotent)."""
        for s in self.streams():
            try:
                s.close()
            except OSError:
                pass

    def discard(self) -> None:
        """Closes stdin and reads the output away on background threads."""
        try:
            self.stdin.close()
        except OSError:
            pass
        outputs = [self.stdout] + ([self.stderr] if self.stderr is not None else [])
        for s in outputs:
            threading.Thread(target=_drain, args=(s,), name="libcontainerd-discard", daemon=True).start()


class Backend:
    """Receives a client's events and process stdio; subclass it and override.

    Both callbacks run on several threads, concurrently: :meth:`state_changed` on the
    library's threads (one container's events one at a time and in order, different
    containers' at once), :meth:`attach_streams` on the thread of the call that starts
    the process (a library thread for a restart). Both may call back into the client.

    An exception raised by a callback is logged (logger ``"libcontainerd"``) and
    returned to the library as an error: a :class:`~libcontainerd.LibcontainerdError`
    keeps its code, anything else becomes ``INTERNAL``. From :meth:`attach_streams`
    it fails the call that started the process (and the binding closes the streams);
    from :meth:`state_changed` it is ignored after logging.

    A method that is not overridden is not registered with the library at all: events
    are then ignored, and stdin is closed and output discarded by the library itself.
    """

    def state_changed(self, container_id: str, info: StateInfo) -> None:
        """A container or one of its processes changed state (see :class:`State`)."""

    def attach_streams(self, container_id: str, process_id: str, io: IOPipe) -> None:
        """Takes over a process's stdio, before it starts; the streams are yours.

        Read ``io.stdout`` and ``io.stderr`` to their end (or call ``io.discard()``):
        output nobody reads blocks the process. The default closes stdin and discards
        the output (a backend that does not override this gets the library to do so).
        """
        io.discard()

    def client_closed(self) -> None:
        """Called once when the client is closed, after its last callback returned."""


@dataclass(frozen=True)
class Event:
    """A recorded state change: which container, and the :class:`StateInfo`."""

    #: The container's id.
    container_id: str
    #: What happened.
    info: StateInfo
    #: :func:`time.monotonic` when it was recorded.
    at: float = field(default=0.0, compare=False)

    @property
    def state(self) -> str:
        """Shorthand for ``info.state``."""
        return self.info.state


@dataclass
class Output:
    """What one process wrote, as captured by :class:`CollectingBackend`."""

    #: Everything read from stdout (or the terminal) so far.
    stdout: bytes = b""
    #: Everything read from stderr so far (empty with a terminal).
    stderr: bytes = b""
    #: Whether the process has a terminal.
    terminal: bool = False
    #: Whether stdout and stderr reached their end.
    closed: bool = False


class _Capture:
    """The streams and collected output of one attached process (guarded by the backend's lock)."""

    def __init__(self, io: IOPipe) -> None:
        self.io = io
        self.stdin: Optional[BinaryIO] = io.stdin
        self.out = bytearray()
        self.err = bytearray()
        self.open_streams = 2 if io.stderr is not None else 1


#: Whether :class:`CollectingBackend` keeps a process's stdin open: for every process,
#: or as a function of ``(container_id, process_id)``.
KeepStdin = Union[bool, Callable[[str, str], bool]]


class CollectingBackend(Backend):
    """A ready-made backend: records every event and collects every process's output.

    >>> backend = CollectingBackend()
    >>> client = remote.client(backend)                        # doctest: +SKIP
    >>> client.create("hello", spec)                           # doctest: +SKIP
    >>> backend.wait_for("hello", State.EXIT).exit_code        # doctest: +SKIP
    0

    ``keep_stdin`` says whether a process's stdin stays open for :meth:`stdin` (True,
    or a function of ``(container_id, process_id)``); by default it is closed at once,
    so a process reading stdin sees EOF. The output of each run is collected on
    background threads; :meth:`output` returns it. Every method is thread-safe.

    It keeps every event and every byte for as long as it lives, and serves one
    client: meant for tests, scripts and short-lived tools. A long-running program
    subclasses :class:`Backend` instead.
    """

    def __init__(self, keep_stdin: KeepStdin = False) -> None:
        """A backend that closes stdin unless ``keep_stdin`` says otherwise."""
        #: Whether to keep stdin open: a bool or a function of (container, process).
        self.keep_stdin: KeepStdin = keep_stdin
        self._cond = threading.Condition()
        self._events: List[Event] = []
        self._captures: Dict[Tuple[str, str], _Capture] = {}
        self._closed = False

    # -- Backend -----------------------------------------------------------------

    def state_changed(self, container_id: str, info: StateInfo) -> None:
        """Records the event and wakes every waiter."""
        with self._cond:
            self._events.append(Event(container_id, info, time.monotonic()))
            self._cond.notify_all()

    def attach_streams(self, container_id: str, process_id: str, io: IOPipe) -> None:
        """Starts collecting the process's output; keeps or closes its stdin."""
        keep = self.keep_stdin
        keep_it = keep(container_id, process_id) if callable(keep) else bool(keep)
        cap = _Capture(io)
        if not keep_it:
            io.stdin.close()
            cap.stdin = None
        with self._cond:
            # A restarted run or a reused exec id replaces the previous capture.
            self._captures[(container_id, process_id)] = cap
        self._reader(cap, io.stdout, cap.out)
        if io.stderr is not None:
            self._reader(cap, io.stderr, cap.err)

    def client_closed(self) -> None:
        """Ends every :meth:`events` iterator once it has yielded what was recorded."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    # -- collected output --------------------------------------------------------

    def _reader(self, cap: _Capture, stream: BinaryIO, into: bytearray) -> None:
        def run() -> None:
            try:
                while True:
                    chunk = stream.read(65536)
                    if not chunk:
                        break
                    with self._cond:
                        into.extend(chunk)
                        self._cond.notify_all()
            except (OSError, ValueError):
                pass  # the terminal's EIO at its end, or a stream closed under us
            finally:
                try:
                    stream.close()
                except OSError:
                    pass
                with self._cond:
                    cap.open_streams -= 1
                    self._cond.notify_all()

        threading.Thread(target=run, name="libcontainerd-output", daemon=True).start()

    def _capture(self, container_id: str, process_id: str) -> _Capture:
        cap = self._captures.get((container_id, process_id))
        if cap is None:
            raise KeyError(f"no process {process_id!r} of container {container_id!r} was attached")
        return cap

    @staticmethod
    def _snapshot(cap: _Capture) -> Output:
        return Output(bytes(cap.out), bytes(cap.err), cap.io.terminal, cap.open_streams == 0)

    def output(self, container_id: str, process_id: str = "init") -> Output:
        """What the last attached run of the process wrote so far.

        Raises :class:`KeyError` if the process was never attached.
        """
        with self._cond:
            return self._snapshot(self._capture(container_id, process_id))

    def wait_output(
        self, container_id: str, process_id: str = "init", timeout: float = 30.0
    ) -> Output:
        """Waits until the process's output streams ended, then returns all of it.

        Raises :class:`TimeoutError` after ``timeout`` seconds.
        """
        with self._cond:
            if not self._cond.wait_for(
                lambda: (container_id, process_id) in self._captures
                and self._captures[(container_id, process_id)].open_streams == 0,
                timeout,
            ):
                raise TimeoutError(
                    f"output of {container_id}/{process_id} did not end within {timeout} s"
                )
            return self._snapshot(self._capture(container_id, process_id))

    def wait_stdout_contains(
        self, container_id: str, needle: bytes, process_id: str = "init", timeout: float = 30.0
    ) -> bytes:
        """Waits until the process's stdout contains ``needle``; returns the stdout."""
        def has() -> bool:
            cap = self._captures.get((container_id, process_id))
            return cap is not None and needle in cap.out

        with self._cond:
            if not self._cond.wait_for(has, timeout):
                got = self._captures.get((container_id, process_id))
                raise TimeoutError(
                    f"stdout of {container_id}/{process_id} lacks {needle!r} after {timeout} s: "
                    f"{bytes(got.out) if got else b''!r}"
                )
            return bytes(self._capture(container_id, process_id).out)

    def stdin(self, container_id: str, process_id: str = "init") -> BinaryIO:
        """The stdin of a process attached while ``keep_stdin`` said to keep it.

        Close it to deliver EOF. Raises :class:`KeyError` if there is none.
        """
        with self._cond:
            s = self._capture(container_id, process_id).stdin
        if s is None:
            raise KeyError(f"stdin of {container_id}/{process_id} was not kept")
        return s

    def close_streams(self) -> None:
        """Closes every kept stdin (the processes see EOF)."""
        with self._cond:
            caps = list(self._captures.values())
        for cap in caps:
            if cap.stdin is not None:
                try:
                    cap.stdin.close()
                except OSError:
                    pass

    # -- events ------------------------------------------------------------------

    def history(self, container_id: Optional[str] = None) -> List[Event]:
        """Every event recorded so far, of one container or of all, in order."""
        with self._cond:
            return [e for e in self._events if container_id is None or e.container_id == container_id]

    def states(self, container_id: str) -> List[str]:
        """The states a container went through so far, in order."""
        return [e.state for e in self.history(container_id)]

    def count(self, container_id: str, state: str, process_id: Optional[str] = None) -> int:
        """How many events ``state`` (of ``process_id``, if given) a container had."""
        return len(self._matching(container_id, state, process_id))

    def _matching(self, container_id: str, state: str, process_id: Optional[str]) -> List[Event]:
        with self._cond:
            return [
                e
                for e in self._events
                if e.container_id == container_id
                and e.info.state == state
                and (process_id is None or e.info.process_id == process_id)
            ]

    def wait_for(
        self,
        container_id: str,
        state: str,
        timeout: float = 30.0,
        *,
        process_id: Optional[str] = None,
        nth: int = 1,
    ) -> StateInfo:
        """Waits for the ``nth`` event ``state`` of a container (and process) and returns it.

        Events recorded before the call count. Raises :class:`TimeoutError` after
        ``timeout`` seconds, listing the container's events so far.
        """
        def found() -> Optional[Event]:
            seen = 0
            for e in self._events:
                if (
                    e.container_id == container_id
                    and e.info.state == state
                    and (process_id is None or e.info.process_id == process_id)
                ):
                    seen += 1
                    if seen == nth:
                        return e
            return None

        with self._cond:
            ev = self._cond.wait_for(found, timeout)
            if ev is None:
                states = [f"{e.info.state}({e.info.process_id})" for e in self._events if e.container_id == container_id]
                raise TimeoutError(
                    f"no {state!s} #{nth} of {container_id}"
                    + (f"/{process_id}" if process_id else "")
                    + f" within {timeout} s; its events: {states}"
                )
            return ev.info

    def events(
        self, container_id: Optional[str] = None, *, timeout: Optional[float] = None
    ) -> Iterator[Event]:
        """Iterates over the events, of one container or of all, as they arrive.

        Starts with those already recorded, then blocks for new ones. Ends when the
        client is closed, or when ``timeout`` seconds pass without a new event.
        """
        i = 0
        while True:
            with self._cond:
                def ready() -> bool:
                    return i < len(self._events) or self._closed

                if not self._cond.wait_for(ready, timeout) or i >= len(self._events):
                    return
                ev = self._events[i]
            i += 1
            if container_id is None or ev.container_id == container_id:
                yield ev
