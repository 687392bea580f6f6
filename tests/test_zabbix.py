"""Zabbix runs the shipped agent file and templates for real: 6.0 (Debian 12's packages) with
contrib/zabbix/template_bx24_sip.yaml, 7.0 (Debian 13's) with template_bx24_sip_7.0.yaml.

Both agents answer `zabbix_get` through contrib/zabbix/bx24_sip.conf; a Zabbix server with its
PostgreSQL database and the frontend's API imports the template of its version, links it to one
host per fake-portal scenario (and one host monitored through a proxy), checks them, and the
tests read the discovered lines, the item values and the problems back through the API. Every
part is private (tests/harness/zabbix_stack.py). The plugin is the file copied alone into a plugin
folder, as for the other daemons; with BX24_TEST_STOCK=yes (CI) the agent file is used exactly
as shipped, with the webhook folder /etc/zabbix/bx24 created for the run and removed after it.
"""

from __future__ import annotations

import grp
import json
import os
import re
import shutil
import time
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Union

import fake_portal
import private_postgres
import pytest
import zabbix_stack
from daemons import install_plugin_copy, is_plugin_copy, require, require_system_python, wait_for
from plugin import REPORT, SCRIPT, day
from system_state import stock_tests_asked

pytestmark = [pytest.mark.daemons, pytest.mark.configurations]

REPO = SCRIPT.parent
SHIPPED = REPO / "contrib" / "zabbix" / "bx24_sip.conf"
# the template for each server version, as the README tells which file goes with which server
TEMPLATES = {(6, 0): REPO / "contrib" / "zabbix" / "template_bx24_sip.yaml",
             (7, 0): REPO / "contrib" / "zabbix" / "template_bx24_sip_7.0.yaml"}
PLUGIN = "/usr/lib/nagios/plugins/check_bx24_sip"
WEBHOOK_DIR = "/etc/zabbix/bx24"
NAME = "Bitrix24 SIP by Zabbix agent"

# host (= {$BX24.PORTAL}) -> (connector scenario, lines scenario, calls scenario)
PORTALS = {
    "ok-portal": ("paid", "lines-registered", "calls-ok"),
    "expiring-portal": ("expiring", "lines-registered", "calls-warning"),
    "unpaid-portal": ("unpaid-no-minutes", "lines-registered", "calls-ok"),
    "line-failed-portal": ("paid", "lines-default-failed", "calls-ok"),
    "line-pending-portal": ("paid", "lines-pending", "calls-ok"),
    "error-portal": ("access-denied", "lines-all-fail", "calls-access-denied"),
    "office-portal": ("paid", "lines-office-only", "calls-ok"),
    "calls-failing-portal": ("paid", "lines-registered", "calls-critical"),
}


def of_kind(key: str, kind: str) -> bool:
    """The master item of connector, lines (the key bx24.sip) or calls (bx24.sip.calls)."""
    return key.startswith("bx24.sip.calls[") if kind == "calls" else f",{kind}" in key


def version_text() -> str:
    return ".".join(map(str, zabbix_stack.version()))


def template() -> Path:
    """The template file the README names for this server's version."""
    return TEMPLATES[zabbix_stack.version()]


def monitored_by(proxy: Optional[str]) -> Dict[str, object]:
    """host.create's fields for a host polled by `proxy` (none: by the server)."""
    if proxy is None:
        return {}
    if zabbix_stack.version() >= (7, 0):
        return {"monitored_by": 1, "proxyid": proxy}
    return {"proxy_hostid": proxy}


def lines_filled(api, hostids: Iterable[str]) -> bool:
    """Every host has an item set for each line of its last lines value, and every one of
    those items has a value: the discovery ran, and a check after it filled the items."""
    for master in api.masters(hostids):
        if ",lines" in master["key_"]:
            listed = json.loads(master["lastvalue"] or "{}").get("lines") or []
            found = discovered_lines(api, master["hostid"])
            if sorted(found) != sorted(line["id"] for line in listed) or any(
                    value is None for line in found.values() for value in line.values()):
                return False
    return True


def calls_filled(api, hostids: Iterable[str]) -> bool:
    """As lines_filled, for the lines of the calls discovery."""
    for master in api.masters(hostids):
        if of_kind(master["key_"], "calls"):
            calls = json.loads(master["lastvalue"] or "{}").get("calls") or {"lines": []}
            found = discovered_call_lines(api, master["hostid"])
            # a line without calls in the window keeps its items
            if not {line["portal_number"] for line in calls["lines"]} <= set(found) or any(
                    value is None for line in found.values() for value in line.values()):
                return False
    return True


def require_zabbix() -> None:
    missing = zabbix_stack.missing_parts()
    require(not missing, f"Zabbix is not installed: no {', '.join(missing)} (apt install "
                         "zabbix-server-pgsql zabbix-frontend-php zabbix-agent zabbix-agent2 "
                         "postgresql php-cli php-pgsql php-bcmath php-gd php-mbstring php-xml)")
    require(os.geteuid() == 0, "the Zabbix tests start daemons as the zabbix and postgres users: "
                               "run them as root")
    require_system_python()


def serve_portal(server, connector: str, lines: Union[str, fake_portal.LinePortal],
                 secret: str, calls: str = "calls-ok") -> None:
    """One portal: its connector's answer, its lines' batches (a scenario's, or these) and its
    call statistics under one webhook code."""
    line_portal = fake_portal.LINE_SCENARIOS[lines] if isinstance(lines, str) else lines
    portal = fake_portal.CALL_SCENARIOS[calls]._replace(lines=line_portal).portal()
    server.expect_request(fake_portal.batch_path(secret), method="POST").respond_with_handler(
        fake_portal.batch_handler(portal))
    fake_portal.serve_reply(server, fake_portal.reply_for(connector), secret=secret)


class Portals:
    """The fake portals behind the webhook folder; a scenario can change mid-test."""

    def __init__(self, server, folder: Path):
        self.server = server
        self.folder = folder
        self.codes: Dict[str, str] = {}
        self.scenarios: Dict[str, tuple] = {}
        for host, scenario in PORTALS.items():
            self.add(host, *scenario)

    def add(self, host: str, connector: str, lines: str, calls: str = "calls-ok") -> None:
        """A portal of its own: its webhook file (0640 root:zabbix) and its answers."""
        self.codes[host] = "z" + os.urandom(8).hex()
        self.scenarios[host] = (connector, lines, calls)
        self.serve_all()
        path = self.folder / f"{host}.url"
        path.write_text(fake_portal.webhook_for(self.server, self.codes[host]) + "\n")
        path.chmod(0o640)
        os.chown(path, 0, grp.getgrnam("zabbix").gr_gid)

    def serve_all(self) -> None:
        self.server.clear()
        for host, (connector, lines, calls) in self.scenarios.items():
            serve_portal(self.server, connector, lines, self.codes[host], calls)

    def change(self, host: str, connector: str, lines: str, calls: str = "calls-ok") -> None:
        self.scenarios[host] = (connector, lines, calls)
        self.serve_all()


def agent_file(plugin: str, webhook_dir: str, root: Path) -> Path:
    """The shipped file, or where the machine's own folders must stay untouched, the shipped
    file with the plugin and the webhook folder moved into the test's own."""
    text = SHIPPED.read_text()
    if plugin == PLUGIN and webhook_dir == WEBHOOK_DIR:
        return SHIPPED
    moved = root / "bx24_sip.conf"
    moved.write_text(text.replace(PLUGIN, plugin).replace(f"={WEBHOOK_DIR} ", f"={webhook_dir} "))
    return moved


@pytest.fixture(scope="module")
def zabbix_setup(httpserver_module):
    """The plugin, the webhook folder (root:zabbix 0750, files 0640) and the fake portals."""
    require_zabbix()
    root = private_postgres.private_folder("zabbix", "zabbix")
    configured = os.environ.get("BX24_PLUGIN_DIR")
    if configured:
        plugin = str(Path(configured) / "check_bx24_sip")
        assert is_plugin_copy(Path(plugin))
    else:
        plugin = str(root / "check_bx24_sip")
        install_plugin_copy(Path(plugin))
    stock = stock_tests_asked() and plugin == PLUGIN
    folder = Path(WEBHOOK_DIR) if stock else root / "bx24"
    if stock:
        require(not folder.exists(), f"{folder} exists: the Zabbix tests need it absent")
    folder.mkdir(mode=0o750)
    os.chown(folder, 0, grp.getgrnam("zabbix").gr_gid)
    try:
        portals = Portals(httpserver_module, folder)
        include = agent_file(plugin, str(folder), root)
        yield {"root": root, "portals": portals, "include": include, "folder": folder}
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def httpserver_module():
    from pytest_httpserver import HTTPServer

    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module", params=["agentd", "agent2"])
def agent(request, zabbix_setup):
    agent = zabbix_stack.Agent(request.param, zabbix_setup["root"], zabbix_setup["include"])
    yield agent
    agent.stop()


# --------------------------------------------------------------------------- agents


def test_the_agent_returns_the_plugins_json(agent, zabbix_setup):
    value = json.loads(agent.get("bx24.sip[expiring-portal,connector]"))
    assert (value["state"], value["summary"], value["days_left"]) == (
        "WARNING", f"paid until {day(5)}, 5 days left", 5)
    assert value["thresholds"]["timeout_seconds"] == 25.0
    lines = json.loads(agent.get("bx24.sip[line-failed-portal,lines]"))
    assert (lines["state_code"], [line["state"] for line in lines["lines"]]) == (
        2, ["CRITICAL", "OK", "OK"])


def test_the_plugins_timeout_is_the_keys_eighth_parameter(agent):
    """Empty (the 6.0 template) keeps the agent file's 25 s; the 7.0 template passes
    {$BX24.TIMEOUT}."""
    assert json.loads(agent.get("bx24.sip[expiring-portal,connector]"))["thresholds"][
        "timeout_seconds"] == 25.0
    value = json.loads(agent.get("bx24.sip[expiring-portal,connector,,,,,,55]"))
    assert (value["state"], value["thresholds"]["timeout_seconds"]) == ("WARNING", 55.0)
    lines = json.loads(agent.get("bx24.sip[line-failed-portal,lines,,,,,,7]"))
    assert (lines["state"], lines["thresholds"]["timeout_seconds"]) == ("CRITICAL", 7.0)


def test_the_calls_key_passes_every_calls_option(agent):
    value = json.loads(agent.get("bx24.sip.calls[calls-failing-portal]"))
    assert (value["check"], value["state"], value["calls"]["window_minutes"],
            value["thresholds"]["timeout_seconds"]) == ("calls", "CRITICAL", 60, 25.0)
    value = json.loads(agent.get("bx24.sip.calls[calls-failing-portal,30,2,12.5,40,0,warning,7]"))
    assert (value["state"], value["summary"], value["calls"]["window_minutes"],
            value["thresholds"]["timeout_seconds"]) == (
        "CRITICAL", "1 of 2 lines failing calls: reg151083: 4 of 4 outgoing calls failed in the "
                    "last 30 min (503 route unavailable x3, 402 insufficient funds x1)", 30, 7.0)


def test_the_thresholds_come_from_the_key(agent):
    value = json.loads(agent.get("bx24.sip[expiring-portal,connector,4,2,,,critical]"))
    assert (value["state"], value["summary"]) == ("OK", f"paid until {day(5)} (5 days left)")
    assert value["thresholds"] == {"warning_days": 4, "critical_days": 2, "warning_minutes": 10,
                                   "critical_minutes": 1, "unpaid": "CRITICAL",
                                   "unreachable": "UNKNOWN", "timeout_seconds": 25.0}


@pytest.mark.parametrize("name", ["../bx24-outside", "..", "bx24/../x", "", "a" * 65, ".hidden"])
def test_a_key_that_is_not_a_plain_name_reads_nothing(agent, zabbix_setup, name):
    """The agent lets '.' and '/' through; the plugin refuses them before any file or call."""
    outside = zabbix_setup["root"] / "bx24-outside.url"
    outside.write_text(f"http://127.0.0.1:1/rest/1/{'o' * 16}/\n")
    outside.chmod(0o644)
    value = json.loads(agent.get(f"bx24.sip[{name},connector]"))
    assert (value["state"], value["error"]["kind"]) == ("UNKNOWN", "usage")
    assert value["summary"] == ("--portal must be a plain name such as yourportal (letters, "
                                "digits, '.', '_' and '-', at most 64, no '..'): the webhook is "
                                "read from --webhook-dir/NAME.url")


def test_keys_the_agent_refuses_get_the_agents_own_answer(agent):
    """UnsafeUserParameters=0: quotes, $, ; never reach the plugin."""
    assert agent.get('bx24.sip[a;id,connector]').startswith("ZBX_NOTSUPPORTED")


def test_a_missing_portal_file_is_one_json_object(agent, zabbix_setup):
    value = json.loads(agent.get("bx24.sip[nosuchportal,connector]"))
    assert value["summary"] == (f"cannot read {zabbix_setup['folder']}/nosuchportal.url "
                                "(--portal): No such file or directory")


def test_the_agents_log_no_secret(agent, zabbix_setup):
    agent.get("bx24.sip[error-portal,connector]")
    logs = "".join(path.read_text(errors="replace") for path in zabbix_setup["root"].glob("*.log"))
    assert "bx24.sip[error-portal,connector]" in logs  # DebugLevel=4 logs what it runs
    for code in zabbix_setup["portals"].codes.values():
        assert code not in logs


# --------------------------------------------------------------------------- server


IMPORT_RULES = {
    "templates": {"createMissing": True, "updateExisting": True},
    "items": {"createMissing": True, "updateExisting": True, "deleteMissing": True},
    "triggers": {"createMissing": True, "updateExisting": True, "deleteMissing": True},
    "discoveryRules": {"createMissing": True, "updateExisting": True, "deleteMissing": True},
    "valueMaps": {"createMissing": True, "updateExisting": True, "deleteMissing": True},
    "templateLinkage": {"createMissing": True},
}


class Zabbix:
    """The server, its API and one agent (agent 2) for every portal host."""

    def __init__(self, setup):
        started = time.monotonic()
        self.root = private_postgres.private_folder("zabbix", "zabbix")
        self.database_root = private_postgres.private_folder("postgres", "zabbix")
        self.database: Optional[private_postgres.Postgres] = None
        self.server: Optional[zabbix_stack.Server] = None
        self.frontend: Optional[zabbix_stack.Frontend] = None
        self.agent: Optional[zabbix_stack.Agent] = None
        self.proxy: Optional[zabbix_stack.Proxy] = None
        try:
            self.start(setup, started)
        except BaseException:
            self.stop()  # whatever did start: nothing may outlive the test
            raise

    def start(self, setup, started: float) -> None:
        self.database = private_postgres.Postgres(self.database_root)
        zabbix_stack.load_zabbix_schema(self.database)
        self.timings = {"database": time.monotonic() - started}
        self.server = zabbix_stack.Server(self.root, self.database)
        self.frontend = zabbix_stack.Frontend(self.root, self.database)
        self.agent = agent = zabbix_stack.Agent("agent2", self.root, setup["include"])
        self.agent_port = agent.port
        self.frontend.login()
        self.api = self.frontend.call
        self.timings["started"] = time.monotonic() - started

    def import_template(self) -> None:
        groups = "template_groups" if zabbix_stack.version() >= (6, 2) else "groups"
        self.api("configuration.import", {
            "format": "yaml", "source": template().read_text(),
            "rules": {groups: {"createMissing": True}, **IMPORT_RULES}})

    def add_proxy(self, name: str) -> str:
        """An active proxy of this server's version; its id."""
        assert self.server is not None
        self.proxy = zabbix_stack.Proxy(self.root, name, self.server)
        if zabbix_stack.version() >= (7, 0):
            created = self.api("proxy.create", {"name": name, "operating_mode": 0})
        else:
            created = self.api("proxy.create", {"host": name, "status": 5})
        return created["proxyids"][0]

    def create_hosts(self, names=PORTALS, portal: Optional[str] = None,
                     proxy: Optional[str] = None) -> Dict[str, str]:
        """A host per name whose {$BX24.PORTAL} is its name (or `portal`), through `proxy`."""
        template = self.api("template.get", {"filter": {"host": NAME}})[0]["templateid"]
        group = self.api("hostgroup.get", {"filter": {"name": "Linux servers"}})[0]["groupid"]
        hosts = {}
        for host in names:
            created = self.api("host.create", {
                "host": host, "groups": [{"groupid": group}],
                "interfaces": [{"type": 1, "main": 1, "useip": 1, "ip": "127.0.0.1", "dns": "",
                                "port": str(self.agent_port)}],
                "templates": [{"templateid": template}],
                "macros": [{"macro": "{$BX24.PORTAL}", "value": portal or host}],
                **monitored_by(proxy)})
            hosts[host] = created["hostids"][0]
        return hosts

    def masters(self, hostids) -> List[Dict]:
        return self.api("item.get", {"hostids": list(hostids), "filter": {"type": 0},
                                     "output": ["itemid", "hostid", "key_", "lastclock",
                                                "lastvalue"]})

    def check_now(self, hostids, kind: str) -> None:
        """task.create "check now" for the hosts' master items (connector or lines) and wait
        until every one of them has a value newer than the request. The server drops a task for
        an item its configuration cache does not hold yet (a new host, item or macro): the
        request is repeated until the values come."""
        items = [item for item in self.masters(hostids) if of_kind(item["key_"], kind)]
        asked = int(time.time())
        time.sleep(1.1)  # lastclock is whole seconds: a value from the asking second is old
        last_request = [0.0]

        def fresh():
            if time.monotonic() - last_request[0] > 10:
                self.api("task.create", [{"type": 6, "request": {"itemid": item["itemid"]}}
                                         for item in items])
                last_request[0] = time.monotonic()
            clocks = self.masters(hostids)
            return all(int(item["lastclock"]) > asked for item in clocks
                       if of_kind(item["key_"], kind))
        wait_for(fresh, f"a new {kind} value of {len(items)} hosts", within=120)

    def check_until(self, hostids, kind: str, done, what: str):
        """Check now until `done()` holds: for what the server learns between two checks (the
        items a discovery made, a new macro)."""
        def checked():
            self.check_now(hostids, kind)
            return done()
        return wait_for(checked, what, within=180)

    def problems(self, hostid: str) -> List[tuple]:
        found = self.api("problem.get", {"hostids": [hostid], "output": ["name", "severity"],
                                         "sortfield": ["eventid"]})
        return sorted((int(p["severity"]), p["name"]) for p in found)

    def values(self, hostid: str) -> Dict[str, Optional[str]]:
        """{key: last value, None when it has none} of the dependent items."""
        items = self.api("item.get", {"hostids": [hostid], "output": ["key_", "lastvalue",
                                                                      "lastclock"]})
        return {item["key_"]: item["lastvalue"] if item["lastclock"] != "0" else None
                for item in items if item["key_"].startswith(
                    ("bx24.sip.connector", "bx24.sip.lines", "bx24.sip.line.", "bx24.sip.calls.",
                     "bx24.sip.call_line."))}

    def stop(self) -> None:
        for part in (self.agent, self.proxy, self.frontend, self.server):
            if part is not None:
                part.stop()
        if self.database is not None:
            self.database.stop()
        shutil.rmtree(self.database_root, ignore_errors=True)
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="module")
def zabbix(zabbix_setup):
    require_zabbix()
    zabbix = Zabbix(zabbix_setup)
    try:
        begun = time.monotonic()
        zabbix.import_template()
        hosts = zabbix.create_hosts()
        zabbix.check_now(hosts.values(), "connector")
        zabbix.check_until(hosts.values(), "lines", lambda: lines_filled(zabbix, hosts.values()),
                           "the discovered lines' values")
        zabbix.check_until(hosts.values(), "calls", lambda: calls_filled(zabbix, hosts.values()),
                           "the discovered call lines' values")
        zabbix.timings["checked"] = time.monotonic() - begun
        yield {"zabbix": zabbix, "hosts": hosts, "portals": zabbix_setup["portals"]}
    finally:
        zabbix.stop()
        REPORT.append("Zabbix {version}: database {database:.0f}s, started {started:.0f}s, template "
                      "imported and {n} hosts checked {checked:.0f}s".format(
                          version=version_text(), n=len(PORTALS),
                          **{"checked": 0, **zabbix.timings}))


def test_problems_of_every_scenario(zabbix):
    api, hosts = zabbix["zabbix"], zabbix["hosts"]
    access = ("Bitrix24 error ACCESS_DENIED: the webhook's user needs the telephony right "
              '"Manage numbers - Edit - Any" (or REST is not on this plan)')
    expected = {
        "ok-portal": [],
        "expiring-portal": [(2, "Bitrix24 SIP calls WARNING - reg150907: 2 of 10 outgoing calls "
                                "failed in the last 60 min (403 forbidden x2)"),
                            (2, f"Bitrix24 SIP connector: WARNING - paid until {day(5)}, 5 days left")],
        "unpaid-portal": [(4, "Bitrix24 SIP connector: CRITICAL - not paid and no free minutes: "
                              "outbound SIP calls are off")],
        "line-failed-portal": [(4, 'Bitrix24 SIP line CRITICAL - "Office trunk" (reg150907, '
                                   "default outgoing): SIP 403 Forbidden")],
        "line-pending-portal": [
            (2, 'Bitrix24 SIP line WARNING - "Cloud PBX (9)" (reg151083): registration in progress'),
            (2, 'Bitrix24 SIP line WARNING - "SIP line 2" (reg151085): waiting to register')],
        "error-portal": [(3, "Bitrix24 SIP calls: UNKNOWN - cannot read the call statistics: "
                             "Bitrix24 error ACCESS_DENIED: the webhook's user needs the telephony "
                             'right "Call statistics - View - Any"'),
                         (3, f"Bitrix24 SIP connector: UNKNOWN - {access}"),
                         (3, f"Bitrix24 SIP lines: UNKNOWN - cannot list the SIP lines: {access}")],
        "office-portal": [(2, "Bitrix24 SIP lines: WARNING - no cloud PBX SIP lines to check")],
        "calls-failing-portal": [(4, f"Bitrix24 SIP calls CRITICAL - {ROUTE_DOWN}")],
    }
    assert {host: api.problems(hostid) for host, hostid in hosts.items()} == expected


def test_item_values_are_the_plugins_figures(zabbix):
    api, hosts = zabbix["zabbix"], zabbix["hosts"]
    expiring = api.values(hosts["expiring-portal"])
    assert {key: expiring[key] for key in CONNECTOR_KEYS} == {
        "bx24.sip.connector.state": "1", "bx24.sip.connector.paid": "1",
        "bx24.sip.connector.days_left": "5", "bx24.sip.connector.free_minutes": "0",
        "bx24.sip.connector.paid_until": day(5),
        "bx24.sip.connector.summary": f"WARNING - paid until {day(5)}, 5 days left"}
    unpaid = api.values(hosts["unpaid-portal"])
    assert {key: unpaid[key] for key in CONNECTOR_KEYS} == {
        "bx24.sip.connector.state": "2", "bx24.sip.connector.paid": "0",
        "bx24.sip.connector.days_left": None, "bx24.sip.connector.free_minutes": "0",
        "bx24.sip.connector.paid_until": None,
        "bx24.sip.connector.summary": "CRITICAL - not paid and no free minutes: outbound SIP "
                                      "calls are off"}
    assert api.values(hosts["error-portal"])["bx24.sip.connector.state"] == "3"


CONNECTOR_KEYS = ("bx24.sip.connector.state", "bx24.sip.connector.paid",
                  "bx24.sip.connector.days_left", "bx24.sip.connector.free_minutes",
                  "bx24.sip.connector.paid_until", "bx24.sip.connector.summary")


ROUTE_DOWN = ("reg151083: 4 of 5 outgoing calls failed in the last 60 min (503 route unavailable "
              "x3, 402 insufficient funds x1), the last 4 in a row")


def discovered_call_lines(api: Zabbix, hostid: str) -> Dict[str, Dict[str, Optional[str]]]:
    """{line: {item kind: last value}} of the items the calls discovery made."""
    found: Dict[str, Dict[str, Optional[str]]] = {}
    for key, value in api.values(hostid).items():
        match = re.fullmatch(r'bx24\.sip\.call_line\.(\w+)\["(.+)"\]', key)
        if match:
            found.setdefault(match.group(2), {})[match.group(1)] = value
    return found


def test_the_calls_and_their_lines_are_the_plugins_figures(zabbix):
    api, hosts = zabbix["zabbix"], zabbix["hosts"]
    values = api.values(hosts["calls-failing-portal"])
    assert {key: value for key, value in values.items() if key.startswith("bx24.sip.calls.")} == {
        "bx24.sip.calls.state": "2", "bx24.sip.calls.outgoing": "15", "bx24.sip.calls.failed": "4",
        "bx24.sip.calls.failed_pct": "26.7",
        "bx24.sip.calls.summary": f"CRITICAL - 1 of 2 lines failing calls: {ROUTE_DOWN}"}
    assert discovered_call_lines(api, hosts["calls-failing-portal"]) == {
        "reg151083": {"outgoing": "5", "failed": "4", "failed_pct": "80", "streak": "4",
                      "state": "2", "summary": f"CRITICAL - {ROUTE_DOWN}"},
        "reg150907": {"outgoing": "10", "failed": "0", "failed_pct": "0", "streak": "0",
                      "state": "0", "summary": "OK - reg150907: 0 of 10 outgoing calls failed in "
                                               "the last 60 min"}}
    # the lines of calls-ok, among them a rented number and an application's line
    assert sorted(discovered_call_lines(api, hosts["ok-portal"])) == [
        "74951234567", "REST_APP:5", "reg150907", "reg151083", "reg151085"]
    assert discovered_call_lines(api, hosts["error-portal"]) == {}
    assert api.values(hosts["error-portal"])["bx24.sip.calls.state"] == "3"


def discovered_lines(api: Zabbix, hostid: str) -> Dict[str, Dict[str, Optional[str]]]:
    """{line id: {item kind: last value}} of the items the line discovery made."""
    found: Dict[str, Dict[str, Optional[str]]] = {}
    for key, value in api.values(hostid).items():
        match = re.fullmatch(r"bx24\.sip\.line\.(\w+)\[(\w+)\]", key)
        if match:
            found.setdefault(match.group(2), {})[match.group(1)] = value
    return found


# the discovered lines of lines-default-failed: {line id: {item kind: last value}}
FAILED_LINES = {
    "reg150907": {"state": "2", "status": "error", "sip_code": "403", "message": "Forbidden",
                  "summary": 'CRITICAL - "Office trunk" (reg150907, default outgoing): SIP '
                             "403 Forbidden"},
    "reg151083": {"state": "0", "status": "success", "sip_code": "200", "message": "",
                  "summary": 'OK - "Cloud PBX (9)" (reg151083): registered'},
    "reg151085": {"state": "0", "status": "success", "sip_code": "200", "message": "",
                  "summary": 'OK - "SIP line 2" (reg151085): registered'},
}


def test_every_cloud_line_is_discovered_with_its_figures(zabbix):
    api, hosts = zabbix["zabbix"], zabbix["hosts"]
    # sip7, the office PBX line, has no registration state: not discovered
    assert discovered_lines(api, hosts["line-failed-portal"]) == FAILED_LINES
    names = api.api("item.get", {"hostids": [hosts["line-failed-portal"]], "output": ["name"],
                                 "search": {"key_": "bx24.sip.line.state"}})
    assert sorted(item["name"] for item in names) == [
        'Line "Cloud PBX (9)" (reg151083): State', 'Line "Office trunk" (reg150907): State',
        'Line "SIP line 2" (reg151085): State']
    assert discovered_lines(api, hosts["office-portal"]) == {}
    assert discovered_lines(api, hosts["error-portal"]) == {}
    summary = api.values(hosts["line-failed-portal"])["bx24.sip.lines.summary"]
    assert summary.startswith("CRITICAL - 1 of 3 SIP lines not registered: ")


def test_a_failed_check_keeps_the_lines_and_is_one_problem(zabbix):
    """The lines become unreadable: the discovery rule goes unsupported, no line is lost, and
    the outage is one Average problem; the line's own problem from before stays as it was."""
    api, hosts, portals = zabbix["zabbix"], zabbix["hosts"], zabbix["portals"]
    host = hosts["line-failed-portal"]
    portals.change("line-failed-portal", "paid", "lines-all-fail")
    api.check_now([host], "lines")
    rule = api.api("discoveryrule.get", {"hostids": [host], "output": ["state", "error"],
                                         "filter": {"key_": "bx24.sip.lines.discovery"}})[0]
    assert rule["state"] == "1"  # not supported: "null" is not a list
    items = api.api("item.get", {"hostids": [host], "search": {"key_": "bx24.sip.line."},
                                 "output": ["key_"], "selectItemDiscovery": ["ts_delete"]})
    assert len(items) == 15 and all(item["itemDiscovery"]["ts_delete"] == "0" for item in items)
    access = ("Bitrix24 error ACCESS_DENIED: the webhook's user needs the telephony right "
              '"Manage numbers - Edit - Any" (or REST is not on this plan)')
    assert api.problems(host) == [
        (3, f"Bitrix24 SIP lines: UNKNOWN - cannot list the SIP lines: {access}"),
        (4, 'Bitrix24 SIP line CRITICAL - "Office trunk" (reg150907, default outgoing): SIP 403 '
            "Forbidden")]


def test_one_line_can_be_muted_with_a_context_macro(zabbix):
    api, hosts = zabbix["zabbix"], zabbix["hosts"]
    host = hosts["line-pending-portal"]
    api.api("usermacro.create", {"hostid": host, "macro": '{$BX24.LINE.ALERT:"reg151083"}',
                                 "value": "0"})
    muted = [(2, 'Bitrix24 SIP line WARNING - "SIP line 2" (reg151085): waiting to register')]
    # checked until the configuration cache has the macro; fails if the problem never goes
    api.check_until([host], "lines", lambda: api.problems(host) == muted, "the muted line")


def test_problems_resolve_when_the_portal_recovers(zabbix):
    api, hosts, portals = zabbix["zabbix"], zabbix["hosts"], zabbix["portals"]
    for host in PORTALS:  # the failing calls' portal makes no call at all now
        portals.change(host, "paid", "lines-registered",
                       "calls-none" if host == "calls-failing-portal" else "calls-ok")
    api.check_now(hosts.values(), "connector")
    quiet = hosts["calls-failing-portal"]
    api.check_until(hosts.values(), "calls", lambda: calls_filled(api, hosts.values()) and (
        discovered_call_lines(api, quiet)["reg151083"]["summary"] or "").startswith("OK - "),
        "the recovered calls' values")
    # the error portal's lines are discovered only now: checked until their items have values
    api.check_until(hosts.values(), "lines", lambda: lines_filled(api, hosts.values()),
                    "the recovered lines' values")
    assert {host: api.problems(hostid) for host, hostid in hosts.items()} == {
        host: [] for host in PORTALS}
    assert discovered_lines(api, hosts["error-portal"]).keys() == {
        "reg150907", "reg151083", "reg151085"}
    # a line without calls in the window keeps its items, which say so: its problem resolved
    assert discovered_call_lines(api, quiet)["reg151083"] == {
        "outgoing": "0", "failed": "0", "failed_pct": "0", "streak": "0", "state": "0",
        "summary": "OK - reg151083: no outgoing calls in the last 60 min"}


def test_the_webhook_code_is_in_no_value_problem_or_log(zabbix, zabbix_setup):
    api, hosts = zabbix["zabbix"], zabbix["hosts"]
    stored = json.dumps([api.api("item.get", {"hostids": list(hosts.values()),
                                              "output": ["lastvalue", "name", "key_"]}),
                         api.api("event.get", {"hostids": list(hosts.values()),
                                               "output": ["name", "opdata"]})])
    logs = "".join(path.read_text(errors="replace")
                   for folder in (zabbix_setup["root"], api.root) for path in folder.glob("*.log"))
    assert "Bitrix24 SIP" in stored and "bx24.sip[" in logs
    for code in zabbix_setup["portals"].codes.values():
        assert code not in stored and code not in logs


def test_a_portal_slower_than_the_deadline_is_an_average_problem(zabbix, zabbix_setup):
    """6.0: plugin -t 25 < agent Timeout 30 <= server Timeout 30; 7.0: plugin {$BX24.TIMEOUT}
    25 < the item's timeout {$BX24.ITEM.TIMEOUT} 30s. The plugin answers in time, so a hung
    portal is a problem with its reason, never an unsupported item or an unavailable agent
    interface (which would pause every item of the host)."""
    import socket
    import threading

    api = zabbix["zabbix"]
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    held: List[object] = []

    def hold() -> None:  # every connection, never an answer, until the test closes the socket
        try:
            held.extend(iter(silent.accept, None))
        except OSError:
            pass
    threading.Thread(target=hold, daemon=True).start()
    port = silent.getsockname()[1]
    url = zabbix_setup["folder"] / "slow-portal.url"
    url.write_text(f"http://127.0.0.1:{port}/rest/1/{'s' * 16}/\n")
    url.chmod(0o644)
    try:
        host = api.create_hosts(["slow-portal"])["slow-portal"]
        started = time.monotonic()
        api.check_now([host], "connector")
        took = time.monotonic() - started
    finally:
        silent.close()
    assert took >= 25
    # the host's lines item, if the server polled it meanwhile, hangs as well: not this test's
    connector = [problem for problem in api.problems(host)
                 if problem[1].startswith("Bitrix24 SIP connector")]
    assert connector == [
        (3, f"Bitrix24 SIP connector: UNKNOWN - 127.0.0.1:{port} gave no complete answer "
            "within the 25s timeout")]
    master = [item for item in api.masters([host]) if ",connector" in item["key_"]][0]
    state = api.api("item.get", {"itemids": [master["itemid"]], "output": ["state", "error"]})
    assert state[0]["state"] == "0", state  # supported

    def availability():  # 0 until the server's availability manager has written it
        found = api.api("hostinterface.get", {"hostids": [host], "output": ["available"]})
        return found[0]["available"] if found[0]["available"] != "0" else None

    assert wait_for(availability, "the interface's availability", within=30) == "1"


def test_twenty_slow_lines_get_their_values(zabbix, zabbix_setup):
    """20 cloud lines at Bitrix24's slowest pace (1 s a line, about 21 s in all): far beyond
    Zabbix 7.0's default 3 s, within the template's timeouts on 6.0 and 7.0; the values come,
    the item stays supported, every line is discovered and no problem is raised."""
    from pytest_httpserver import HTTPServer

    api, portals = zabbix["zabbix"], zabbix["portals"]
    slow = HTTPServer(host="127.0.0.1", port=0)  # its slow answers hold no other portal up
    slow.start()
    try:
        code = "z" + os.urandom(8).hex()
        serve_portal(slow, "paid", fake_portal.TWENTY_SLOW_LINES, code)
        url = portals.folder / "twenty-lines-portal.url"
        url.write_text(fake_portal.webhook_for(slow, code) + "\n")
        url.chmod(0o644)
        host = api.create_hosts(["twenty-lines-portal"])["twenty-lines-portal"]
        started = time.monotonic()
        api.check_until([host], "lines", lambda: lines_filled(api, [host]), "20 lines' values")
        took = time.monotonic() - started
    finally:
        slow.stop()
    assert took > 20
    values = api.values(host)
    assert values["bx24.sip.lines.summary"] == "OK - 20 SIP lines registered"
    assert len(discovered_lines(api, host)) == 20
    master = [item for item in api.masters([host]) if ",lines" in item["key_"]][0]
    state = api.api("item.get", {"itemids": [master["itemid"]], "output": ["state", "error"]})
    assert state[0]["state"] == "0", state  # supported
    assert api.problems(host) == []


def test_a_host_behind_a_proxy_gets_the_same_values_lines_and_problems(zabbix):
    """An active proxy (zabbix-proxy-sqlite3) polls the agent and forwards to the server: the
    host it monitors has what a host polled by the server has (the expiring connector of
    expiring-portal, the failed default line of line-failed-portal)."""
    require(os.path.exists(zabbix_stack.PROXY),
            f"no Zabbix proxy at {zabbix_stack.PROXY} (apt install zabbix-proxy-sqlite3 on a "
            "machine without zabbix-server-pgsql, or set BX24_ZABBIX_PROXY to its zabbix_proxy)")
    api, portals = zabbix["zabbix"], zabbix["portals"]
    portals.add("proxied-portal", "expiring", "lines-default-failed")
    proxy = api.add_proxy("bx24-test-proxy")
    host = api.create_hosts(["proxied-portal"], proxy=proxy)["proxied-portal"]
    api.check_now([host], "connector")
    api.check_until([host], "lines", lambda: lines_filled(api, [host]),
                    "the proxied host's lines")
    assert api.problems(host) == [
        (2, f"Bitrix24 SIP connector: WARNING - paid until {day(5)}, 5 days left"),
        (4, 'Bitrix24 SIP line CRITICAL - "Office trunk" (reg150907, default outgoing): SIP 403 '
            "Forbidden")]
    values = api.values(host)
    assert {key: values[key] for key in CONNECTOR_KEYS} == {
        "bx24.sip.connector.state": "1", "bx24.sip.connector.paid": "1",
        "bx24.sip.connector.days_left": "5", "bx24.sip.connector.free_minutes": "0",
        "bx24.sip.connector.paid_until": day(5),
        "bx24.sip.connector.summary": f"WARNING - paid until {day(5)}, 5 days left"}
    assert discovered_lines(api, host) == FAILED_LINES
    shown = api.api("host.get", {"hostids": [host], "output": list(monitored_by(proxy))})[0]
    assert {key: shown[key] for key in monitored_by(proxy)} == {
        key: str(value) for key, value in monitored_by(proxy).items()}  # polled by the proxy


def test_the_template_is_what_zabbix_itself_exports(zabbix):
    """The 7.0 file is Zabbix 7.0's own export of itself: importing it and exporting the
    template gives the same bytes (no field the importer drops or adds)."""
    if zabbix_stack.version() < (7, 0):
        pytest.skip("the 6.0 template is kept as written for 6.0's importer")
    api = zabbix["zabbix"]
    template_id = api.api("template.get", {"filter": {"host": NAME}})[0]["templateid"]
    exported = api.api("configuration.export", {"format": "yaml",
                                                 "options": {"templates": [template_id]}})
    assert exported == template().read_text()


def test_the_7_0_template_times_the_plugin_out_before_zabbix_does():
    """Both master items carry the item timeout and pass the plugin's own, 5 s below it."""
    text = TEMPLATES[(7, 0)].read_text()
    masters = re.findall(r"\n          key: '(bx24\.sip(?:\.calls)?\[[^']*)'\n(?:          .*\n)*?"
                         r"          timeout: '([^']*)'", text)
    assert sorted((key.split(",")[1], key.endswith(",{$BX24.TIMEOUT}]"), timeout)
                  for key, timeout in masters) == [("connector", True, "{$BX24.ITEM.TIMEOUT}"),
                                                   ("lines", True, "{$BX24.ITEM.TIMEOUT}"),
                                                   ("{$BX24.CALLS.WINDOW}", True,
                                                    "{$BX24.ITEM.TIMEOUT}")]
    macros = dict(re.findall(r"- macro: '(\{\$BX24\.(?:ITEM\.)?TIMEOUT\})'\n\s+value: '?(\w+)'?",
                             text))
    assert macros == {"{$BX24.ITEM.TIMEOUT}": "30s", "{$BX24.TIMEOUT}": "25"}
    assert "version: '7.0'" in text and "timeout" not in TEMPLATES[(6, 0)].read_text()
