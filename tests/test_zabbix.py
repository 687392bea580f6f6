"""Zabbix 6.0 (Debian 12's packages) runs the shipped agent file and template for real.

Both agents answer `zabbix_get` through contrib/zabbix/bx24_sip.conf; a Zabbix server with its
PostgreSQL database and the frontend's API imports contrib/zabbix/template_bx24_sip.yaml, links
it to one host per fake-portal scenario, checks them, and the tests read the discovered lines,
the item values and the problems back through the API. Every part is private (tests/
zabbix_stack.py). The plugin is the file copied alone into a plugin folder, as for the other
daemons; with BX24_TEST_STOCK=yes (CI) the agent file is used exactly as shipped, with the
webhook folder /etc/zabbix/bx24 created for the run and removed after it.
"""

from __future__ import annotations

import grp
import json
import os
import re
import shutil
import time
from pathlib import Path
from typing import Dict, List

import fake_portal
import pytest
import zabbix_stack
from conftest import REPORT, SCRIPT, day
from system_state import stock_tests_asked
from test_daemons import require, require_system_python

REPO = SCRIPT.parent
SHIPPED = REPO / "contrib" / "zabbix" / "bx24_sip.conf"
TEMPLATE = REPO / "contrib" / "zabbix" / "template_bx24_sip.yaml"
PLUGIN = "/usr/lib/nagios/plugins/check_bx24_sip"
WEBHOOK_DIR = "/etc/zabbix/bx24"
NAME = "Bitrix24 SIP by Zabbix agent"

# host (= {$BX24.PORTAL}) -> (connector scenario, lines scenario)
PORTALS = {
    "ok-portal": ("paid", "lines-registered"),
    "expiring-portal": ("expiring", "lines-registered"),
    "unpaid-portal": ("unpaid-no-minutes", "lines-registered"),
    "line-failed-portal": ("paid", "lines-default-failed"),
    "line-pending-portal": ("paid", "lines-pending"),
    "error-portal": ("access-denied", "lines-all-fail"),
}


def require_zabbix() -> None:
    missing = zabbix_stack.missing_parts()
    require(not missing, f"Zabbix 6.0 is not installed: no {', '.join(missing)} (apt install "
                         "zabbix-server-pgsql zabbix-frontend-php zabbix-agent zabbix-agent2 "
                         "postgresql php8.2-cli php8.2-pgsql php8.2-bcmath php8.2-gd "
                         "php8.2-mbstring php8.2-xml)")
    require(os.geteuid() == 0, "the Zabbix tests start daemons as the zabbix and postgres users: "
                               "run them as root")
    require_system_python()


def serve_portal(server, connector: str, lines: str, secret: str) -> None:
    """One portal: its connector's answer and its lines' batches under one webhook code."""
    server.expect_request(fake_portal.batch_path(secret), method="POST").respond_with_handler(
        fake_portal.batch_handler(fake_portal.LINE_SCENARIOS[lines]))
    fake_portal.serve_reply(server, fake_portal.reply_for(connector), secret=secret)


class Portals:
    """The fake portals behind the webhook folder; a scenario can change mid-test."""

    def __init__(self, server, folder: Path):
        self.server = server
        self.folder = folder
        self.codes: Dict[str, str] = {}
        self.scenarios = dict(PORTALS)
        for host in PORTALS:
            self.codes[host] = "z" + os.urandom(8).hex()
        self.serve_all()
        gid = grp.getgrnam("zabbix").gr_gid
        for host, code in self.codes.items():
            path = folder / f"{host}.url"
            path.write_text(fake_portal.webhook_for(server, code) + "\n")
            path.chmod(0o640)
            os.chown(path, 0, gid)

    def serve_all(self) -> None:
        self.server.clear()
        for host, (connector, lines) in self.scenarios.items():
            serve_portal(self.server, connector, lines, self.codes[host])

    def change(self, host: str, connector: str, lines: str) -> None:
        self.scenarios[host] = (connector, lines)
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
    root = zabbix_stack.private_folder("zabbix")
    configured = os.environ.get("BX24_PLUGIN_DIR")
    if configured:
        plugin = str(Path(configured) / "check_bx24_sip")
        assert Path(plugin).read_bytes() == SCRIPT.read_bytes()
    else:
        plugin = str(root / "check_bx24_sip")
        shutil.copy(SCRIPT, plugin)
        Path(plugin).chmod(0o755)
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
