"""``linkstats simulator``: the simulator in the foreground, for pointing other code at."""

from __future__ import annotations

import argparse
import asyncio

from ..testing import Faults, RateLimit, Simulator, SimulatorConfig
from . import EXIT_OK, UsageError


async def simulator(arguments: argparse.Namespace) -> int:
    """Serve until interrupted, after saying where and with which demo credentials."""
    try:
        config = SimulatorConfig(
            seed=arguments.seed,
            faults=Faults(
                latency=arguments.latency,
                server_error_rate=arguments.error_rate,
                drop_rate=arguments.drop_rate,
                malformed_rate=arguments.malformed_rate,
            ),
            rate_limit=None
            if arguments.rate_limit is None
            else RateLimit(limit=arguments.rate_limit),
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
        print(
            f"Simulator on {running.url} (Ctrl-C to stop). Try:\n"
            f"  PAUBOX_USERNAME={config.paubox_username} PAUBOX_API_KEY={config.paubox_api_key} "
            f"SENDGRID_API_KEY={config.sendgrid_api_key} \\\n"
            f"  linkstats fetch --paubox-base-url {running.paubox_base_url} "
            f"--sendgrid-base-url {running.sendgrid_base_url} \\\n"
            "    --paubox-send 1308ab8d-a128-498c-8367-f71ac16934e8 "
            "--sendgrid-automation f15982c1-a82c-4e87-a6b2-a4a63b4b7644",
            flush=True,
        )
        await asyncio.Event().wait()
    finally:
        await running.__aexit__(None, None, None)
    return EXIT_OK
