"""The README's examples run as written."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

README = Path(__file__).parent.parent / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.DOTALL)


async def test_the_simulator_example_runs() -> None:
    """The linkstats.testing example, run as the body of an async function."""
    (block,) = [block for block in python_blocks() if "linkstats.testing" in block]
    namespace: dict[str, object] = {}
    exec(f"async def example():\n{textwrap.indent(block, '    ')}", namespace)

    await namespace["example"]()  # type: ignore[operator]


def test_the_quickstart_compiles() -> None:
    """The quickstart needs real credentials to run; it must at least be valid Python."""
    (block,) = [block for block in python_blocks() if "asyncio.run(main())" in block]

    compile(block, "README quickstart", "exec")
