"""What every daemon test shares: finding Debian's daemons (a skip on a laptop, a failure in
CI), running one in its own session, forcing checks through its command pipe, waiting for an
event, the plugin copy the daemons run, and the portals every daemon checks with what it must
report for each."""

from __future__ import annotations

import grp
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional

import pytest
from plugin import SCRIPT, day

PLAIN_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"


TIME_VALUE = re.compile(r"^\d+\.\d{3}s?$")


def require(condition: bool, reason: str) -> None:
    """Skip on a laptop without the daemons; in CI a missing daemon is a broken CI, not a skip."""
    if condition:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: .ci/run must install it)")
    pytest.skip(reason)


SBIN = ("/usr/sbin", "/sbin")  # where Debian puts the daemons; often not on a user's PATH


def find_daemon(*names: str) -> Optional[str]:
    """The daemon's binary on PATH or in the sbin folders."""
    search = os.pathsep.join([os.environ.get("PATH", ""), *SBIN])
    for name in names:
        found = shutil.which(name, path=search)
        if found:
            return found
    return None


def searched(*names: str) -> str:
    return f"no {' or '.join(names)} on PATH or in {', '.join(SBIN)}"


def require_system_python() -> None:
    found = subprocess.run(["env", f"PATH={PLAIN_PATH}", "python3", "-c",
                            "import nagiosplugin, requests"], capture_output=True)
    require(found.returncode == 0,
            "the daemons run the plugin with the system python3, which lacks nagiosplugin or "
            "requests (apt install python3-nagiosplugin python3-requests)")


ICINGA2 = find_daemon("icinga2")


NAGIOS = find_daemon("nagios4", "nagios")


class Portal(NamedTuple):
    """One service of a monitored portal host, and what the daemon must report for it."""

    host: str  # the monitored host's name in the daemon
    scenario: str  # the fake portal's scenario for the host
    code: int
    output: str
    perfdata: Dict[str, str]  # label -> value;warn;crit;min;max as printed ("T" for the time)
    aspect: str = "connector"  # the service's --check: connector, lines or calls

    @property
    def lines(self) -> bool:
        return self.aspect == "lines"

    @property
    def icinga_service(self) -> str:
        return {"connector": "bx24-sip"}.get(self.aspect, f"bx24-sip-{self.aspect}")

    @property
    def nagios_service(self) -> str:
        return {"connector": "Bitrix24 SIP connector", "lines": "Bitrix24 SIP lines",
                "calls": "Bitrix24 outgoing calls"}[self.aspect]

    @property
    def nagios_template(self) -> str:
        return f"{self.icinga_service}-service"

    @property
    def id(self) -> str:
        return self.host if self.aspect == "connector" else f"{self.host}-{self.aspect}"


PAID_PERF = {"days_left": "30;7:;3:", "free_minutes": "0;;;0", "paid": "1;;;0;1", "time": "T;;;0"}
CALLS_PERF = {"calls": "15;;;0", "calls_failed": "4;;;0", "calls_failed_pct": "26.7%;;;0;100",
              "calls_reg151083": "5;;;0", "calls_failed_reg151083": "4;;;0",
              "calls_failed_pct_reg151083": "80%;;;0;100", "calls_reg150907": "10;;;0",
              "calls_failed_reg150907": "0;;;0", "calls_failed_pct_reg150907": "0%;;;0;100",
              "time": "T;;;0"}


PORTALS = [
    Portal("ok-portal", "paid", 0, f"BX24_SIP OK - paid until {day(30)} (30 days left)",
           PAID_PERF),
    Portal("warning-portal", "expiring", 1, f"BX24_SIP WARNING - paid until {day(5)}, 5 days left",
           {**PAID_PERF, "days_left": "5;7:;3:"}),
    Portal("critical-portal", "unpaid-no-minutes", 2,
           "BX24_SIP CRITICAL - not paid and no free minutes: outbound SIP calls are off",
           {"free_minutes": "0;10:;1:;0", "paid": "0;;;0;1", "time": "T;;;0"}),
    Portal("unknown-portal", "access-denied", 3,
           "BX24_SIP UNKNOWN - Bitrix24 error ACCESS_DENIED: the webhook's user needs the "
           'telephony right "Manage numbers - Edit - Any" (or REST is not on this plan)', {}),
    # a portal with both services, as the README recommends: its default line is down
    Portal("lines-portal", "lines-default-failed", 0,
           f"BX24_SIP OK - paid until {day(30)} (30 days left)", PAID_PERF),
    Portal("lines-portal", "lines-default-failed", 2,
           'BX24_SIP CRITICAL - 1 of 3 SIP lines not registered: "Office trunk" (reg150907, '
           "default outgoing): SIP 403 Forbidden",
           {"lines": "3;;;0", "lines_failed": "1;;0;0;3", "lines_pending": "0;0;;0;3",
            "lines_registered": "2;;;0;3", "time": "T;;;0"}, aspect="lines"),
    # a portal with all three services: its lines are registered, one line's calls fail
    Portal("calls-portal", "calls-critical", 0,
           f"BX24_SIP OK - paid until {day(30)} (30 days left)", PAID_PERF),
    Portal("calls-portal", "calls-critical", 0, "BX24_SIP OK - 3 SIP lines registered",
           {"lines": "3;;;0", "lines_failed": "0;;0;0;3", "lines_pending": "0;0;;0;3",
            "lines_registered": "3;;;0;3", "time": "T;;;0"}, aspect="lines"),
    Portal("calls-portal", "calls-critical", 2,
           "BX24_SIP CRITICAL - 1 of 2 lines failing calls: reg151083: 4 of 5 outgoing calls "
           "failed in the last 60 min (503 route unavailable x3, 402 insufficient funds x1), the "
           "last 4 in a row", CALLS_PERF, aspect="calls"),
]


HOSTS = sorted({portal.host: portal.scenario for portal in PORTALS}.items())


def parse_perfdata(text: str) -> Dict[str, str]:
    items = dict(item.split("=", 1) for item in text.split())
    for label, value in items.items():
        if label == "time":
            number, rest = value.split(";", 1)
            assert TIME_VALUE.match(number), value
            items[label] = "T;" + rest
    return items


SYSTEM_SHEBANG = "#!/usr/bin/python3\n"  # what the README's install line gives the copy


def install_plugin_copy(target: Path) -> None:
    """The plugin file alone, as the README installs it: Debian's python3 in its first line."""
    target.write_text(SYSTEM_SHEBANG + SCRIPT.read_text().split("\n", 1)[1])
    target.chmod(0o755)


def is_plugin_copy(path: Path) -> bool:
    return path.read_text() == SYSTEM_SHEBANG + SCRIPT.read_text().split("\n", 1)[1]


def user_and_group():
    return pwd.getpwuid(os.getuid()).pw_name, grp.getgrgid(os.getgid()).gr_name


def write_command(daemon: "Daemon", pipe: Path, command: str, within: float = 30) -> None:
    """An external command into the daemon's pipe, once the daemon has it open for reading."""
    deadline = time.monotonic() + within
    while True:
        try:
            handle = os.open(pipe, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:  # not created yet, or no reader yet
            daemon.assert_running()
            if time.monotonic() > deadline:
                raise AssertionError(f"the daemon never opened {pipe}") from None
            time.sleep(0.1)
            continue
        try:
            os.write(handle, f"[{int(time.time())}] {command}\n".encode())
        finally:
            os.close(handle)
        return


def force_checks(daemon: "Daemon", pipe: Path, system: str) -> None:
    """A forced check of every portal service, named as `system` (icinga or nagios) names it."""
    for portal in PORTALS:
        service = portal.icinga_service if system == "icinga" else portal.nagios_service
        write_command(daemon, pipe, f"SCHEDULE_FORCED_SVC_CHECK;{portal.host};{service};"
                                    f"{int(time.time())}")


def wait_for(probe, what: str, within: float = 60):
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


class Daemon:
    """A daemon in its own session, stopped (its whole process group) when the test ends."""

    def __init__(self, command: List[str], log: Path):
        self.log = log
        with open(log, "wb") as out:
            self.process = subprocess.Popen(
                command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env={"PATH": PLAIN_PATH, "LANG": "C.UTF-8"}, start_new_session=True)

    def assert_running(self) -> None:
        if self.process.poll() is not None:
            tail = self.log.read_text(errors="replace")[-2000:]
            raise AssertionError(f"the daemon exited with {self.process.returncode}:\n{tail}")

    def stop(self) -> None:
        for sig, grace in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                return
            try:
                self.process.wait(grace)
                return
            except subprocess.TimeoutExpired:
                continue


def files_holding(root: Path, needle: str, skip=()) -> List[str]:
    found = []
    for path in root.rglob("*"):
        if path.is_file() and path not in skip and not path.is_fifo():
            if needle.encode() in path.read_bytes():
                found.append(str(path.relative_to(root)))
    return sorted(found)


class GraphiteSink:
    """A Graphite plaintext receiver on 127.0.0.1: what Icinga 2's GraphiteWriter sends."""

    def __init__(self):
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(4)
        self.port = self.listener.getsockname()[1]
        self.data = bytearray()
        self.connected = threading.Event()
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            self.connected.set()
            threading.Thread(target=self.receive, args=(connection,), daemon=True).start()

    def receive(self, connection):
        with connection:
            while True:
                chunk = connection.recv(65536)
                if not chunk:
                    return
                self.data += chunk

    def values(self, portal: Portal) -> Dict[str, str]:
        prefix = f"icinga2.{portal.host}.services.{portal.icinga_service}.bx24_sip.perfdata."
        values = {}
        for line in self.data.decode().splitlines():
            path, value, _ = line.split(" ")
            if path.startswith(prefix):
                values[path[len(prefix):]] = value
        return values

    def close(self):
        self.listener.close()

