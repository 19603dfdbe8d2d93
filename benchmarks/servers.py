"""The simulator in a process of its own, so its work does not count as the client's."""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
from collections.abc import Iterator
from typing import Any

from yarl import URL

from linkstats.testing import Simulator, SimulatorConfig

# Nothing here reads the request log. Kept whole, it grows by every request of every round,
# and the server's garbage collector, passing over it, stalled whole rounds for 100-200 ms.
_LOG_LIMIT = 1_000


def _serve(options: dict[str, Any], ready: Any) -> None:
    async def run() -> None:
        config = SimulatorConfig(**{"log_limit": _LOG_LIMIT, **options})
        async with Simulator(config) as simulator:
            ready.put(simulator.url.port)
            await asyncio.Event().wait()

    asyncio.run(run())


# The cores this process may use, as it started, before `pin` narrows them.
_CORES = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []


def pin(pid: int, *, server: bool) -> None:
    """Keep the simulator on the last core and the clients off it, where there are two or
    more: sharing cores, one side's work shows up as the other's, round by round."""
    if len(_CORES) >= 2:
        os.sched_setaffinity(pid, {_CORES[-1]} if server else set(_CORES[:-1]))


@contextlib.contextmanager
def serving(**options: Any) -> Iterator[URL]:
    """Run ``Simulator(SimulatorConfig(**options))`` in a child process; yield its origin."""
    context = multiprocessing.get_context("spawn")
    ready: Any = context.Queue()
    process = context.Process(target=_serve, args=(options, ready), daemon=True)
    process.start()
    if process.pid is not None:
        pin(process.pid, server=True)
    try:
        yield URL.build(scheme="http", host="127.0.0.1", port=ready.get(timeout=60))
    finally:
        process.terminate()
        process.join()
