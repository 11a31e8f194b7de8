"""Errors: each exception class, raised by real failures where containerd can be made
to produce one, and for every code through a callback's error, which the library
hands back to the call that caused it."""

from __future__ import annotations

import logging
import os
import signal
from typing import List, Optional, Type

import pytest

import libcontainerd as lcd
from conftest import NAMESPACE, TIMEOUT, make_state_dir, remove_state_dir, spec, unique_id
from libcontainerd import State

ALL_CLASSES: List[Type[lcd.LibcontainerdError]] = [
    lcd.InvalidArgument,
    lcd.NotFound,
    lcd.AlreadyExists,
    lcd.FailedPrecondition,
    lcd.Unavailable,
    lcd.DeadlineExceeded,
    lcd.Cancelled,
    lcd.IoError,
    lcd.Internal,
    lcd.Unsupported,
    lcd.PermissionDenied,
]


def test_codes_and_classes_match_the_abi() -> None:
    assert [c.CODE for c in ALL_CLASSES] == list(range(1, 12))
    names = ["INVALID_ARGUMENT", "NOT_FOUND", "ALREADY_EXISTS", "FAILED_PRECONDITION",
             "UNAVAILABLE", "DEADLINE_EXCEEDED", "CANCELLED", "IO", "INTERNAL", "UNSUPPORTED",
             "PERMISSION_DENIED"]
    assert [c.CODE_NAME for c in ALL_CLASSES] == names
    for cls in ALL_CLASSES:
        assert issubclass(cls, lcd.LibcontainerdError)
        assert lcd.error_class(cls.CODE) is cls
    assert lcd.error_class(99) is lcd.LibcontainerdError
    assert str(lcd.NotFound("container x")) == "NOT_FOUND: container x"
    assert issubclass(lcd.InvalidArgument, ValueError)
    assert issubclass(lcd.NotFound, LookupError)
    assert issubclass(lcd.DeadlineExceeded, TimeoutError)
    assert issubclass(lcd.Unsupported, NotImplementedError)
    assert issubclass(lcd.PermissionDenied, PermissionError)


def test_invalid_argument(client: lcd.Client, backend: lcd.CollectingBackend) -> None:
    with pytest.raises(lcd.InvalidArgument) as e:
        client.create("../escape", spec(["true"]))
    assert e.value.code == 1
    s = spec(["true"])
    s["root"]["path"] = "/nonexistent/rootfs"
    with pytest.raises(lcd.InvalidArgument):
        client.create(unique_id("noroot"), s)
    id = unique_id("badproc")
    client.create(id, spec(["sleep", "300"]))
    with pytest.raises(lcd.InvalidArgument, match="bogus"):
        client.add_process(id, "p", {"args": ["true"], "bogus": 1})
    with pytest.raises(lcd.InvalidArgument, match="maximum_retry"):
        client.create(unique_id("badpol"), spec(["true"]), restart_policy={"name": "on-failure", "maximum_retry": 2})
    client.signal(id, signal.SIGKILL)
    backend.wait_for(id, State.EXIT, TIMEOUT)


def test_invalid_remote_options_start_nothing() -> None:
    parent = make_state_dir()
    try:
        d = os.path.join(parent, "sd")
        with pytest.raises(lcd.InvalidArgument, match="oom_score"):
            lcd.Remote(state_dir=d, oom_score=5000)
        with pytest.raises(lcd.InvalidArgument, match="namespace"):
            lcd.Remote(state_dir=d, namespace="a/b")
        with pytest.raises(lcd.InvalidArgument, match="shim_pool 65"):
            lcd.Remote(state_dir=d, shim_pool=65)
        assert not os.path.exists(d)
    finally:
        remove_state_dir(parent)


def test_not_found(client: lcd.Client) -> None:
    with pytest.raises(lcd.NotFound) as e:
        client.pause("nope-" + unique_id("x"))
    assert e.value.code == 2
    with pytest.raises(lcd.NotFound):
        client.signal("nope-" + unique_id("x"), signal.SIGTERM)
    with pytest.raises(lcd.NotFound):
        client.stats("nope-" + unique_id("x"))


def test_already_exists(client: lcd.Client, backend: lcd.CollectingBackend) -> None:
    id = unique_id("taken")
    client.create(id, spec(["sleep", "300"]))
    backend.wait_for(id, State.START_CONTAINER, TIMEOUT)
    with pytest.raises(lcd.AlreadyExists) as e:
        client.create(id, spec(["sleep", "300"]))
    assert e.value.code == 3
    client.signal(id, signal.SIGKILL)
    backend.wait_for(id, State.EXIT, TIMEOUT)


def test_failed_precondition(remote: lcd.Remote, state_dir: str) -> None:
    # A remote on a daemon it did not start cannot change that daemon's options.
    sock = os.path.join(state_dir, "containerd", "containerd.sock")
    other = make_state_dir()
    try:
        with lcd.Remote(state_dir=other, remote_addr=sock, namespace=NAMESPACE) as ext:
            with pytest.raises(lcd.FailedPrecondition) as e:
                ext.update_options(oom_score=5)
            assert e.value.code == 4
            ext.update_options(live_restore=False)
            # The connection works: its client sees the session's namespace.
            with ext.client() as c:
                assert isinstance(c.list(), list)
    finally:
        remove_state_dir(other)
    # A closed client refuses further calls instead of touching freed memory.
    c = remote.client()
    c.close()
    c.close()
    with pytest.raises(lcd.FailedPrecondition, match="closed"):
        c.list()


def test_unavailable() -> None:
    d = make_state_dir()
    try:
        with pytest.raises(lcd.Unavailable) as e:
            lcd.Remote(state_dir=d, remote_addr=os.path.join(d, "no-such.sock"))
        assert e.value.code == 5
    finally:
        remove_state_dir(d)


class RaisingAttach(lcd.CollectingBackend):
    """Raises ``exc`` from its first attach_streams (remembering the streams it was
    given), then collects like its base class."""

    def __init__(self, exc: BaseException) -> None:
        super().__init__()
        self.exc: Optional[BaseException] = exc
        self.pipes: List[lcd.IOPipe] = []

    def attach_streams(self, container_id: str, process_id: str, io: lcd.IOPipe) -> None:
        exc, self.exc = self.exc, None
        if exc is None:
            super().attach_streams(container_id, process_id, io)
            return
        self.pipes.append(io)
        raise exc


@pytest.mark.parametrize("cls", ALL_CLASSES, ids=lambda c: c.__name__)
def test_every_class_round_trips_through_a_callback(remote: lcd.Remote, cls: Type[lcd.LibcontainerdError]) -> None:
    backend = RaisingAttach(cls(f"refused by the backend ({cls.__name__})"))
    with remote.client(backend) as client:
        id = unique_id("code")
        with pytest.raises(cls) as e:
            client.create(id, spec(["true"]))
        assert type(e.value) is cls
        assert e.value.code == cls.CODE
        assert e.value.message.endswith(f"refused by the backend ({cls.__name__})"), e.value.message
        # The failed create left nothing behind.
        assert all(c.id != id for c in client.list())
        assert backend.count(id, State.START_CONTAINER) == 0


def test_raising_attach_streams_fails_the_call_and_is_logged(
    remote: lcd.Remote, caplog: pytest.LogCaptureFixture
) -> None:
    backend = RaisingAttach(ValueError("no streams today"))
    with remote.client(backend) as client:
        id = unique_id("raise")
        with caplog.at_level(logging.ERROR, logger="libcontainerd"):
            with pytest.raises(lcd.Internal, match="attach_streams raised ValueError: no streams today"):
                client.create(id, spec(["true"]))
        assert any("no streams today" in r.getMessage() and r.exc_info for r in caplog.records)
        # The binding closed the streams the backend did not get to keep.
        assert len(backend.pipes) == 1
        assert all(s.closed for s in backend.pipes[0].streams())
        assert all(c.id != id for c in client.list())
        # The client still works.
        client.create(id, spec(["sh", "-c", "echo fine"]))
        backend.wait_for(id, State.EXIT, TIMEOUT)
        assert backend.wait_output(id, timeout=TIMEOUT).stdout == b"fine\n"


class RaisingStateChanged(lcd.CollectingBackend):
    """Raises from state_changed for every start-container, after recording it."""

    def state_changed(self, container_id: str, info: lcd.StateInfo) -> None:
        super().state_changed(container_id, info)
        if info.state == State.START_CONTAINER:
            raise RuntimeError(f"cannot handle {container_id}")


def test_raising_state_changed_is_logged_and_events_go_on(
    remote: lcd.Remote, caplog: pytest.LogCaptureFixture
) -> None:
    backend = RaisingStateChanged()
    with caplog.at_level(logging.ERROR, logger="libcontainerd"):
        with remote.client(backend) as client:
            id = unique_id("sc")
            client.create(id, spec(["sh", "-c", "exit 4"]))
            assert backend.wait_for(id, State.EXIT, TIMEOUT).exit_code == 4
            assert backend.states(id) == ["start-container", "exit"]
    assert any(f"cannot handle {id}" in r.getMessage() for r in caplog.records)


def test_out_of_range_numbers_are_refused_not_cut(
    client: lcd.Client, backend: lcd.CollectingBackend
) -> None:
    id = unique_id("range")
    client.create(id, spec(["sleep", "300"]))
    backend.wait_for(id, State.START_CONTAINER, TIMEOUT)
    # 2**32 + 15 cut to a C int would be 15: SIGTERM, an explicit stop.
    for bad in [2**32 + int(signal.SIGTERM), -(2**31) - 1, 2**31, 1.0, "15", True]:
        with pytest.raises(lcd.InvalidArgument):
            client.signal(id, bad)  # type: ignore[arg-type]
        with pytest.raises(lcd.InvalidArgument):
            client.signal_process(id, "init", bad)  # type: ignore[arg-type]
    for w, h in [(-1, 10), (10, 2**32), (2**32 + 80, 24)]:
        with pytest.raises(lcd.InvalidArgument):
            client.resize(id, "init", w, h)
    # Nothing reached the container: it still runs.
    assert [c.status for c in client.list() if c.id == id] == ["running"]
    assert backend.states(id) == [State.START_CONTAINER]
    client.signal(id, signal.SIGKILL)
    assert backend.wait_for(id, State.EXIT, TIMEOUT).exit_code == 137
