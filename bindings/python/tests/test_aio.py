"""libcontainerd.aio on a real containerd: twenty containers from one event loop, each
exit seen exactly once; every call as a coroutine; a bounded event stream; a
handler of an asyncio server that runs a container per request."""

from __future__ import annotations

import asyncio
import inspect
import signal
from collections import Counter
from typing import Dict, List, Tuple

import pytest

import libcontainerd as lcd
from conftest import NAMESPACE, TIMEOUT, spec, unique_id
from libcontainerd import State, aio


def test_twenty_containers_from_one_loop_each_exit_once(state_dir: str, remote: lcd.Remote) -> None:
    n = 20
    ids = [unique_id(f"aio{i}") for i in range(n)]
    ticks = 0

    async def ticker(stop: asyncio.Event) -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            await asyncio.sleep(0.005)

    async def main() -> Tuple[List[lcd.Event], List[int]]:
        # A second remote on the session's state directory reuses its containerd.
        async with aio.Remote(state_dir=state_dir, namespace=NAMESPACE) as r:
            client = await r.client()
            events = client.events()
            stop = asyncio.Event()
            tick_task = asyncio.ensure_future(ticker(stop))
            ticks_during: List[int] = []

            async def create(i: int) -> None:
                before = ticks
                await client.create(ids[i], spec(["sh", "-c", f"sleep 0.2; exit {i}"]))
                ticks_during.append(ticks - before)

            await asyncio.wait_for(asyncio.gather(*(create(i) for i in range(n))), TIMEOUT * 2)
            exits = 0
            seen: List[lcd.Event] = []

            async def collect() -> None:
                nonlocal exits
                async for ev in events:
                    seen.append(ev)
                    if ev.state == State.EXIT:
                        exits += 1
                        if exits == n:
                            return

            await asyncio.wait_for(collect(), TIMEOUT * 2)
            stop.set()
            await tick_task
            # Closing the client ends the stream after every event it holds: any
            # duplicate exit would show up here.
            await client.close()
            async for ev in events:
                seen.append(ev)
            return seen, ticks_during

    seen, ticks_during = asyncio.run(main())
    exits: Dict[str, int] = {}
    counts = Counter((e.container_id, e.state) for e in seen)
    for ev in seen:
        if ev.state == State.EXIT:
            exits[ev.container_id] = ev.info.exit_code
    assert exits == {ids[i]: i for i in range(n)}
    for id in ids:
        assert counts[(id, State.START_CONTAINER)] == 1, [e for e in seen if e.container_id == id]
        assert counts[(id, State.EXIT)] == 1, [e for e in seen if e.container_id == id]
        states = [e.state for e in seen if e.container_id == id]
        assert states == [State.START_CONTAINER, State.EXIT]
    # The loop kept running while the creates were in flight on the executor.
    assert max(ticks_during) > 0, ticks_during
    with remote.client() as c:
        assert not any(info.id in ids for info in c.list())


def test_every_call_as_a_coroutine(state_dir: str) -> None:
    backend = lcd.CollectingBackend()

    async def main() -> None:
        async with aio.Remote(state_dir=state_dir, namespace=NAMESPACE) as r:
            async with await r.client(backend) as client:
                assert client.backend is backend
                # Every public method of the blocking client is a coroutine here.
                for name in dir(lcd.Client):
                    if not name.startswith("_") and callable(getattr(lcd.Client, name)):
                        assert inspect.iscoroutinefunction(getattr(client, name)), name
                for name in dir(lcd.Remote):
                    if not name.startswith("_") and callable(getattr(lcd.Remote, name)):
                        assert inspect.iscoroutinefunction(getattr(r, name)), name
                with pytest.raises(AttributeError):
                    client.no_such_method
                id = unique_id("aiocalls")
                async with client.events(id) as events:
                    await client.create(id, spec(["sleep", "300"]))
                    start = await asyncio.wait_for(events.wait_for(State.START_CONTAINER), TIMEOUT)
                    assert start.info.pid > 0
                    assert await client.get_pids(id) == [start.info.pid]
                    assert [p.process_id for p in await client.summary(id)] == ["init"]
                    listed = [c for c in await client.list() if c.id == id]
                    assert listed and listed[0].status == "running"
                    stats = await client.stats(id)
                    assert stats["pids"]["current"] == 1
                    await client.update_resources(id, {"pids": {"limit": 50}})
                    assert (await client.stats(id))["pids"]["limit"] == 50
                    await client.pause(id)
                    await asyncio.wait_for(events.wait_for(State.PAUSE), TIMEOUT)
                    await client.resume(id)
                    await asyncio.wait_for(events.wait_for(State.RESUME), TIMEOUT)
                    await client.add_process(id, "e1", {"args": ["sh", "-c", "echo from exec; exit 3"]})
                    ex = await asyncio.wait_for(
                        events.wait_for(State.EXIT_PROCESS, process_id="e1"), TIMEOUT
                    )
                    assert ex.info.exit_code == 3
                    assert backend.wait_output(id, "e1", TIMEOUT).stdout == b"from exec\n"
                    with pytest.raises(lcd.NotFound):
                        await client.signal_process(id, "nope", signal.SIGTERM)
                    await client.signal(id, signal.SIGKILL)
                    ev = await asyncio.wait_for(events.wait_for(State.EXIT), TIMEOUT)
                    assert ev.info.exit_code == 137
                with pytest.raises(lcd.InvalidArgument):
                    await client.create("../bad", spec(["true"]))
            assert client.closed

    asyncio.run(main())


def test_bounded_stream_ends_with_overflow(state_dir: str) -> None:
    async def main() -> None:
        async with aio.Remote(state_dir=state_dir, namespace=NAMESPACE) as r:
            async with await r.client() as client:
                id = unique_id("aiobound")
                bounded = client.events(id, max_pending=1)
                unbounded = client.events(id)
                await client.create(id, spec(["true"]))
                await asyncio.wait_for(unbounded.wait_for(State.EXIT), TIMEOUT)
                # start-container fitted; exit did not: the stream says so, after the
                # event it holds, instead of losing the exit silently.
                first = await bounded.__anext__()
                assert first.state == State.START_CONTAINER
                with pytest.raises(aio.EventOverflow):
                    await bounded.__anext__()
                with pytest.raises(StopAsyncIteration):
                    await bounded.__anext__()
                # A closed stream ends; a stream of a closed client too.
                await unbounded.aclose()
                assert [e async for e in unbounded] == []
                late = client.events()
            assert [e async for e in late] == []
            with pytest.raises(ValueError):
                client.events(max_pending=-1)

    asyncio.run(main())


def test_asyncio_server_handler_runs_a_container_per_request(state_dir: str) -> None:
    """An asyncio TCP server whose handler runs a container for each request and
    answers with its exit code, while the loop keeps serving other requests."""

    async def main() -> List[bytes]:
        async with aio.Remote(state_dir=state_dir, namespace=NAMESPACE) as r:
            async with await r.client() as client:

                async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
                    code = int((await reader.readline()).strip() or b"0")
                    id = unique_id("aioweb")
                    async with client.events(id) as events:
                        await client.create(id, spec(["sh", "-c", f"exit {code}"]))
                        ev = await events.wait_for(State.EXIT)
                    writer.write(f"{ev.info.exit_code}\n".encode())
                    await writer.drain()
                    writer.close()

                server = await asyncio.start_server(handle, "127.0.0.1", 0)
                port = server.sockets[0].getsockname()[1]

                async def request(code: int) -> bytes:
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                    writer.write(f"{code}\n".encode())
                    await writer.drain()
                    answer = await reader.readline()
                    writer.close()
                    return answer

                async with server:
                    return list(
                        await asyncio.wait_for(asyncio.gather(*(request(c) for c in (0, 5, 42))), TIMEOUT * 2)
                    )

    assert asyncio.run(main()) == [b"0\n", b"5\n", b"42\n"]
