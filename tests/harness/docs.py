"""The one reader of the guides' fenced code blocks, for the tests that run or compare them as
written: every block with its language, the block between <!-- MARKER: ... --> and
<!-- /MARKER -->, the block that opens with /* TITLE */."""

from __future__ import annotations

import re
from pathlib import Path
from typing import List, NamedTuple

from plugin import REPO

README = REPO / "README.md"
GUIDES = REPO / "docs"


def guide(name: str) -> Path:
    """A guide of docs/ by its name: guide("zabbix") is docs/zabbix.md."""
    return GUIDES / f"{name}.md"


def english_documents() -> List[Path]:
    """The README and every English guide: all the text a user copies commands from."""
    return [README, *sorted(path for path in GUIDES.glob("*.md") if not path.name.endswith(".ru.md"))]
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)


class Block(NamedTuple):
    language: str  # "" for a block without one
    text: str  # what is between the fences, with its last newline

    @property
    def lines(self) -> List[str]:
        return self.text.splitlines()


def fenced_blocks(text: str) -> List[Block]:
    return [Block(language, body) for language, body in FENCE.findall(text)]


def blocks(language: str, path: Path = README) -> List[Block]:
    """Every block of one language ("" for those without one), in order."""
    return [block for block in fenced_blocks(path.read_text()) if block.language == language]


def marked(marker: str, path: Path = README) -> Block:
    """The one block between <!-- MARKER: ... --> and <!-- /MARKER -->: lines a test runs."""
    text = path.read_text()
    assert f"<!-- {marker}:" in text, f"{path.name} has no <!-- {marker}: ... --> block"
    inside = text.split(f"<!-- {marker}:", 1)[1].split(f"<!-- /{marker} -->", 1)[0]
    found = fenced_blocks(inside)
    assert len(found) == 1, f"<!-- {marker} --> holds {len(found)} blocks"
    return found[0]


def titled(title: str, path: Path = README) -> Block:
    """The block that opens with the comment /* TITLE */."""
    found = [block for block in fenced_blocks(path.read_text())
             if block.text.startswith(f"/* {title} */\n")]
    assert len(found) == 1, f"{path.name} has {len(found)} blocks /* {title} */"
    return found[0]
