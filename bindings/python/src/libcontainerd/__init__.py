"""libcontainerd: container lifecycle management on containerd, from Python.

A thin ctypes binding of the libcontainerd C library. A :class:`Remote` is the access
point to containerd (optionally a daemon the library starts and supervises), a
:class:`Client` creates and drives containers, and a :class:`Backend` receives their
ordered state changes and every process's stdio::

    import libcontainerd as lcd

    backend = lcd.CollectingBackend()
    with lcd.Remote(state_dir="/run/my-app") as remote, remote.client(backend) as client:
        client.create("hello", spec)          # spec: an OCI runtime spec (a dict)
        print(backend.wait_for("hello", lcd.State.EXIT).exit_code)
        print(backend.wait_output("hello").stdout)

The shared library is found at ``$LIBCONTAINERD_LIB``, else the copy bundled in
this package, else the system's (``ctypes.util.find_library``); a library with
another C ABI version is refused with :class:`AbiMismatch`. Its log records go to
``logging.getLogger("libcontainerd")`` at that logger's effective level.
"""

from __future__ import annotations

from . import _lib
from ._call import CancelToken
from .backend import Backend, CollectingBackend, Event, IOPipe, Output, State, StateInfo
from .client import (
    Client,
    ContainerInfo,
    ProcessStatus,
    ProcessSummary,
    RestartPolicy,
    Runtime,
)
from .errors import (
    AbiMismatch,
    AlreadyExists,
    Cancelled,
    DeadlineExceeded,
    FailedPrecondition,
    Internal,
    InvalidArgument,
    IoError,
    LibcontainerdError,
    LibraryNotFound,
    NotFound,
    PermissionDenied,
    Unavailable,
    Unsupported,
    error_class,
)
from .images import Image, ImageConfig, PullProgress
from .remote import DEFAULT_NAMESPACE, DEFAULT_STATE_DIR, Remote
from .spec import default_spec
from .types import ContainerEntry, ExecProcess, Resources, Spec, Stats, SummaryEntry

__version__ = "0.1.0"

#: The C ABI version this package needs (``LCD_ABI_VERSION``).
ABI_VERSION = _lib.ABI_VERSION

__all__ = [
    "ABI_VERSION",
    "AbiMismatch",
    "AlreadyExists",
    "Backend",
    "CancelToken",
    "Cancelled",
    "Client",
    "CollectingBackend",
    "ContainerEntry",
    "ContainerInfo",
    "DEFAULT_NAMESPACE",
    "DEFAULT_STATE_DIR",
    "DeadlineExceeded",
    "Event",
    "ExecProcess",
    "FailedPrecondition",
    "IOPipe",
    "Internal",
    "InvalidArgument",
    "IoError",
    "LibcontainerdError",
    "LibraryNotFound",
    "NotFound",
    "Image",
    "ImageConfig",
    "Output",
    "PermissionDenied",
    "ProcessStatus",
    "ProcessSummary",
    "PullProgress",
    "Remote",
    "Resources",
    "RestartPolicy",
    "Runtime",
    "Spec",
    "State",
    "StateInfo",
    "Stats",
    "SummaryEntry",
    "Unavailable",
    "Unsupported",
    "default_spec",
    "error_class",
    "library_path",
    "library_version",
]


def library_path() -> str:
    """The path of the loaded C library (loading it if needed)."""
    return _lib.load()[1]


def library_version() -> str:
    """The loaded C library's version, e.g. ``"0.1.0"`` (``lcd_version()``)."""
    raw = _lib.lib().lcd_version()
    return raw.decode("utf-8") if raw is not None else ""
