"""A complete, safe default OCI runtime spec (``lcd_spec_default``)."""

from __future__ import annotations

from typing import Any, Dict, Optional, Sequence

from . import _lib


def default_spec(
    *,
    rootfs: Optional[str] = None,
    readonly: bool = False,
    args: Optional[Sequence[str]] = None,
    env: Optional[Sequence[str]] = None,
    cwd: Optional[str] = None,
    user: Optional[str] = None,
    hostname: Optional[str] = None,
    terminal: bool = False,
    cgroups_path: Optional[str] = None,
    memory_limit: Optional[int] = None,
    cpu_shares: Optional[int] = None,
    pids_limit: Optional[int] = None,
    privileged: bool = False,
) -> Dict[str, Any]:
    """An OCI runtime spec as containerd's ``oci.GenerateSpec`` builds it, as a dict.

    New pid, ipc, uts, mount and network namespaces; containerd's default
    capabilities (none ambient); ``noNewPrivileges``; ``RLIMIT_NOFILE`` 1024;
    ``/proc``, ``/dev``, ``/dev/pts``, ``/dev/shm``, ``/dev/mqueue``, ``/sys``
    (read-only), the cgroup hierarchy (read-only) and ``/run``; masked and read-only
    ``/proc`` paths; a device cgroup denying all but runc's default devices. Then:
    ``rootfs`` (an absolute host directory) and ``readonly``; ``args`` (``create``
    needs them); ``env`` (``KEY=value`` added to the default ``PATH``, later keys
    win); ``cwd``; ``user`` (``"uid"``, ``"uid:gid"``, ``"name"`` or
    ``"name:group"``, names looked up in the rootfs's ``/etc/passwd`` and
    ``/etc/group``, which also give the supplementary groups and ``HOME``);
    ``hostname``; ``terminal`` (adds ``TERM=xterm``); ``cgroups_path``;
    ``memory_limit`` (bytes), ``cpu_shares``, ``pids_limit``; ``privileged`` (every
    capability, nothing masked, ``/sys`` writable, every device allowed). Invalid
    options raise :class:`~libcontainerd.InvalidArgument`.
    """
    opts: Dict[str, Any] = {}
    for key, value in (
        ("rootfs", rootfs),
        ("args", None if args is None else list(args)),
        ("env", None if env is None else list(env)),
        ("cwd", cwd),
        ("user", user),
        ("hostname", hostname),
        ("cgroups_path", cgroups_path),
        ("memory_limit", memory_limit),
        ("cpu_shares", cpu_shares),
        ("pids_limit", pids_limit),
    ):
        if value is not None:
            opts[key] = value
    for key, flag in (("readonly", readonly), ("terminal", terminal), ("privileged", privileged)):
        if flag:
            opts[key] = True
    spec: Dict[str, Any] = _lib.call_json(_lib.lib().lcd_spec_default, _lib.to_json(opts), takes_call=False)
    return spec
