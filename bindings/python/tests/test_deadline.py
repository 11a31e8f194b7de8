"""Deadlines and cancellation (``timeout=``, ``cancel=``, asyncio task cancellation)
on a real containerd that the test starts itself (for ``remote_addr``), so that it
can take it away (SIGKILL: an outage) or hang it (SIGSTOP) without the library's
supervisor stepping in."""

from __future__ import annotations

import asyncio
import glob
import os
import signal
import subprocess
import threading
import time
import warnings
from typing import Iterator, List, Optional

import pytest

import libcontainerd as lcd
from conftest import TIMEOUT, make_state_dir, remove_state_dir, spec, unique_id
from libcontainerd import State, aio

def freeze(pid: int) -> None:
    """Stops process ``pid`` (SIGSTOP) and waits until every one of its threads is
    stopped: kill returns before a thread running on another CPU has stopped, and on a
    loaded machine such a thread may still answer a request meanwhile."""
    os.kill(pid, signal.SIGSTOP)
    deadline = time.monotonic() + TIMEOUT
    while True:
        states = []
        for task in glob.glob(f"/proc/{pid}/task/*/stat"):
            try:
                with open(task) as f:
                    states.append(f.read().rpartition(") ")[2][:1])
            except OSError:
                pass
        if all(s in ("T", "t") for s in states):
            return
        assert time.monotonic() < deadline, f"process {pid} did not stop"
        time.sleep(0.005)


#: How soon after a cancel or a deadline a call returns (DESIGN §6.5): the contract's
#: 100 ms plus slack for a loaded 2-CPU test machine. Without cancellation these calls
#: block for the whole outage (20 s).
BOUND = 0.1 + 0.4


class Containerd:
    """A containerd started by the test, its files in the library's layout
    (``<dir>/containerd/{config.toml,containerd.sock,containerd.pid,...}``) below
    ``LCD_TEST_TMPDIR``, where ``scripts/test.sh`` looks for leftovers."""

    def __init__(self) -> None:
        self.dir = make_state_dir()
        self.base = os.path.join(self.dir, "containerd")
        os.makedirs(self.base, mode=0o700)
        self.socket = os.path.join(self.base, "containerd.sock")
        with open(os.path.join(self.base, "config.toml"), "w") as f:
            f.write(
                f'version = 2\nroot = "{self.base}/root"\nstate = "{self.base}/state"\n'
                'disabled_plugins = ["io.containerd.grpc.v1.cri"]\n\n'
                f'[grpc]\n  address = "{self.socket}"\n\n'
                f'[ttrpc]\n  address = "{self.base}/containerd.sock.ttrpc"\n\n'
                f'[plugins."io.containerd.internal.v1.opt"]\n  path = "{self.base}/opt"\n'
            )
        self.proc: Optional[subprocess.Popen[bytes]] = None
        self.launch()

    def launch(self) -> None:
        """Runs the daemon and waits (30 s at most) until it answers."""
        with open(os.path.join(self.base, "containerd.log"), "ab") as log:
            self.proc = subprocess.Popen(
                ["containerd", "--config", os.path.join(self.base, "config.toml")],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log,
            )
        with open(os.path.join(self.base, "containerd.pid"), "w") as f:
            f.write(str(self.proc.pid))
        deadline = time.monotonic() + 30
        while True:
            if os.path.exists(self.socket) and subprocess.run(
                ["ctr", "--address", self.socket, "version"],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            ).returncode == 0:
                return
            if time.monotonic() > deadline:
                pytest.fail(f"containerd did not answer on {self.socket} within 30 s")
            time.sleep(0.1)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def kill(self) -> None:
        """SIGKILLs the daemon (resuming it first, should it be stopped) and reaps it."""
        if self.proc is None:
            return
        os.kill(self.proc.pid, signal.SIGKILL)
        os.kill(self.proc.pid, signal.SIGCONT)
        self.proc.wait()
        self.proc = None

    def close(self) -> None:
        self.kill()
        remove_state_dir(self.dir)


@pytest.fixture
def daemon() -> Iterator[Containerd]:
    d = Containerd()
    yield d
    d.close()


@pytest.fixture
def ext_dir() -> Iterator[str]:
    d = make_state_dir()
    yield d
    remove_state_dir(d)


def assert_gone(client: lcd.Client, backend: lcd.CollectingBackend, id: str) -> None:
    """Nothing of container ``id`` in the library's list, and no event of it."""
    assert id not in [c.id for c in client.list()]
    assert [e for e in backend.history() if e.container_id == id] == []


def test_timeout_on_a_hung_daemon(daemon: Containerd, ext_dir: str) -> None:
    backend = lcd.CollectingBackend()
    with lcd.Remote(state_dir=ext_dir, remote_addr=daemon.socket, namespace="pydeadline") as r, \
            r.client(backend) as client:
        client.list(timeout=TIMEOUT)
        freeze(daemon.pid)
        try:
            t0 = time.monotonic()
            with pytest.raises(lcd.DeadlineExceeded) as e:
                client.list(timeout=0.5)
            took = time.monotonic() - t0
            assert isinstance(e.value, TimeoutError) and e.value.code == 6
            assert 0.5 <= took <= 0.5 + BOUND, took
            # Connecting is bounded too.
            other = make_state_dir()
            try:
                t0 = time.monotonic()
                with pytest.raises(lcd.DeadlineExceeded):
                    lcd.Remote(state_dir=other, remote_addr=daemon.socket, timeout=0.5)
                assert time.monotonic() - t0 <= 0.5 + BOUND
            finally:
                remove_state_dir(other)

            # A create whose deadline passes while containerd hangs is undone, also
            # once containerd, resumed, gets to the requests it had queued.
            id = unique_id("deadline")
            t0 = time.monotonic()
            with pytest.raises(TimeoutError):
                client.create(id, spec(["true"]), timeout=0.5)
            assert time.monotonic() - t0 <= 0.5 + BOUND
        finally:
            os.kill(daemon.pid, signal.SIGCONT)
        assert_gone(client, backend, id)


def test_cancelled_create_during_an_outage_leaves_nothing(daemon: Containerd, ext_dir: str) -> None:
    backend = lcd.CollectingBackend()
    with lcd.Remote(state_dir=ext_dir, remote_addr=daemon.socket, namespace="pycancel") as r, \
            r.client(backend) as client:
        daemon.kill()  # the outage: the library waits for containerd to come back
        id = unique_id("cancelled")
        token = lcd.CancelToken()
        errors: List[BaseException] = []
        returned: List[float] = []

        def create() -> None:
            try:
                client.create(id, spec(["true"]), cancel=token)
            except BaseException as e:
                errors.append(e)
            returned.append(time.monotonic())

        t = threading.Thread(target=create)
        t.start()
        t.join(0.5)
        assert t.is_alive(), f"create returned during the outage before the cancel: {errors}"
        cancelled = time.monotonic()
        token.cancel()
        t.join(TIMEOUT)
        assert not t.is_alive(), "create did not return after the cancel"
        assert len(errors) == 1 and isinstance(errors[0], lcd.Cancelled), errors
        assert errors[0].code == 7
        assert returned[0] - cancelled <= BOUND, returned[0] - cancelled
        assert token.cancelled
        # A cancelled token fails later calls at once.
        with pytest.raises(lcd.Cancelled):
            client.list(cancel=token)

        daemon.launch()  # containerd is back: nothing of the container is there
        assert_gone(client, backend, id)
        client.create(id, spec(["true"]), timeout=TIMEOUT)
        assert backend.wait_for(id, State.EXIT, TIMEOUT).exit_code == 0


def test_aio_task_cancel_cancels_the_call(daemon: Containerd, ext_dir: str) -> None:
    id = unique_id("aiocancel")

    async def main() -> None:
        # One executor thread: it is free again only once the library call has ended.
        async with aio.Remote(state_dir=ext_dir, remote_addr=daemon.socket, namespace="pyaio",
                              max_workers=1) as remote:
            async with await remote.client() as client:
                daemon.kill()
                task = asyncio.ensure_future(client.create(id, spec(["true"])))
                done, _ = await asyncio.wait([task], timeout=0.5)
                assert not done, "create returned during the outage before the cancel"
                cancelled = time.monotonic()
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
                took = time.monotonic() - cancelled
                assert took <= BOUND, took
                # The library call itself ended (not just the task): the thread is free.
                loop = asyncio.get_running_loop()
                await asyncio.wait_for(loop.run_in_executor(remote.executor, lambda: None), BOUND)
                daemon.launch()
                assert id not in [c.id for c in await client.list(timeout=TIMEOUT)]
                # timeout= in aio too, with no daemon behind it any more.
                daemon.kill()
                with pytest.raises(lcd.DeadlineExceeded):
                    await client.stats(id, timeout=0.3)
                daemon.launch()

    asyncio.run(main())


def test_timeout_and_cancel_arguments(client: lcd.Client, backend: lcd.CollectingBackend) -> None:
    with pytest.raises(lcd.InvalidArgument, match="negative"):
        client.list(timeout=-1)
    with pytest.raises(lcd.InvalidArgument):
        client.list(timeout=True)
    with pytest.raises(lcd.InvalidArgument, match="CancelToken"):
        client.list(cancel=object())  # type: ignore[arg-type]
    token = lcd.CancelToken()
    token.cancel()
    token.cancel()  # idempotent
    id = unique_id("precancelled")
    with pytest.raises(lcd.Cancelled):
        client.create(id, spec(["true"]), cancel=token)
    assert id not in [c.id for c in client.list()]
    # A deadline far enough away and a live token change nothing.
    client.create(id, spec(["true"]), timeout=TIMEOUT, cancel=lcd.CancelToken())
    assert backend.wait_for(id, State.EXIT, TIMEOUT).exit_code == 0


def test_stop_grace_and_the_deprecated_timeout(client: lcd.Client, backend: lcd.CollectingBackend) -> None:
    trap = spec(["sh", "-c", "trap '' TERM; echo ready; while true; do sleep 0.1; done"])
    for how in ("grace", "timeout"):
        id = unique_id("grace")
        client.create(id, trap)
        backend.wait_for(id, State.START_CONTAINER, TIMEOUT)
        t0 = time.monotonic()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if how == "grace":
                # grace= is the grace period, timeout= the call's deadline.
                client.stop(id, grace=1.0, timeout=TIMEOUT)
            else:
                client.stop(id, timeout=1.0)  # the old spelling of the grace period
        took = time.monotonic() - t0
        deprecations = [w for w in caught if issubclass(w.category, DeprecationWarning)]
        assert len(deprecations) == (1 if how == "timeout" else 0), deprecations
        assert 1.0 <= took < TIMEOUT, took
        assert backend.wait_for(id, State.EXIT, TIMEOUT).exit_code == 137
    # A deadline shorter than the grace period ends the call, not the grace period.
    id = unique_id("stopdeadline")
    client.create(id, trap)
    backend.wait_for(id, State.START_CONTAINER, TIMEOUT)
    t0 = time.monotonic()
    with pytest.raises(lcd.DeadlineExceeded):
        client.stop(id, grace=30, timeout=0.5)
    assert time.monotonic() - t0 <= 0.5 + BOUND
    client.signal(id, signal.SIGKILL)
    assert backend.wait_for(id, State.EXIT, TIMEOUT).exit_code == 137
