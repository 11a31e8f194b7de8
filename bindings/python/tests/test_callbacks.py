"""Callbacks that call back into the client, a client closed from its own callback,
concurrent creates from many threads, and blocking calls that release the GIL."""

from __future__ import annotations

import signal
import threading
import time
from typing import Dict, List, Optional, Tuple

import libcontainerd as lcd
from conftest import TIMEOUT, make_state_dir, remove_state_dir, spec, unique_id, wait_until
from libcontainerd import State


class Reentrant(lcd.CollectingBackend):
    """Drives a container from inside its own callbacks: lists on every event, runs
    an exec when the container starts (its attach_streams then runs on the event
    thread) and kills the container when that exec exits."""

    def __init__(self, target: str) -> None:
        super().__init__()
        self.target = target
        self.client: Optional[lcd.Client] = None
        self.listed: List[int] = []
        self.errors: List[BaseException] = []

    def state_changed(self, container_id: str, info: lcd.StateInfo) -> None:
        assert self.client is not None
        try:
            self.listed.append(len(self.client.list()))
            if container_id == self.target and info.state == State.START_CONTAINER:
                self.client.add_process(container_id, "x1", {"args": ["echo", "from the callback"]})
            elif container_id == self.target and info.state == State.EXIT_PROCESS:
                self.client.signal(container_id, signal.SIGKILL)
        except BaseException as e:
            self.errors.append(e)
            raise
        finally:
            super().state_changed(container_id, info)


def test_callback_calling_back_in(remote: lcd.Remote) -> None:
    id = unique_id("reenter")
    backend = Reentrant(id)
    with remote.client(backend) as client:
        backend.client = client
        client.create(id, spec(["sleep", "300"]))
        ex = backend.wait_for(id, State.EXIT, TIMEOUT)
        assert ex.exit_code == 137
        assert backend.errors == []
        assert backend.states(id) == ["start-container", "start-process", "exit-process", "exit"]
        assert backend.wait_output(id, "x1", TIMEOUT).stdout == b"from the callback\n"
        assert len(backend.listed) == 4


class SelfClosing(lcd.CollectingBackend):
    """Closes its own client from inside the exit callback."""

    def __init__(self) -> None:
        super().__init__()
        self.client: Optional[lcd.Client] = None
        self.closed_calls = 0
        self.in_callback = threading.Event()
        self.callback_done = threading.Event()
        self.closed_after_callback: Optional[bool] = None

    def state_changed(self, container_id: str, info: lcd.StateInfo) -> None:
        super().state_changed(container_id, info)
        if info.state == State.EXIT:
            assert self.client is not None
            self.client.close()
            time.sleep(0.2)
            self.callback_done.set()

    def client_closed(self) -> None:
        self.closed_calls += 1
        self.closed_after_callback = self.callback_done.is_set()
        super().client_closed()


def test_client_closed_from_its_own_callback(remote: lcd.Remote) -> None:
    backend = SelfClosing()
    client = remote.client(backend)
    backend.client = client
    id = unique_id("selfclose")
    client.create(id, spec(["true"]))
    backend.wait_for(id, State.EXIT, TIMEOUT)
    wait_until(lambda: backend.closed_calls == 1, what="client_closed")
    assert backend.closed_after_callback is True
    assert client.closed
    time.sleep(0.2)
    assert backend.closed_calls == 1


def test_eight_threads_create_at_once(client: lcd.Client, backend: lcd.CollectingBackend) -> None:
    threads, per_thread = 8, 3
    barrier = threading.Barrier(threads)
    errors: List[BaseException] = []
    want: Dict[str, int] = {}
    lock = threading.Lock()

    def work(t: int) -> None:
        try:
            barrier.wait(TIMEOUT)
            for k in range(per_thread):
                id = unique_id(f"par{t}")
                code = t * per_thread + k + 1
                with lock:
                    want[id] = code
                client.create(id, spec(["sh", "-c", f"echo {id}; exit {code}"]))
        except BaseException as e:
            with lock:
                errors.append(e)

    ts = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(120)
    assert errors == []
    assert len(want) == threads * per_thread
    for id, code in want.items():
        assert backend.wait_for(id, State.EXIT, 60).exit_code == code
        assert backend.wait_output(id, timeout=TIMEOUT).stdout == f"{id}\n".encode()
    time.sleep(0.5)
    for id in want:
        assert backend.states(id) == ["start-container", "exit"], (id, backend.states(id))


def test_blocking_calls_release_the_gil() -> None:
    # Starting a containerd takes a while; a Python thread keeps running meanwhile.
    counts: List[int] = [0]
    stop = threading.Event()

    def spin() -> None:
        while not stop.is_set():
            counts[0] += 1

    d = make_state_dir()
    t = threading.Thread(target=spin)
    try:
        t.start()
        time.sleep(0.05)
        before = counts[0]
        t0 = time.monotonic()
        with lcd.Remote(state_dir=d, namespace="lcdpy-gil") as r:
            during = counts[0] - before
            took = time.monotonic() - t0
            with r.client() as c:
                assert c.list() == []
    finally:
        stop.set()
        t.join()
        remove_state_dir(d)
    assert took > 0.05, "starting containerd was too quick to tell"
    # Holding the GIL through the call would leave the spinning thread at a standstill.
    assert during > 1000, f"only {during} iterations in {took:.2f} s: the GIL was held"


class Attached(lcd.Backend):
    """A minimal backend: only attach_streams, which records and discards."""

    def __init__(self) -> None:
        self.seen: List[Tuple[str, str, bool]] = []

    def attach_streams(self, container_id: str, process_id: str, io: lcd.IOPipe) -> None:
        self.seen.append((container_id, process_id, io.terminal))
        super().attach_streams(container_id, process_id, io)


def test_backend_with_only_attach_streams(remote: lcd.Remote) -> None:
    mine = Attached()
    id = unique_id("only")
    with remote.client(mine) as c:
        c.create(id, spec(["sh", "-c", "yes | head -c 1000000; exit 5"]))
        # No state_changed here: the output is drained, so the container ends.
        wait_until(lambda: all(x.id != id for x in c.list()), what="the container to exit")
    assert mine.seen == [(id, "init", False)]


def test_close_while_other_threads_call(remote: lcd.Remote) -> None:
    # Calls racing with close either complete or raise FailedPrecondition; none
    # touches the freed handle.
    client = remote.client(lcd.CollectingBackend())
    outcomes: List[str] = []
    lock = threading.Lock()
    started = threading.Barrier(5)

    def hammer() -> None:
        started.wait(TIMEOUT)
        calls = 0
        while True:
            try:
                client.list()
                calls += 1
            except lcd.FailedPrecondition as e:
                with lock:
                    outcomes.append(f"closed after {calls}" if "closed" in str(e) else str(e))
                return

    ts = [threading.Thread(target=hammer) for _ in range(4)]
    for t in ts:
        t.start()
    started.wait(TIMEOUT)
    time.sleep(0.2)
    client.close()
    for t in ts:
        t.join(TIMEOUT)
    assert len(outcomes) == 4 and all(o.startswith("closed after ") for o in outcomes), outcomes
