"""``linkstats simulator``: the simulator in the foreground, for pointing other code at."""

from __future__ import annotations

import argparse
import asyncio

from ..testing import (
    Faults,
    PauboxConfig,
    RateLimit,
    SendGridConfig,
    Simulator,
    SimulatorConfig,
)
from . import EXIT_OK, UsageError


async def simulator(arguments: argparse.Namespace) -> int:
    """Serve until interrupted, after saying where, with the variables of each registered
    provider it serves; with `--advance-every`, the click counts grow while it serves."""
    try:
        rate_limit = None if arguments.rate_limit is None else RateLimit(limit=arguments.rate_limit)
        config = SimulatorConfig(
            seed=arguments.seed,
            faults=Faults(
                latency=arguments.latency,
                server_error_rate=arguments.error_rate,
                drop_rate=arguments.drop_rate,
                malformed_rate=arguments.malformed_rate,
            ),
            # One budget per provider and key; SendGrid keeps its generous one when none is given.
            paubox=PauboxConfig(rate_limit=rate_limit),
            sendgrid=SendGridConfig()
            if rate_limit is None
            else SendGridConfig(rate_limit=rate_limit),
            behaviors=dict(arguments.behavior),
        )
    except (TypeError, ValueError) as error:
        raise UsageError(str(error)) from None
    try:
        running = Simulator(config, host=arguments.host, port=arguments.port)
        await running.__aenter__()
    except OSError as error:
        raise UsageError(
            f"cannot listen on {arguments.host}:{arguments.port}: {error.strerror}"
        ) from None
    try:
        served = running.environment()
        exports = " ".join(
            f"{name}={served[name]}"
            for info in arguments.providers.values()
            for name in (info.base_url_variable, *info.environment)
            if name in served
        )
        print(
            f"Simulator on {running.url} (Ctrl-C to stop). Try:\n"
            f"  export {exports}\n"
            "  linkstats list\n"
            "  linkstats fetch --all",
            flush=True,
        )
        # The task group cancels the growth and waits for it when serving ends.
        async with asyncio.TaskGroup() as tasks:
            advance_every = getattr(arguments, "advance_every", None)
            if advance_every is not None and advance_every > 0:
                tasks.create_task(_advance_every(running, advance_every))
            await asyncio.Event().wait()
    finally:
        await running.__aexit__(None, None, None)
    return EXIT_OK


async def _advance_every(running: Simulator, seconds: float) -> None:
    """Move the simulator on by one period every `seconds`, so clients see the counts grow."""
    while True:
        await asyncio.sleep(seconds)
        running.advance()
