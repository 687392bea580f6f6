"""Integration: real Icinga 2 and Nagios 4 daemons run the plugin with the shipped configuration.

Each daemon gets its own configuration, state and log folders under a temporary folder, runs as
the current user, and opens no listener: checks are forced through its external command pipe,
and results are read back from what the daemon itself wrote (Icinga 2: its perfdata writer files
and its Graphite writer, which sends every perfdata value Icinga parsed to a sink on 127.0.0.1;
Nagios 4: status.dat). The portals are the fake portal on 127.0.0.1.

The plugin is the file copied alone into a plugin folder (BX24_PLUGIN_DIR, else a temporary
one) and runs under the daemon's plain PATH, so with the system's python3 and its libraries.
Skipped where the daemons are not installed, except in CI (CI=true), where that is a failure.
"""

from __future__ import annotations

import grp
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

import fake_portal
import pytest
from conftest import REPORT, SCRIPT, day
from system_state import require_stock

REPO = SCRIPT.parent
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


def icinga2_version() -> Tuple[int, ...]:
    """(2, 13, 6) from "... (version: r2.13.6-1)"."""
    assert ICINGA2 is not None
    printed = subprocess.run([ICINGA2, "--version"], capture_output=True, text=True).stdout
    found = re.search(r"version: r?(\d+)\.(\d+)\.(\d+)", printed)
    assert found, printed
    return tuple(int(part) for part in found.groups())


def icinga2_dumps_objects() -> bool:
    """Icinga 2.13 writes its object dump (ObjectsPath) at every start; 2.14 only when asked."""
    return icinga2_version() < (2, 14)


class Portal(NamedTuple):
    """One service of a monitored portal host, and what the daemon must report for it."""

    host: str  # the monitored host's name in the daemon
    scenario: str  # the fake portal's scenario for the host
    code: int
    output: str
    perfdata: Dict[str, str]  # label -> value;warn;crit;min;max as printed ("T" for the time)
    lines: bool = False  # the lines service (--check lines), else the connector's

    @property
    def icinga_service(self) -> str:
        return "bx24-sip-lines" if self.lines else "bx24-sip"

    @property
    def nagios_service(self) -> str:
        return "Bitrix24 SIP lines" if self.lines else "Bitrix24 SIP connector"

    @property
    def id(self) -> str:
        return f"{self.host}-lines" if self.lines else self.host


PAID_PERF = {"days_left": "30;7:;3:", "free_minutes": "0;;;0", "paid": "1;;;0;1", "time": "T;;;0"}
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
            "lines_registered": "2;;;0;3", "time": "T;;;0"}, lines=True),
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


@pytest.fixture(scope="module")
def portals(tmp_path_factory):
    """A fake portal per scenario, each behind its own webhook code."""
    from pytest_httpserver import HTTPServer

    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    codes = {}
    for host, scenario in HOSTS:
        codes[host] = "d" + secrets.token_hex(8)
        if scenario in fake_portal.LINE_SCENARIOS:
            fake_portal.serve_lines(server, scenario, secret=codes[host])
        else:
            fake_portal.serve_reply(server, fake_portal.reply_for(scenario), secret=codes[host])
    urls = {host: fake_portal.webhook_for(server, code) for host, code in codes.items()}
    yield urls, codes
    server.stop()


@pytest.fixture(scope="module")
def plugin_dir(tmp_path_factory) -> Path:
    """Where the daemons find check_bx24_sip: the plugin file alone, executable."""
    configured = os.environ.get("BX24_PLUGIN_DIR")
    if configured:
        folder = Path(configured)
        assert is_plugin_copy(folder / "check_bx24_sip"), (
            f"{folder}/check_bx24_sip is not this checkout's check_bx24_sip.py")
        return folder
    folder = tmp_path_factory.mktemp("plugins")
    install_plugin_copy(folder / "check_bx24_sip")
    return folder


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


# --------------------------------------------------------------------------- Icinga 2


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


ICINGA_CONFIG = """
const PluginContribDir = "{plugins}"
const NodeName = "bx24-ci"
include <itl>
include "{repo}/contrib/icinga2/check_bx24_sip.conf"
include "{repo}/contrib/icinga2/bx24_sip_services.conf"

object CheckerComponent "checker" {{ }}
object FileLogger "debug" {{ path = "{root}/log/debug.log"; severity = "debug" }}
"""

# What the tests add to any Icinga 2 configuration to force checks and read results back.
ICINGA_TEST_FEATURES = """
object ExternalCommandListener "bx24-test-command" {{ command_path = "{root}/run/icinga2.cmd" }}
object PerfdataWriter "bx24-test-perfdata" {{
  service_temp_path = "{root}/spool/tmp/service-perfdata"
  service_perfdata_path = "{root}/spool/perfdata/service-perfdata"
  host_temp_path = "{root}/spool/tmp/host-perfdata"
  host_perfdata_path = "{root}/spool/perfdata/host-perfdata"
  service_format_template = {template}
  rotation_interval = 1s
}}
object GraphiteWriter "bx24-test-graphite" {{ host = "127.0.0.1"; port = {graphite} }}
"""

PERFDATA_TEMPLATE = ('"HOST::$host.name$\\tSERVICE::$service.name$\\tSTATE::$service.state$'
                     '\\tSTATEID::$service.state_id$\\tOUTPUT::$service.output$'
                     '\\tPERFDATA::$service.perfdata$"')

ICINGA_LINES = '[ "reg150907", "151083", "reg151085" ]'  # every line of lines-default-failed

ICINGA_HOST = """
object Host "{name}" {{
  check_command = "dummy"
  {vars}
}}
"""


def icinga_constants(root: Path) -> List[str]:
    user, group = user_and_group()
    paths = {"DataDir": "lib", "LogDir": "log", "CacheDir": "cache", "SpoolDir": "spool",
             "InitRunDir": "run", "PidPath": "run/icinga2.pid", "StatePath": "lib/icinga2.state",
             "ObjectsPath": "cache/icinga2.debug", "VarsPath": "cache/icinga2.vars",
             "ModAttrPath": "lib/modified-attributes.conf", "ZonesDir": "etc/zones.d"}
    defines = [f"-DConfiguration.{key}={root / value}" for key, value in paths.items()]
    return defines + [f"-DConfiguration.RunAsUser={user}", f"-DConfiguration.RunAsGroup={group}"]


def icinga_test_features(root: Path, sink: GraphiteSink) -> str:
    return ICINGA_TEST_FEATURES.format(root=root, template=PERFDATA_TEMPLATE, graphite=sink.port)


def icinga_results(root: Path, portals: Sequence[Portal] = PORTALS):
    """{(host, service): fields} of every portal service, once Icinga 2 wrote them all."""
    ours = {(portal.host, portal.icinga_service) for portal in portals}
    results = {}
    for path in (root / "spool").rglob("service-perfdata*"):
        for line in path.read_text().splitlines():
            if not line.startswith("HOST::"):  # the rest of another check's multi-line output
                continue
            fields = dict(field.split("::", 1) for field in line.split("\t") if "::" in field)
            if (fields["HOST"], fields["SERVICE"]) in ours:
                results[(fields["HOST"], fields["SERVICE"])] = fields
    return results if len(results) == len(ours) else None


def validate_icinga(config: Path, root: Path) -> str:
    """icinga2 daemon -C; returns its output, fails the test on an error or a critical line."""
    assert ICINGA2 is not None
    validation = subprocess.run(
        [ICINGA2, "daemon", "-C", "-c", str(config), *icinga_constants(root)],
        capture_output=True, text=True, env={"PATH": PLAIN_PATH, "LANG": "C.UTF-8"})
    assert validation.returncode == 0, validation.stdout + validation.stderr
    assert "critical/" not in validation.stdout
    return validation.stdout


def service_count(validation: str) -> int:
    found = re.search(r"Instantiated (\d+) Services?\.", validation)
    assert found is not None, validation
    return int(found.group(1))


@pytest.fixture(scope="module")
def icinga(tmp_path_factory, portals, plugin_dir):
    """Run Icinga 2 once for all portals; yields what the tests read back."""
    require(ICINGA2 is not None, f"Icinga 2 is not installed: {searched('icinga2')} "
                                 "(apt install icinga2-bin)")
    require_system_python()
    urls, codes = portals
    root = tmp_path_factory.mktemp("icinga2")
    for folder in ("etc", "lib", "log", "cache", "run", "spool/tmp", "spool/perfdata", "secrets",
                   "textfile"):
        (root / folder).mkdir(parents=True)
    sink = GraphiteSink()
    hosts = []
    for host, scenario in HOSTS:
        if host == "ok-portal":  # one portal keeps its webhook in a file
            secret_file = root / "secrets" / f"{host}.url"
            secret_file.write_text(urls[host] + "\n")
            variables = f'vars.bx24_sip_webhook_file = "{secret_file}"'
        else:
            variables = f'vars.bx24_sip_webhook = "{urls[host]}"'
        if scenario not in fake_portal.LINE_SCENARIOS:  # the opt-out the services file offers
            variables += "\n  vars.bx24_sip_check_lines = false"
        else:  # host-wide, as the README's table allows: the connector service must not mind
            variables += (f'\n  vars.bx24_sip_lines = {ICINGA_LINES}'
                          f'\n  vars.bx24_sip_prometheus_dir = "{root / "textfile"}"')
        hosts.append(ICINGA_HOST.format(name=host, vars=variables))
    config = root / "etc" / "icinga2.conf"
    config.write_text(ICINGA_CONFIG.format(plugins=plugin_dir, repo=REPO, root=root)
                      + icinga_test_features(root, sink) + "".join(hosts))
    started = time.monotonic()
    validation = validate_icinga(config, root)
    validated = time.monotonic() - started
    assert ICINGA2 is not None
    daemon = Daemon([ICINGA2, "daemon", "-c", str(config), *icinga_constants(root)],
                    root / "console.log")
    try:
        # metrics of checks that end before the writer has connected would be dropped
        wait_for(sink.connected.is_set, "Icinga 2's GraphiteWriter to connect", within=30)
        force_checks(daemon, root / "run" / "icinga2.cmd", "icinga")

        found = wait_for(lambda: icinga_results(root), "Icinga 2 to write a result for every service")
        wait_for(lambda: all(sink.values(p).keys() >= {f"{label}.value" for label in p.perfdata}
                             for p in PORTALS), "Icinga 2 to send every perfdata value")
        checked = time.monotonic() - started
    finally:
        daemon.stop()
        sink.close()
    REPORT.append(f"Icinga 2: configuration validated in {validated * 1000:.0f} ms; started, "
                  f"{len(PORTALS)} checks forced and read back in {checked:.1f}s")
    yield {"root": root, "validation": validation, "results": found, "graphite": sink,
           "codes": codes, "secret_file": root / "secrets" / "ok-portal.url",
           "textfile": root / "textfile"}


def test_icinga_validates_the_shipped_configuration(icinga):
    validation = icinga["validation"]
    assert "Finished validating the configuration file(s)." in validation
    assert "warning/" not in validation
    assert service_count(validation) == len(PORTALS)  # the apply rules matched every service


def test_icinga_accepts_the_file_in_debians_stock_configuration(tmp_path):
    """The README's setup: the file dropped into conf.d of the packaged configuration. Only
    where asked: on a host already set up per the README (the file in conf.d, or the package's
    own CheckCommand beside it), /etc/icinga2 is the admin's, not Debian's stock."""
    require_stock("validating the Icinga 2 files inside a copy of /etc/icinga2")
    require(ICINGA2 is not None and Path("/etc/icinga2/icinga2.conf").exists(),
            f"Icinga 2 and its packaged /etc/icinga2 are not installed: {searched('icinga2')}, or "
            "no /etc/icinga2/icinga2.conf (apt install icinga2-bin icinga2-common)")
    etc = tmp_path / "etc"
    shutil.copytree("/etc/icinga2", etc, symlinks=True)
    for folder in ("lib", "log", "cache", "run", "spool"):
        (tmp_path / folder).mkdir()
    stock = validate_icinga(etc / "icinga2.conf", tmp_path)
    for name in ("check_bx24_sip.conf", "bx24_sip_services.conf"):
        shutil.copy(REPO / "contrib" / "icinga2" / name, etc / "conf.d")
    (etc / "conf.d" / "bx24_portal.conf").write_text(ICINGA_HOST.format(
        name="yourportal.bitrix24.com",
        vars='vars.bx24_sip_webhook = "https://yourportal.bitrix24.com/rest/1/yourwebhookcode/"'))
    with_plugin = validate_icinga(etc / "icinga2.conf", tmp_path)
    assert "bx24-sip" not in with_plugin  # no "apply rule does not match anywhere" warning
    assert service_count(with_plugin) == service_count(stock) + 2  # the connector and the lines


@pytest.mark.parametrize("portal", PORTALS, ids=[p.id for p in PORTALS])
def test_icinga_runs_the_check(icinga, portal):
    assert_icinga_result(icinga["results"][(portal.host, portal.icinga_service)], portal)


def assert_icinga_result(result: Dict[str, str], portal: Portal) -> None:
    """What Icinga 2's perfdata writer wrote of a service: state, output and perfdata."""
    states = ["OK", "WARNING", "CRITICAL", "UNKNOWN"]
    assert (result["STATEID"], result["STATE"]) == (str(portal.code), states[portal.code])
    # Icinga 2 cuts the line at "|" and keeps the space before it
    assert result["OUTPUT"] == portal.output + (" " if portal.perfdata else "")
    perfdata = parse_perfdata(result["PERFDATA"]) if result["PERFDATA"] else {}
    assert perfdata == portal.perfdata


@pytest.mark.parametrize("portal", PORTALS, ids=[p.id for p in PORTALS])
def test_icinga_parsed_every_perfdata_value(icinga, portal):
    values = {path: value for path, value in icinga["graphite"].values(portal).items()
              if path.endswith(".value")}
    assert set(values) == {f"{label}.value" for label in portal.perfdata}
    for label, printed in portal.perfdata.items():
        value = printed.split(";", 1)[0]
        if value == "T":
            assert 0 <= float(values["time.value"]) < 5
        else:
            assert float(values[f"{label}.value"]) == float(value)


def test_icinga_never_logs_or_stores_the_secret(icinga):
    root = icinga["root"]
    config = root / "etc" / "icinga2.conf"
    object_cache = root / "cache" / "icinga2.debug"
    for host, code in icinga["codes"].items():
        assert icinga["graphite"].data.find(code.encode()) == -1
        if host == "ok-portal":
            # kept in a file: nowhere in Icinga 2, not even in its dump of the configuration
            assert files_holding(root, code) == ["secrets/ok-portal.url"]
        else:
            # a host variable is configuration: only the config and Icinga's dump of it hold it
            # (2.13 writes that dump at every start, 2.14 only when asked with --dump-objects)
            dumped = ["cache/icinga2.debug"] if object_cache.exists() else []
            assert files_holding(root, code) == [*dumped, "etc/icinga2.conf"]
    assert (root / "log" / "debug.log").stat().st_size > 0
    assert config.exists() and object_cache.exists() == icinga2_dumps_objects()


def test_icinga_evaluates_every_argument_without_a_warning(icinga):
    """A set_if or value lambda that Icinga cannot evaluate is only a warning in its log."""
    log = (icinga["root"] / "log" / "debug.log").read_text()
    assert [line for line in log.splitlines() if "PluginUtility" in line] == []


# --------------------------------------------------------------------------- Nagios 4


NAGIOS_CONFIG = """\
log_file={root}/var/nagios.log
cfg_file={repo}/contrib/nagios/check_bx24_sip.cfg
cfg_file={repo}/contrib/nagios/bx24_sip_templates.cfg
cfg_file={root}/etc/objects.cfg
resource_file={root}/etc/resource.cfg
status_file={root}/var/status.dat
status_update_interval=1
object_cache_file={root}/var/objects.cache
precached_object_file={root}/var/objects.precache
temp_file={root}/var/nagios.tmp
temp_path={root}/var
lock_file={root}/run/nagios.lock
check_result_path={root}/spool/checkresults
command_file={root}/run/nagios.cmd
query_socket={root}/run/nagios.qh
check_external_commands=1
retain_state_information=1
state_retention_file={root}/var/retention.dat
debug_file={root}/var/nagios.debug
debug_level=-1
debug_verbosity=2
nagios_user={user}
nagios_group={group}
enable_notifications=0
execute_host_checks=0
use_syslog=0
check_result_reaper_frequency=1
illegal_macro_output_chars=`~$&|'"<>
"""

NAGIOS_OBJECTS = """\
define timeperiod {
    timeperiod_name 24x7
    alias           always
    sunday          00:00-24:00
    monday          00:00-24:00
    tuesday         00:00-24:00
    wednesday       00:00-24:00
    thursday        00:00-24:00
    friday          00:00-24:00
    saturday        00:00-24:00
}
define command {
    command_name    noop
    command_line    /bin/true
}
define contact {
    contact_name                  nobody
    host_notifications_enabled    0
    service_notifications_enabled 0
    host_notification_period      24x7
    service_notification_period   24x7
    host_notification_options     n
    service_notification_options  n
    host_notification_commands    noop
    service_notification_commands noop
}
"""

NAGIOS_HOST = """
define host {{
    host_name             {name}
    address               127.0.0.1
    max_check_attempts    1
    check_period          24x7
    contacts              nobody
    notification_interval 0
    notification_period   24x7
}}
"""

NAGIOS_SERVICE = """
define service {{
    use                   {template}
    host_name             {name}
    check_period          24x7
    contacts              nobody
    notification_interval 0
    notification_period   24x7
    _BX24_WEBHOOK_FILE    {secret_file}{extra}
}}
"""



def status_blocks(status_dat: Path, kind: str) -> List[Dict[str, str]]:
    blocks = []
    for match in re.finditer(kind + r" \{\n(.*?)\n\s*\}", status_dat.read_text(), re.S):
        blocks.append(dict(line.strip().split("=", 1) for line in match.group(1).splitlines()
                           if "=" in line))
    return blocks


@pytest.fixture(scope="module")
def nagios(tmp_path_factory, portals, plugin_dir):
    binary = NAGIOS
    require(binary is not None, f"Nagios 4 is not installed: {searched('nagios4', 'nagios')} "
                                "(apt install nagios4-core)")
    assert binary is not None
    require_system_python()
    urls, codes = portals
    root = tmp_path_factory.mktemp("nagios4")
    for folder in ("etc", "var", "run", "spool/checkresults", "secrets", "textfile"):
        (root / folder).mkdir(parents=True)
    user, group = user_and_group()
    (root / "etc" / "nagios.cfg").write_text(NAGIOS_CONFIG.format(root=root, repo=REPO,
                                                                  user=user, group=group))
    (root / "etc" / "resource.cfg").write_text(f"$USER1$={plugin_dir}\n")
    objects = [NAGIOS_OBJECTS]
    for host, _ in HOSTS:
        secret_file = root / "secrets" / f"{host}.url"
        secret_file.write_text(urls[host] + "\n")
        objects.append(NAGIOS_HOST.format(name=host))
    for portal in PORTALS:
        template = "bx24-sip-lines-service" if portal.lines else "bx24-sip-service"
        extra = ""
        if portal.scenario in fake_portal.LINE_SCENARIOS:  # a textfile per service, as documented
            textfile = root / "textfile" / f"{portal.id}.prom"
            extra = f"\n    _BX24_PROMETHEUS_FILE {textfile}"
            if portal.lines:
                extra += "\n    _BX24_LINES           reg150907,151083,reg151085"
        objects.append(NAGIOS_SERVICE.format(name=portal.host, template=template, extra=extra,
                                             secret_file=root / "secrets" / f"{portal.host}.url"))
    (root / "etc" / "objects.cfg").write_text("".join(objects))

    config = str(root / "etc" / "nagios.cfg")
    started = time.monotonic()
    validation = subprocess.run([binary, "-v", config], capture_output=True, text=True,
                                env={"PATH": PLAIN_PATH, "LANG": "C.UTF-8"})
    validated = time.monotonic() - started
    assert validation.returncode == 0, validation.stdout
    daemon = Daemon([binary, config], root / "console.log")
    try:
        force_checks(daemon, root / "run" / "nagios.cmd", "nagios")
        status_dat = root / "var" / "status.dat"

        def results():
            if not status_dat.exists():
                return None
            checked = {(block["host_name"], block["service_description"]): block
                       for block in status_blocks(status_dat, "servicestatus")
                       if block.get("has_been_checked") == "1"}
            return checked if len(checked) == len(PORTALS) else None

        found = wait_for(results, "Nagios 4 to report a result for every service")
        checked = time.monotonic() - started
    finally:
        daemon.stop()
    REPORT.append(f"Nagios 4: configuration validated in {validated * 1000:.0f} ms; started, "
                  f"{len(PORTALS)} checks forced and read back in {checked:.1f}s")
    yield {"root": root, "validation": validation, "results": found, "codes": codes,
           "textfile": root / "textfile"}


def test_nagios_validates_the_shipped_configuration(nagios):
    validation = nagios["validation"]
    assert validation.returncode == 0, validation.stdout
    assert "Total Warnings: 0" in validation.stdout
    assert "Total Errors:   0" in validation.stdout


@pytest.mark.parametrize("portal", PORTALS, ids=[p.id for p in PORTALS])
def test_nagios_runs_the_check(nagios, portal):
    assert_nagios_result(nagios["results"][(portal.host, portal.nagios_service)], portal)


def assert_nagios_result(result: Dict[str, str], portal: Portal) -> None:
    """What status.dat holds of a service: the plugin's state, line and perfdata."""
    assert result["check_command"] == "check_bx24_sip"
    assert result["current_state"] == str(portal.code)
    assert result["plugin_output"] == portal.output
    assert result["long_plugin_output"] == ""
    perfdata = parse_perfdata(result["performance_data"]) if result["performance_data"] else {}
    assert perfdata == portal.perfdata


def test_nagios_never_logs_or_stores_the_secret(nagios):
    root = nagios["root"]
    assert (root / "var" / "nagios.debug").stat().st_size > 0
    for host, code in nagios["codes"].items():
        assert files_holding(root, code) == [f"secrets/{host}.url"]


STOCK_NAGIOS = Path("/etc/nagios4/nagios.cfg")


def readme_block(language: str) -> str:
    text = (REPO / "README.md").read_text()
    return text.split(f"```{language}\n", 1)[1].split("\n```", 1)[0] + "\n"


@pytest.mark.parametrize("example", ["contrib/nagios/bx24_sip_example.cfg", "README.md"])
def test_nagios_accepts_the_examples_in_debians_stock_configuration(example):
    """As the README says: the files dropped into /etc/nagios4/conf.d of the packaged, unchanged
    configuration, then `nagios4 -v /etc/nagios4/nagios.cfg`. The files are removed again."""
    require(NAGIOS is not None and STOCK_NAGIOS.exists(),
            f"Nagios 4 and its packaged {STOCK_NAGIOS} are not installed: "
            f"{searched('nagios4', 'nagios')}, or no {STOCK_NAGIOS} (apt install nagios4-core)")
    require_stock("validating the examples inside /etc/nagios4")
    text = readme_block("nagios") if example == "README.md" else (REPO / example).read_text()
    placed = [Path("/etc/nagios4/conf.d/zz-bx24-test-command.cfg"),
              Path("/etc/nagios4/conf.d/zz-bx24-test-templates.cfg"),
              Path("/etc/nagios4/conf.d/zz-bx24-test-portal.cfg")]
    require(not any(path.exists() for path in placed),
            f"{', '.join(map(str, placed))}: a file of this name is already there")
    stock = validate_stock_nagios()
    try:
        shutil.copy(REPO / "contrib" / "nagios" / "check_bx24_sip.cfg", placed[0])
        shutil.copy(REPO / "contrib" / "nagios" / "bx24_sip_templates.cfg", placed[1])
        placed[2].write_text(text)
        with_portal = validate_stock_nagios()
    finally:
        for path in placed:
            path.unlink(missing_ok=True)
    assert nagios_services(with_portal) == nagios_services(stock) + text.count("define service")


def validate_stock_nagios() -> str:
    assert NAGIOS is not None
    validation = subprocess.run([NAGIOS, "-v", str(STOCK_NAGIOS)], capture_output=True,
                                text=True, env={"PATH": PLAIN_PATH, "LANG": "C.UTF-8"})
    assert validation.returncode == 0, validation.stdout
    assert "Total Warnings: 0" in validation.stdout
    assert "Total Errors:   0" in validation.stdout
    return validation.stdout


def nagios_services(validation: str) -> int:
    found = re.search(r"Checked (\d+) services\.", validation)
    assert found is not None, validation
    return int(found.group(1))


# --------------------------------------------------------------------------- node_exporter

NODE_EXPORTER = find_daemon("prometheus-node-exporter", "node_exporter")


def assert_node_exporter_serves_both_services(folder: Path, port: int, tmp_path: Path) -> None:
    """The two services of one portal write their own files into one textfile folder; Debian's
    node_exporter serves every series of both (a series in two files would be served once)."""
    from node_exporter import bx24_samples, scrape_textfiles

    require(NODE_EXPORTER is not None, f"node_exporter is not installed: "
                                       f"{searched('prometheus-node-exporter', 'node_exporter')} "
                                       "(apt install prometheus-node-exporter)")
    assert NODE_EXPORTER is not None
    assert len(list(folder.glob("*.prom"))) == 2, sorted(folder.iterdir())
    samples, log = scrape_textfiles(NODE_EXPORTER, folder, tmp_path / "node_exporter.log")
    assert "collected before" not in log, log
    assert samples[("node_textfile_scrape_error", ())] == 0
    portal = f"127.0.0.1:{port}"
    connector = {"portal": portal, "check": "connector"}
    lines = {"portal": portal, "check": "lines"}
    served = bx24_samples(samples)
    assert ("bx24_sip_check_state", connector, 0) in served
    assert ("bx24_sip_check_state", lines, 2) in served  # the CRITICAL line is not hidden
    assert ("bx24_sip_paid", connector, 1) in served
    assert ("bx24_sip_lines", lines, 3) in served
    assert ("bx24_sip_line_check_state", {**lines, "line": "reg150907", "name": "Office trunk"},
            2) in served
    assert [name for name, labels, _ in served if name == "bx24_sip_up"] == ["bx24_sip_up"] * 2


def portal_port(codes_and_urls) -> int:
    urls, _ = codes_and_urls
    return int(urls["lines-portal"].split(":")[2].split("/")[0])


def test_icinga_services_write_one_textfile_each(icinga, portals, tmp_path):
    folder = icinga["textfile"]
    assert sorted(path.name for path in folder.iterdir()) == [
        "bx24_sip_lines-portal_bx24-sip-lines.prom", "bx24_sip_lines-portal_bx24-sip.prom"]
    assert_node_exporter_serves_both_services(folder, portal_port(portals), tmp_path)


def test_nagios_services_write_one_textfile_each(nagios, portals, tmp_path):
    assert_node_exporter_serves_both_services(nagios["textfile"], portal_port(portals), tmp_path)


def test_the_plugin_folder_copy_runs_whatever_python3_comes_first(tmp_path):
    """The README's copy names /usr/bin/python3: a pyenv or venv python3 first on PATH (which
    lacks Debian's libraries) must not be the one that runs it, as `env python3` would."""
    require_system_python()
    install_plugin_copy(tmp_path / "check_bx24_sip")
    decoy = tmp_path / "bin"
    decoy.mkdir()
    (decoy / "python3").write_text("#!/bin/sh\necho 'the wrong python3'\nexit 1\n")
    (decoy / "python3").chmod(0o755)
    done = subprocess.run([str(tmp_path / "check_bx24_sip"), "--check", "bogus"],
                          capture_output=True, text=True, env={"PATH": f"{decoy}:{PLAIN_PATH}"})
    assert (done.returncode, done.stderr) == (3, "")
    assert done.stdout.startswith("BX24_SIP UNKNOWN - argument --check: invalid choice: 'bogus'")
