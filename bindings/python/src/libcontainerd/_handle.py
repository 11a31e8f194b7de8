"""A library handle shared by threads: calls may run concurrently, ``close`` may not
race with them (the C ABI's rule for every ``_free``)."""

from __future__ import annotations

import threading
import weakref
from contextlib import contextmanager
from types import TracebackType
from typing import Callable, Dict, Iterator, Optional, Type, TypeVar

from .errors import FailedPrecondition


class Handle:
    """An opaque library pointer with its ``_free``, guarded against use after free.

    :meth:`use` marks a call in flight; :meth:`close` refuses new calls, waits for the
    calls other threads have in flight, then frees the handle. Calls in flight on the
    closing thread itself (a callback closing its own client) are the library's to
    handle: it defers the free until they return.
    """

    def __init__(self, ptr: int, free: Callable[[int], None], what: str) -> None:
        """Guards ``ptr``, which ``free`` releases; ``what`` names it in errors."""
        self._ptr: Optional[int] = ptr
        self._free = free
        self._what = what
        self._cond = threading.Condition()
        self._inflight: Dict[int, int] = {}

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has begun."""
        with self._cond:
            return self._ptr is None

    @contextmanager
    def use(self) -> Iterator[int]:
        """The pointer, for the duration of one call; raises once the handle is closed."""
        me = threading.get_ident()
        with self._cond:
            if self._ptr is None:
                raise FailedPrecondition(f"the {self._what} is closed")
            ptr = self._ptr
            self._inflight[me] = self._inflight.get(me, 0) + 1
        try:
            yield ptr
        finally:
            with self._cond:
                n = self._inflight[me] - 1
                if n:
                    self._inflight[me] = n
                else:
                    del self._inflight[me]
                self._cond.notify_all()

    def close(self) -> None:
        """Frees the handle once other threads' calls returned; idempotent."""
        me = threading.get_ident()
        with self._cond:
            ptr = self._ptr
            if ptr is None:
                return
            self._ptr = None
            self._cond.wait_for(lambda: all(t == me for t in self._inflight))
        self._free(ptr)


_Owner = TypeVar("_Owner", bound="HandleOwner")


class HandleOwner:
    """A Python object owning a :class:`Handle`: ``close``, ``closed`` and the
    context-manager protocol, with a finalizer as a backstop for a forgotten close."""

    _handle: Handle

    def _own(self, handle: Handle) -> None:
        """Takes ``handle``; it is freed by :meth:`close` or, failing that, by the GC
        or at interpreter exit."""
        self._handle = handle
        self._finalizer = weakref.finalize(self, handle.close)

    def close(self) -> None:
        """Frees the handle once other threads' calls on it returned. Idempotent."""
        self._finalizer()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._handle.closed

    def __enter__(self: _Owner) -> _Owner:
        """The object itself."""
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        """Closes it."""
        self.close()
