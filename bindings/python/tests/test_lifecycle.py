"""Containers through the Python binding on a real containerd: exit codes, exact
output, stdin, execs, terminals, pause/resume, stats, resources, OOM, restarts."""

from __future__ import annotations

import signal
import time

import libcontainerd as lcd
from conftest import TIMEOUT, spec, unique_id, wait_until, with_memory_limit
from libcontainerd import State


def cgroup_file(controller: str, id: str, name: str) -> str:
    """A file of the container's cgroup (v1; the library's default path)."""
    with open(f"/sys/fs/cgroup/{controller}/lcdpy/{id}/{name}") as f:
        return f.read().strip()


def test_create_reports_start_and_exit_code(client: lcd.Client, backend: lcd.CollectingBackend) -> None:
    id = unique_id("exit")
    t0 = time.time()
    client.create(id, spec(["sh", "-c", "exit 7"]))
    start = backend.wait_for(id, State.START_CONTAINER, TIMEOUT)
    assert start.pid > 0
    assert start.process_id == "init"
    ex = backend.wait_for(id, State.EXIT, TIMEOUT)
    assert ex.exit_code == 7
    assert ex.process_id == "init"
    assert not ex.oom_killed
    assert ex.exited_at is not None and ex.exited_at.timestamp() >= t0 - 1
    assert backend.states(id) == ["start-container", "exit"]
    # The id is free again once exit is delivered.
    assert all(c.id != id for c in client.list())
    client.create(id, spec(["true"]))
    assert backend.wait_for(id, State.EXIT, TIMEOUT, nth=2).exit_code == 0


def test_exact_stdout_and_stderr(client: lcd.Client, backend: lcd.CollectingBackend) -> None:
    id = unique_id("echo")
    client.create(id, spec(["sh", "-c", "echo hello; echo oops >&2; printf 'no newline'"]))
    assert backend.wait_for(id, State.EXIT, TIMEOUT).exit_code == 0
    out = backend.wait_output(id, timeout=TIMEOUT)
    assert out.stdout == b"hello\nno newline"
    assert out.stderr == b"oops\n"
    assert not out.terminal


def test_large_output_arrives_whole(client: lcd.Client, backend: lcd.CollectingBackend) -> None:
    id = unique_id("big")
    # 2 MiB of 'x', well past every pipe buffer.
    client.create(id, spec(["sh", "-c", "head -c 2097152 /dev/zero | tr '\\0' x"]))
    backend.wait_for(id, State.EXIT, TIMEOUT)
    out = backend.wait_output(id, timeout=TIMEOUT)
    assert out.stdout == b"x" * 2097152


def test_stdin_close_delivers_eof(remote: lcd.Remote) -> None:
    backend = lcd.CollectingBackend(keep_stdin=True)
    with remote.client(backend) as client:
        id = unique_id("cat")
        client.create(id, spec(["cat"]))
        stdin = backend.stdin(id)
        stdin.write(b"abc")
        time.sleep(0.3)
        assert backend.count(id, State.EXIT) == 0, "cat exited before stdin was closed"
        stdin.write(b"def\n")
        stdin.close()
        assert backend.wait_for(id, State.EXIT, TIMEOUT).exit_code == 0
        assert backend.wait_output(id, timeout=TIMEOUT).stdout == b"abcdef\n"


def test_exec_exit_code_and_output(client: lcd.Client, backend: lcd.CollectingBackend) -> None:
    id = unique_id("exec")
    client.create(id, spec(["sleep", "300"]))
    backend.wait_for(id, State.START_CONTAINER, TIMEOUT)
    client.add_process(id, "x1", {"args": ["sh", "-c", "echo from exec; echo err >&2; exit 3"]})
    st = backend.wait_for(id, State.START_PROCESS, TIMEOUT, process_id="x1")
    assert st.pid > 0
    ex = backend.wait_for(id, State.EXIT_PROCESS, TIMEOUT, process_id="x1")
    assert ex.exit_code == 3
    assert ex.exited_at_unix_nano > 0
    out = backend.wait_output(id, "x1", TIMEOUT)
    assert (out.stdout, out.stderr) == (b"from exec\n", b"err\n")
    # User, env and cwd overrides.
    client.add_process(
        id,
        "x2",
        {"args": ["sh", "-c", "id -u; echo $X; pwd"], "user": {"uid": 1000, "gid": 1000},
         "env": ["PATH=/bin", "X=y"], "cwd": "/tmp"},
    )
    assert backend.wait_for(id, State.EXIT_PROCESS, TIMEOUT, process_id="x2").exit_code == 0
    assert backend.wait_output(id, "x2", TIMEOUT).stdout == b"1000\ny\n/tmp\n"
    # The container itself keeps running.
    assert backend.count(id, State.EXIT) == 0
    client.signal(id, signal.SIGKILL)
    assert backend.wait_for(id, State.EXIT, TIMEOUT).exit_code == 137


def test_exec_stdin_eof(remote: lcd.Remote) -> None:
    backend = lcd.CollectingBackend(keep_stdin=lambda container, process: process == "in")
    with remote.client(backend) as client:
        id = unique_id("execin")
        client.create(id, spec(["sleep", "300"]))
        client.add_process(id, "in", {"args": ["cat"]})
        stdin = backend.stdin(id, "in")
        stdin.write(b"through the exec")
        stdin.close()
        assert backend.wait_for(id, State.EXIT_PROCESS, TIMEOUT, process_id="in").exit_code == 0
        assert backend.wait_output(id, "in", TIMEOUT).stdout == b"through the exec"
        client.signal(id, signal.SIGKILL)
        backend.wait_for(id, State.EXIT, TIMEOUT)


def test_terminal_resize(remote: lcd.Remote) -> None:
    backend = lcd.CollectingBackend(keep_stdin=True)
    with remote.client(backend) as client:
        id = unique_id("tty")
        client.create(id, spec(["sleep", "300"]))
        client.add_process(id, "t", {"args": ["sh", "-c", "read x; stty size"], "terminal": True})
        assert backend.output(id, "t").terminal
        client.resize(id, "t", 100, 40)
        stdin = backend.stdin(id, "t")
        stdin.write(b"\n")
        backend.wait_for(id, State.EXIT_PROCESS, TIMEOUT, process_id="t")
        out = backend.wait_stdout_contains(id, b"40 100", "t", TIMEOUT)
        assert b"40 100" in out
        assert backend.output(id, "t").stderr == b""
        client.signal(id, signal.SIGKILL)
        backend.wait_for(id, State.EXIT, TIMEOUT)


def test_pause_resume(client: lcd.Client, backend: lcd.CollectingBackend) -> None:
    id = unique_id("pause")
    client.create(id, spec(["sleep", "300"]))
    backend.wait_for(id, State.START_CONTAINER, TIMEOUT)
    client.pause(id)
    assert cgroup_file("freezer", id, "freezer.state") == "FROZEN"
    backend.wait_for(id, State.PAUSE, TIMEOUT)
    assert [c.status for c in client.list() if c.id == id] == ["paused"]
    client.resume(id)
    assert cgroup_file("freezer", id, "freezer.state") == "THAWED"
    backend.wait_for(id, State.RESUME, TIMEOUT)
    assert [c.status for c in client.list() if c.id == id] == ["running"]
    # A signal reaches a paused container.
    client.pause(id)
    backend.wait_for(id, State.PAUSE, TIMEOUT, nth=2)
    client.signal(id, signal.SIGKILL)
    assert backend.wait_for(id, State.EXIT, TIMEOUT).exit_code == 137
    assert backend.count(id, State.EXIT) == 1


def test_stats_pids_summary_and_list(client: lcd.Client, backend: lcd.CollectingBackend) -> None:
    id = unique_id("stats")
    client.create(id, spec(["sh", "-c", "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; sleep 300"]))
    start = backend.wait_for(id, State.START_CONTAINER, TIMEOUT)
    time.sleep(0.3)
    s = client.stats(id)
    assert isinstance(s, dict)
    assert s["read"].endswith("Z"), s
    assert s["cpu"]["usage"]["total"] > 0, s
    assert s["memory"]["usage"]["usage"] > 0, s
    assert s["pids"]["current"] > 0, s
    assert "blkio" in s

    pids = client.get_pids(id)
    assert isinstance(pids, list) and all(isinstance(p, int) for p in pids)
    assert start.pid in pids

    client.add_process(id, "side", {"args": ["sleep", "300"]})
    side = backend.wait_for(id, State.START_PROCESS, TIMEOUT, process_id="side")
    summary = client.summary(id)
    assert lcd.ProcessSummary(start.pid, "init") in summary, summary
    assert lcd.ProcessSummary(side.pid, "side") in summary, summary
    assert side.pid in client.get_pids(id)

    (me,) = [c for c in client.list() if c.id == id]
    assert (me.pid, me.status) == (start.pid, "running")
    assert me.processes == [lcd.ProcessStatus("side", side.pid, "running")]

    client.signal(id, signal.SIGKILL)
    backend.wait_for(id, State.EXIT, TIMEOUT)
    states = backend.states(id)
    assert states.index("exit-process") < states.index("exit")


def test_update_resources(client: lcd.Client, backend: lcd.CollectingBackend) -> None:
    id = unique_id("res")
    client.create(id, spec(["sleep", "300"]))
    backend.wait_for(id, State.START_CONTAINER, TIMEOUT)
    client.update_resources(id, {"memory": {"limit": 67108864}, "cpu": {"shares": 512}})
    assert cgroup_file("memory", id, "memory.limit_in_bytes") == "67108864"
    assert cgroup_file("cpu", id, "cpu.shares") == "512"
    assert client.stats(id)["memory"]["usage"]["limit"] == 67108864
    client.signal(id, signal.SIGKILL)
    backend.wait_for(id, State.EXIT, TIMEOUT)


def test_oom_is_reported_and_sticks_to_the_exit(client: lcd.Client, backend: lcd.CollectingBackend) -> None:
    id = unique_id("oom")
    s = with_memory_limit(spec(["sh", "-c", "x=0123456789; while true; do x=$x$x; done"]), 33554432)
    client.create(id, s)
    ex = backend.wait_for(id, State.EXIT, 60)
    assert ex.oom_killed, backend.history(id)
    assert ex.exit_code == 137
    states = backend.states(id)
    assert "oom" in states
    assert states.index("oom") < states.index("exit")


def test_restart_policy_on_failure(client: lcd.Client, backend: lcd.CollectingBackend) -> None:
    id = unique_id("onfail")
    client.create(id, spec(["sh", "-c", "echo run; exit 1"]), restart_policy=lcd.RestartPolicy("on-failure", 2))
    assert backend.wait_for(id, State.EXIT, TIMEOUT).exit_code == 1
    assert backend.states(id) == [
        "start-container", "restart", "start-container", "restart", "start-container", "exit",
    ]
    ev = backend.history(id)
    # Backoff: 100 ms, then 200 ms, from each restart to the next start (with some
    # slack for the delivery of the events on a loaded machine).
    assert (ev[2].at - ev[1].at) + (ev[4].at - ev[3].at) >= 0.27, [e.at for e in ev]
    # Each run had its own stdio: the last one's output was collected.
    assert backend.wait_output(id, timeout=TIMEOUT).stdout == b"run\n"
    assert all(c.id != id for c in client.list())


def test_restart_policy_always_stops_on_explicit_stop(client: lcd.Client, backend: lcd.CollectingBackend) -> None:
    id = unique_id("always")
    client.create(id, spec(["sleep", "300"]), restart_policy="always")
    backend.wait_for(id, State.START_CONTAINER, TIMEOUT)
    client.signal(id, signal.SIGKILL)
    assert backend.wait_for(id, State.EXIT, TIMEOUT).exit_code == 137
    time.sleep(0.5)
    assert backend.states(id) == ["start-container", "exit"]


def test_restart_policy_always_restarts_a_success(client: lcd.Client, backend: lcd.CollectingBackend) -> None:
    id = unique_id("again")
    client.create(id, spec(["true"]), restart_policy={"name": "always"})
    backend.wait_for(id, State.START_CONTAINER, TIMEOUT, nth=3)
    client.signal(id, signal.SIGKILL)
    backend.wait_for(id, State.EXIT, TIMEOUT)
    assert backend.count(id, State.RESTART) >= 2
    wait_until(lambda: all(c.id != id for c in client.list()), what="the container to be gone")


def test_events_iterator(remote: lcd.Remote) -> None:
    backend = lcd.CollectingBackend()
    client = remote.client(backend)
    id = unique_id("iter")
    client.create(id, spec(["true"]))
    seen = []
    for ev in backend.events(id, timeout=TIMEOUT):
        seen.append(ev.state)
        if ev.state == State.EXIT:
            break
    assert seen == ["start-container", "exit"]
    client.close()
    # After close the iterator yields what was recorded, then ends.
    assert [e.state for e in backend.events()] == ["start-container", "exit"]
