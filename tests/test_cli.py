"""The command line, run as a subprocess against the simulator, as a shell or cron job would."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import signal
import sys
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import attrs
import pytest
from conftest import paubox_source, sendgrid_source, uuid_for, without_credentials

from linkstats import LinkStats, PauboxSend, SendGridAutomation
from linkstats.reports import normalize_url, to_dict, totals
from linkstats.testing import (
    Behavior,
    Simulator,
    SimulatorConfig,
    paubox_send_ids,
    sendgrid_automation_ids,
    sendgrid_single_send_ids,
)

BROKEN = uuid_for(99, kind=1)
HANGING = uuid_for(98, kind=2)
CONFIG = SimulatorConfig(behaviors={BROKEN: Behavior.NOT_FOUND, HANGING: Behavior.HANG})
KEYS = (CONFIG.paubox.api_key, CONFIG.sendgrid.api_key)
SENDS = [uuid_for(n, kind=1) for n in range(3)]
AUTOMATIONS = [uuid_for(n, kind=2) for n in range(3)]


@attrs.frozen
class Finished:
    code: int
    stdout: str
    stderr: str


@pytest.fixture
async def simulator() -> AsyncIterator[Simulator]:
    async with Simulator(CONFIG) as running:
        yield running


def credentials(simulator: Simulator) -> dict[str, str]:
    return {
        "PAUBOX_USERNAME": simulator.config.paubox.username,
        "PAUBOX_API_KEY": simulator.config.paubox.api_key,
        "SENDGRID_API_KEY": simulator.config.sendgrid.api_key,
    }


def base_urls(simulator: Simulator) -> list[str]:
    return [
        f"--paubox-base-url={simulator.paubox_base_url}",
        f"--sendgrid-base-url={simulator.sendgrid_base_url}",
    ]


def target_flags(sends: list[str], automations: list[str]) -> list[str]:
    return [f"--paubox-send={send}" for send in sends] + [
        f"--sendgrid-automation={automation}" for automation in automations
    ]


async def start(*arguments: str, environment: Mapping[str, str] | None = None) -> Any:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "linkstats",
        *arguments,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**without_credentials(os.environ), **(environment or {})},
    )


async def run(
    *arguments: str, environment: Mapping[str, str] | None = None, stdin: str = ""
) -> Finished:
    process = await start(*arguments, environment=environment)
    async with asyncio.timeout(60):
        stdout, stderr = await process.communicate(stdin.encode())
    finished = Finished(process.returncode, stdout.decode(), stderr.decode())
    assert "Traceback" not in finished.stderr
    assert not [key for key in KEYS if key in finished.stdout + finished.stderr]
    return finished


async def library_rows(
    simulator: Simulator, targets: list[Any], by: tuple[str, ...], normalize: bool
) -> list[dict[str, Any]]:
    async with LinkStats(paubox_source(simulator), sendgrid_source(simulator)) as stats:
        result = await stats.collect(targets)
    if by == ("none",):
        return [to_dict(click) for click in result.clicks]
    return totals(result.clicks, by, normalize=normalize_url if normalize else None)


def parse_table(text: str) -> list[dict[str, Any]]:
    """Rows of a rich table rendered as plain text."""
    header: list[str] = []
    rows = []
    for line in text.splitlines():
        if line.startswith("┃"):
            header = [cell.strip() for cell in line.strip("┃").split("┃")]
        elif line.startswith("│"):
            cells = [cell.strip() for cell in line.strip("│").split("│")]
            rows.append(dict(zip(header, cells, strict=True)))
    return rows


def as_table_cells(row: Mapping[str, Any]) -> dict[str, str]:
    """A row as the table shows it: URLs as CSV spells them, numbers with separators."""
    return {key: table_cell(key, value) for key, value in row.items()}


def table_cell(column: str, value: Any) -> str:
    if column == "url":
        return str(value) if value else "(no URL reported)"
    if isinstance(value, int):
        return f"{value:,}"
    return "" if value is None else str(value)


def plain(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows as they read back from text: timestamps as ISO strings."""
    parsed: list[dict[str, Any]] = json.loads(
        json.dumps(rows, default=lambda value: value.isoformat())
    )
    return parsed


@pytest.mark.parametrize("output_format", ["csv", "json", "jsonl", "table"])
@pytest.mark.parametrize(
    ("by", "normalize"),
    [(("url",), True), (("url",), False), (("provider", "source"), False), (("none",), False)],
)
async def test_every_format_reads_back_as_the_librarys_totals(
    simulator: Simulator, output_format: str, by: tuple[str, ...], normalize: bool
) -> None:
    """csv, json, jsonl and table hold exactly what reports.totals computes."""
    arguments = [*target_flags(SENDS, AUTOMATIONS), *base_urls(simulator)]
    arguments += [f"--format={output_format}", f"--by={','.join(by)}"]
    if normalize:
        arguments.append("--normalize-urls")
    targets = [PauboxSend(send) for send in SENDS] + [SendGridAutomation(a) for a in AUTOMATIONS]

    finished = await run("fetch", *arguments, environment=credentials(simulator))

    expected = await library_rows(simulator, targets, by, normalize)
    assert finished.code == 0
    assert finished.stderr == ""
    if output_format == "table":
        assert parse_table(finished.stdout) == [as_table_cells(row) for row in expected]
        return
    if output_format == "csv":
        written: list[dict[str, Any]] = list(csv.DictReader(io.StringIO(finished.stdout)))
        expected = [
            {key: "" if value is None else str(value) for key, value in row.items()}
            for row in plain(expected)
        ]
    elif output_format == "json":
        written = json.loads(finished.stdout)
        expected = plain(expected)
    else:
        written = [json.loads(line) for line in finished.stdout.splitlines()]
        expected = plain(expected)
    if by == ("none",):
        # Records arrive target by target as each completes.
        written.sort(key=json.dumps)
        expected.sort(key=json.dumps)
    assert written == expected


async def test_some_targets_failing_exits_1_and_names_them(simulator: Simulator) -> None:
    """Good targets' totals are written; the failed one is on stderr in the provider's words."""
    good = [PauboxSend(SENDS[0]), SendGridAutomation(AUTOMATIONS[0])]

    finished = await run(
        "fetch",
        *target_flags([SENDS[0], BROKEN], [AUTOMATIONS[0]]),
        *base_urls(simulator),
        "--format=json",
        environment=credentials(simulator),
    )

    assert finished.code == 1
    assert json.loads(finished.stdout) == plain(
        await library_rows(simulator, good, ("url",), False)
    )
    assert finished.stderr == (
        f"failed: paubox send {BROKEN}: not found (HTTP 404): not found\n"
        "1 target failed: 1 not found\n"
    )


async def test_targets_come_from_a_file_or_standard_input(
    simulator: Simulator, tmp_path: Path
) -> None:
    """provider,id lines; blank lines and # comments are skipped; - reads stdin."""
    listing = f"# campaigns\npaubox,{SENDS[0]}\n\n sendgrid , {AUTOMATIONS[0]}  # spring\n"
    (tmp_path / "targets.txt").write_text(listing)
    targets = [PauboxSend(SENDS[0]), SendGridAutomation(AUTOMATIONS[0])]
    common = [*base_urls(simulator), "--format=json", "--by=source"]

    from_file = await run(
        "fetch",
        f"--targets={tmp_path / 'targets.txt'}",
        *common,
        environment=credentials(simulator),
    )
    from_stdin = await run(
        "fetch", "--targets=-", *common, environment=credentials(simulator), stdin=listing
    )

    expected = await library_rows(simulator, targets, ("source",), False)
    assert json.loads(from_file.stdout) == expected
    assert json.loads(from_stdin.stdout) == expected


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--paubox-send=not-a-uuid"], "--paubox-send: 'not-a-uuid' is not a UUID"),
        (["--targets=-"], "no targets"),
        ([], "no targets"),
        (["--sendgrid-single-send=nope"], "--sendgrid-single-send: 'nope' is not a UUID"),
        (["--sendgrid-automation=" + AUTOMATIONS[0], "--by=domain"], "argument --by"),
        (["--sendgrid-automation=" + AUTOMATIONS[0], "--format=xml"], "argument --format"),
        (
            ["--sendgrid-automation=" + AUTOMATIONS[0], "--sendgrid-base-url=http://example.com"],
            "https unless the host is loopback",
        ),
    ],
)
async def test_usage_errors_exit_2_with_one_clear_line(
    simulator: Simulator, arguments: list[str], message: str
) -> None:
    """Bad ids, no targets, unknown options: exit 2 before anything is sent."""
    finished = await run("fetch", *arguments, environment=credentials(simulator))

    assert finished.code == 2
    assert message in finished.stderr
    assert finished.stdout == ""
    assert simulator.log.count() == 0


async def test_a_bad_targets_line_is_named(simulator: Simulator) -> None:
    """A malformed line in --targets says which line."""
    finished = await run(
        "fetch",
        "--targets=-",
        environment=credentials(simulator),
        stdin=f"paubox,{SENDS[0]}\nmailgun,{SENDS[1]}\n",
    )

    assert finished.code == 2
    assert finished.stderr == (
        "linkstats: error: standard input, line 2: unknown provider 'mailgun'; use one of "
        "paubox, paubox-send, sendgrid, sendgrid-automation, sendgrid-single-send\n"
    )


async def test_missing_credentials_exit_2(simulator: Simulator) -> None:
    """Only the credentials the targets need are asked for, by name."""
    finished = await run(
        "fetch",
        f"--sendgrid-automation={AUTOMATIONS[0]}",
        *base_urls(simulator),
        environment={"PAUBOX_USERNAME": "demo", "PAUBOX_API_KEY": "unused"},
    )

    assert finished.code == 2
    assert finished.stderr == (
        "linkstats: error: set SENDGRID_API_KEY to fetch SendGrid campaigns\n"
    )


async def test_a_refused_key_exits_2_and_is_never_printed(simulator: Simulator) -> None:
    """The provider's 401 is reported in its words; the wrong key itself appears nowhere."""
    wrong = "SG.wrong-key-0123456789"

    finished = await run(
        "fetch",
        f"--sendgrid-automation={AUTOMATIONS[0]}",
        *base_urls(simulator),
        "--format=csv",
        environment={"SENDGRID_API_KEY": wrong},
    )

    assert finished.code == 2
    assert "HTTP 401" in finished.stderr
    assert "authorization required" in finished.stderr
    assert wrong not in finished.stdout + finished.stderr


async def test_output_file_is_written_whole(simulator: Simulator, tmp_path: Path) -> None:
    """--output writes the file, and nothing else is left in its folder."""
    output = tmp_path / "clicks.csv"

    finished = await run(
        "fetch",
        f"--sendgrid-automation={AUTOMATIONS[0]}",
        *base_urls(simulator),
        "--format=csv",
        f"--output={output}",
        environment=credentials(simulator),
    )

    assert finished.code == 0
    assert finished.stdout == ""
    assert list(tmp_path.iterdir()) == [output]
    assert output.read_text().startswith("url,clicks,records\n")


async def test_ctrl_c_stops_cleanly_without_a_partial_file(
    simulator: Simulator, tmp_path: Path
) -> None:
    """SIGINT mid-fetch: exit 130, one line, no traceback, no output file, no temporary file."""
    output = tmp_path / "clicks.json"
    process = await start(
        "fetch",
        *target_flags(SENDS, [*AUTOMATIONS, HANGING]),
        *base_urls(simulator),
        "--format=json",
        "--by=none",
        f"--output={output}",
        environment=credentials(simulator),
    )
    async with asyncio.timeout(30):
        await simulator.log.wait_until(lambda log: any(HANGING in r.path for r in log.requests))
        await simulator.log.wait_until(lambda log: log.in_flight == 1)
        process.send_signal(signal.SIGINT)
        stdout, stderr = await process.communicate()

    assert process.returncode == 130
    assert stderr.decode() == "linkstats: interrupted\n"
    assert stdout == b""
    assert list(tmp_path.iterdir()) == []


async def test_demo_fetches_from_the_simulator_and_shows_the_top_links() -> None:
    """The demo needs no credentials, fetches every listed campaign, ends with a summary."""
    listed = len(paubox_send_ids(SimulatorConfig()))
    listed += len(sendgrid_automation_ids(SimulatorConfig()))
    listed += len(sendgrid_single_send_ids(SimulatorConfig()))

    finished = await run("demo")

    assert finished.code == 0
    assert "Top links" in finished.stdout
    assert finished.stdout.splitlines()[-1].startswith(f"{listed} campaigns, ")
    assert len(parse_table(finished.stdout)) > 5


async def test_simulator_command_serves_until_interrupted() -> None:
    """linkstats simulator prints where it listens, serves requests, and stops on Ctrl-C."""
    target = PauboxSend(SENDS[0])
    async with Simulator() as reference:
        expected = await library_rows(reference, [target], ("none",), False)
    process = await start("simulator", "--port=0")
    async with asyncio.timeout(30):
        await process.stdout.readline()
        exports = (await process.stdout.readline()).decode().split()
        assert exports[0] == "export"
        environment = dict(export.split("=", 1) for export in exports[1:])
        fetched = await run(
            "fetch",
            f"--paubox-send={target.send_id}",
            "--by=none",
            "--format=json",
            environment=environment,
        )
        process.send_signal(signal.SIGINT)
        await process.communicate()

    assert fetched.code == 0
    assert json.loads(fetched.stdout) == plain(expected)
    assert process.returncode == 130


async def test_importing_the_library_does_not_import_the_terminal_extra() -> None:
    """rich belongs to the cli extra; import linkstats must not pull it in."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "import sys, linkstats, linkstats.reports, linkstats.testing; "
        "sys.exit('rich' in sys.modules)",
    )
    assert await process.wait() == 0


async def test_progress_stays_off_a_pipe(simulator: Simulator) -> None:
    """With stderr piped, a run that succeeds prints nothing there at all."""
    finished = await run(
        "fetch",
        f"--paubox-send={SENDS[0]}",
        *base_urls(simulator),
        environment=credentials(simulator),
    )

    assert finished.code == 0
    assert finished.stderr == ""


async def test_fetch_all_equals_fetching_the_listed_campaigns_by_hand() -> None:
    """--all totals are exactly those of the ids `linkstats list` prints, fetched by name."""
    async with Simulator() as simulator:
        listed = await run(
            "list", *base_urls(simulator), "--format=csv", environment=credentials(simulator)
        )
        kinds = {"send": "paubox", "automation": "sendgrid-automation"}
        lines = [
            f"{kinds.get(row['kind'], 'sendgrid-single-send')},{row['id']}"
            for row in csv.DictReader(io.StringIO(listed.stdout))
        ]
        everything = await run(
            "fetch", "--all", "--by=url", "--format=json", *base_urls(simulator),
            environment=credentials(simulator),
        )  # fmt: skip
        by_hand = await run(
            "fetch", "--targets=-", "--by=url", "--format=json", *base_urls(simulator),
            environment=credentials(simulator), stdin="\n".join(lines),
        )  # fmt: skip

    assert listed.code == everything.code == by_hand.code == 0
    assert {line.split(",")[0] for line in lines} == {
        "paubox",
        "sendgrid-automation",
        "sendgrid-single-send",
    }
    assert json.loads(everything.stdout) == json.loads(by_hand.stdout)
    assert json.loads(everything.stdout)


async def test_list_shows_every_campaign_with_its_details() -> None:
    """One row per campaign: provider, kind, id, and what the provider said of it."""
    async with Simulator() as simulator:
        finished = await run(
            "list", *base_urls(simulator), "--format=json", environment=credentials(simulator)
        )

    rows = json.loads(finished.stdout)
    assert finished.code == 0
    assert {row["provider"] for row in rows} == {"paubox", "sendgrid"}
    assert {row["kind"] for row in rows} == {"send", "automation", "single-send"}
    assert all(row["name"] and row["sent_at"] for row in rows if row["provider"] == "paubox")


async def test_list_with_a_refused_key_exits_2() -> None:
    """A listing the provider refuses for its key is a credential error."""
    async with Simulator() as simulator:
        finished = await run(
            "list", *base_urls(simulator), environment={"SENDGRID_API_KEY": "SG.wrong"}
        )

    assert finished.code == 2
    assert "HTTP 401" in finished.stderr


async def test_a_failing_listing_exits_1_with_the_providers_words() -> None:
    """A listing that keeps failing is reported in one line; nothing is fetched."""
    async with Simulator(SimulatorConfig(listing_behavior=Behavior.NOT_FOUND)) as simulator:
        finished = await run(
            "fetch", "--all", *base_urls(simulator), environment=credentials(simulator)
        )

    assert finished.code == 1
    assert finished.stderr.splitlines()[0].startswith(
        "failed: listing paubox campaign sends: not found (HTTP 404)"
    )
    assert finished.stdout == ""


async def test_the_simulator_command_scripts_behaviours_from_the_command_line() -> None:
    """``--behavior ID=not_found`` makes that campaign answer 404, seen without Python."""
    process = await start("simulator", "--port=0", f"--behavior={SENDS[0]}=not_found")
    async with asyncio.timeout(30):
        await process.stdout.readline()
        exports = (await process.stdout.readline()).decode().split()
        environment = dict(export.split("=", 1) for export in exports[1:])
        fetched = await run("fetch", f"--paubox-send={SENDS[0]}", environment=environment)
        process.send_signal(signal.SIGINT)
        await process.communicate()

    assert fetched.code == 1
    assert fetched.stderr.startswith(f"failed: paubox send {SENDS[0]}: not found (HTTP 404)")


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("--port=99999", "argument --port: '99999' is not a port (0 to 65535)"),
        ("--behavior=abc", "argument --behavior: 'abc': use ID=BEHAVIOR"),
        ("--error-rate=2", "server_error_rate must be a number from 0 to 1"),
    ],
)
async def test_a_bad_simulator_option_is_one_line_without_a_traceback(
    option: str, message: str
) -> None:
    """Usage errors exit 2 and say what is wrong."""
    finished = await run("simulator", option)

    assert finished.code == 2
    assert message in finished.stderr.splitlines()[-1]
