"""Exceptions: one class per ``lcd_code``, all under :class:`LibcontainerdError`.

The numeric codes are the C ABI's ``lcd_code`` values (stable, never reused). Some
classes also derive from the built-in exception with the same meaning, so that
``except LookupError`` or ``except TimeoutError`` catch them too.
"""

from __future__ import annotations

import re
from typing import ClassVar, Dict, Type

__all__ = [
    "LibcontainerdError",
    "InvalidArgument",
    "NotFound",
    "AlreadyExists",
    "FailedPrecondition",
    "Unavailable",
    "DeadlineExceeded",
    "Cancelled",
    "IoError",
    "Internal",
    "Unsupported",
    "PermissionDenied",
    "LibraryNotFound",
    "AbiMismatch",
    "error_class",
]


#: The ``errno`` in a message of the library (Rust's ``io::Error`` display).
_OS_ERROR = re.compile(r"\(os error (\d+)\)")


class LibcontainerdError(Exception):
    """An error reported by libcontainerd: a stable :attr:`code` and a message.

    Raising one of these from a :class:`~libcontainerd.Backend` callback hands its
    code and message to the library (an ``attach_streams`` error fails the call that
    started the process with that same class).
    """

    #: The ``lcd_code`` of this class (``INTERNAL`` for the base class).
    CODE: ClassVar[int] = 9
    #: The upper-case name of :attr:`CODE`, as ``lcd_code_name`` gives it.
    CODE_NAME: ClassVar[str] = "INTERNAL"

    def __init__(self, message: str = "", code: int | None = None) -> None:
        """An error with ``message``; ``code`` defaults to the class's :attr:`CODE`."""
        super().__init__(message)
        #: The error's message (without the code).
        self.message: str = message
        #: The error's ``lcd_code`` value.
        self.code: int = self.CODE if code is None else code

    def __str__(self) -> str:
        """``"NAME: message"``, e.g. ``"NOT_FOUND: container x not found"``."""
        cls = _BY_CODE.get(self.code)
        name = cls.CODE_NAME if cls is not None else f"CODE_{self.code}"
        return f"{name}: {self.message}" if self.message else name


class InvalidArgument(LibcontainerdError, ValueError):
    """Something malformed was passed: a bad id, bad JSON, an unknown key (code 1)."""

    CODE = 1
    CODE_NAME = "INVALID_ARGUMENT"


class NotFound(LibcontainerdError, LookupError):
    """The container, process or file named does not exist (code 2)."""

    CODE = 2
    CODE_NAME = "NOT_FOUND"


class AlreadyExists(LibcontainerdError):
    """The id is already in use (code 3)."""

    CODE = 3
    CODE_NAME = "ALREADY_EXISTS"


class FailedPrecondition(LibcontainerdError):
    """The object is not in a state that allows the call, e.g. not running (code 4)."""

    CODE = 4
    CODE_NAME = "FAILED_PRECONDITION"


class Unavailable(LibcontainerdError):
    """containerd cannot be reached (code 5)."""

    CODE = 5
    CODE_NAME = "UNAVAILABLE"


class DeadlineExceeded(LibcontainerdError, TimeoutError):
    """A deadline passed before the call completed (code 6)."""

    CODE = 6
    CODE_NAME = "DEADLINE_EXCEEDED"


class Cancelled(LibcontainerdError):
    """The call was cancelled (code 7)."""

    CODE = 7
    CODE_NAME = "CANCELLED"


class IoError(LibcontainerdError, OSError):
    """An operating-system I/O error (code 8); also an :class:`OSError`.

    :attr:`errno` is the ``errno`` value when the message names one (the library's
    messages end with ``(os error N)``), else None; :attr:`strerror` is the message.
    """

    CODE = 8
    CODE_NAME = "IO"

    def __new__(cls, message: str = "", code: int | None = None) -> IoError:
        """Builds the :class:`OSError` part from the message alone (not ``code``)."""
        return OSError.__new__(cls, message)

    def __init__(self, message: str = "", code: int | None = None) -> None:
        """An I/O error with ``message``; :attr:`errno` is read from it."""
        super().__init__(message, code)
        found = _OS_ERROR.search(message)
        self.errno = int(found.group(1)) if found else None
        self.strerror = message


class Internal(LibcontainerdError):
    """A bug or an unexpected condition, including a caught panic (code 9)."""

    CODE = 9
    CODE_NAME = "INTERNAL"


class Unsupported(LibcontainerdError, NotImplementedError):
    """The operation is not supported here (code 10)."""

    CODE = 10
    CODE_NAME = "UNSUPPORTED"


class PermissionDenied(LibcontainerdError, PermissionError):
    """Credentials were refused, e.g. by an image registry (code 11)."""

    CODE = 11
    CODE_NAME = "PERMISSION_DENIED"


class LibraryNotFound(ImportError):
    """The shared library ``libcontainerd.so`` could not be found or loaded."""


class AbiMismatch(ImportError):
    """The shared library found speaks another C ABI version than this package."""


_BY_CODE: Dict[int, Type[LibcontainerdError]] = {
    cls.CODE: cls
    for cls in (
        InvalidArgument,
        NotFound,
        AlreadyExists,
        FailedPrecondition,
        Unavailable,
        DeadlineExceeded,
        Cancelled,
        IoError,
        Internal,
        Unsupported,
        PermissionDenied,
    )
}


def error_class(code: int) -> Type[LibcontainerdError]:
    """The exception class for an ``lcd_code`` value (the base class if unknown)."""
    return _BY_CODE.get(code, LibcontainerdError)
