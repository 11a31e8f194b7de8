"""Finding, loading and declaring the C library (``libcontainerd.so``).

The library is looked up, in order, at ``$LIBCONTAINERD_LIB`` (then the only
candidate), the copy bundled inside this package (a wheel carries one), and the
system's (``ctypes.util.find_library("containerd")``, e.g. ``libcontainerd.so.2``
installed by ``make install``, then the dynamic linker's search of
``libcontainerd.so``). It is loaded with :class:`ctypes.CDLL`, so every blocking call
releases the GIL; loading it starts forwarding its log records (see ``_log``).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import threading
from pathlib import Path
from typing import Any, Callable, List, Optional, Tuple

from . import _log
from .errors import AbiMismatch, InvalidArgument, LibraryNotFound, error_class

#: The C ABI version this package is written against (``LCD_ABI_VERSION``).
ABI_VERSION = 2

#: The file name of the shared library.
LIBRARY_NAME = "libcontainerd.so"

#: The environment variable naming the library file to load.
LIBRARY_ENV = "LIBCONTAINERD_LIB"


class StateInfoC(ctypes.Structure):
    """``lcd_state_info``."""

    _fields_ = [
        ("state", ctypes.c_char_p),
        ("pid", ctypes.c_uint32),
        ("exit_code", ctypes.c_uint32),
        ("process_id", ctypes.c_char_p),
        ("oom_killed", ctypes.c_bool),
        ("exited_at_unix_nano", ctypes.c_int64),
    ]


class IOPipeC(ctypes.Structure):
    """``lcd_io_pipe``."""

    _fields_ = [
        ("stdin_fd", ctypes.c_int),
        ("stdout_fd", ctypes.c_int),
        ("stderr_fd", ctypes.c_int),
        ("terminal", ctypes.c_bool),
    ]


#: ``lcd_error *(*state_changed)(void *, const char *, const lcd_state_info *)``
STATE_CHANGED = ctypes.CFUNCTYPE(
    ctypes.c_void_p, ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(StateInfoC)
)
#: ``lcd_error *(*attach_streams)(void *, const char *, const char *, const lcd_io_pipe *)``
ATTACH_STREAMS = ctypes.CFUNCTYPE(
    ctypes.c_void_p,
    ctypes.c_void_p,
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.POINTER(IOPipeC),
)
#: ``void (*user_data_free)(void *)``
USER_DATA_FREE = ctypes.CFUNCTYPE(None, ctypes.c_void_p)


class BackendC(ctypes.Structure):
    """``lcd_backend``."""

    _fields_ = [
        ("struct_size", ctypes.c_uint32),
        ("user_data", ctypes.c_void_p),
        ("state_changed", STATE_CHANGED),
        ("attach_streams", ATTACH_STREAMS),
        ("user_data_free", USER_DATA_FREE),
    ]


_P = ctypes.c_void_p
_S = ctypes.c_char_p
_OUT = ctypes.POINTER(ctypes.c_void_p)

# name: (restype, argtypes). Handles and errors travel as void pointers.
_PROTOTYPES: dict[str, Tuple[Any, List[Any]]] = {
    "lcd_error_new": (_P, [ctypes.c_int32, _S]),
    "lcd_error_code": (ctypes.c_int, [_P]),
    "lcd_error_message": (_S, [_P]),
    "lcd_error_free": (None, [_P]),
    "lcd_code_name": (_S, [ctypes.c_int32]),
    "lcd_string_free": (None, [_P]),
    "lcd_version": (_S, []),
    "lcd_abi_version": (ctypes.c_uint32, []),
    "lcd_call_new": (_P, []),
    "lcd_call_set_timeout_ms": (None, [_P, ctypes.c_uint64]),
    "lcd_call_cancel": (None, [_P]),
    "lcd_call_free": (None, [_P]),
    # Every call that can block takes a trailing ``const lcd_call *`` (NULL: none).
    "lcd_remote_new": (_P, [_S, _OUT, _P]),
    "lcd_remote_update_options": (_P, [_P, _S]),
    "lcd_remote_client": (_P, [_P, ctypes.POINTER(BackendC), _OUT, _P]),
    "lcd_remote_cleanup": (_P, [_P, _P]),
    "lcd_remote_free": (None, [_P]),
    "lcd_client_create": (_P, [_P, _S, _S, _S, _P]),
    "lcd_client_signal": (_P, [_P, _S, ctypes.c_int, _P]),
    "lcd_client_signal_process": (_P, [_P, _S, _S, ctypes.c_int, _P]),
    "lcd_client_add_process": (_P, [_P, _S, _S, _S, _P]),
    "lcd_client_resize": (_P, [_P, _S, _S, ctypes.c_uint32, ctypes.c_uint32, _P]),
    "lcd_client_pause": (_P, [_P, _S, _P]),
    "lcd_client_resume": (_P, [_P, _S, _P]),
    "lcd_client_restore": (_P, [_P, _S, _S, _P]),
    "lcd_client_stats": (_P, [_P, _S, _OUT, _P]),
    "lcd_client_get_pids": (_P, [_P, _S, _OUT, _P]),
    "lcd_client_summary": (_P, [_P, _S, _OUT, _P]),
    "lcd_client_update_resources": (_P, [_P, _S, _S, _P]),
    "lcd_client_list": (_P, [_P, _OUT, _P]),
    "lcd_client_free": (None, [_P]),
    "lcd_client_stop": (_P, [_P, _S, ctypes.c_int, ctypes.c_uint32, _P]),
    "lcd_client_update_restart_policy": (_P, [_P, _S, _S, _P]),
    "lcd_spec_default": (_P, [_S, _OUT]),
    "lcd_log_set_callback": (_P, [ctypes.c_int32, _P, _P]),
}


def _candidates() -> List[Tuple[str, str]]:
    """Where to look for the library, in order, each with a note on where it came from."""
    found: List[Tuple[str, str]] = []
    env = os.environ.get(LIBRARY_ENV, "")
    if env:
        # An explicit choice is the only candidate: falling back would hide a typo.
        return [(env, f"${LIBRARY_ENV}")]
    here = Path(__file__).resolve().parent
    found.append((str(here / LIBRARY_NAME), "the copy bundled in the package"))
    system = ctypes.util.find_library("containerd")
    if system:
        found.append((system, "the system's (ctypes.util.find_library)"))
    found.append((LIBRARY_NAME, "the dynamic linker's search path"))
    return found


def _declare(cdll: ctypes.CDLL) -> None:
    """Sets the argument and result types of every function the package uses."""
    for name, (restype, argtypes) in _PROTOTYPES.items():
        fn = getattr(cdll, name)
        fn.restype = restype
        fn.argtypes = argtypes


def _open(path: str, origin: str) -> ctypes.CDLL:
    """Loads the library at ``path`` and checks its ABI version."""
    cdll = ctypes.CDLL(path)
    try:
        abi = cdll.lcd_abi_version
    except AttributeError:
        raise AbiMismatch(
            f"{path} (from {origin}) is not libcontainerd: it has no lcd_abi_version"
        ) from None
    abi.restype = ctypes.c_uint32
    abi.argtypes = []
    got = int(abi())
    if got != ABI_VERSION:
        raise AbiMismatch(
            f"{path} (from {origin}) has C ABI version {got}, but this libcontainerd "
            f"Python package needs version {ABI_VERSION}: use a matching library "
            f"(rebuild it with `cargo build --release`, or point ${LIBRARY_ENV} at one) "
            f"or a matching package"
        )
    _declare(cdll)
    return cdll


_lock = threading.Lock()
_loaded: Optional[Tuple[ctypes.CDLL, str]] = None


def load() -> Tuple[ctypes.CDLL, str]:
    """The loaded library and its path, loading it on first use.

    Raises :class:`LibraryNotFound` if no candidate loads (naming each one tried and
    why it failed) and :class:`AbiMismatch` if the library found has another ABI.
    """
    global _loaded
    with _lock:
        if _loaded is not None:
            return _loaded
        tried: List[str] = []
        for path, origin in _candidates():
            is_file_name = os.sep not in path
            if not is_file_name and not os.path.exists(path):
                tried.append(f"{path} ({origin}): no such file")
                continue
            try:
                cdll = _open(path, origin)
            except OSError as e:
                tried.append(f"{path} ({origin}): {e}")
                continue
            _loaded = (cdll, path)
            _log.attach(cdll)
            return _loaded
        raise LibraryNotFound(
            "cannot load libcontainerd: install a wheel that bundles it, install the C "
            f"library (`make install`), or set ${LIBRARY_ENV} to the path of "
            f"{LIBRARY_NAME}. Tried:\n  " + "\n  ".join(tried)
        )


def lib() -> ctypes.CDLL:
    """The loaded library (see :func:`load`); follows a change of the
    ``libcontainerd`` logger's level (see ``_log``)."""
    cdll = load()[0]
    _log.sync_level()
    return cdll


def take_error(err: Optional[int]) -> Optional[Exception]:
    """Turns an ``lcd_error *`` into an exception (freeing it); None for NULL."""
    if not err:
        return None
    cdll = lib()
    try:
        code = int(cdll.lcd_error_code(err))
        raw = cdll.lcd_error_message(err)
        message = raw.decode("utf-8", "replace") if raw is not None else ""
    finally:
        cdll.lcd_error_free(err)
    return error_class(code)(message, code)


def check(err: Optional[int]) -> None:
    """Raises the exception for an ``lcd_error *`` (freeing it); nothing for NULL."""
    exc = take_error(err)
    if exc is not None:
        raise exc


def call_json(
    fn: Callable[..., Optional[int]], *args: Any, call: Optional[int] = None, takes_call: bool = True
) -> Any:
    """Calls ``fn(*args, &out, call)`` (``fn(*args, &out)`` unless ``takes_call``),
    which returns a JSON string, and decodes it."""
    out = ctypes.c_void_p()
    check(fn(*args, ctypes.byref(out), call) if takes_call else fn(*args, ctypes.byref(out)))
    if not out.value:
        return None
    try:
        text = ctypes.string_at(out.value)
    finally:
        lib().lcd_string_free(out.value)
    return json.loads(text)


def c_str(value: str) -> bytes:
    """A Python string as the NUL-terminated UTF-8 the library expects."""
    return value.encode("utf-8")


def c_int(value: int, name: str, lo: int = -(2**31), hi: int = 2**31 - 1) -> int:
    """``value`` checked to fit a C integer in ``lo..hi`` (ctypes would silently cut
    it: ``2**32 + 15`` would become 15, SIGTERM); :class:`InvalidArgument` if not an
    integer or out of range. ``bool`` is refused too."""
    if isinstance(value, bool):
        raise InvalidArgument(f"{name} must be an integer, not bool")
    if not isinstance(value, int):
        try:
            value = value.__index__()
        except (AttributeError, TypeError):
            raise InvalidArgument(f"{name} must be an integer, not {type(value).__name__}") from None
    if not lo <= value <= hi:
        raise InvalidArgument(f"{name} {value} is outside {lo}..{hi}")
    return value


#: Largest value of a C ``uint32_t``.
UINT32_MAX = 2**32 - 1


def to_json(value: Any) -> bytes:
    """A value as UTF-8 JSON for the library."""
    return json.dumps(value, separators=(",", ":")).encode("utf-8")
