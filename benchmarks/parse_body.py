"""Parse one 60,000-row Paubox body, through linkstats and through orjson + tuples.

Run in a process of its own by run.py, so that no earlier workload's heap weighs on it:

    python benchmarks/parse_body.py ROUNDS

prints the seconds of each round for both, alternating, and the body's size.
"""

from __future__ import annotations

import gc
import sys
import time

import orjson
from contenders import target_id
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from linkstats import PageRequest, PauboxSend, PauboxSource, Response
from linkstats.testing import (
    PauboxConfig,
    SimulatorConfig,
    paubox_tracking_links,
)

ROWS = 60_000


def main() -> None:
    rounds = int(sys.argv[1])
    config = SimulatorConfig(
        paubox=PauboxConfig(deliveries_per_send=(10_000, 10_000), links_per_email=(6, 6)), seed=1
    )
    target = PauboxSend(target_id("parse", 0))
    body = orjson.dumps({"data": paubox_tracking_links(config, target.send_id)})
    source = PauboxSource(username="bench", api_key="bench")
    response = Response(
        PageRequest(URL("https://bench/")), 200, "OK", CIMultiDictProxy(CIMultiDict()), body
    )

    def tuples() -> int:
        payload = orjson.loads(body)
        return len([(row.get("id"), row.get("attributes")) for row in payload["data"]])

    ours, floor = [], []
    for _ in range(rounds):
        # A body this large is parsed with the garbage collector held off, as fetching does.
        gc.disable()
        started = time.perf_counter()
        assert len(source.parse_page(target, response).items) == ROWS
        ours.append(time.perf_counter() - started)
        gc.enable()
        started = time.perf_counter()
        assert tuples() == ROWS
        floor.append(time.perf_counter() - started)
    print(orjson.dumps({"linkstats": ours, "floor": floor, "bytes": len(body)}).decode())


if __name__ == "__main__":
    main()
