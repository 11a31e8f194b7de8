"""Fixtures for the binding's tests: one containerd for the session, started by the
library itself (``start_daemon``) in a temporary state directory, and a fresh client
with a :class:`CollectingBackend` per test.

Environment: ``LCD_TEST_ROOTFS`` (the busybox rootfs; default ``<repo>/build/rootfs``,
made by ``scripts/setup.sh``), ``LCD_TEST_TMPDIR`` (parent of the temporary state
directories; default ``/tmp``), ``LCD_TEST_KEEP=1`` (keep the state directory),
``LIBCONTAINERD_LIB`` (the library to test).
"""

from __future__ import annotations

import copy
import itertools
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import pytest

import libcontainerd as lcd

REPO = Path(__file__).resolve().parents[3]

#: How long a test waits for an event that should come promptly.
TIMEOUT = 30.0

#: The containerd namespace of these tests (also the cgroup parent of their containers).
NAMESPACE = "lcdpy"

DEFAULT_CAPS = [
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
    "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
]


def rootfs() -> str:
    """The busybox rootfs fixture."""
    path = Path(os.environ.get("LCD_TEST_ROOTFS") or REPO / "build" / "rootfs")
    if not (path / "bin" / "busybox").is_file():
        pytest.exit(
            f"the busybox rootfs fixture is missing at {path}: run scripts/setup.sh "
            "(as root) or set LCD_TEST_ROOTFS",
            returncode=3,
        )
    return str(path.resolve())


def temp_parent() -> str:
    """The parent of temporary state directories (kept short: socket paths)."""
    return os.environ.get("LCD_TEST_TMPDIR") or "/tmp"


def make_state_dir() -> str:
    """A new private state directory below :func:`temp_parent`."""
    d = tempfile.mkdtemp(prefix="lcdpy-", dir=temp_parent())
    os.chmod(d, 0o700)
    assert len(os.path.join(d, "containerd/containerd.sock.ttrpc")) < 108, d
    return d


def remove_state_dir(d: str) -> None:
    """Removes a state directory unless LCD_TEST_KEEP=1."""
    if os.environ.get("LCD_TEST_KEEP") != "1":
        shutil.rmtree(d, ignore_errors=True)


def spec(args: List[str], *, terminal: bool = False) -> Dict[str, Any]:
    """A minimal OCI runtime spec running ``args`` as root in the busybox rootfs."""
    return {
        "ociVersion": "1.0.2",
        "process": {
            "terminal": terminal,
            "user": {"uid": 0, "gid": 0},
            "args": args,
            "env": ["PATH=/bin:/usr/bin", "HOME=/root"],
            "cwd": "/",
            "capabilities": {
                "bounding": DEFAULT_CAPS,
                "effective": DEFAULT_CAPS,
                "permitted": DEFAULT_CAPS,
            },
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": True,
        },
        "root": {"path": rootfs(), "readonly": True},
        "hostname": "test",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "nodev", "mode=1777", "size=65536k"]},
        ],
        "linux": {
            "namespaces": [
                {"type": "pid"}, {"type": "ipc"}, {"type": "uts"},
                {"type": "mount"}, {"type": "network"},
            ],
            "maskedPaths": [
                "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
                "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                "/proc/sched_debug", "/sys/firmware", "/proc/scsi",
            ],
            "readonlyPaths": [
                "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
            ],
            "resources": {"devices": [{"allow": False, "access": "rwm"}]},
        },
    }


def with_memory_limit(s: Dict[str, Any], limit: int) -> Dict[str, Any]:
    """A copy of spec ``s`` limited to ``limit`` bytes of memory (and no swap beyond)."""
    s = copy.deepcopy(s)
    s["linux"]["resources"]["memory"] = {"limit": limit, "swap": limit}
    return s


_ids = itertools.count(1)
_run = os.urandom(3).hex()


def unique_id(prefix: str) -> str:
    """A container id that clashes with no other test's (nor another run's)."""
    return f"{prefix}-{_run}-{next(_ids)}"


@pytest.fixture(scope="session")
def state_dir() -> Iterator[str]:
    """The session's state directory."""
    d = make_state_dir()
    yield d
    remove_state_dir(d)


@pytest.fixture(scope="session")
def remote(state_dir: str) -> Iterator[lcd.Remote]:
    """One remote for the session, with a containerd the library started."""
    r = lcd.Remote(state_dir=state_dir, namespace=NAMESPACE)
    yield r
    r.close()


@pytest.fixture
def backend() -> Iterator[lcd.CollectingBackend]:
    """A fresh collecting backend; its kept stdins are closed afterwards."""
    b = lcd.CollectingBackend()
    yield b
    b.close_streams()


@pytest.fixture
def client(remote: lcd.Remote, backend: lcd.CollectingBackend) -> Iterator[lcd.Client]:
    """A fresh client reporting to ``backend``; its containers are killed afterwards."""
    c = remote.client(backend)
    yield c
    if not c.closed:
        for info in c.list():
            if info.id in {e.container_id for e in backend.history()}:
                try:
                    c.signal(info.id, 9)
                    backend.wait_for(info.id, lcd.State.EXIT, TIMEOUT)
                except (lcd.LibcontainerdError, TimeoutError):
                    pass
        c.close()


def wait_until(cond: Any, timeout: float = TIMEOUT, what: Optional[str] = None) -> None:
    """Polls ``cond()`` until it is true; fails the test after ``timeout`` seconds."""
    import time

    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what or cond}")
        time.sleep(0.02)
