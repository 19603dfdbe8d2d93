"""A faithful simulator of the Paubox Marketing and SendGrid link statistics APIs.

`Simulator` serves on loopback, following the providers' OpenAPI documents:

- Paubox, under `/v1/orca/{username}` and the newer `/v1/marketing`: `GET /tracking_links`,
  `GET /analytics/campaign_mailing_sends_table` and
  `GET /analytics/tracking_links_by_unique_link`;
- SendGrid: `GET /v3/marketing/stats/automations/{id}/links`,
  `GET /v3/marketing/stats/singlesends/{id}/links`, and the listings
  `GET /v3/marketing/stats/automations` and `GET /v3/marketing/stats/singlesends`;

with deterministic data, rate limits, faults and scripted behaviours per id or for the listings,
so tests and benchmarks run against real HTTP without the network. `make_app` gives the bare
`aiohttp.web.Application` for other runners; the data functions tell a test what the simulator
serves without going through HTTP.

Ungrouped automation rows carry `"step_id": "all"`, as SendGrid's real answers do (its spec marks
`step_id` required and `format: uuid`; the answers contradict the format, not the requirement).
"""

from ._app import SIMULATOR_STATE, SimulatorState, make_app
from ._config import (
    Behavior,
    BrokenResponse,
    Faults,
    PauboxErrorShape,
    Quirks,
    RateLimit,
    SimulatorConfig,
)
from ._data import (
    SUBSCRIPTION_LIST_NAMES,
    URL_POOL,
    paubox_send_ids,
    paubox_sends_table,
    paubox_tracking_links,
    paubox_tracking_links_by_unique_link,
    sendgrid_automation_ids,
    sendgrid_automation_links,
    sendgrid_automation_list,
    sendgrid_automation_steps,
    sendgrid_single_send_ids,
    sendgrid_single_send_links,
    sendgrid_single_send_list,
    sendgrid_single_send_variations,
)
from ._log import RequestRecord, SimulatedProvider, SimulatorLog
from ._server import Simulator

__all__ = [
    "SIMULATOR_STATE",
    "SUBSCRIPTION_LIST_NAMES",
    "URL_POOL",
    "Behavior",
    "BrokenResponse",
    "Faults",
    "PauboxErrorShape",
    "Quirks",
    "RateLimit",
    "RequestRecord",
    "SimulatedProvider",
    "Simulator",
    "SimulatorConfig",
    "SimulatorLog",
    "SimulatorState",
    "make_app",
    "paubox_send_ids",
    "paubox_sends_table",
    "paubox_tracking_links",
    "paubox_tracking_links_by_unique_link",
    "sendgrid_automation_ids",
    "sendgrid_automation_links",
    "sendgrid_automation_list",
    "sendgrid_automation_steps",
    "sendgrid_single_send_ids",
    "sendgrid_single_send_links",
    "sendgrid_single_send_list",
    "sendgrid_single_send_variations",
]
