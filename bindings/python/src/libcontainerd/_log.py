"""The C library's log records, on ``logging.getLogger("libcontainerd")``.

As soon as the library is loaded, a log callback (``lcd_log_set_callback``) is
installed at the level the ``libcontainerd`` logger is enabled for, with no set-up by
the user: out of the box (the root logger at ``WARNING``) warnings and errors, such as
containerd dying and being relaunched, reach ``logging``'s last-resort handler on
stderr; ``logging.basicConfig(level=logging.DEBUG)`` or
``logging.getLogger("libcontainerd").setLevel(logging.DEBUG)`` brings lifecycle
records. A change of the logger's level takes effect at the next call into the
library (or at :func:`sync_level`).

Records arrive from a thread the library owns, in order, as records of the
``libcontainerd`` logger with an extra attribute ``target`` naming the part of the
library that logged (e.g. ``containerd::remote::supervisor``). A slow handler never
delays the library's calls or events; when it falls behind by more than 4096 records,
newer ones are dropped and a warning says how many.
"""

from __future__ import annotations

import atexit
import ctypes
import logging
import threading
from typing import Any, Optional

#: The logger that receives the library's records.
LOGGER_NAME = "libcontainerd"

#: ``void (*lcd_log_fn)(void *user_data, int32_t level, const char *target, const char *message)``
LOG_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int32, ctypes.c_char_p, ctypes.c_char_p)

#: The library's levels (1 error … 5 trace) as ``logging`` levels; trace is 5.
TRACE = 5
_PY_LEVELS = {1: logging.ERROR, 2: logging.WARNING, 3: logging.INFO, 4: logging.DEBUG, 5: TRACE}

_logger = logging.getLogger(LOGGER_NAME)
_lock = threading.Lock()
_cdll: Optional[ctypes.CDLL] = None
_installed_level = -1  # the max_level last given to the library


def _on_record(_user_data: Any, level: int, target: Optional[bytes], message: Optional[bytes]) -> None:
    """The callback (on the library's log thread): one record to the logger."""
    try:
        py_level = _PY_LEVELS.get(int(level))
        if py_level is None or not _logger.isEnabledFor(py_level):
            return
        text = message.decode("utf-8", "replace") if message is not None else ""
        origin = target.decode("utf-8", "replace") if target is not None else ""
        _logger.log(py_level, "%s", text, extra={"target": origin})
    except Exception:  # noqa: BLE001 - nothing may propagate into C
        pass


# Kept for the life of the process: the library may call it at any time.
_CALLBACK = LOG_FN(_on_record)


def _wanted_level() -> int:
    """The library level matching what the logger is enabled for (0: nothing)."""
    for lib_level in (5, 4, 3, 2, 1):
        if _logger.isEnabledFor(_PY_LEVELS[lib_level]):
            return lib_level
    return 0


def _set(level: int) -> None:
    """Installs the callback at ``level`` (0 turns it off); caller holds ``_lock``."""
    global _installed_level
    assert _cdll is not None
    fn = _cdll.lcd_log_set_callback
    err = fn(level, _CALLBACK if level > 0 else LOG_FN(), None)
    if err:
        _cdll.lcd_error_free(err)
        return
    _installed_level = level


def attach(cdll: ctypes.CDLL) -> None:
    """Starts forwarding for a freshly loaded library (called once by ``_lib.load``)."""
    global _cdll
    cdll.lcd_log_set_callback.restype = ctypes.c_void_p
    cdll.lcd_log_set_callback.argtypes = [ctypes.c_int32, LOG_FN, ctypes.c_void_p]
    with _lock:
        _cdll = cdll
        _set(_wanted_level())
    atexit.register(detach)


def sync_level() -> None:
    """Re-reads the ``libcontainerd`` logger's effective level and forwards accordingly."""
    if _cdll is None:
        return
    want = _wanted_level()
    if want == _installed_level:
        return
    with _lock:
        if want != _installed_level:
            _set(want)


def detach() -> None:
    """Stops forwarding (at interpreter exit: no call into a finalizing interpreter)."""
    with _lock:
        if _cdll is not None and _installed_level != 0:
            _set(0)
