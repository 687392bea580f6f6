"""Fixtures that run the plugin the way Nagios does: a subprocess, argv, env, exit code, stdout."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Dict, List, NamedTuple, Optional, Tuple

import pytest

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "check_bx24_sip.py"
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

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


def readme_lines(marker: str) -> List[str]:
    """The sh block between <!-- MARKER: ... --> and <!-- /MARKER --> in README.md: lines a
    test runs as written."""
    text = (REPO / "README.md").read_text()
    block = text.split(f"<!-- {marker}:", 1)[1].split(f"<!-- /{marker} -->", 1)[0]
    return block.split("```sh\n", 1)[1].split("\n```", 1)[0].splitlines()


def day(offset: int) -> str:
    """The ISO date `offset` days from today, as the plugin prints it."""
    return (date.today() + timedelta(days=offset)).isoformat()


@pytest.fixture(scope="session")
def httpserver_listen_address():
    return ("127.0.0.1", 0)


@pytest.fixture
def portal(httpserver):
    """The fake portal: `portal.serve(scenario)` then `portal.webhook`."""
    import fake_portal

    class Portal:
        webhook = fake_portal.webhook_for(httpserver)
        server = httpserver

        @staticmethod
        def serve(scenario: str, **kwargs) -> None:
            fake_portal.serve(httpserver, scenario, **kwargs)

    return Portal


@pytest.fixture(scope="session")
def openssl_cert(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1 made with the openssl command."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    return cert, key


# /etc and /var/lib as the session found them, and the state folders left out (a daemon of the
# machine's own that was running rewrites them by itself)
SYSTEM_BEFORE: Tuple[Dict[str, Any], List[str]] = ({}, [])


def pytest_sessionstart(session):
    from system_state import WATCHED, excluded_folders, fingerprint

    excluded = excluded_folders()
    SYSTEM_BEFORE[0].update(fingerprint(WATCHED, excluded))
    SYSTEM_BEFORE[1].extend(excluded)


def pytest_collection_modifyitems(session, config, items):
    """The check that the machine was left as it was runs after every other test."""
    last = [item for item in items if item.module.__name__ == "test_system_untouched"]
    items[:] = [item for item in items if item not in last] + last


def pytest_terminal_summary(terminalreporter):
    if SYSTEM_BEFORE[1]:
        REPORT.append("not compared (rewritten by this machine's own running daemons): "
                      + ", ".join(SYSTEM_BEFORE[1]))
    if REPORT:
        terminalreporter.section("monitoring daemons")
        for line in REPORT:
            terminalreporter.write_line(line)
