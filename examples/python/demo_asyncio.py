#!/usr/bin/env python3
"""demo_asyncio: examples/demo.c's tour of libcontainerd, from one asyncio event loop.

    python3 examples/python/demo_asyncio.py <state_dir> <rootfs_dir>

The same steps as demo.py, through libcontainerd.aio: every call is awaited (the
blocking C calls run on a thread pool executor), events arrive through an async
iterator, and each process's output is read on the loop itself (the backend hands the
pipes to the loop with ``loop.connect_read_pipe``). Needs root and the binding.

With LCD_DEMO_REGISTRY=<host:port> (a registry reached over plain HTTP, e.g. one that
scripts/test-registry.sh seeds), it first pulls LCD_DEMO_IMAGE (default
test/busybox:latest) from it, showing the pull's progress as it comes (the library's
progress thread hands each report to the loop, which prints it: one updating line on a
terminal, a line per report otherwise), and runs a container "demo-image" from that image
until it exits.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import signal
import sys
from typing import Any, BinaryIO, Dict, List, Optional

import libcontainerd as lcd
from libcontainerd import aio
from progress import ProgressLine

CONTAINER = "demo"
EXEC_ID = "ps"
IMAGE_CONTAINER = "demo-image"


def say(line: str) -> None:
    """Prints one line (only the loop's thread prints)."""
    print(line, flush=True)


class LoopStreams(lcd.Backend):
    """Hands every process's output to the event loop, which prints it line by line."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.copies: "List[concurrent.futures.Future[None]]" = []

    def attach_streams(self, container_id: str, process_id: str, io: lcd.IOPipe) -> None:
        # Runs on an executor thread, inside create/add_process: schedule the readers
        # on the loop. Output must be read to its end, or the process blocks.
        io.stdin.close()
        for name, stream in (("stdout", io.stdout), ("stderr", io.stderr)):
            if stream is not None:
                label = f"{container_id}/{process_id} {name}"
                self.copies.append(asyncio.run_coroutine_threadsafe(self._copy(label, stream), self.loop))

    async def _copy(self, label: str, stream: BinaryIO) -> None:
        reader = asyncio.StreamReader()
        transport, _ = await self.loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), stream)
        try:
            async for line in reader:
                say(f"[{label}] {line.decode(errors='replace').rstrip(chr(10))}")
        finally:
            transport.close()


def spec(rootfs: str) -> Dict[str, Any]:
    """The library's default spec: busybox sh in a read-only rootfs, in its own namespaces."""
    return lcd.default_spec(
        rootfs=rootfs, readonly=True, hostname="demo",
        args=["sh", "-c", "echo hello from the container; i=0; while [ $i -lt 3 ]; do echo tick $i; "
              "i=$((i+1)); sleep 1; done; sleep 30"])


async def print_events(events: aio.EventStream, exits: "asyncio.Queue[lcd.StateInfo]") -> None:
    """Prints every event; hands exits to the main task."""
    async for ev in events:
        i = ev.info
        say(f"event: {ev.container_id} {i.state} process={i.process_id} pid={i.pid} exit_code={i.exit_code}")
        if i.state in (lcd.State.EXIT, lcd.State.EXIT_PROCESS):
            exits.put_nowait(i)


async def wait_exit(exits: "asyncio.Queue[lcd.StateInfo]", process_id: str) -> lcd.StateInfo:
    """The exit event of ``process_id`` (``init``: the container's), within 10 s."""
    async def next_exit() -> lcd.StateInfo:
        while True:
            info = await exits.get()
            if info.process_id == process_id:
                return info
    return await asyncio.wait_for(next_exit(), 10)


async def pull_and_run(remote: aio.Remote, client: aio.Client, exits: "asyncio.Queue[lcd.StateInfo]",
                       registry: str, image: str) -> None:
    """Pulls registry/image (plain HTTP) with the live progress line, then runs a
    container from it until it exits with 0."""
    ref = f"{registry}/{image}"
    say(f"pulling {ref}")
    loop, line = asyncio.get_running_loop(), ProgressLine()

    def progress(p: lcd.PullProgress) -> None:
        # On the library's progress thread: the loop prints. Every report is scheduled
        # before the pull returns, so before the await below resumes.
        loop.call_soon_threadsafe(line.report, p)

    try:
        img = await remote.pull(ref, plain_http=[registry], progress=progress)
    finally:
        line.end()
    say(f"pulled: {img.name} {img.digest} ({img.size} bytes)")
    # The image's config fills the process: no args, no rootfs in the spec.
    await client.create(IMAGE_CONTAINER, lcd.default_spec(hostname=IMAGE_CONTAINER), image=ref)
    say(f"created and started container {IMAGE_CONTAINER} from {ref}")
    code = (await wait_exit(exits, "init")).exit_code
    say(f"container {IMAGE_CONTAINER} exited with {code}")
    if code != 0:
        raise RuntimeError(f"{IMAGE_CONTAINER} exited with {code}")


async def demo(state_dir: str, rootfs: str) -> None:
    say(f"libcontainerd {lcd.library_version()} (ABI {lcd.ABI_VERSION})")
    streams = LoopStreams(asyncio.get_running_loop())
    async with aio.Remote(state_dir=state_dir, start_daemon=True) as remote:
        say(f"containerd is up, state in {state_dir}")
        async with await remote.client(streams) as client:
            exits: "asyncio.Queue[lcd.StateInfo]" = asyncio.Queue()
            printer = asyncio.ensure_future(print_events(client.events(), exits))
            registry = os.environ.get("LCD_DEMO_REGISTRY")
            if registry:
                await pull_and_run(remote, client, exits, registry, os.environ.get("LCD_DEMO_IMAGE") or "test/busybox:latest")
            await client.create(CONTAINER, spec(rootfs))
            say(f"created and started container {CONTAINER}")
            await asyncio.sleep(2)
            try:
                # Run ps inside it, with its output and exit code.
                await client.add_process(CONTAINER, EXEC_ID, {"args": ["sh", "-c", "ps; echo exec says hi"]})
                say(f"exec {EXEC_ID} exited with {(await wait_exit(exits, EXEC_ID)).exit_code}")
                say(f"stats: {json.dumps(await client.stats(CONTAINER))}")
                containers = [vars(c) | {"processes": [vars(p) for p in c.processes]} for c in await client.list()]
                say(f"list: {json.dumps(containers)}")
            finally:
                await client.signal(CONTAINER, signal.SIGKILL)
                say(f"container {CONTAINER} exited with {(await wait_exit(exits, 'init')).exit_code}")
        await printer  # the stream ends once the client is closed
        await asyncio.wait_for(asyncio.gather(*(asyncio.wrap_future(f) for f in streams.copies)), 5)
        await remote.cleanup()


def main(argv: List[str]) -> int:
    if len(argv) != 3:
        print(f"usage: {argv[0]} <state_dir> <rootfs_dir>", file=sys.stderr)
        return 2
    error: Optional[BaseException] = None
    try:
        asyncio.run(demo(os.path.abspath(argv[1]), os.path.realpath(argv[2])))
    except (lcd.LibcontainerdError, asyncio.TimeoutError, RuntimeError) as e:
        error = e
    if error is not None:
        print(f"demo: {error!r}", file=sys.stderr)
        say("demo failed")
        return 1
    say("demo finished")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
