"""bench/README.md's measured blocks: each step of `make bench` writes its figures between its own pair of markers,
`<!-- <name>:start -->` and `<!-- <name>:end -->`, and leaves the prose around them alone."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parent / "README.md"


def replace_block(name: str, text: str) -> None:
    """`text` between the `name` markers of bench/README.md, in place of what was there. A README without them is
    refused: a step's figures never silently go nowhere."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    written, found = re.subn(rf"{re.escape(start)}\n.*?{re.escape(end)}", lambda _: f"{start}\n{text}\n{end}",
                             README.read_text(), flags=re.S)
    if not found:
        raise SystemExit(f"{README} has no {start} ... {end} block to write to")
    README.write_text(written)
