"""Distributed monitoring as the README sets it up: two real Icinga 2 nodes on 127.0.0.1.

The master (API on a private port, its own CA) schedules the portal services; the agent, its
certificate signed by the master's CA through `icinga2 pki request` with a ticket, connects to
the master, receives the CheckCommand through the global zone and runs the plugin
(command_endpoint). The README's zones.conf files, shell block and host object are used as
written; only the addresses, the port and the paths of /etc/icinga2 are replaced by the test's
private ones. The master has no plugin and no webhook file: its plugin folder is empty.
"""

from __future__ import annotations

import re
import secrets
import subprocess
import time
from pathlib import Path
from typing import Dict, List

import fake_portal
import pytest
from daemons import ICINGA2, PORTALS, files_holding, require, require_system_python, searched, wait_for
from icinga import assert_icinga_result
from icinga_node import IcingaNode, result_fields
from net import free_port
from plugin import REPO, REPORT

from docs import guide, marked, titled

pytestmark = [pytest.mark.daemons, pytest.mark.configurations]

ICINGA_GUIDE = guide("icinga2")
MASTER, AGENT = "master.example.org", "agent1.example.org"
README_HOST = "yourportal.bitrix24.com"
README_WEBHOOK_FILE = "/etc/icinga2/bx24/yourportal.url"
API_USER, API_PASSWORD = "bx24-test", secrets.token_hex(12)
# one portal with both services: the connector OK, the default line failed (CRITICAL)
CHECKED = [portal for portal in PORTALS if portal.host == "lines-portal"]
WANTED = [(portal.host, portal.icinga_service) for portal in CHECKED]

NODE_CONFIG = """
const PluginContribDir = "{plugins}"
const TicketSalt = "{salt}"
include <itl>
include "zones.conf"

object ApiListener "api" {{
  bind_host = "127.0.0.1"
  bind_port = {port}
  ticket_salt = TicketSalt
  accept_config = {agent}
  accept_commands = {agent}
}}
"""


def replaced(text: str, replacements: Dict[str, str]) -> str:
    """The README's text with the test's addresses and folders; each placeholder must be there."""
    for old, new in replacements.items():
        assert old in text, f"{old!r} is not in the README's block:\n{text}"
        text = text.replace(old, new)
    return text


def node_config(node: IcingaNode, plugins: Path, salt: str, agent: bool) -> str:
    return NODE_CONFIG.format(plugins=plugins, salt=salt, port=node.api_port,
                              agent="true" if agent else "false") + node.test_objects(
                                  API_USER, API_PASSWORD)


def agent_connected(master: IcingaNode) -> bool:
    status = master.api("status/ApiListener", API_USER, API_PASSWORD)
    return AGENT in status["results"][0]["status"]["api"]["conn_endpoints"]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, plugin_dir):
    require(ICINGA2 is not None, f"Icinga 2 is not installed: {searched('icinga2')} "
                                 "(apt install icinga2-bin)")
    require_system_python()
    from pytest_httpserver import HTTPServer

    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    code = "d" + secrets.token_hex(8)
    fake_portal.serve_lines(server, "lines-default-failed", secret=code)
    root = tmp_path_factory.mktemp("distributed")
    master = IcingaNode(root / "master", MASTER, free_port())
    agent = IcingaNode(root / "agent", AGENT, free_port())
    empty_plugins = root / "master-plugins"  # the master must never run the plugin itself
    empty_plugins.mkdir()
    salt = secrets.token_hex(16)
    webhook_file = agent.root / "etc" / "bx24" / "yourportal.url"
    webhook_file.parent.mkdir()
    webhook_file.write_text(fake_portal.webhook_for(server, code) + "\n")
    timings = {}
    started = time.monotonic()
    try:
        master.make_ca()
        etc = str(master.root / "etc")
        (master.root / "etc" / "zones.conf").write_text(
            titled("master: /etc/icinga2/zones.conf", ICINGA_GUIDE).text)
        subprocess.run(["bash", "-euc", replaced("\n".join(marked("distributed-master", ICINGA_GUIDE).lines),
                                                 {"/etc/icinga2": etc})], cwd=REPO, check=True)
        host = replaced(titled("master: /etc/icinga2/zones.d/master/bx24_portals.conf", ICINGA_GUIDE).text,
                        {f'"{README_HOST}"': '"lines-portal"',
                         README_WEBHOOK_FILE: str(webhook_file)})
        (master.root / "etc" / "zones.d" / "master" / "bx24_portals.conf").write_text(host)
        master.config.write_text(node_config(master, empty_plugins, salt, agent=False))
        validation = master.validate()
        master.start()
        master.wait_for_api(API_USER, API_PASSWORD)
        timings["master up"] = time.monotonic() - started

        agent.request_certificate(master.api_port, master.ticket_for(AGENT, salt))
        (agent.root / "etc" / "zones.conf").write_text(replaced(
            titled("agent: /etc/icinga2/zones.conf", ICINGA_GUIDE).text,
            {f'host = "{MASTER}"': 'host = "127.0.0.1"',
             'port = "5665"': f'port = "{master.api_port}"'}))
        agent.config.write_text(node_config(agent, plugin_dir, salt, agent=True))
        agent.validate()
        agent.start()
        timings["agent signed and up"] = time.monotonic() - started
        master.poll(lambda: agent_connected(master), "the agent to connect to the master")
        synced = agent.root / "lib" / "api" / "zones" / "global-templates"
        wait_for(lambda: list(synced.rglob("check_bx24_sip.conf")),
                 "the master to send the global zone to the agent")
        timings["connected, zone synced"] = time.monotonic() - started

        def checked():
            for portal in CHECKED:
                master.force_check(portal.host, portal.icinga_service)
            return master.poll(lambda: master.plugin_results(API_USER, API_PASSWORD, WANTED),
                               "results", within=4)
        results = wait_for(try_again(checked), "the master to show the agent's results", 90)
        timings["checked"] = time.monotonic() - started
    finally:
        agent.stop()
        master.stop()
        server.stop()
    REPORT.append("Icinga 2 master + agent: " + ", ".join(
        f"{what} at {seconds:.1f}s" for what, seconds in timings.items()))
    yield {"master": master, "agent": agent, "results": results, "code": code,
           "validation": validation, "webhook_file": webhook_file}


def try_again(step):
    """The step's result, or None when it timed out (to be retried: the agent may restart)."""
    def attempt():
        try:
            return step()
        except AssertionError:
            return None
    return attempt


@pytest.mark.parametrize("portal", CHECKED, ids=[p.id for p in CHECKED])
def test_the_master_shows_what_the_agent_checked(cluster, portal):
    result = cluster["results"][(portal.host, portal.icinga_service)]
    assert result["check_source"] == AGENT  # run by the agent, not the master
    assert_icinga_result(result_fields(result), portal)


def test_the_master_holds_no_plugin_and_no_webhook(cluster):
    master: IcingaNode = cluster["master"]
    assert files_holding(master.root, cluster["code"]) == []
    assert files_holding(master.root.parent / "master-plugins", "") == []
    # the master's configuration names the agent's file; only the agent has it
    assert cluster["webhook_file"].is_relative_to(cluster["agent"].root)
    assert files_holding(cluster["agent"].root, cluster["code"]) == ["etc/bx24/yourportal.url"]


def test_the_readme_configuration_validates_on_the_master(cluster):
    validation: str = cluster["validation"]
    assert "Finished validating the configuration file(s)." in validation
    assert "warning/" not in validation
    assert re.search(r"Instantiated 2 Services\.", validation), validation


def test_the_agent_ran_the_command_from_the_global_zone(cluster):
    agent: IcingaNode = cluster["agent"]
    synced: List[Path] = list((agent.root / "lib" / "api" / "zones").rglob("*.conf"))
    names = sorted(path.name for path in synced)
    assert names == ["check_bx24_sip.conf"]  # the command only: the master zone stays there
    assert synced[0].read_text() == (REPO / "contrib" / "icinga2" / "check_bx24_sip.conf").read_text()
