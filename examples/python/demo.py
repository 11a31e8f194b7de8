#!/usr/bin/env python3
"""demo: a tour of libcontainerd from Python, doing what examples/demo.c does.

    python3 examples/python/demo.py <state_dir> <rootfs_dir>

Starts a containerd of its own under <state_dir>, runs a busybox container "demo"
from <rootfs_dir> that prints a few lines, execs `ps` in it, prints its stats and the
container list, kills it and waits for its exit event, then stops containerd. Every
event is printed as it arrives, and every line a process writes is printed prefixed
with container/process/stream. Needs root and the binding installed
(`pip install ./bindings/python`) or on PYTHONPATH.

With LCD_DEMO_REGISTRY=<host:port> (a registry reached over plain HTTP, e.g. one that
scripts/test-registry.sh seeds), it first pulls LCD_DEMO_IMAGE (default
test/busybox:latest) from it, showing the pull's progress as it comes (bytes done and in
all per layer: one updating line on a terminal, a line per report otherwise), and runs a
container "demo-image" from that image until it exits.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import sys
import threading
from typing import Any, BinaryIO, Dict, List

import libcontainerd as lcd
from progress import ProgressLine

CONTAINER = "demo"
EXEC_ID = "ps"
IMAGE_CONTAINER = "demo-image"

_out = threading.Lock()


def say(line: str) -> None:
    """Prints one whole line, from any thread."""
    with _out:
        print(line, flush=True)


class DemoBackend(lcd.Backend):
    """Prints every event and every line of output; hands exits to the main thread."""

    def __init__(self) -> None:
        self.exits: "queue.Queue[lcd.StateInfo]" = queue.Queue()
        self.copiers: List[threading.Thread] = []

    def state_changed(self, container_id: str, info: lcd.StateInfo) -> None:
        say(f"event: {container_id} {info.state} process={info.process_id} pid={info.pid} "
            f"exit_code={info.exit_code}")
        if info.state in (lcd.State.EXIT, lcd.State.EXIT_PROCESS):
            self.exits.put(info)

    def attach_streams(self, container_id: str, process_id: str, io: lcd.IOPipe) -> None:
        # Output must be read to its end, or the process blocks on a full pipe.
        io.stdin.close()
        for name, stream in (("stdout", io.stdout), ("stderr", io.stderr)):
            if stream is not None:
                t = threading.Thread(target=self._copy, args=(f"{container_id}/{process_id} {name}", stream))
                t.start()
                self.copiers.append(t)

    @staticmethod
    def _copy(label: str, stream: BinaryIO) -> None:
        with stream:
            for line in stream:
                say(f"[{label}] {line.decode(errors='replace').rstrip(chr(10))}")

    def wait_exit(self, process_id: str, timeout: float = 10.0) -> lcd.StateInfo:
        """The exit event of ``process_id`` (``init``: the container's)."""
        while True:
            info = self.exits.get(timeout=timeout)
            if info.process_id == process_id:
                return info


def spec(rootfs: str) -> Dict[str, Any]:
    """The library's default spec: busybox sh in a read-only rootfs, in its own namespaces."""
    return lcd.default_spec(
        rootfs=rootfs, readonly=True, hostname="demo",
        args=["sh", "-c", "echo hello from the container; i=0; while [ $i -lt 3 ]; do echo tick $i; "
              "i=$((i+1)); sleep 1; done; sleep 30"])


def pull_and_run(remote: lcd.Remote, client: lcd.Client, backend: DemoBackend, registry: str, image: str) -> None:
    """Pulls registry/image (plain HTTP) with the live progress line, then runs a
    container from it until it exits with 0."""
    ref = f"{registry}/{image}"
    say(f"pulling {ref}")
    line = ProgressLine()
    try:
        img = remote.pull(ref, plain_http=[registry], progress=line.report)
    finally:
        line.end()
    say(f"pulled: {img.name} {img.digest} ({img.size} bytes)")
    # The image's config fills the process: no args, no rootfs in the spec.
    client.create(IMAGE_CONTAINER, lcd.default_spec(hostname=IMAGE_CONTAINER), image=ref)
    say(f"created and started container {IMAGE_CONTAINER} from {ref}")
    code = backend.wait_exit("init", timeout=30).exit_code
    say(f"container {IMAGE_CONTAINER} exited with {code}")
    if code != 0:
        raise RuntimeError(f"{IMAGE_CONTAINER} exited with {code}")


def main(argv: List[str]) -> int:
    if len(argv) != 3:
        print(f"usage: {argv[0]} <state_dir> <rootfs_dir>", file=sys.stderr)
        return 2
    state_dir, rootfs = os.path.abspath(argv[1]), os.path.realpath(argv[2])
    say(f"libcontainerd {lcd.library_version()} (ABI {lcd.ABI_VERSION})")
    backend = DemoBackend()
    try:
        # Every blocking call takes timeout= (seconds) and cancel= (a CancelToken).
        with lcd.Remote(state_dir=state_dir, start_daemon=True, timeout=60) as remote:
            say(f"containerd is up, state in {state_dir}")
            with remote.client(backend) as client:
                registry = os.environ.get("LCD_DEMO_REGISTRY")
                if registry:
                    pull_and_run(remote, client, backend, registry, os.environ.get("LCD_DEMO_IMAGE") or "test/busybox:latest")
                client.create(CONTAINER, spec(rootfs), timeout=30)
                say(f"created and started container {CONTAINER}")
                threading.Event().wait(2)
                try:
                    # Run ps inside it, with its output and exit code.
                    client.add_process(CONTAINER, EXEC_ID, {"args": ["sh", "-c", "ps; echo exec says hi"]})
                    say(f"exec {EXEC_ID} exited with {backend.wait_exit(EXEC_ID).exit_code}")
                    say(f"stats: {json.dumps(client.stats(CONTAINER))}")
                    say(f"list: {json.dumps([vars(c) | {'processes': [vars(p) for p in c.processes]} for c in client.list()])}")
                finally:
                    client.signal(CONTAINER, signal.SIGKILL)
                    say(f"container {CONTAINER} exited with {backend.wait_exit('init').exit_code}")
            remote.cleanup()
    except (lcd.LibcontainerdError, queue.Empty, RuntimeError) as e:
        print(f"demo: {e!r}", file=sys.stderr)
        say("demo failed")
        return 1
    for t in backend.copiers:
        t.join(5)
    say("demo finished")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
