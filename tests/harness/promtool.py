"""Prometheus' own linter, `promtool check metrics`, as the referee of the plugin's Prometheus
text."""

from __future__ import annotations

import shutil
import subprocess

from daemons import require

PROMTOOL = shutil.which("promtool")


def require_promtool() -> None:
    require(PROMTOOL is not None, "promtool is not installed (apt install prometheus)")


def promtool_verdict(text: str) -> str:
    """What Prometheus' own linter says of an exposition: empty when it has nothing to say."""
    require_promtool()
    assert PROMTOOL is not None
    done = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True,
                          text=True, timeout=60)
    return f"exit {done.returncode}: {done.stdout}{done.stderr}".strip()
