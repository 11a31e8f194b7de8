"""Remote options and restore: a remote whose options are updated live keeps its
containers running across cleanup, and a new remote on the same state directory
re-adopts them with restore."""

from __future__ import annotations

import os
import time
from typing import BinaryIO, List

import pytest

import libcontainerd as lcd
from conftest import TIMEOUT, make_state_dir, remove_state_dir, spec, unique_id, wait_until
from libcontainerd import State


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return ") Z" not in f.read()
    except OSError:
        return False


def daemon_pid(state_dir: str) -> int:
    with open(os.path.join(state_dir, "containerd", "containerd.pid")) as f:
        return int(f.read().strip())


class FirstHost(lcd.Backend):
    """The host program before its restart: keeps each stdin open, reads no output
    (closing it, as a program that exits would), so output waits for the next one."""

    def __init__(self) -> None:
        self.stdins: List[BinaryIO] = []

    def attach_streams(self, container_id: str, process_id: str, io: lcd.IOPipe) -> None:
        self.stdins.append(io.stdin)
        io.stdout.close()
        if io.stderr is not None:
            io.stderr.close()


def stop_leftovers(state_dir: str, namespace: str) -> None:
    """Stops whatever a failed test left in ``state_dir`` (restore without live
    restore stops a running container), then that remote's daemon."""
    with lcd.Remote(state_dir=state_dir, namespace=namespace) as r:
        with r.client() as c:
            for info in c.list():
                try:
                    c.restore(info.id)
                except lcd.LibcontainerdError:
                    pass
        r.cleanup()


def test_live_restore_and_restore() -> None:
    d = make_state_dir()
    running, exited, vanished = unique_id("run"), unique_id("done"), unique_id("gone")
    first = FirstHost()
    try:
        r1 = lcd.Remote(state_dir=d, namespace="lcdpy-restore", oom_score=500)
        daemon = daemon_pid(d)
        with open(f"/proc/{daemon}/oom_score_adj") as f:
            assert f.read().strip() == "500"
        r1.update_options(live_restore=True, oom_score=300)
        with open(f"/proc/{daemon}/oom_score_adj") as f:
            assert f.read().strip() == "300"
        c1 = r1.client(first)
        c1.create(running, spec(["sh", "-c", "read x; echo got $x; exit 4"]))
        c1.create(exited, spec(["sh", "-c", "sleep 0.5; exit 5"]))
        run_pid = next(c.pid for c in c1.list() if c.id == running)
        c1.close()
        r1.cleanup()
        r1.close()
        # The daemon is gone; with live restore the container is not.
        wait_until(lambda: not alive(daemon), what="the first daemon to stop")
        assert alive(run_pid)
        time.sleep(1)

        second = lcd.CollectingBackend(keep_stdin=True)
        with lcd.Remote(state_dir=d, namespace="lcdpy-restore", live_restore=True) as r2:
            with r2.client(second) as c2:
                listed = {c.id: c for c in c2.list()}
                assert running in listed and exited in listed, listed
                assert listed[running].pid == run_pid
                c2.restore(running)
                assert second.wait_for(running, State.RESTORE, TIMEOUT).pid == run_pid
                stdin = second.stdin(running)
                stdin.write(b"again\n")
                stdin.close()
                assert second.wait_for(running, State.EXIT, TIMEOUT).exit_code == 4
                assert second.wait_output(running, timeout=TIMEOUT).stdout == b"got again\n"
                c2.restore(exited)
                assert second.wait_for(exited, State.EXIT, TIMEOUT).exit_code == 5
                c2.restore(vanished)
                assert second.wait_for(vanished, State.EXIT, TIMEOUT).exit_code == 255
                for id in (running, exited, vanished):
                    assert second.count(id, State.EXIT) == 1
                assert c2.list() == []
    finally:
        stop_leftovers(d, "lcdpy-restore")
        for s in first.stdins:
            s.close()
        remove_state_dir(d)


def test_cleanup_stops_containers_without_live_restore() -> None:
    d = make_state_dir()
    backend = lcd.CollectingBackend()
    try:
        with lcd.Remote(state_dir=d, namespace="lcdpy-cleanup") as r:
            daemon = daemon_pid(d)
            c = r.client(backend)
            id = unique_id("orphan")
            # Ends at SIGTERM (a bare sleep as pid 1 would wait for the SIGKILL).
            c.create(id, spec(["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.1; done"]))
            pid = backend.wait_for(id, State.START_CONTAINER, TIMEOUT).pid
            r.cleanup()
            # Its exit was delivered before cleanup returned.
            assert backend.count(id, State.EXIT) == 1
            assert not alive(pid)
            wait_until(lambda: not alive(daemon), what="the daemon to stop")
            r.cleanup()  # idempotent
            with pytest.raises(lcd.FailedPrecondition):
                r.client(lcd.Backend())
            c.close()
    finally:
        remove_state_dir(d)
