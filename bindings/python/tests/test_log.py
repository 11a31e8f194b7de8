"""The C library's log records on ``logging.getLogger("libcontainerd")``: warnings
with no set-up at all (containerd killed and relaunched), lifecycle records at DEBUG,
nothing once the logger is above ERROR, and a handler that blocks holds up no event."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
import time
from typing import Iterator, List

import pytest

import libcontainerd as lcd
from libcontainerd import _log

from conftest import TIMEOUT, make_state_dir, remove_state_dir, spec, unique_id, wait_until

LOGGER = logging.getLogger("libcontainerd")

# Runs in a fresh interpreter with no logging set-up: kills the daemon its remote
# started and waits for the relaunch; the warning must reach stderr on its own.
NO_SETUP = """
import os, signal, sys, time
import libcontainerd as lcd
state = sys.argv[1]
with lcd.Remote(state_dir=state) as r:
    pidfile = os.path.join(state, "containerd", "containerd.pid")
    pid = int(open(pidfile).read())
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            now = int(open(pidfile).read())
        except (OSError, ValueError):
            now = pid
        if now != pid:
            break
        time.sleep(0.1)
    time.sleep(1)
print("done", flush=True)
"""


class Collector(logging.Handler):
    """Keeps every record it is given."""

    def __init__(self) -> None:
        super().__init__(level=logging.NOTSET)
        self.records: List[logging.LogRecord] = []
        self.guard = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        with self.guard:
            self.records.append(record)

    def messages(self) -> List[str]:
        with self.guard:
            return [r.getMessage() for r in self.records]


@pytest.fixture
def collector() -> Iterator[Collector]:
    """A handler on the libcontainerd logger; the logger's level is restored afterwards."""
    h = Collector()
    old = LOGGER.level
    LOGGER.addHandler(h)
    yield h
    LOGGER.removeHandler(h)
    LOGGER.setLevel(old)
    _log.sync_level()


def test_warnings_reach_stderr_with_no_set_up() -> None:
    state = make_state_dir()
    try:
        r = subprocess.run(
            [sys.executable, "-c", NO_SETUP, state], capture_output=True, text=True, timeout=120, cwd="/"
        )
    finally:
        remove_state_dir(state)
    assert r.returncode == 0, r.stderr
    assert "relaunch" in r.stderr, r.stderr


def test_debug_records_of_a_lifecycle(
    client: lcd.Client, backend: lcd.CollectingBackend, collector: Collector
) -> None:
    LOGGER.setLevel(logging.DEBUG)
    cid = unique_id("log-debug")
    client.create(cid, spec(["true"]))
    backend.wait_for(cid, lcd.State.EXIT, TIMEOUT)
    wait_until(lambda: any(cid in m for m in collector.messages()), what="a debug record naming the container")
    with collector.guard:
        mine = [r for r in collector.records if cid in r.getMessage()]
    assert all(r.levelno == logging.DEBUG for r in mine)
    assert all(str(getattr(r, "target", "")).startswith("containerd") for r in mine)


def test_nothing_once_the_logger_is_above_error(
    client: lcd.Client, backend: lcd.CollectingBackend, collector: Collector
) -> None:
    LOGGER.setLevel(logging.DEBUG)
    client.list()  # a call into the library follows the level
    assert _log._installed_level == 4
    LOGGER.setLevel(logging.CRITICAL + 1)
    client.list()
    assert _log._installed_level == 0, "the callback is still installed"
    cid = unique_id("log-off")
    client.create(cid, spec(["true"]))
    backend.wait_for(cid, lcd.State.EXIT, TIMEOUT)
    time.sleep(0.5)
    assert not [m for m in collector.messages() if cid in m]


def test_a_blocking_handler_delays_no_event(remote: lcd.Remote, collector: Collector) -> None:
    released = threading.Event()
    blocking = threading.Event()
    seen: List[bool] = []

    class Slow(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            blocking.set()
            for _ in range(10):  # 1 s at a time, until the exit arrived (10 s at most)
                if released.wait(1.0):
                    break
            blocking.clear()

    class Backend(lcd.CollectingBackend):
        def state_changed(self, container_id: str, info: lcd.StateInfo) -> None:
            if info.state == lcd.State.EXIT and not released.is_set():
                seen.append(blocking.is_set())
                released.set()
            super().state_changed(container_id, info)

    slow = Slow()
    LOGGER.addHandler(slow)
    LOGGER.setLevel(logging.DEBUG)
    b = Backend()
    try:
        with remote.client(b) as c:
            cid = unique_id("log-slow")
            c.create(cid, spec(["true"]))
            b.wait_for(cid, lcd.State.EXIT, TIMEOUT)
    finally:
        released.set()
        LOGGER.removeHandler(slow)
    assert seen == [True], "the exit event waited for the blocking log handler"
