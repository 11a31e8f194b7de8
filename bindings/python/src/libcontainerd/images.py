"""Images: pull from a registry, import archives, list and remove (``lcd_remote_image_*``)."""

from __future__ import annotations

import ctypes
import json
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Union

from . import _call, _lib
from ._call import CancelToken

__all__ = ["Image", "ImageConfig", "PullProgress", "ImagesMixin"]

#: ``void (*lcd_progress_fn)(void *user_data, const char *progress_json)``
PROGRESS = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_char_p)

_P = ctypes.c_void_p
_S = ctypes.c_char_p
_OUT = ctypes.POINTER(ctypes.c_void_p)
_PROTOTYPES = {
    "lcd_remote_image_pull": (_P, [_P, _S, _S, PROGRESS, _P, _OUT, _P]),
    "lcd_remote_image_import": (_P, [_P, _S, _S, _OUT, _P]),
    "lcd_remote_image_list": (_P, [_P, _OUT, _P]),
    "lcd_remote_image_remove": (_P, [_P, _S, _P]),
}


def _fn(name: str) -> Any:
    fn = getattr(_lib.lib(), name)
    restype, argtypes = _PROTOTYPES[name]
    if fn.argtypes != argtypes:
        fn.restype = restype
        fn.argtypes = argtypes
    return fn


@dataclass(frozen=True)
class ImageConfig:
    """What an image's config says about a container's process."""

    entrypoint: Optional[List[str]] = None
    cmd: Optional[List[str]] = None
    env: Optional[List[str]] = None
    working_dir: Optional[str] = None
    user: Optional[str] = None
    stop_signal: Optional[str] = None
    labels: Optional[Dict[str, str]] = None


@dataclass(frozen=True)
class Image:
    """An image in containerd's images service."""

    #: The normalised reference, e.g. ``docker.io/library/busybox:latest``.
    name: str
    #: The digest of the image's index or manifest.
    digest: str
    #: Bytes of content the image refers to.
    size: int
    #: ``os/architecture[/variant]``.
    platform: str
    #: When the image was built (RFC 3339).
    created: str
    #: The image record's labels.
    labels: Dict[str, str] = field(default_factory=dict)
    #: Process defaults.
    config: ImageConfig = field(default_factory=ImageConfig)

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "Image":
        """An image from the library's ``image_json`` object."""
        return cls(
            name=d["name"],
            digest=d["digest"],
            size=int(d["size"]),
            platform=d["platform"],
            created=d.get("created", ""),
            labels=dict(d.get("labels") or {}),
            config=ImageConfig(**(d.get("config") or {})),
        )


@dataclass(frozen=True)
class PullProgress:
    """One progress report of a pull."""

    ref: str
    digest: str
    #: ``resolving``, ``waiting``, ``downloading``, ``verifying``, ``extracting``,
    #: ``done`` or ``exists``.
    status: str
    current: int
    total: int


PathArg = Union[str, "os.PathLike[str]"]


class ImagesMixin:
    """The image methods of :class:`~libcontainerd.Remote`."""

    _handle: Any

    def pull(
        self,
        ref: str,
        *,
        progress: Optional[Callable[[PullProgress], None]] = None,
        platform: Optional[str] = None,
        snapshotter: Optional[str] = None,
        unpack: bool = True,
        plain_http: Sequence[str] = (),
        ca_file: Optional[PathArg] = None,
        username: Optional[str] = None,
        password: Optional[str] = None,
        token: Optional[str] = None,
        max_concurrent_downloads: Optional[int] = None,
        library_decompression: Optional[bool] = None,
        timeout: Optional[float] = None,
        cancel: Optional[CancelToken] = None,
    ) -> Image:
        """Pulls image ``ref`` (a bare ``busybox`` is ``docker.io/library/busybox:latest``)
        from its registry into containerd, unpacking it unless ``unpack`` is False.

        ``progress`` is called with each :class:`PullProgress`, in order, on one library
        thread, all before this returns; an exception it raises is raised here after
        the pull. ``library_decompression`` (default True) has gzip layers above the
        first decompressed by the library as they download, so that containerd's
        applier only untars them; False leaves decompression to containerd. Errors: :class:`~libcontainerd.NotFound` (unknown image or tag),
        :class:`~libcontainerd.Unavailable` (registry unreachable),
        :class:`~libcontainerd.PermissionDenied` (credentials refused),
        :class:`~libcontainerd.InvalidArgument` (malformed reference),
        :class:`~libcontainerd.IoError` (a blob with the wrong digest or size; nothing
        is registered), :class:`~libcontainerd.DeadlineExceeded` or
        :class:`~libcontainerd.Cancelled` within 100 ms of ``timeout`` seconds or of a
        ``cancel`` (no image is registered then, unless its final registration had
        already reached containerd: it is then complete).
        """
        opts: Dict[str, Any] = {"unpack": bool(unpack)}
        if platform is not None:
            opts["platform"] = platform
        if snapshotter is not None:
            opts["snapshotter"] = snapshotter
        if plain_http:
            opts["plain_http"] = [str(h) for h in plain_http]
        if ca_file is not None:
            opts["ca_file"] = os.fspath(ca_file)
        if token is not None:
            opts["auth"] = {"token": token}
        elif username is not None or password is not None:
            opts["auth"] = {"username": username or "", "password": password or ""}
        if max_concurrent_downloads is not None:
            opts["max_concurrent_downloads"] = int(max_concurrent_downloads)
        if library_decompression is not None:
            opts["library_decompression"] = bool(library_decompression)
        errors: List[BaseException] = []

        def deliver(_user_data: Optional[int], raw: Optional[bytes]) -> None:
            if progress is None or raw is None or errors:
                return
            try:
                progress(PullProgress(**json.loads(raw)))
            except BaseException as e:  # handed back to the caller after the pull
                errors.append(e)

        cb = PROGRESS(deliver) if progress is not None else PROGRESS()
        with _call.scope(timeout, cancel) as call, self._handle.use() as r:
            out = _lib.call_json(
                _fn("lcd_remote_image_pull"), r, _lib.c_str(ref), _lib.to_json(opts), cb, None, call=call
            )
        if errors:
            raise errors[0]
        return Image.from_json(out)

    def import_archive(
        self,
        path: PathArg,
        *,
        name: Optional[str] = None,
        timeout: Optional[float] = None,
        cancel: Optional[CancelToken] = None,
    ) -> List[Image]:
        """Registers the images of an OCI image layout archive (as skopeo's
        ``oci-archive:`` writes it) or a ``docker save`` archive; ``name`` renames its
        single image. A malformed or hostile archive is
        :class:`~libcontainerd.InvalidArgument` and nothing is written outside
        containerd. ``timeout``/``cancel`` bound the call as they do :meth:`pull`'s."""
        opts: Dict[str, Any] = {} if name is None else {"name": name}
        with _call.scope(timeout, cancel) as call, self._handle.use() as r:
            out = _lib.call_json(
                _fn("lcd_remote_image_import"), r, _lib.c_str(os.fspath(path)), _lib.to_json(opts), call=call
            )
        return [Image.from_json(i) for i in out]

    def images(self, *, timeout: Optional[float] = None, cancel: Optional[CancelToken] = None) -> List[Image]:
        """The images of the remote's namespace, sorted by name."""
        with _call.scope(timeout, cancel) as call, self._handle.use() as r:
            out = _lib.call_json(_fn("lcd_remote_image_list"), r, call=call)
        return [Image.from_json(i) for i in out]

    def remove_image(
        self, ref: str, *, timeout: Optional[float] = None, cancel: Optional[CancelToken] = None
    ) -> None:
        """Removes image ``ref``; containerd's garbage collector reclaims the content
        nothing else refers to before this returns. Its containers keep running."""
        with _call.scope(timeout, cancel) as call, self._handle.use() as r:
            _lib.check(_fn("lcd_remote_image_remove")(r, _lib.c_str(ref), call))
