"""Typed shapes of the JSON the library takes and returns, as ``TypedDict``\\ s.

They are plain dicts at run time; their use is for type checkers. Annotate a spec
as :class:`Spec` and ``mypy --strict`` checks every key and value of it::

    import libcontainerd as lcd

    spec: lcd.Spec = {
        "ociVersion": "1.0.2",
        "process": {"args": ["sh", "-c", "echo hi"], "cwd": "/", "env": ["PATH=/bin"]},
        "root": {"path": "/srv/rootfs", "readonly": True},
        "linux": {"namespaces": [{"type": "pid"}, {"type": "mount"}]},
    }

:class:`Spec`, :class:`Resources` and the shapes they hold follow the OCI runtime
spec (camelCase keys, every key optional here; the library validates the rest).
:class:`ExecProcess` is what :meth:`Client.add_process` takes, :class:`Stats` what
:meth:`Client.stats` returns, :class:`ContainerEntry` and :class:`SummaryEntry` the
raw entries of ``lcd_client_list`` and ``lcd_client_summary`` (which
:meth:`Client.list` and :meth:`Client.summary` turn into dataclasses).
"""

from __future__ import annotations

from typing import Dict, List, TypedDict

__all__ = [
    "Spec",
    "Process",
    "User",
    "ConsoleSize",
    "Capabilities",
    "Rlimit",
    "Root",
    "Mount",
    "IdMapping",
    "Hook",
    "Hooks",
    "Linux",
    "Namespace",
    "Device",
    "Seccomp",
    "SeccompSyscall",
    "SeccompArg",
    "Resources",
    "DeviceRule",
    "MemoryResources",
    "CpuResources",
    "PidsResources",
    "BlockIoResources",
    "WeightDevice",
    "ThrottleDevice",
    "HugepageLimit",
    "NetworkResources",
    "NetworkPriority",
    "ExecProcess",
    "ExecUser",
    "RestartPolicyDict",
    "RuntimeDict",
    "Stats",
    "CpuStats",
    "CpuUsage",
    "ThrottlingStats",
    "MemoryStats",
    "MemoryEntry",
    "MemoryEvents",
    "PidsStats",
    "BlkioStats",
    "BlkioEntry",
    "HugetlbStats",
    "ContainerEntry",
    "ProcessEntry",
    "SummaryEntry",
]


# ---- the OCI runtime spec (what Client.create takes) -------------------------------


class User(TypedDict, total=False):
    """``process.user``: who the process runs as."""

    uid: int
    gid: int
    umask: int
    additionalGids: List[int]
    username: str


class ConsoleSize(TypedDict):
    """``process.consoleSize``: the terminal's size, in characters."""

    height: int
    width: int


class Capabilities(TypedDict, total=False):
    """``process.capabilities``: ``CAP_…`` names per set."""

    bounding: List[str]
    effective: List[str]
    inheritable: List[str]
    permitted: List[str]
    ambient: List[str]


class Rlimit(TypedDict):
    """One entry of ``process.rlimits`` (``type`` e.g. ``"RLIMIT_NOFILE"``)."""

    type: str
    hard: int
    soft: int


class Process(TypedDict, total=False):
    """``process``: the container's init process."""

    terminal: bool
    consoleSize: ConsoleSize
    user: User
    args: List[str]
    commandLine: str
    env: List[str]
    cwd: str
    capabilities: Capabilities
    rlimits: List[Rlimit]
    noNewPrivileges: bool
    apparmorProfile: str
    oomScoreAdj: int
    selinuxLabel: str


class Root(TypedDict, total=False):
    """``root``: the root filesystem, an absolute host directory."""

    path: str
    readonly: bool


class IdMapping(TypedDict):
    """A user or group id mapping of a user namespace or an idmapped mount."""

    containerID: int
    hostID: int
    size: int


class Mount(TypedDict, total=False):
    """One entry of ``mounts``."""

    destination: str
    source: str
    type: str
    options: List[str]
    uidMappings: List[IdMapping]
    gidMappings: List[IdMapping]


class Hook(TypedDict, total=False):
    """One hook: a program run at a point of the container's life."""

    path: str
    args: List[str]
    env: List[str]
    timeout: int


class Hooks(TypedDict, total=False):
    """``hooks``, by the point at which they run."""

    prestart: List[Hook]
    createRuntime: List[Hook]
    createContainer: List[Hook]
    startContainer: List[Hook]
    poststart: List[Hook]
    poststop: List[Hook]


class Namespace(TypedDict, total=False):
    """One entry of ``linux.namespaces`` (``type``: pid, network, mount, ipc, uts,
    user, cgroup, time); with ``path``, the namespace at that path is joined."""

    type: str
    path: str


class Device(TypedDict, total=False):
    """One entry of ``linux.devices``: a device node made in the container."""

    type: str
    path: str
    major: int
    minor: int
    fileMode: int
    uid: int
    gid: int


class DeviceRule(TypedDict, total=False):
    """One entry of ``linux.resources.devices``: the device cgroup's allow list."""

    allow: bool
    type: str
    major: int
    minor: int
    access: str


class MemoryResources(TypedDict, total=False):
    """``linux.resources.memory``, in bytes."""

    limit: int
    reservation: int
    swap: int
    kernel: int
    kernelTCP: int
    swappiness: int
    disableOOMKiller: bool
    useHierarchy: bool
    checkBeforeUpdate: bool


class CpuResources(TypedDict, total=False):
    """``linux.resources.cpu``."""

    shares: int
    quota: int
    burst: int
    period: int
    realtimeRuntime: int
    realtimePeriod: int
    cpus: str
    mems: str
    idle: int


class PidsResources(TypedDict):
    """``linux.resources.pids``."""

    limit: int


class WeightDevice(TypedDict, total=False):
    """A per-device block I/O weight."""

    major: int
    minor: int
    weight: int
    leafWeight: int


class ThrottleDevice(TypedDict):
    """A per-device block I/O rate limit."""

    major: int
    minor: int
    rate: int


class BlockIoResources(TypedDict, total=False):
    """``linux.resources.blockIO``."""

    weight: int
    leafWeight: int
    weightDevice: List[WeightDevice]
    throttleReadBpsDevice: List[ThrottleDevice]
    throttleWriteBpsDevice: List[ThrottleDevice]
    throttleReadIOPSDevice: List[ThrottleDevice]
    throttleWriteIOPSDevice: List[ThrottleDevice]


class HugepageLimit(TypedDict):
    """One entry of ``linux.resources.hugepageLimits`` (``pageSize`` e.g. ``"2MB"``)."""

    pageSize: str
    limit: int


class NetworkPriority(TypedDict):
    """A per-interface network priority."""

    name: str
    priority: int


class NetworkResources(TypedDict, total=False):
    """``linux.resources.network``."""

    classID: int
    priorities: List[NetworkPriority]


class Resources(TypedDict, total=False):
    """``linux.resources`` (OCI ``LinuxResources``), also what
    :meth:`Client.update_resources` takes."""

    devices: List[DeviceRule]
    memory: MemoryResources
    cpu: CpuResources
    pids: PidsResources
    blockIO: BlockIoResources
    hugepageLimits: List[HugepageLimit]
    network: NetworkResources
    rdma: Dict[str, Dict[str, int]]
    unified: Dict[str, str]


class SeccompArg(TypedDict, total=False):
    """An argument condition of a seccomp rule."""

    index: int
    value: int
    valueTwo: int
    op: str


class SeccompSyscall(TypedDict, total=False):
    """A seccomp rule: an action for some system calls."""

    names: List[str]
    action: str
    errnoRet: int
    args: List[SeccompArg]


class Seccomp(TypedDict, total=False):
    """``linux.seccomp``."""

    defaultAction: str
    defaultErrnoRet: int
    architectures: List[str]
    flags: List[str]
    listenerPath: str
    listenerMetadata: str
    syscalls: List[SeccompSyscall]


class Linux(TypedDict, total=False):
    """``linux``: namespaces, cgroups, devices and the other Linux settings."""

    uidMappings: List[IdMapping]
    gidMappings: List[IdMapping]
    sysctl: Dict[str, str]
    resources: Resources
    cgroupsPath: str
    namespaces: List[Namespace]
    devices: List[Device]
    seccomp: Seccomp
    rootfsPropagation: str
    maskedPaths: List[str]
    readonlyPaths: List[str]
    mountLabel: str


class Spec(TypedDict, total=False):
    """An OCI runtime spec, what :meth:`Client.create` takes."""

    ociVersion: str
    process: Process
    root: Root
    hostname: str
    domainname: str
    mounts: List[Mount]
    hooks: Hooks
    annotations: Dict[str, str]
    linux: Linux


# ---- the library's own input shapes ----------------------------------------------


class ExecUser(TypedDict, total=False):
    """``user`` of an :class:`ExecProcess` (the seed's ``User``)."""

    uid: int
    gid: int
    additionalGids: List[int]


class _ExecProcessArgs(TypedDict):
    args: List[str]


class ExecProcess(_ExecProcessArgs, total=False):
    """What :meth:`Client.add_process` runs: ``args`` is required, anything left out
    comes from the container's own process. ``capabilities`` applies one list of
    ``CAP_…`` names to every set."""

    terminal: bool
    consoleSize: ConsoleSize
    user: ExecUser
    env: List[str]
    cwd: str
    capabilities: List[str]
    rlimits: List[Rlimit]
    apparmorProfile: str
    selinuxLabel: str


class _RestartPolicyName(TypedDict):
    name: str


class RestartPolicyDict(_RestartPolicyName, total=False):
    """``restart_policy`` of the create options (``name``: ``"no"``, ``"always"``,
    ``"on-failure"`` or ``"unless-stopped"``)."""

    maximum_retry_count: int


class _RuntimePath(TypedDict):
    path: str


class RuntimeDict(_RuntimePath, total=False):
    """``runtime`` of the create options: a runc-compatible binary and global
    arguments placed before its subcommand."""

    args: List[str]


# ---- what the library returns ------------------------------------------------------


class CpuUsage(TypedDict):
    """CPU time in nanoseconds (``per_cpu`` empty under cgroups v2)."""

    total: int
    kernel: int
    user: int
    per_cpu: List[int]


class ThrottlingStats(TypedDict):
    """CFS periods and throttling (``throttled_time`` in nanoseconds)."""

    periods: int
    throttled_periods: int
    throttled_time: int


class CpuStats(TypedDict):
    """``cpu`` of :class:`Stats`."""

    usage: CpuUsage
    throttling: ThrottlingStats


class MemoryEntry(TypedDict):
    """A memory figure with its peak, limit and failure count, in bytes."""

    usage: int
    max: int
    limit: int
    failcnt: int


class MemoryEvents(TypedDict):
    """The cgroups v2 ``memory.events`` counters."""

    low: int
    high: int
    max: int
    oom: int
    oom_kill: int


class _MemoryStatsRequired(TypedDict):
    usage: MemoryEntry
    swap: MemoryEntry
    cache: int
    rss: int


class MemoryStats(_MemoryStatsRequired, total=False):
    """``memory`` of :class:`Stats`: ``usage`` and ``swap`` entries, ``cache`` and
    ``rss`` in bytes, and the cgroup's other counters under their own names (v1:
    ``kernel``, ``kernel_tcp``, ``total_rss``, …; v2: ``events``, ``anon``, …)."""

    kernel: MemoryEntry
    kernel_tcp: MemoryEntry
    events: MemoryEvents
    rss_huge: int
    mapped_file: int
    dirty: int
    writeback: int
    pg_pg_in: int
    pg_pg_out: int
    pg_fault: int
    pg_maj_fault: int
    inactive_anon: int
    active_anon: int
    inactive_file: int
    active_file: int
    unevictable: int
    hierarchical_memory_limit: int
    hierarchical_swap_limit: int
    total_cache: int
    total_rss: int
    total_rss_huge: int
    total_mapped_file: int
    total_dirty: int
    total_writeback: int
    total_pg_pg_in: int
    total_pg_pg_out: int
    total_pg_fault: int
    total_pg_maj_fault: int
    total_inactive_anon: int
    total_active_anon: int
    total_inactive_file: int
    total_active_file: int
    total_unevictable: int
    anon: int
    file: int
    kernel_stack: int
    slab: int
    sock: int
    shmem: int
    file_mapped: int
    file_dirty: int
    file_writeback: int
    anon_thp: int
    slab_reclaimable: int
    slab_unreclaimable: int
    pgfault: int
    pgmajfault: int


class PidsStats(TypedDict):
    """``pids`` of :class:`Stats` (``limit`` 0: none)."""

    current: int
    limit: int


class BlkioEntry(TypedDict):
    """One block I/O figure of one device (``op``: ``Read``, ``Write``, ``Total``, …)."""

    op: str
    device: str
    major: int
    minor: int
    value: int


class BlkioStats(TypedDict):
    """``blkio`` of :class:`Stats` (the cgroups v1 blkio files)."""

    io_service_bytes_recursive: List[BlkioEntry]
    io_serviced_recursive: List[BlkioEntry]
    io_queued_recursive: List[BlkioEntry]
    io_service_time_recursive: List[BlkioEntry]
    io_wait_time_recursive: List[BlkioEntry]
    io_merged_recursive: List[BlkioEntry]
    io_time_recursive: List[BlkioEntry]
    sectors_recursive: List[BlkioEntry]


class _HugetlbRequired(TypedDict):
    pagesize: str
    usage: int
    max: int
    failcnt: int


class HugetlbStats(_HugetlbRequired, total=False):
    """The huge page usage of one page size, in bytes (``limit``: v2 only)."""

    limit: int


class Stats(TypedDict):
    """What :meth:`Client.stats` returns: ``read`` (RFC 3339) and the cgroup figures
    (``cgroup``: ``"v1"`` or ``"v2"``; v2's are mapped onto the same shape)."""

    read: str
    cgroup: str
    cpu: CpuStats
    memory: MemoryStats
    pids: PidsStats
    blkio: BlkioStats
    hugetlb: List[HugetlbStats]


class ProcessEntry(TypedDict):
    """An exec process in a :class:`ContainerEntry`."""

    process_id: str
    pid: int
    status: str


class ContainerEntry(TypedDict):
    """One entry of ``lcd_client_list`` (``status``: ``created``, ``running``,
    ``paused`` or ``stopped``)."""

    id: str
    pid: int
    status: str
    processes: List[ProcessEntry]


class SummaryEntry(TypedDict):
    """One entry of ``lcd_client_summary`` (``process_id`` empty for a process the
    library did not start)."""

    pid: int
    process_id: str
