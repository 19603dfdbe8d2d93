"""A faithful simulator of the Paubox Marketing and SendGrid link statistics APIs.

`Simulator` serves on loopback, following the providers' OpenAPI documents:

- Paubox (`linkstats.testing.paubox`), under `/v1/orca/{username}` and the newer
  `/v1/marketing`: `GET /tracking_links`, `GET /analytics/campaign_mailing_sends_table` and
  `GET /analytics/tracking_links_by_unique_link`;
- SendGrid (`linkstats.testing.sendgrid`): `GET /v3/marketing/stats/automations/{id}/links`,
  `GET /v3/marketing/stats/singlesends/{id}/links`, and the listings
  `GET /v3/marketing/stats/automations` and `GET /v3/marketing/stats/singlesends`;

with deterministic data, rate limits, faults and scripted behaviours per id or for the listings,
so tests and benchmarks run against real HTTP without the network. `SimulatorConfig` holds one
config per provider (`paubox=PauboxConfig(...)`, `sendgrid=SendGridConfig(...)`) beside the
knobs every provider shares. `make_app` gives the bare `aiohttp.web.Application` for other
runners; the data functions tell a test what the simulator serves without going through HTTP.
Click counts are running totals that grow, deterministically, with `SimulatorConfig.period`;
`Simulator.advance` moves a running simulator on, so a test can compute the growth between two
fetches.

Default answers follow the official response schemas, with the two deviations the providers'
own docs say real answers carry: templated URLs (`{{first_name}}`) against `format: uri`, and
`"all"` for `step_id`, `ab_variation` and `ab_phase` against `format: uuid`. `Quirks` turns on
the undocumented forms a tolerant client must survive.
"""

from ._config import SimulatorConfig
from ._core import SIMULATOR_STATE, SimulatorState
from ._draws import URL_POOL
from ._knobs import Behavior, BrokenResponse, Faults, Quirks, RateLimit
from ._log import RequestRecord, SimulatorLog
from ._server import Simulator, make_app
from .paubox import (
    SUBSCRIPTION_LIST_NAMES,
    PauboxConfig,
    PauboxErrorShape,
    paubox_send_ids,
    paubox_sends_table,
    paubox_tracking_links,
    paubox_tracking_links_by_unique_link,
)
from .sendgrid import (
    SendGridConfig,
    sendgrid_automation_ids,
    sendgrid_automation_links,
    sendgrid_automation_list,
    sendgrid_automation_steps,
    sendgrid_single_send_ids,
    sendgrid_single_send_links,
    sendgrid_single_send_list,
    sendgrid_single_send_variations,
)

__all__ = [
    "SIMULATOR_STATE",
    "SUBSCRIPTION_LIST_NAMES",
    "URL_POOL",
    "Behavior",
    "BrokenResponse",
    "Faults",
    "PauboxConfig",
    "PauboxErrorShape",
    "Quirks",
    "RateLimit",
    "RequestRecord",
    "SendGridConfig",
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
