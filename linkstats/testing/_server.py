"""`make_app` and `Simulator`: every simulated provider on one origin."""

from __future__ import annotations

from typing import TYPE_CHECKING, Self

import attrs
from aiohttp import web
from yarl import URL

from ._config import SimulatorConfig
from ._core import SIMULATOR_STATE, build_app
from .paubox import PauboxSimulation
from .sendgrid import SendGridSimulation

if TYPE_CHECKING:
    from ._log import SimulatorLog

__all__ = ["Simulator", "make_app"]

# Connections waiting to be accepted. aiohttp's default of 128 makes the 129th of a burst of
# clients wait a second for a SYN retransmission, which would make the simulator the bottleneck.
_BACKLOG = 4096


def make_app(config: SimulatorConfig | None = None) -> web.Application:
    """Build the simulator application; its state is at `app[SIMULATOR_STATE]`."""
    config = config or SimulatorConfig()
    return build_app(config, (PauboxSimulation(config), SendGridSimulation(config)))


class Simulator:
    """Both provider APIs on a local port; everything it started is stopped on exit."""

    def __init__(
        self, config: SimulatorConfig | None = None, *, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.config = config or SimulatorConfig()
        self._app = make_app(self.config)
        self._host = host
        self._port = port
        self._runner: web.AppRunner | None = None
        self._url: URL | None = None

    @property
    def log(self) -> SimulatorLog:
        """Every request received, with its answer's status."""
        return self._app[SIMULATOR_STATE].log

    @property
    def url(self) -> URL:
        """The origin being served, such as `http://127.0.0.1:54321`."""
        if self._url is None:
            raise RuntimeError("the simulator is not running: use `async with Simulator(...)`")
        return self._url

    @property
    def paubox_base_url(self) -> URL:
        """Paubox's base URL without the username, which Paubox puts in the path."""
        return self.url / "v1/orca"

    @property
    def paubox_marketing_base_url(self) -> URL:
        """Paubox's newer base URL, which has no username: as `https://api.paubox.com/v1/marketing`."""
        return self.url / "v1/marketing"

    @property
    def sendgrid_base_url(self) -> URL:
        """SendGrid's base URL: the origin, as for `https://api.sendgrid.com`."""
        return self.url

    def advance(self, periods: int = 1) -> None:
        """Grow the click counts by `periods` periods from the next request on, as a real
        account's running totals grow between two fetches.

        `config` becomes the config of the new period, so the data functions given it say what
        is served now.
        """
        if periods < 1:
            raise ValueError(f"periods must be at least 1, got {periods}")
        self.config = attrs.evolve(self.config, period=self.config.period + periods)
        self._app[SIMULATOR_STATE].advance_to(self.config)

    def environment(self) -> dict[str, str]:
        """The environment variables that point linkstats's command line and providers here.

        Base URLs and the demo credentials of each provider served, by the names the
        providers read them from.
        """
        served: dict[str, str] = {}
        for simulation in self._app[SIMULATOR_STATE].simulations:
            served.update(simulation.environment(self.url))
        return served

    async def __aenter__(self) -> Self:
        if self._runner is not None:
            raise RuntimeError("the simulator is already running")
        # handler_cancellation stops a handler, a hanging one included, when its client leaves.
        runner = web.AppRunner(self._app, handler_cancellation=True, access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, self._host, self._port, backlog=_BACKLOG).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._url = URL.build(scheme="http", host=self._host, port=runner.addresses[0][1])
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        runner, self._runner, self._url = self._runner, None, None
        if runner is not None:
            await runner.cleanup()
