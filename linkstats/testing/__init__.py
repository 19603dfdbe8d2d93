"""A faithful simulator of the Paubox Marketing and SendGrid link statistics APIs.

`Simulator` serves Paubox's `GET /v1/orca/{username}/tracking_links` and SendGrid's
`GET /v3/marketing/stats/automations/{id}/links` on loopback, following the providers' OpenAPI
documents, with deterministic data, rate limits, faults and scripted per-id behaviours, so tests
and benchmarks run against real HTTP without the network. `make_app` gives the bare
`aiohttp.web.Application` for other runners; the data functions tell a test what the simulator
serves without going through HTTP.

Where the references disagree with themselves, one call was made: SendGrid's spec lists `step_id`
as required in every row but describes it as "the ID of the step if the stats were requested to
be grouped by step_id", so ungrouped rows carry no `step_id`.
"""

from ._app import SIMULATOR_STATE, SimulatorState, make_app
from ._config import Behavior, Faults, PauboxErrorShape, RateLimit, SimulatorConfig
from ._data import (
    URL_POOL,
    paubox_tracking_links,
    sendgrid_automation_links,
    sendgrid_automation_steps,
)
from ._log import Provider, RequestRecord, SimulatorLog
from ._server import Simulator

__all__ = [
    "SIMULATOR_STATE",
    "URL_POOL",
    "Behavior",
    "Faults",
    "PauboxErrorShape",
    "Provider",
    "RateLimit",
    "RequestRecord",
    "Simulator",
    "SimulatorConfig",
    "SimulatorLog",
    "SimulatorState",
    "make_app",
    "paubox_tracking_links",
    "sendgrid_automation_links",
    "sendgrid_automation_steps",
]
