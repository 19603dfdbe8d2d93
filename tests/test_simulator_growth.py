"""The simulator's click counts growing with `SimulatorConfig.period` and `Simulator.advance`.

Stats endpoints report lifetime running totals, so each period only adds clicks: rows already
served never lose any, links without clicks may gain their first, and the growth is fixed by the
config alone, in every process.
"""

import hashlib
import itertools
import json
import os
import subprocess
import sys
from typing import Any

import aiohttp
import orjson
import pytest
from simulator_http import (
    AUTOMATION_ID,
    PAUBOX_AUTH,
    SEND_ID,
    SINGLE_SEND_ID,
    all_pages,
    automation_links_url,
    automations_url,
    follow_pages,
    get,
    get_paubox,
    results_of,
    single_send_links_url,
    unique_links_url,
)

from linkstats.testing import (
    Simulator,
    SimulatorConfig,
    paubox_send_ids,
    paubox_sends_table,
    paubox_tracking_links,
    paubox_tracking_links_by_unique_link,
    sendgrid_automation_ids,
    sendgrid_automation_links,
    sendgrid_automation_list,
    sendgrid_single_send_ids,
    sendgrid_single_send_links,
    sendgrid_single_send_list,
)
from linkstats.testing._draws import grown

CELLS = ("ab_variation", "ab_phase")

# A count by where it sits: (resource kind, resource id, then the row's place in the resource).
Counts = dict[tuple[str, ...], int]


def served(config: SimulatorConfig) -> dict[str, list[dict[str, Any]]]:
    """Every body the data functions say the simulator serves for `config`, by endpoint and id."""
    data = {
        "sendgrid/automations": sendgrid_automation_list(config),
        "sendgrid/singlesends": sendgrid_single_send_list(config),
        "paubox/sends": paubox_sends_table(config),
    }
    for automation_id in sendgrid_automation_ids(config):
        data[f"sendgrid/automation/{automation_id}"] = sendgrid_automation_links(
            config, automation_id
        )
        data[f"sendgrid/automation/{automation_id}/steps"] = sendgrid_automation_links(
            config, automation_id, group_by_step=True
        )
    for single_send_id in sendgrid_single_send_ids(config):
        data[f"sendgrid/singlesend/{single_send_id}"] = sendgrid_single_send_links(
            config, single_send_id
        )
        data[f"sendgrid/singlesend/{single_send_id}/cells"] = sendgrid_single_send_links(
            config, single_send_id, group_by=CELLS
        )
    for send_id in paubox_send_ids(config):
        data[f"paubox/send/{send_id}"] = paubox_tracking_links(config, send_id)
        data[f"paubox/send/{send_id}/links"] = paubox_tracking_links_by_unique_link(config, send_id)
    return data


def step_counts(config: SimulatorConfig, automation_id: str) -> Counts:
    """An automation's clicks by step and link, as its links grouped by step list them."""
    rows = sendgrid_automation_links(config, automation_id, group_by_step=True)
    return {(row["step_id"], str(row["url_location"])): row["clicks"] for row in rows}


def counts(config: SimulatorConfig) -> Counts:
    """Every click count the simulator serves for `config`, at its finest grain, by place."""
    found: Counts = {}
    for automation_id in sendgrid_automation_ids(config):
        for place, clicks in step_counts(config, automation_id).items():
            found["automation", automation_id, *place] = clicks
    for single_send_id in sendgrid_single_send_ids(config):
        for row in sendgrid_single_send_links(config, single_send_id, group_by=CELLS):
            place = (row["ab_variation"], row["ab_phase"], str(row["url_location"]))
            found["single_send", single_send_id, *place] = row["clicks"]
    for send_id in paubox_send_ids(config):
        for row in paubox_tracking_links(config, send_id):
            # A row lacking `clicked` counts 0, as the per-link totals count it.
            found["tracking_link", send_id, row["id"]] = row["attributes"].get("clicked") or 0
    return found


def kinds(places: set[tuple[str, ...]]) -> set[str]:
    return {place[0] for place in places}


def test_period_0_is_the_data_as_drawn() -> None:
    """Period 0 serves exactly what a config without a period does, byte for byte, and what
    the simulator served before its counts could grow (pinned here by digest)."""
    unset = served(SimulatorConfig(seed=7))
    assert served(SimulatorConfig(seed=7, period=0)) == unset
    digests = {
        seed: hashlib.blake2b(
            orjson.dumps(served(SimulatorConfig(seed=seed)), option=orjson.OPT_SORT_KEYS),
            digest_size=16,
        ).hexdigest()
        for seed in (0, 7)
    }
    assert digests == {
        0: "99bf6d3bd892b3ab2dde639f37665599",
        7: "52908cc4c73895636320ae39321d2c40",
    }


@pytest.mark.parametrize("period", [0, 1, 4])
def test_each_period_only_adds_clicks(period: int) -> None:
    """Every count served stays served and never falls; some rise in every provider."""
    before = counts(SimulatorConfig(seed=3, period=period))
    after = counts(SimulatorConfig(seed=3, period=period + 1))
    assert before.keys() <= after.keys()
    assert all(after[place] >= clicks for place, clicks in before.items())
    grew = {place for place, clicks in before.items() if after[place] > clicks}
    assert kinds(grew) == {"automation", "single_send", "tracking_link"}
    # New rows come only from SendGrid, which lists links once clicked; Paubox lists them all.
    assert kinds(after.keys() - before.keys()) <= {"automation", "single_send"}


def test_no_listed_metric_falls_as_clicks_grow() -> None:
    """The listings' metrics are lifetime totals too: clicks rise, and nothing else falls."""
    config = SimulatorConfig(seed=3)
    for listing in (sendgrid_automation_list, sendgrid_single_send_list):
        first = {row["id"]: row["stats"] for row in listing(config)}
        later = {row["id"]: row["stats"] for row in listing(SimulatorConfig(seed=3, period=5))}
        assert first.keys() == later.keys()
        assert all(
            later[listed][name] >= value
            for listed, stats in first.items()
            for name, value in stats.items()
        )
        assert any(later[listed]["clicks"] > stats["clicks"] for listed, stats in first.items())
        assert all(stats["clicks"] >= stats["unique_clicks"] for stats in later.values())


def test_unopened_paubox_links_never_gain_clicks() -> None:
    """Only an opened link is clicked: a row without clicks keeps none, while the per-link
    totals, which sum the rows, rise with the opened ones."""
    before, after = SimulatorConfig(seed=3), SimulatorConfig(seed=3, period=5)
    grew = False
    for send_id in paubox_send_ids(before):
        later = {row["id"]: row["attributes"] for row in paubox_tracking_links(after, send_id)}
        for row in paubox_tracking_links(before, send_id):
            if row["attributes"].get("clicked") == 0:
                assert later[row["id"]]["clicked"] == 0
        totals = paubox_tracking_links_by_unique_link(before, send_id)
        later_totals = paubox_tracking_links_by_unique_link(after, send_id)
        assert [row["html_id"] for row in later_totals] == [row["html_id"] for row in totals]
        assert all(
            late["clicked"] >= early["clicked"]
            for early, late in zip(totals, later_totals, strict=True)
        )
        grew = grew or later_totals != totals
    assert grew


def test_growth_is_the_same_in_another_process() -> None:
    """The growth is drawn from the config alone (BLAKE2, not `hash()`), so a second process,
    with other string hashes, computes the same."""
    before, after = counts(SimulatorConfig(seed=3)), counts(SimulatorConfig(seed=3, period=2))
    growth = {"/".join(place): clicks - before.get(place, 0) for place, clicks in after.items()}
    program = (
        "import json, sys; sys.path.insert(0, sys.argv[1])\n"
        "from test_simulator_growth import SimulatorConfig, counts\n"
        "before = counts(SimulatorConfig(seed=3))\n"
        "after = counts(SimulatorConfig(seed=3, period=2))\n"
        "print(json.dumps({'/'.join(place): clicks - before.get(place, 0)"
        " for place, clicks in after.items()}))\n"
    )
    other = subprocess.run(
        [sys.executable, "-c", program, os.path.dirname(__file__)],
        capture_output=True,
        check=True,
        text=True,
        env={**os.environ, "PYTHONHASHSEED": "12345"},
    )
    assert json.loads(other.stdout) == growth
    assert any(growth.values())


async def test_advance_serves_the_next_period_over_http(session: aiohttp.ClientSession) -> None:
    """After `advance()`, every endpoint serves what the data functions say of the evolved
    `simulator.config`; before, what they say of the config it started with."""
    config = SimulatorConfig(seed=3)
    step_query = {"group_by": "step_id", "page_size": "4"}
    cell_query = {"group_by": ",".join(CELLS), "page_size": "4"}
    unique_query = {"campaign_mailing_send_id": SEND_ID}
    async with Simulator(config) as sim:
        steps_before = results_of(await all_pages(session, sim, step_query))
        sim.advance()
        assert sim.config == SimulatorConfig(seed=3, period=1)
        steps = await all_pages(session, sim, step_query)
        ungrouped = await all_pages(session, sim, {})
        cells = await follow_pages(session, single_send_links_url(sim, SINGLE_SEND_ID), cell_query)
        listing = await follow_pages(session, automations_url(sim))
        tracking_links = await get_paubox(session, sim)
        unique_links = await get(
            session, unique_links_url(sim), params=unique_query, headers=PAUBOX_AUTH
        )
    assert steps_before == sendgrid_automation_links(config, AUTOMATION_ID, group_by_step=True)
    evolved = sim.config
    expected_steps = sendgrid_automation_links(evolved, AUTOMATION_ID, group_by_step=True)
    assert expected_steps != steps_before
    assert results_of(steps) == expected_steps
    assert results_of(ungrouped) == sendgrid_automation_links(evolved, AUTOMATION_ID)
    assert {page["total_clicks"] for page in ungrouped} == {
        sum(row["clicks"] for row in expected_steps)
    }
    assert results_of(cells) == sendgrid_single_send_links(evolved, SINGLE_SEND_ID, group_by=CELLS)
    assert results_of(listing) == sendgrid_automation_list(evolved)
    assert tracking_links.json() == {"data": paubox_tracking_links(evolved, SEND_ID)}
    assert unique_links.json() == {"data": paubox_tracking_links_by_unique_link(evolved, SEND_ID)}
    assert paubox_tracking_links(evolved, SEND_ID) != paubox_tracking_links(config, SEND_ID)


async def test_a_new_row_is_served_once_its_link_is_clicked(
    session: aiohttp.ClientSession,
) -> None:
    """A link absent from a running simulator's answers appears in them after it advances to
    the period its first clicks come in, with the clicks that period gives it."""
    config = SimulatorConfig(seed=3)
    automation_id = sendgrid_automation_ids(config)[0]
    first = step_counts(config, automation_id)
    appeared = [
        (period, place)
        for period in range(1, 10)
        for place in step_counts(SimulatorConfig(seed=3, period=period), automation_id).keys()
        - first.keys()
    ]
    assert appeared
    period, place = appeared[0]
    query = {"group_by": "step_id"}
    async with Simulator(config) as sim:
        url = automation_links_url(sim, automation_id)
        before = results_of(await follow_pages(session, url, query))
        sim.advance(period)
        after = results_of(await follow_pages(session, url, query))
    assert sim.config.period == period
    served_before = {(row["step_id"], str(row["url_location"])) for row in before}
    served_after: Counts = {
        (row["step_id"], str(row["url_location"])): row["clicks"] for row in after
    }
    assert place not in served_before
    assert served_after == step_counts(sim.config, automation_id)
    assert served_after[place] >= 1


async def test_advancing_adds_periods_to_the_config() -> None:
    """`advance(n)` moves on by n periods from wherever the simulator is."""
    async with Simulator(SimulatorConfig(seed=3, period=2)) as sim:
        sim.advance()
        sim.advance(3)
    assert sim.config == SimulatorConfig(seed=3, period=6)


@pytest.mark.parametrize("periods", [0, -1])
def test_advance_refuses_fewer_than_one_period(periods: int) -> None:
    """Counts are running totals: they cannot go back, and standing still is no advance."""
    sim = Simulator()
    with pytest.raises(ValueError, match="periods must be at least 1"):
        sim.advance(periods)
    assert sim.config.period == 0


def test_a_negative_period_is_refused() -> None:
    with pytest.raises(ValueError, match="period"):
        SimulatorConfig(period=-1)


@pytest.mark.parametrize(
    ("clicks", "parts"),
    [
        (0, (0, "sendgrid", AUTOMATION_ID, 0, 0)),
        (7, (0, "sendgrid", AUTOMATION_ID, 0, 1)),
        (40, (3, "sendgrid/singlesend", SINGLE_SEND_ID, 1, "test", 2)),
        (1, (3, "paubox", SEND_ID, 17)),
        (5, ()),
    ],
)
def test_grown_adds_0_to_5_clicks_a_period(clicks: int, parts: tuple[object, ...]) -> None:
    """No growth at 0 periods; after that, each period adds 0 to 5 clicks, fixed by `parts`."""
    totals = [grown(clicks, periods, *parts) for periods in range(41)]
    assert totals[0] == clicks
    steps = [later - earlier for earlier, later in itertools.pairwise(totals)]
    assert set(steps) <= set(range(6))
    # Half the periods add nothing, the others 1 to 5: over forty periods, both happen.
    assert 0 in steps
    assert max(steps) > 0
