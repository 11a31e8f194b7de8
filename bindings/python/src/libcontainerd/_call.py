"""Deadlines and cancellation of blocking calls: ``timeout=`` and ``cancel=`` turned
into the ``lcd_call`` of one library call."""

from __future__ import annotations

import math
import threading
from contextlib import contextmanager
from typing import Iterator, Optional, Set

from . import _lib
from .errors import InvalidArgument

__all__ = ["CancelToken", "scope"]


class CancelToken:
    """Cancels, from any thread, the blocking calls it is passed to as ``cancel=``.

    :meth:`cancel` makes every call under way with this token raise
    :class:`~libcontainerd.Cancelled` within 100 ms, and every later call given it
    raise :class:`~libcontainerd.Cancelled` at once, before it does anything. One token
    may serve any number of calls, on any threads (like a Go ``context.Context``);
    what a cancelled call leaves behind is stated by each method.
    """

    def __init__(self) -> None:
        """A token not cancelled yet."""
        self._lock = threading.Lock()
        self._calls: Set[int] = set()
        self._cancelled = False

    def cancel(self) -> None:
        """Cancels every call using this token, under way or to come. Idempotent;
        from any thread (also from a callback of the library)."""
        with self._lock:
            self._cancelled = True
            calls = list(self._calls)
            # Under the lock: a call's lcd_call is freed only after it left the set.
            for ptr in calls:
                _lib.lib().lcd_call_cancel(ptr)

    @property
    def cancelled(self) -> bool:
        """Whether :meth:`cancel` was called."""
        with self._lock:
            return self._cancelled

    def _attach(self, ptr: int) -> None:
        """Lets :meth:`cancel` reach the ``lcd_call`` ``ptr`` (cancelled at once if
        the token already is)."""
        with self._lock:
            self._calls.add(ptr)
            if self._cancelled:
                _lib.lib().lcd_call_cancel(ptr)

    def _detach(self, ptr: int) -> None:
        """Forgets ``ptr`` (before it is freed)."""
        with self._lock:
            self._calls.discard(ptr)

    def __repr__(self) -> str:
        """``CancelToken(cancelled=...)``."""
        return f"CancelToken(cancelled={self.cancelled})"


def timeout_ms(timeout: Optional[float]) -> int:
    """``timeout`` in seconds as the milliseconds of ``lcd_call_set_timeout_ms``,
    rounded up and at least 1 (0 there means no deadline); 0 for None.
    :class:`InvalidArgument` for a negative, NaN or non-number timeout."""
    if timeout is None:
        return 0
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise InvalidArgument(f"timeout must be a number of seconds or None, not {type(timeout).__name__}")
    if math.isnan(timeout) or timeout < 0:
        raise InvalidArgument(f"timeout {timeout} is negative or not a number")
    if math.isinf(timeout):
        return 0
    return max(1, min(math.ceil(timeout * 1000), 2**64 - 1))


@contextmanager
def scope(timeout: Optional[float], cancel: Optional[CancelToken]) -> Iterator[Optional[int]]:
    """The ``lcd_call *`` for one blocking call: None (the library's defaults) when
    neither ``timeout`` nor ``cancel`` is given, else a new one whose deadline is
    ``timeout`` seconds from now and which ``cancel`` reaches; freed afterwards."""
    ms = timeout_ms(timeout)
    if cancel is not None and not isinstance(cancel, CancelToken):
        raise InvalidArgument(f"cancel must be a CancelToken or None, not {type(cancel).__name__}")
    if ms == 0 and cancel is None:
        yield None
        return
    cdll = _lib.lib()
    ptr = cdll.lcd_call_new()
    if not ptr:
        raise MemoryError("lcd_call_new failed")
    try:
        if ms:
            cdll.lcd_call_set_timeout_ms(ptr, ms)
        if cancel is None:
            yield ptr
        else:
            cancel._attach(ptr)
            try:
                yield ptr
            finally:
                cancel._detach(ptr)
    finally:
        cdll.lcd_call_free(ptr)
