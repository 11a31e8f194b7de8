"""Client.stop, Client.update_restart_policy, default_spec, and exec capabilities and
terminal size, on the session's containerd."""

from __future__ import annotations

import signal
import time
from typing import Any, Dict, List

import pytest

import libcontainerd as lcd

from conftest import TIMEOUT, rootfs, unique_id, wait_until

# Exits 3 on SIGUSR1, ignores SIGTERM; prints "ready" once its traps are set (pid 1
# ignores a signal it has no handler for, so an earlier one would be lost).
USR1_EXITS = "trap 'exit 3' USR1; trap '' TERM; echo ready; while true; do sleep 0.1; done"


def wait_ready(backend: lcd.CollectingBackend, cid: str) -> None:
    wait_until(lambda: b"ready" in backend.output(cid).stdout, what=f"{cid} ready")


def states(backend: lcd.CollectingBackend, cid: str) -> List[str]:
    return [e.info.state for e in backend.history(cid)]


def sh(script: str, **opts: Any) -> Dict[str, Any]:
    return lcd.default_spec(rootfs=rootfs(), args=["sh", "-c", script], **opts)


def test_stop_kills_after_the_timeout_and_reports_once(
    client: lcd.Client, backend: lcd.CollectingBackend
) -> None:
    cid = unique_id("stop")
    client.create(cid, sh("trap '' TERM; while true; do sleep 0.1; done"))
    backend.wait_for(cid, lcd.State.START_CONTAINER, TIMEOUT)
    t0 = time.monotonic()
    client.stop(cid, grace=1.5)
    assert time.monotonic() - t0 >= 1.5
    assert backend.wait_for(cid, lcd.State.EXIT, TIMEOUT).exit_code == 137
    time.sleep(0.5)
    assert states(backend, cid) == [lcd.State.START_CONTAINER, lcd.State.EXIT]
    with pytest.raises(lcd.NotFound):
        client.stop("py-none", grace=0)
    with pytest.raises(lcd.InvalidArgument):
        client.stop(cid, sig=2**32 + 15)
    with pytest.raises(lcd.InvalidArgument):
        client.stop(cid, grace=-1)


def test_stop_cancels_an_always_restart(client: lcd.Client, backend: lcd.CollectingBackend) -> None:
    cid = unique_id("stopalways")
    client.create(cid, sh(USR1_EXITS), restart_policy="always")
    wait_ready(backend, cid)
    client.stop(cid, sig=signal.SIGUSR1, grace=10)
    assert backend.wait_for(cid, lcd.State.EXIT, TIMEOUT).exit_code == 3
    time.sleep(0.5)
    assert states(backend, cid) == [lcd.State.START_CONTAINER, lcd.State.EXIT]


def test_update_restart_policy(client: lcd.Client, backend: lcd.CollectingBackend) -> None:
    # "no" during a backoff cancels the pending restart.
    cid = unique_id("updno")
    client.create(cid, sh("exit 4"), restart_policy=lcd.RestartPolicy("always"))
    backend.wait_for(cid, lcd.State.RESTART, TIMEOUT, nth=5)
    client.update_restart_policy(cid, "no")
    assert backend.wait_for(cid, lcd.State.EXIT, TIMEOUT).exit_code == 4
    time.sleep(2)
    assert states(backend, cid).count(lcd.State.START_CONTAINER) == 5
    # "always" makes a container restart.
    cid = unique_id("updalways")
    client.create(cid, sh(USR1_EXITS))
    wait_ready(backend, cid)
    client.update_restart_policy(cid, {"name": "always"})
    client.signal(cid, signal.SIGUSR1)
    backend.wait_for(cid, lcd.State.START_CONTAINER, TIMEOUT, nth=2)
    client.stop(cid, sig=signal.SIGKILL, grace=1)
    backend.wait_for(cid, lcd.State.EXIT, TIMEOUT)
    assert states(backend, cid) == [
        lcd.State.START_CONTAINER, lcd.State.RESTART, lcd.State.START_CONTAINER, lcd.State.EXIT
    ]
    with pytest.raises(lcd.InvalidArgument, match="maximum_retry_count"):
        client.update_restart_policy(cid, lcd.RestartPolicy("always", 2))
    with pytest.raises(lcd.NotFound):
        client.update_restart_policy("py-none", "no")


@pytest.mark.parametrize("user,want", [(None, "0 0 /root\n"), ("app", "1000 1000 /home/app\n")])
def test_default_spec_runs_as_root_and_as_user(
    client: lcd.Client, backend: lcd.CollectingBackend, user: str, want: str
) -> None:
    cid = unique_id("dspec")
    script = 'echo "$(id -u) $(id -g) ${HOME:-/root}"; [ "$(wc -c < /proc/timer_list)" = 0 ]'
    client.create(cid, sh(script, user=user, readonly=True))
    assert backend.wait_for(cid, lcd.State.EXIT, TIMEOUT).exit_code == 0
    assert backend.wait_output(cid).stdout.decode() == want


def test_default_spec_options() -> None:
    s = lcd.default_spec()
    assert s["process"]["noNewPrivileges"] is True
    assert "ambient" not in s["process"]["capabilities"]
    assert {m["destination"] for m in s["mounts"]} >= {"/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys"}
    s = lcd.default_spec(memory_limit=1 << 26, pids_limit=10, hostname="h", terminal=True)
    assert s["linux"]["resources"]["memory"]["limit"] == 1 << 26
    assert s["hostname"] == "h" and "TERM=xterm" in s["process"]["env"]
    with pytest.raises(lcd.InvalidArgument, match="cwd"):
        lcd.default_spec(cwd="relative")


def test_exec_ambient_capabilities_and_console_size(
    client: lcd.Client, backend: lcd.CollectingBackend
) -> None:
    cid = unique_id("execcaps")
    client.create(cid, sh("sleep 300"))
    backend.wait_for(cid, lcd.State.START_CONTAINER, TIMEOUT)
    status = "grep -E '^Cap(Amb|Eff)' /proc/self/status"
    base = {"args": ["sh", "-c", status], "user": {"uid": 1000, "gid": 1000}, "capabilities": ["CAP_NET_BIND_SERVICE"]}
    client.add_process(cid, "plain", base)
    client.add_process(cid, "asked", {**base, "ambientCapabilities": ["CAP_NET_BIND_SERVICE"]})
    for pid, caps in (("plain", "0000000000000000"), ("asked", "0000000000000400")):
        backend.wait_for(cid, lcd.State.EXIT_PROCESS, TIMEOUT, process_id=pid)
        assert backend.wait_output(cid, pid).stdout.decode() == f"CapEff:\t{caps}\nCapAmb:\t{caps}\n"
    client.add_process(cid, "tty", {"args": ["stty", "size"], "terminal": True, "consoleSize": {"height": 33, "width": 111}})
    backend.wait_for(cid, lcd.State.EXIT_PROCESS, TIMEOUT, process_id="tty")
    assert backend.wait_output(cid, "tty").stdout.decode().strip() == "33 111"
    client.stop(cid, sig=signal.SIGKILL, grace=1)
