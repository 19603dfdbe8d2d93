"""Command-line conventions, run as a user would: versions, help without the extra, exit codes,
and an output file that behaves like a shell redirection."""

from __future__ import annotations

import asyncio
import json
import os
import pty
import stat
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from conftest import uuid_for, without_credentials
from test_cli import Finished, base_urls, credentials, run

import linkstats
from linkstats.testing import (
    Behavior,
    SendGridConfig,
    Simulator,
    SimulatorConfig,
    sendgrid_automation_links,
    sendgrid_single_send_links,
)

REFUSED = uuid_for(7, kind=2)
AUTOMATIONS = [uuid_for(n, kind=2) for n in range(3)]


@pytest.fixture
async def simulator() -> AsyncIterator[Simulator]:
    config = SimulatorConfig(behaviors={REFUSED: Behavior.FORBIDDEN})
    async with Simulator(config) as running:
        yield running


async def test_version_is_the_package_version() -> None:
    finished = await run("--version")

    assert (finished.code, finished.stdout) == (0, f"linkstats {linkstats.__version__}\n")
    assert linkstats.__version__ == "0.1.0"


WITHOUT_RICH = "import sys; sys.modules['rich'] = None; from linkstats.cli import main; "


@pytest.mark.parametrize("arguments", [["--help"], ["fetch", "--help"], ["--version"]])
async def test_help_and_version_work_without_the_cli_extra(arguments: list[str]) -> None:
    asked = await _python(WITHOUT_RICH + f"sys.exit(main({arguments!r}))")

    assert asked.code == 0
    assert asked.stdout.startswith(("usage: linkstats", "linkstats 0"))


async def test_csv_and_json_work_without_the_cli_extra_and_tables_say_what_to_install(
    simulator: Simulator,
) -> None:
    """Only the table and the live progress need rich; failures still reach stderr."""
    common = [f"--sendgrid-automation={AUTOMATIONS[0]}", f"--sendgrid-automation={REFUSED}",
              *base_urls(simulator)]  # fmt: skip
    as_csv = await _python(
        WITHOUT_RICH + f"sys.exit(main(['fetch', *{common!r}, '--format=csv']))",
        environment=credentials(simulator),
    )
    simulator.log.clear()
    as_table = await _python(
        WITHOUT_RICH + f"sys.exit(main(['fetch', *{common!r}]))", environment=credentials(simulator)
    )
    demo = await _python(WITHOUT_RICH + "sys.exit(main(['demo']))")

    assert as_csv.code == 1
    assert as_csv.stdout.startswith("url,clicks,records\r\n")
    assert as_csv.stderr.startswith(f"failed: sendgrid automation {REFUSED}: credentials refused")
    assert (as_table.code, as_table.stdout) == (2, "")
    assert as_table.stderr == (
        "linkstats: error: the table format needs the command line's extra: "
        "pip install 'linkstats[cli]' (or use --format csv, json or jsonl)\n"
    )
    assert simulator.log.count() == 0
    assert (demo.code, demo.stderr) == (
        2,
        "linkstats: error: the demo's table needs the command line's extra: "
        "pip install 'linkstats[cli]'\n",
    )


async def test_one_refused_target_among_others_exits_1(simulator: Simulator) -> None:
    """A 403 for one target is a failed target, not a usage error: the rest is written."""
    finished = await run(
        "fetch",
        *[f"--sendgrid-automation={automation}" for automation in [*AUTOMATIONS, REFUSED]],
        *base_urls(simulator),
        "--format=csv",
        environment=credentials(simulator),
    )

    assert finished.code == 1
    assert finished.stdout.startswith("url,clicks,records\r\n")
    assert finished.stderr == (
        f"failed: sendgrid automation {REFUSED}: credentials refused (HTTP 403): forbidden "
        f"(error id {_error_id(finished.stderr)})\n"
        "1 target failed: 1 credentials refused\n"
    )


async def test_every_target_refused_exits_2(simulator: Simulator) -> None:
    finished = await run(
        "fetch",
        f"--sendgrid-automation={REFUSED}",
        *base_urls(simulator),
        "--format=csv",
        environment=credentials(simulator),
    )

    assert finished.code == 2
    assert finished.stdout == "url,clicks,records\r\n"


async def test_a_reader_leaving_early_is_not_a_failure() -> None:
    """`linkstats fetch ... | head -1`: the closed pipe ends the run quietly, exit 0."""
    config = SimulatorConfig(sendgrid=SendGridConfig(links_per_step=(12, 12)))
    async with Simulator(config) as simulator:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "linkstats",
            "fetch",
            *[f"--sendgrid-automation={uuid_for(n, kind=3)}" for n in range(200)],
            *base_urls(simulator),
            "--by=none",
            "--format=csv",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**without_credentials(os.environ), **credentials(simulator)},
        )
        assert process.stdout is not None
        async with asyncio.timeout(60):
            header = await process.stdout.readline()
            process._transport.get_pipe_transport(1).close()  # type: ignore[attr-defined]
            stderr = await process.stderr.read() if process.stderr else b""
            code = await process.wait()

    assert header.startswith(b"provider,source_id,url,clicks")
    assert (code, stderr) == (0, b"")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda folder: folder / "missing" / "out.csv", "no such directory"),
        (lambda folder: folder, "is a directory"),
        pytest.param(
            lambda folder: _read_only(folder / "locked.csv"),
            "permission denied",
            # root writes a read-only file, through a shell redirection too.
            marks=pytest.mark.skipif(os.geteuid() == 0, reason="root may write any file"),
        ),
    ],
)
async def test_an_unwritable_output_is_refused_before_anything_is_sent(
    simulator: Simulator, tmp_path: Path, make: object, message: str
) -> None:
    output = make(tmp_path)  # type: ignore[operator]

    finished = await run(
        "fetch",
        f"--sendgrid-automation={AUTOMATIONS[0]}",
        *base_urls(simulator),
        f"--output={output}",
        environment=credentials(simulator),
    )

    assert finished.code == 2
    assert finished.stderr.startswith(f"linkstats: error: --output {output}: {message}")
    assert finished.stderr.count("\n") == 1
    assert simulator.log.count() == 0


async def test_a_new_output_follows_the_umask(simulator: Simulator, tmp_path: Path) -> None:
    output = tmp_path / "clicks.csv"

    finished = await _with_umask(
        0o027, "fetch", f"--sendgrid-automation={AUTOMATIONS[0]}", *base_urls(simulator),
        "--format=csv", f"--output={output}", environment=credentials(simulator),
    )  # fmt: skip

    assert finished.code == 0
    assert stat.S_IMODE(output.stat().st_mode) == 0o640


async def test_an_existing_output_keeps_its_mode_and_a_symlink_is_written_through(
    simulator: Simulator, tmp_path: Path
) -> None:
    real = tmp_path / "real.csv"
    real.write_text("old\n")
    real.chmod(0o604)
    link = tmp_path / "link.csv"
    link.symlink_to(real)

    finished = await run(
        "fetch",
        f"--sendgrid-automation={AUTOMATIONS[0]}",
        *base_urls(simulator),
        "--format=csv",
        f"--output={link}",
        environment=credentials(simulator),
    )

    assert finished.code == 0
    assert link.is_symlink()
    assert real.read_bytes().startswith(b"url,clicks,records\r\n")
    assert stat.S_IMODE(real.stat().st_mode) == 0o604
    assert sorted(path.name for path in tmp_path.iterdir()) == ["link.csv", "real.csv"]


def _read_only(path: Path) -> Path:
    path.write_text("")
    path.chmod(0o444)
    return path


async def _python(program: str, environment: dict[str, str] | None = None) -> Finished:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        program,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**without_credentials(os.environ), **(environment or {})},
    )
    async with asyncio.timeout(60):
        stdout, stderr = await process.communicate()
    assert process.returncode is not None
    return Finished(process.returncode, stdout.decode(), stderr.decode())


async def _with_umask(umask: int, *arguments: str, environment: dict[str, str]) -> Finished:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "linkstats",
        *arguments,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**without_credentials(os.environ), **environment},
        preexec_fn=lambda: os.umask(umask),
    )
    async with asyncio.timeout(60):
        stdout, stderr = await process.communicate()
    assert process.returncode is not None
    return Finished(process.returncode, stdout.decode(), stderr.decode())


def _error_id(text: str) -> str:
    return text.partition("error id ")[2].partition(")")[0]


async def test_verbose_names_the_request_and_quiet_keeps_failures(simulator: Simulator) -> None:
    """-v adds the request to a failure line; -q still reports failures."""
    arguments = [f"--sendgrid-automation={REFUSED}", *base_urls(simulator), "--format=csv"]

    verbose = await run("fetch", "-v", *arguments, environment=credentials(simulator))
    quiet = await run("fetch", "-q", *arguments, environment=credentials(simulator))

    first = verbose.stderr.splitlines()[0]
    assert first.endswith(
        f"[HTTP 403 Forbidden for GET {simulator.sendgrid_base_url}/v3/marketing/stats/"
        f"automations/{REFUSED}/links?page_size=50]"
    )
    assert quiet.stderr.startswith(f"failed: sendgrid automation {REFUSED}: credentials refused")


async def test_list_output_feeds_fetch_targets_with_the_kind_kept() -> None:
    """`linkstats list --format csv | linkstats fetch --targets -` fetches what `--all` does,
    single sends from their own endpoint; JSON lines work the same."""
    async with Simulator() as simulator:
        environment = credentials(simulator)
        common = [*base_urls(simulator), "--format=json", "--by=source"]
        everything = await run("fetch", "--all", *common, environment=environment)
        listed_csv = await run(
            "list", "--format=csv", *base_urls(simulator), environment=environment
        )
        listed_jsonl = await run(
            "list", "--format=jsonl", *base_urls(simulator), environment=environment
        )
        simulator.log.clear()
        from_csv = await run(
            "fetch", "--targets=-", *common, environment=environment, stdin=listed_csv.stdout
        )
        single_sends = simulator.log.count("/v3/marketing/stats/singlesends/")
        from_jsonl = await run(
            "fetch", "--targets=-", *common, environment=environment, stdin=listed_jsonl.stdout
        )

    assert everything.code == from_csv.code == from_jsonl.code == 0
    assert json.loads(from_csv.stdout) == json.loads(everything.stdout)
    assert json.loads(from_jsonl.stdout) == json.loads(everything.stdout)
    assert single_sends == 20


async def test_a_targets_file_takes_a_bom_crlf_and_a_header_and_names_every_bad_line(
    simulator: Simulator, tmp_path: Path
) -> None:
    good = tmp_path / "good.csv"
    good.write_bytes(
        b"\xef\xbb\xbfprovider,kind,id\r\n"
        + f"paubox,send,{uuid_for(1, kind=1)}\r\nsendgrid,automation,{AUTOMATIONS[0]}\r\n".encode()
    )
    bad = tmp_path / "bad.txt"
    bad.write_text(f"paubox,{uuid_for(1, kind=1)}\nmailgun,x\npaubox,nope\n\nsendgrid\n")

    fetched = await run(
        "fetch", f"--targets={good}", *base_urls(simulator), "--format=json", "--by=source",
        environment=credentials(simulator),
    )  # fmt: skip
    simulator.log.clear()
    refused = await run("fetch", f"--targets={bad}", environment=credentials(simulator))

    assert fetched.code == 0
    assert sorted(row["source_id"] for row in json.loads(fetched.stdout)) == sorted(
        [uuid_for(1, kind=1), AUTOMATIONS[0]]
    )
    assert refused.code == 2
    assert refused.stderr.splitlines() == [
        f"linkstats: error: {bad}, line 2: unknown provider 'mailgun'; use one of paubox, "
        "paubox-send, sendgrid, sendgrid-automation, sendgrid-single-send",
        f"linkstats: error: {bad}, line 3: 'nope' is not a UUID in the canonical form "
        "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx (36 characters)",
        f"linkstats: error: {bad}, line 5: expected 'provider,id', got 'sendgrid'",
    ]
    assert simulator.log.count() == 0


async def test_one_providers_failing_listing_leaves_the_others_listed() -> None:
    """SendGrid refuses the key: Paubox's campaigns are still listed, and fetched; exit 1."""
    async with Simulator() as simulator:
        environment = {**credentials(simulator), "SENDGRID_API_KEY": "SG.wrong"}
        listed = await run("list", "--format=jsonl", *base_urls(simulator), environment=environment)
        fetched = await run(
            "fetch", "--all", *base_urls(simulator), "--format=json", "--by=provider",
            environment=environment,
        )  # fmt: skip

    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert listed.code == fetched.code == 1
    assert {row["provider"] for row in rows} == {"paubox"}
    assert len(rows) == 25
    assert listed.stderr.splitlines() == [
        "failed: listing sendgrid automations: credentials refused (HTTP 401): "
        "authorization required"
    ]
    assert [row["provider"] for row in json.loads(fetched.stdout)] == ["paubox"]


async def test_by_step_and_by_ab_split_ask_sendgrid_to_split_its_rows() -> None:
    """--by step groups automations by their steps; --by ab_variation,ab_phase splits
    single sends; without asking, SendGrid would sum them as "all"."""
    automation, single_send = uuid_for(5, kind=2), uuid_for(5, kind=4)
    config = SimulatorConfig(sendgrid=SendGridConfig(variations_per_single_send=(2, 2)))
    async with Simulator(config) as simulator:
        by_step = await run(
            "fetch", f"--sendgrid-automation={automation}", *base_urls(simulator),
            "--by=step", "--format=json", environment=credentials(simulator),
        )  # fmt: skip
        by_split = await run(
            "fetch", f"--sendgrid-single-send={single_send}", *base_urls(simulator),
            "--by=ab_variation,ab_phase", "--format=json", environment=credentials(simulator),
        )  # fmt: skip
        queries = [dict(record.query) for record in simulator.log.requests]

    step_rows = sendgrid_automation_links(config, automation, group_by_step=True)
    expected_steps: dict[str, int] = {}
    for row in step_rows:
        expected_steps[row["step_id"]] = expected_steps.get(row["step_id"], 0) + row["clicks"]
    assert by_step.code == by_split.code == 0
    assert {row["step_id"]: row["clicks"] for row in json.loads(by_step.stdout)} == expected_steps
    split_rows = sendgrid_single_send_links(
        config, single_send, group_by=("ab_variation", "ab_phase")
    )
    expected_splits: dict[tuple[str, str], int] = {}
    for row in split_rows:
        key = (row["ab_variation"], row["ab_phase"])
        expected_splits[key] = expected_splits.get(key, 0) + row["clicks"]
    assert {
        (row["ab_variation"], row["ab_phase"]): row["clicks"] for row in json.loads(by_split.stdout)
    } == expected_splits
    assert "all" not in {variation for variation, _ in expected_splits}
    assert [query.get("group_by") for query in queries] == ["step_id", "ab_variation,ab_phase"]


@pytest.mark.parametrize("command", ["fetch", "list", "demo", "simulator"])
async def test_every_option_has_help_and_each_command_an_example(command: str) -> None:
    finished = await run(command, "--help")

    options = [line for line in finished.stdout.splitlines() if line.startswith("  -")]
    described = [
        line for line in options if len(line.split("  ")) > 2 or line.strip().startswith("-h")
    ]
    assert finished.code == 0
    assert "example" in finished.stdout
    assert options
    # An option without help is alone on its line, or followed by an indented description.
    bare = [line for line in options if line not in described]
    lines = finished.stdout.splitlines()
    assert all(lines[lines.index(line) + 1].startswith(" " * 20) for line in bare)
    if command in ("fetch", "list"):
        assert "exit status:" in finished.stdout


async def test_a_missing_paubox_username_says_so(simulator: Simulator) -> None:
    """The reference's base URL names the account: without PAUBOX_USERNAME, one line, exit 2,
    nothing sent."""
    finished = await run(
        "fetch",
        f"--paubox-send={uuid_for(1, kind=1)}",
        *base_urls(simulator),
        environment={"PAUBOX_API_KEY": simulator.config.paubox.api_key},
    )

    assert finished.code == 2
    assert finished.stderr == (
        f"linkstats: error: set PAUBOX_USERNAME: {simulator.paubox_base_url} names the account "
        "in its path (Paubox's newer https://api.paubox.com/v1/marketing does not)\n"
    )
    assert simulator.log.count() == 0


async def test_a_terminal_sees_the_listing_and_the_fetch_summed_up() -> None:
    """On a terminal, --all says what it listed and what it fetched, in plural forms."""
    async with Simulator() as simulator:
        master, terminal = pty.openpty()
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "linkstats", "fetch", "--all", *base_urls(simulator),
            "--format=csv", stdout=asyncio.subprocess.PIPE, stderr=terminal,
            env={**without_credentials(os.environ), **credentials(simulator),
                 "COLUMNS": "200", "TERM": "xterm"},
        )  # fmt: skip
        os.close(terminal)
        async with asyncio.timeout(60):
            await process.communicate()
        shown = _drain(master)

    assert process.returncode == 0
    assert "listed 75 campaigns from 2 of 2 providers" in shown
    assert "75 of 75 targets, 3,588 records, 0 failed, 0 retries" in shown


def _drain(descriptor: int) -> str:
    """Everything written to a terminal whose other end is closed."""
    chunks = []
    while True:
        try:
            chunk = os.read(descriptor, 65536)
        except OSError:  # EIO once the other end is closed and read out
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(descriptor)
    return b"".join(chunks).decode(errors="replace")
