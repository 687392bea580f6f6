"""The plugin run the way Nagios runs it: a subprocess, argv, a clean environment, no terminal;
its exit code and output, and what the tests expect of them."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from typing import List, NamedTuple, Optional

REPO = Path(__file__).resolve().parent.parent.parent
SCRIPT = REPO / "check_bx24_sip.py"

# Lines for the end of the run (how long the daemons took), printed by pytest_terminal_summary.
REPORT: List[str] = []

# Variables that would send the plugin's traffic somewhere else or change its output.
SCRUBBED = ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "BX24_WEBHOOK",
            "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "PYTHONWARNINGS")


def plugin_command() -> List[str]:
    """The installed console script when the suite runs from an install, else the file itself."""
    installed = Path(sys.executable).parent / "check_bx24_sip"
    if os.environ.get("BX24_TEST_SCRIPT") == "file" or not installed.exists():
        return [sys.executable, str(SCRIPT)]
    return [str(installed)]


class Run(NamedTuple):
    code: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def first_line(self) -> str:
        return self.stdout.split("\n", 1)[0]

    @property
    def lines(self) -> List[str]:
        return self.stdout.rstrip("\n").split("\n")


def clean_env(extra: Optional[dict] = None) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in SCRUBBED and k.lower() not in SCRUBBED}
    env["LC_ALL"] = "C.UTF-8"
    env.update(extra or {})
    return env


def run_plugin(*args: str, env: Optional[dict] = None, prefix: Optional[List[str]] = None,
               command: Optional[List[str]] = None, stdin_text: Optional[str] = None,
               timeout: float = 30, cwd: Optional[Path] = None) -> Run:
    """The plugin (or `command`) with args, a clean environment and no terminal, as Nagios runs it."""
    started = time.monotonic()
    done = subprocess.run([*(prefix or []), *(command or plugin_command()), *args],
                          env=clean_env(env), input=stdin_text, cwd=cwd,
                          stdin=None if stdin_text is not None else subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=timeout)
    return Run(done.returncode, done.stdout, done.stderr, time.monotonic() - started)


TIME = re.compile(r"time=(\d+\.\d{3})s;;;0")


def assert_output(run: Run, code: int, expected_line: str) -> None:
    """Exit code and the exact, only output line; only the measured request time may vary."""
    assert run.stderr == ""
    assert run.code == code, run.stdout
    assert run.stdout.count("\n") == 1, run.stdout
    assert TIME.sub("time=T", run.first_line) == expected_line
    if "time=T" in expected_line:
        measured = TIME.search(run.first_line)
        assert measured is not None and 0 <= float(measured.group(1)) < 5


# --unreachable arguments and the state they give a portal that cannot be reached
UNREACHABLE_STATES = [([], 3, "UNKNOWN"), (["--unreachable", "warning"], 1, "WARNING"),
                      (["--unreachable", "critical"], 2, "CRITICAL")]


def day(offset: int) -> str:
    """The ISO date `offset` days from today, as the plugin prints it."""
    return (date.today() + timedelta(days=offset)).isoformat()
