"""Icinga Director: the shipped baskets restored by Debian's Director 1.10.2 and the configuration
it renders run by a real Icinga 2 against the fake portal.

Two setups, as the README describes them:
- plain: no Debian package; bx24_sip.json brings the command (rendered by Director into
  director-global), its fields, the data lists and the three service templates;
- package: the package's CheckCommand (its plugins-contrib.d file, loaded by Icinga 2) is
  imported by Director's kickstart as an External Command, and bx24_sip_templates.json brings the
  fields, lists and templates only. Where the package is installed (BX24_TEST_PACKAGE=installed)
  Icinga 2 loads the real `include <plugins-contrib>`; elsewhere the file the package installs
  there, contrib/icinga2/check_bx24_sip.conf.

Each setup: kickstart against a private Icinga 2 (API on 127.0.0.1, its own CA), `basket
restore` twice, hosts and services with `icingacli director host/service create`, `config
render`, the rendered files put into that Icinga 2's zones.d, `daemon -C`, checks forced, results
read from its API. Everything lives in temporary folders and a private PostgreSQL cluster.
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any, Dict, List

import director
import fake_portal
import pytest
from daemons import ICINGA2, PORTALS, Portal, files_holding, require, require_system_python, searched
from icinga import ICINGA_LINES, assert_icinga_result
from icinga_node import IcingaNode, result_fields
from net import free_port
from plugin import REPO, REPORT
from private_postgres import Postgres, private_folder
from system_state import package_tests_asked

from check_bx24_sip import aspects_of, build_parser, check_name
from docs import guide, marked

pytestmark = [pytest.mark.daemons, pytest.mark.configurations]

BASKETS = REPO / "contrib" / "icinga2" / "director"
CONF = REPO / "contrib" / "icinga2" / "check_bx24_sip.conf"
PACKAGED = Path("/usr/share/icinga2/include/plugins-contrib.d/bx24_sip.conf")
SETUPS = {"plain": "bx24_sip.json", "package": "bx24_sip_templates.json"}
LISTS = ["bx24_sip_calls_none", "bx24_sip_check", "bx24_sip_unpaid", "bx24_sip_unreachable"]
TEMPLATES = ["bx24-sip", "bx24-sip-calls", "bx24-sip-lines"]
NODE = "bx24-director-master"
API_USER, API_PASSWORD = "director", secrets.token_hex(12)
CHECKED = [p for p in PORTALS
           if p.host in ("ok-portal", "warning-portal", "lines-portal", "calls-portal")]
# a host with every variable set: both setups must run the very same command line for it
EVERY_OPTION = "every-option"
EVERY_OPTION_VARS: Dict[str, Dict[str, Any]] = {
    "bx24-sip": {"bx24_sip_warning_days": 40, "bx24_sip_critical_days": 10,
                 "bx24_sip_warning_minutes": 30, "bx24_sip_critical_minutes": 5,
                 "bx24_sip_unpaid": "critical", "bx24_sip_unreachable": "warning",
                 "bx24_sip_timeout": 20, "bx24_sip_insecure": True, "bx24_sip_verbose": True,
                 "bx24_sip_prometheus_file": "TEXTFILE/every.prom"},
    "bx24-sip-lines": {"bx24_sip_check": "all", "bx24_sip_lines": ["reg150907", "151083"],
                       "bx24_sip_ca_file": "/etc/ssl/certs/ca-certificates.crt",
                       "bx24_sip_prometheus_dir": "TEXTFILE"},
    "bx24-sip-calls": {"bx24_sip_calls_window": 30, "bx24_sip_calls_min": 2,
                       "bx24_sip_calls_warning": 12.5, "bx24_sip_calls_critical": 40,
                       "bx24_sip_calls_streak": 0, "bx24_sip_calls_none": "warning",
                       "bx24_sip_webhook_file": "CALLS_PORTAL"},  # a service may name its own
}

NODE_CONFIG = """
const PluginDir = "/usr/lib/nagios/plugins"
const PluginContribDir = "{plugins}"
include <itl>
{command}
object Endpoint "{name}" {{ host = "127.0.0.1"; port = {port} }}  /* kickstart connects to it */
object Zone "master" {{ endpoints = [ "{name}" ] }}
object Zone "director-global" {{ global = true }}
object ApiListener "api" {{ bind_host = "127.0.0.1"; bind_port = {port} }}
"""


def command_source(setup: str) -> str:
    """Where the package setup's Icinga 2 gets the CheckCommand (the plain one: from Director)."""
    if setup == "plain":
        return ""
    if package_tests_asked():
        assert PACKAGED.exists(), f"{PACKAGED} is missing: is the package installed?"
        return "include <plugins>\ninclude <plugins-contrib>"  # as Debian's icinga2.conf
    return f'include "{CONF}"  /* what the package installs in plugins-contrib.d */'


def plugin_folder(setup: str, copy: Path) -> Path:
    if setup == "package" and package_tests_asked():
        return Path("/usr/lib/nagios/plugins")  # the package's launcher
    return copy


def node_config(node: IcingaNode, setup: str, plugins: Path) -> str:
    return NODE_CONFIG.format(plugins=plugins, command=command_source(setup), name=NODE,
                              port=node.api_port) + node.test_objects(API_USER, API_PASSWORD)


def counts(director_db: director.Director) -> Dict[str, int]:
    """How many of each thing the baskets make: a second restore must add none."""
    tables = {"fields": "director_datafield", "lists": "director_datalist",
              "entries": "director_datalist_entry", "commands": "icinga_command",
              "arguments": "icinga_command_argument", "templates": "icinga_service",
              "command fields": "icinga_command_field", "service fields": "icinga_service_field"}
    return {name: int(director_db.sql(f"SELECT count(*) FROM {table}"))
            for name, table in tables.items()}


def basket_objects(setup: str) -> Dict[str, List[str]]:
    chosen = {"ServiceTemplate": TEMPLATES, "DataList": LISTS}
    return {"Command": ["bx24_sip"], **chosen} if setup == "plain" else chosen


def add_portals(director_db: director.Director, webhooks: Dict[str, Path], textfile: Path) -> None:
    """Hosts and services as a Director user adds them: the webhook file on the host."""
    for host, path in webhooks.items():
        variables: Dict[str, Any] = {"bx24_sip_webhook_file": str(path)}
        if host == "lines-portal":
            variables["bx24_sip_lines"] = json.loads(ICINGA_LINES)
        director_db.create("host", host, {"object_type": "object", "check_command": "dummy",
                                          "vars": variables})
    for portal in CHECKED:
        director_db.create("service", portal.icinga_service, {
            "object_type": "object", "host": portal.host, "imports": [portal.icinga_service]})
    for service, chosen in EVERY_OPTION_VARS.items():
        filled = {name: value.replace("TEXTFILE", str(textfile)).replace(
                      "CALLS_PORTAL", str(webhooks["calls-portal"])) if isinstance(value, str)
                  else value for name, value in chosen.items()}
        director_db.create("service", service, {"object_type": "object", "host": EVERY_OPTION,
                                                "imports": [service], "vars": filled})


def install_rendered(files: Dict[str, str], node: IcingaNode) -> None:
    for path, content in files.items():
        target = node.root / "etc" / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)


# every service the setups check: the portals' and the every-option host's
WANTED = [(p.host, p.icinga_service) for p in CHECKED] + [
    (EVERY_OPTION, service) for service in EVERY_OPTION_VARS]


def run_setup(setup: str, root: Path, database: Postgres, plugins: Path,
              webhooks: Dict[str, Path], ca: IcingaNode) -> Dict[str, Any]:
    """Kickstart, restore twice, add portals, render, run: what each step gave."""
    timings: Dict[str, float] = {}
    started = time.monotonic()
    node = IcingaNode(root / "icinga2", NODE, free_port())
    (node.root / "textfile").mkdir()
    node.share_ca(ca)
    node.config.write_text(node_config(node, setup, plugins))
    node.validate()
    director_db = director.Director(root / "icingaweb2", database, f"director_{setup}")
    facts: Dict[str, Any] = {"node": node, "director": director_db, "plugins": plugins,
                             "webhooks": webhooks}
    director_db.cli("migration", "run")
    facts["pending"] = director_db.run("migration", "pending").returncode
    timings["database migrated"] = time.monotonic() - started
    node.start()
    try:
        node.wait_for_api(API_USER, API_PASSWORD)
        director_db.kickstart(NODE, node.api_port, API_USER, API_PASSWORD)
    finally:
        node.stop()
    facts["kickstarted"] = json.loads(director_db.cli("command", "show", "bx24_sip", "--json")) \
        if setup == "package" else director_db.run("command", "show", "bx24_sip").returncode
    timings["kickstarted"] = time.monotonic() - started
    basket = (BASKETS / SETUPS[setup]).read_text()
    facts["restored"], facts["counts"], facts["dumps"] = [], [], []
    for _ in range(2):
        facts["restored"].append(director_db.cli("basket", "restore", stdin=basket))
        facts["counts"].append(counts(director_db))
        facts["dumps"].append(director_db.dump("bx24_sip", basket_objects(setup)))
    facts["command"] = json.loads(director_db.cli("command", "show", "bx24_sip", "--json"))
    timings["restored twice"] = time.monotonic() - started
    add_portals(director_db, {**webhooks, EVERY_OPTION: webhooks["lines-portal"]},
                node.root / "textfile")
    facts["rendered"] = director_db.render()
    install_rendered(facts["rendered"], node)
    facts["validation"] = node.validate()
    timings["rendered and validated"] = time.monotonic() - started
    node.start()
    try:
        node.wait_for_api(API_USER, API_PASSWORD)

        for host, service in WANTED:
            node.force_check(host, service)
        facts["results"] = node.poll(lambda: node.plugin_results(API_USER, API_PASSWORD, WANTED),
                                     "check results")
    finally:
        node.stop()
    timings["checked"] = time.monotonic() - started
    REPORT.append(f"Director {director.version()} ({setup}): " + ", ".join(
        f"{what} at {seconds:.1f}s" for what, seconds in timings.items()))
    return facts


@pytest.fixture(scope="module")
def database():
    missing = director.missing_parts()
    require(not missing, f"Icinga Director is not installed: no {', '.join(missing)} "
                         "(apt install icingacli icingaweb2-module-director)")
    require(ICINGA2 is not None, f"Icinga 2 is not installed: {searched('icinga2')}")
    require(shutil.which("psql") is not None and bool(list(Path("/usr/lib/postgresql").glob(
        "*/bin/initdb"))), "PostgreSQL is not installed (apt install postgresql)")
    require_system_python()
    root = private_folder("postgres", "director")
    try:
        cluster = Postgres(root)
        director.Director.create_role(cluster)
        yield cluster
        cluster.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def node_ca(tmp_path_factory) -> IcingaNode:
    """One CA and certificate for every single-node Icinga 2 of this module."""
    require(ICINGA2 is not None, f"Icinga 2 is not installed: {searched('icinga2')}")
    node = IcingaNode(tmp_path_factory.mktemp("director-ca"), NODE, 0)
    node.make_ca()
    return node


@pytest.fixture(scope="module")
def portal_webhooks(tmp_path_factory):
    from pytest_httpserver import HTTPServer

    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    folder = tmp_path_factory.mktemp("director-webhooks")
    files, codes = {}, []
    for portal in CHECKED:
        if portal.host in files:
            continue
        code = "d" + secrets.token_hex(8)
        codes.append(code)
        fake_portal.serve_any(server, portal.scenario, secret=code)
        files[portal.host] = folder / f"{portal.host}.url"
        files[portal.host].write_text(fake_portal.webhook_for(server, code) + "\n")
    yield files, codes
    server.stop()


@pytest.fixture(scope="module", params=list(SETUPS))
def setup(request, tmp_path_factory, database, portal_webhooks, plugin_dir, node_ca):
    files, codes = portal_webhooks
    root = tmp_path_factory.mktemp(f"director-{request.param}")
    facts = run_setup(request.param, root, database,
                      plugin_folder(request.param, plugin_dir), files, node_ca)
    facts["setup"], facts["codes"] = request.param, codes
    yield facts


# ------------------------------------------------------------------ the baskets themselves


def basket(setup: str) -> Dict[str, Any]:
    return json.loads((BASKETS / SETUPS[setup]).read_text())


def test_the_database_is_migrated(setup):
    assert setup["pending"] == 1  # `migration pending` exits 1 when nothing is pending


def test_restore_says_restored_both_times(setup):
    assert setup["restored"] == ["Objects from Basket Snapshot have been restored\n"] * 2


def test_a_second_restore_changes_nothing(setup):
    first, second = setup["counts"]
    assert first == second
    assert setup["dumps"][0] == setup["dumps"][1]
    assert first["fields"] == len(basket(setup["setup"])["Datafield"]) == 21
    assert first["lists"] == 4 and first["entries"] == 15


def test_the_shipped_basket_is_what_director_itself_exports(setup):
    """Restored and dumped again by 1.10.2, byte for byte: no property 1.10.2 does not know.
    1.11 dumps the same objects in its own dialect (see as_1_10_writes_it)."""
    shipped = (BASKETS / SETUPS[setup["setup"]]).read_text()
    if director_version() < (1, 11):
        dumped = json.dumps(setup["dumps"][0], indent=4, ensure_ascii=False) + "\n"
        assert dumped.replace("\\/", "/") == shipped.replace("\\/", "/")
    else:
        assert as_1_10_writes_it(setup["dumps"][0]) == as_1_10_writes_it(json.loads(shipped))


NUMBERS_1_10_WRITES_AS_TEXT = ("check_interval", "retry_interval", "check_timeout",
                               "max_check_attempts")
# what 1.11 adds (a uuid on every Icinga object) or leaves out (a Datafield's originalId)
DIALECT_KEYS = ("uuid", "originalId")


def as_1_10_writes_it(value):
    """A dump without the keys only one Director version writes, its intervals as text."""
    if isinstance(value, dict):
        return {key: str(item) if key in NUMBERS_1_10_WRITES_AS_TEXT and isinstance(item, int)
                else as_1_10_writes_it(item) for key, item in value.items()
                if key not in DIALECT_KEYS}
    if isinstance(value, list):
        return [as_1_10_writes_it(item) for item in value]
    return value


def director_version():
    return tuple(int(part) for part in director.version().split(".")[:2])


def test_the_package_setup_keeps_the_packaged_command_external(setup):
    if setup["setup"] == "plain":
        assert setup["kickstarted"] == 1  # no bx24_sip before the basket brings it
        assert "object CheckCommand \"bx24_sip\"" in setup["rendered"][
            "zones.d/director-global/commands.conf"]
        return
    command = setup["kickstarted"]
    assert command["object_type"] == "external_object"
    # what Icinga 2 loaded, the package's command: kickstart stores the path it resolved,
    # relative where it lies in PluginDir (as the package's does)
    folder = setup["plugins"]
    assert command["command"] == ("check_bx24_sip" if folder == Path("/usr/lib/nagios/plugins")
                                  else str(folder / "check_bx24_sip"))
    assert sorted(command["arguments"]) == sorted(basket("plain")["Command"]["bx24_sip"]["arguments"])
    assert not any('CheckCommand "bx24_sip"' in text for text in setup["rendered"].values())


def test_the_rendered_configuration_validates_without_a_warning(setup):
    validation = setup["validation"]
    assert "Finished validating the configuration file(s)." in validation
    assert "re-defined" not in validation and "warning/" not in validation
    assert re.search(rf"Instantiated {len(WANTED)} Services\.", validation), validation


def test_the_templates_carry_the_intervals_of_the_services_file(setup):
    text = setup["rendered"]["zones.d/director-global/service_templates.conf"]
    connector = text.split('template Service "bx24-sip" {', 1)[1].split("}", 1)[0]
    lines = text.split('template Service "bx24-sip-lines" {', 1)[1].split("}", 1)[0]
    assert re.findall(r"^\s+(\w+) = (.+)$", connector, re.M) == [
        ("check_command", '"bx24_sip"'), ("max_check_attempts", '"3"'),
        ("check_interval", "1h"), ("retry_interval", "10m")]
    assert sorted(re.findall(r"^\s+([\w.]+) = (.+)$", lines, re.M)) == sorted([
        ("check_command", '"bx24_sip"'), ("max_check_attempts", '"3"'),
        ("check_interval", "5m"), ("retry_interval", "1m"), ("check_timeout", "40s"),
        ("vars.bx24_sip_check", '"lines"'), ("vars.bx24_sip_timeout", "30")])
    services = (REPO / "contrib" / "icinga2" / "bx24_sip_services.conf").read_text()
    for line in ("check_interval = 1h", "retry_interval = 10m", "check_interval = 5m",
                 "retry_interval = 1m", "check_timeout = 40s", 'vars.bx24_sip_check = "lines"',
                 "vars.bx24_sip_timeout = 30", "max_check_attempts = 3"):
        assert line in services


@pytest.mark.parametrize("portal", CHECKED, ids=[p.id for p in CHECKED])
def test_icinga_runs_what_director_rendered(setup, portal: Portal):
    result = setup["results"][(portal.host, portal.icinga_service)]
    assert_icinga_result(result_fields(result), portal)


def test_every_option_reaches_the_plugin(setup):
    textfile = setup["node"].root / "textfile"
    connector = setup["results"][(EVERY_OPTION, "bx24-sip")]
    lines = setup["results"][(EVERY_OPTION, "bx24-sip-lines")]
    plugin = str(setup["plugins"] / "check_bx24_sip")
    webhook = str(setup["webhooks"]["lines-portal"])  # the every-option host's too
    assert connector["command"] == [
        plugin, "--critical-days", "10", "--critical-minutes", "5", "--insecure",
        "--prometheus-file", f"{textfile}/every.prom", "--timeout", "20", "--unpaid",
        "critical", "--unreachable", "warning", "--verbose", "--warning-days", "40",
        "--warning-minutes", "30", "--webhook-file", webhook]
    assert lines["command"] == [
        plugin, "--ca-file", "/etc/ssl/certs/ca-certificates.crt", "--check", "all",
        "--line", "reg150907", "--line", "151083", "--prometheus-file",
        f"{textfile}/bx24_sip_{EVERY_OPTION}_bx24-sip-lines.prom", "--timeout", "30",
        "--webhook-file", webhook]
    # 30 days paid is below --warning-days 40; the chosen lines include the failed default one
    assert (int(connector["state"]), int(lines["state"])) == (1, 2)
    assert connector["output"].startswith(
        "BX24_SIP WARNING - paid until ") and "30 days left" in connector["output"]
    assert sorted(path.name for path in textfile.iterdir()) == [
        f"bx24_sip_{EVERY_OPTION}_bx24-sip-lines.prom", "every.prom"]
    calls = setup["results"][(EVERY_OPTION, "bx24-sip-calls")]
    assert calls["command"] == [
        plugin, "--calls-critical", "40", "--calls-min", "2", "--calls-none", "warning",
        # Icinga 2 writes a fractional number with six decimals; the plugin reads it exactly
        "--calls-streak", "0", "--calls-warning", "12.500000", "--calls-window", "30", "--check",
        "calls", "--timeout", "30", "--webhook-file", str(setup["webhooks"]["calls-portal"])]
    # the last 30 minutes hold 4 calls of reg151083, all failed: 100 % of at least 2 calls
    assert (int(calls["state"]), calls["output"].rstrip()) == (
        2, "BX24_SIP CRITICAL - 1 of 2 lines failing calls: reg151083: 4 of 4 outgoing calls "
           "failed in the last 30 min (503 route unavailable x3, 402 insufficient funds x1)")


def test_no_webhook_code_reaches_director_or_icinga(setup):
    node: IcingaNode = setup["node"]
    for code in setup["codes"]:
        assert files_holding(node.root, code) == []
        assert code not in json.dumps(setup["rendered"])
        assert code not in setup["director"].sql("SELECT string_agg(varvalue, ' ') FROM "
                                                  "icinga_host_var")


HIDDEN = "/* Icinga 2 does not export DSL function bodies via API */"  # kickstart's placeholder


def without_bodies(argument: Dict[str, Any]) -> Dict[str, Any]:
    """An argument as kickstart imports it: Icinga's API gives no lambda bodies."""
    copy = dict(argument)
    if copy.get("set_if_format") == "expression":
        copy["set_if"] = HIDDEN
    if isinstance(copy.get("value"), dict):
        copy["value"] = {"type": "Function", "body": HIDDEN}
    return copy


def conf_lambdas() -> List[str]:
    """The bodies of the .conf's {{ }} lambdas, in file order, spaces squeezed."""
    return [" ".join(body.split()) for body in re.findall(r"\{\{(.*?)\}\}", CONF.read_text(), re.S)]


def basket_lambdas() -> List[str]:
    bodies = []
    arguments = basket("plain")["Command"]["bx24_sip"]["arguments"]
    for name in ("--line", "--prometheus-file"):  # the .conf's order: value before set_if
        argument = arguments[name]
        if isinstance(argument.get("value"), dict):
            bodies.append(argument["value"]["body"])
        bodies.append(argument["set_if"])
    return [" ".join(body.split()) for body in bodies]


def test_the_basket_command_is_the_conf_command(setup):
    """Plain: Director stored every argument of the basket. Package: every argument of the
    basket's command is the .conf's as Icinga 2 loaded it (kickstart read it from the API); the
    webhook-file text alone differs: Director has no env, so no bx24_sip_webhook to be an
    alternative to."""
    shipped = basket("plain")["Command"]["bx24_sip"]["arguments"]
    if setup["setup"] == "plain":
        assert setup["command"]["arguments"] == shipped
        assert setup["command"]["object_type"] == "object"
        return
    assert setup["command"]["object_type"] == "external_object"  # the basket left it so
    loaded = setup["kickstarted"]["arguments"]
    loaded["--webhook-file"]["description"] = loaded["--webhook-file"]["description"].replace(
        " Alternative to bx24_sip_webhook.", "")
    assert {name: without_bodies(argument) for name, argument in shipped.items()} == loaded
    assert basket_lambdas() == conf_lambdas()
    assert len(conf_lambdas()) == 3


def fields(setup_name: str) -> Dict[str, Dict[str, Any]]:
    return {field["varname"]: field for field in basket(setup_name)["Datafield"].values()}


def datatype(field: Dict[str, Any]) -> str:
    return field["datatype"].rsplit("\\", 1)[1]


@pytest.mark.parametrize("setup_name", list(SETUPS))
def test_every_variable_of_the_command_has_a_field_and_no_other(setup_name):
    used = set(re.findall(r"\$(bx24_sip_\w+)\$", json.dumps(
        basket("plain")["Command"]["bx24_sip"]["arguments"])))
    assert set(fields(setup_name)) == used
    assert "bx24_sip_webhook" not in used  # it would do nothing: Director commands have no env


@pytest.mark.parametrize("setup_name", list(SETUPS))
def test_each_field_has_the_type_of_its_option(setup_name):
    types = {name: datatype(field) for name, field in fields(setup_name).items()}
    assert types == {
        "bx24_sip_webhook_file": "DataTypeString", "bx24_sip_check": "DataTypeDatalist",
        "bx24_sip_lines": "DataTypeArray", "bx24_sip_warning_days": "DataTypeNumber",
        "bx24_sip_critical_days": "DataTypeNumber", "bx24_sip_warning_minutes": "DataTypeNumber",
        "bx24_sip_critical_minutes": "DataTypeNumber", "bx24_sip_unpaid": "DataTypeDatalist",
        "bx24_sip_unreachable": "DataTypeDatalist", "bx24_sip_timeout": "DataTypeNumber",
        "bx24_sip_ca_file": "DataTypeString", "bx24_sip_insecure": "DataTypeBoolean",
        "bx24_sip_prometheus_file": "DataTypeString", "bx24_sip_prometheus_dir": "DataTypeString",
        "bx24_sip_verbose": "DataTypeBoolean", "bx24_sip_calls_window": "DataTypeNumber",
        "bx24_sip_calls_min": "DataTypeNumber", "bx24_sip_calls_warning": "DataTypeNumber",
        "bx24_sip_calls_critical": "DataTypeNumber", "bx24_sip_calls_streak": "DataTypeNumber",
        "bx24_sip_calls_none": "DataTypeDatalist"}
    for name, field in fields(setup_name).items():
        assert field["caption"] and field["description"], name
        if types[name] == "DataTypeDatalist":
            assert field["settings"] == {"behavior": "strict", "data_type": "string",
                                         "datalist": name}


def help_choices() -> Dict[str, List[str]]:
    parser = build_parser()
    return {f"bx24_sip_{action.dest}": list(action.choices) for action in parser._actions
            if action.choices and action.dest in ("unpaid", "unreachable", "calls_none")}


@pytest.mark.parametrize("setup_name", list(SETUPS))
def test_the_data_lists_offer_the_choices_of_help(setup_name):
    lists = basket(setup_name)["DataList"]
    assert sorted(lists) == LISTS
    offered = {name: sorted(entry["entry_name"] for entry in data["entries"])
               for name, data in lists.items()}
    checks = offered.pop("bx24_sip_check")
    assert offered == {name: sorted(choices) for name, choices in help_choices().items()}
    assert len(offered) == 3
    # --check takes a list: each aspect and all, and every aspect at once, each canonical
    assert checks == ["all", "calls", "connector", "connector,lines,calls", "lines"]
    assert [check_name(aspects_of(check)) for check in checks] == checks


def test_the_two_baskets_share_their_fields_and_lists():
    """Restoring one after the other must reuse, not duplicate: identical exports."""
    assert basket("plain")["Datafield"] == basket("package")["Datafield"]
    assert basket("plain")["DataList"] == basket("package")["DataList"]
    plain, package = basket("plain")["ServiceTemplate"], basket("package")["ServiceTemplate"]
    assert {name: {k: v for k, v in t.items() if k != "fields"} for name, t in plain.items()} == \
        {name: {k: v for k, v in t.items() if k != "fields"} for name, t in package.items()}
    assert all(t["fields"] == [] for t in plain.values())
    command_fields = basket("plain")["Command"]["bx24_sip"]["fields"]
    assert all(t["fields"] == command_fields for t in package.values())
    assert [f for f in command_fields if f["is_required"] == "y"] == [
        {"datafield_id": int(key), "is_required": "y", "var_filter": None}
        for key, field in basket("plain")["Datafield"].items()
        if field["varname"] == "bx24_sip_webhook_file"]


# ------------------------------------------------------------------ the README's commands

README_HOST = "yourportal.bitrix24.com"
README_WEBHOOK_FILE = Path("/etc/icinga2/bx24/yourportal.url")
README_SERVICES = [(README_HOST, "bx24-sip"), (README_HOST, "bx24-sip-lines")]


def test_the_readmes_director_commands_run_as_written(tmp_path, database, plugin_dir, node_ca):
    """The README's Director lines, each as written (icingacli finds the test's Director through
    ICINGAWEB_CONFIGDIR), then the deployed services as Icinga 2 runs them: the placeholder's
    webhook file does not exist, so both say so. With the package installed: its block, against
    Icinga 2 loading Debian's real `include <plugins-contrib>`; without: the plain block."""
    require(not README_WEBHOOK_FILE.exists(), f"{README_WEBHOOK_FILE} exists here: this test "
                                              "runs where the README's placeholder is absent")
    setup_name = "package" if package_tests_asked() else "plain"
    node = IcingaNode(tmp_path / "icinga2", NODE, free_port())
    node.share_ca(node_ca)
    node.config.write_text(node_config(node, setup_name, plugin_folder(setup_name, plugin_dir)))
    director_db = director.Director(tmp_path / "icingaweb2", database, "director_readme")
    director_db.cli("migration", "run")
    icinga = guide("icinga2")
    lines = marked(f"director-{setup_name}", icinga).lines + marked("director-portal", icinga).lines
    node.start()
    try:
        node.wait_for_api(API_USER, API_PASSWORD)
        if setup_name == "plain":  # what the kickstart wizard did when Director was set up
            director_db.kickstart(NODE, node.api_port, API_USER, API_PASSWORD)
        else:  # the README's own `kickstart run` finds the wizard's settings
            director_db.store_kickstart_settings(NODE, node.api_port, API_USER, API_PASSWORD)
        for line in lines:
            done = subprocess.run(["bash", "-c", line], cwd=REPO, capture_output=True, text=True,
                                  timeout=120, env={"PATH": director.PLAIN_PATH,
                                                    "LANG": "C.UTF-8",
                                                    "ICINGAWEB_CONFIGDIR": str(director_db.root)})
            assert done.returncode == 0, f"{line}\n{done.stdout}{done.stderr}"
        assert done.stdout.startswith("Config '") and "has been deployed" in done.stdout
        deployed = node.poll(lambda: node.services(API_USER, API_PASSWORD, "package"),
                             "Icinga 2 to load the deployed services")
        assert {key: attrs["package"] for key, attrs in deployed.items()} == {
            key: "director" for key in README_SERVICES}
        for host, service in README_SERVICES:
            node.force_check(host, service)
        checked = node.poll(lambda: node.plugin_results(API_USER, API_PASSWORD, README_SERVICES),
                            "check results", within=20)
    finally:
        node.stop()
    for key, result in checked.items():
        assert (key, int(result["state"]), result["output"]) == (
            key, 3, f"BX24_SIP UNKNOWN - cannot read --webhook-file {README_WEBHOOK_FILE}: "
                    "No such file or directory")
    log = (node.root / "log" / "debug.log").read_text()
    assert "re-defined" not in log and "Config validation failed" not in log
