"""The installed Debian package, the way an admin uses it: Debian's stock Icinga 2 and Nagios 4
configuration, unchanged, with only what the README tells a package user to add (the example
rules or templates, a host per portal) dropped into their conf.d folders, and removed again.

The daemons run the package's plugin through the package's CheckCommand (Icinga 2, from
`include <plugins-contrib>`) and command file (Nagios 4, from /etc/nagios-plugins/config).
These tests run when the package is installed (`.ci/run` builds and installs it and sets
BX24_TEST_PACKAGE=installed); as root only, since they write into /etc.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict

import fake_portal
import pytest
from daemons import HOSTS, NAGIOS, PLAIN_PATH, PORTALS, Daemon, GraphiteSink, force_checks, require, wait_for
from icinga import (
    assert_icinga_result,
    icinga_constants,
    icinga_results,
    icinga_test_features,
    service_count,
    validate_icinga,
)
from nagios import assert_nagios_result, status_blocks
from plugin import REPORT, SCRIPT, assert_output, day, run_plugin
from system_state import package_tests_asked, restored

from docs import guide, marked

pytestmark = pytest.mark.daemons

PACKAGE = "monitoring-plugins-bx24-sip"
DOC = Path("/usr/share/doc") / PACKAGE
ZABBIX = f"/usr/share/{PACKAGE}/zabbix"
DIRECTOR = f"/usr/share/{PACKAGE}/director"
PLUGIN = Path("/usr/lib/nagios/plugins/check_bx24_sip")
MODULE = Path("/usr/lib/python3/dist-packages/check_bx24_sip.py")
ICINGA_CONF_D = Path("/etc/icinga2/conf.d")
NAGIOS_CONF_D = Path("/etc/nagios4/conf.d")
SECRETS = Path("/etc/nagios4/bx24-test")  # readable by the nagios group, as the README says


def package_installed() -> bool:
    done = subprocess.run(["dpkg-query", "-W", "-f=${Status}", PACKAGE], capture_output=True,
                          text=True)
    return done.stdout == "install ok installed"


@pytest.fixture(autouse=True, scope="module")
def installed():
    """Only where asked: these tests run Debian's own Icinga 2 and Nagios 4 configuration."""
    if not package_tests_asked():
        pytest.skip(f"the package tests run Debian's own Icinga 2 and Nagios 4 configuration; "
                    f"they run only where BX24_TEST_PACKAGE=installed asks for it (.ci/run "
                    f"builds and installs {PACKAGE}, then does)")
    assert package_installed(), f"BX24_TEST_PACKAGE=installed but {PACKAGE} is not installed"
    require(os.geteuid() == 0, "the package tests write into /etc: run them as root")


def require_absent(*paths: Path) -> None:
    """Debian's stock configuration, not a host already set up per the README."""
    there = [str(path) for path in paths if path.exists()]
    require(not there, f"{', '.join(there)} already exists: the package tests need Debian's "
                       "stock configuration, without a portal set up by hand")


def test_the_package_puts_every_file_where_debian_looks():
    listed = set(subprocess.run(["dpkg", "-L", PACKAGE], capture_output=True, text=True,
                                check=True).stdout.split())
    assert {str(PLUGIN), "/usr/share/man/man1/check_bx24_sip.1.gz",
            "/usr/share/icinga2/include/plugins-contrib.d/bx24_sip.conf",
            "/etc/nagios-plugins/config/bx24_sip.cfg", f"{DOC}/README.md.gz",
            f"{DOC}/README.ru.md.gz", f"{DOC}/changelog.gz", f"{DOC}/changelog.Debian.gz",
            f"{DOC}/copyright", f"{DOC}/examples/bx24_sip_services.conf",
            f"{DOC}/examples/bx24_sip_calls.conf",
            f"{DOC}/examples/bx24_sip_templates.cfg",
            f"{DOC}/examples/bx24_sip_example.cfg", f"{ZABBIX}/bx24_sip.conf",
            f"{ZABBIX}/template_bx24_sip.yaml", f"{ZABBIX}/template_bx24_sip_7.0.yaml",
            f"{DIRECTOR}/bx24_sip.json",
            f"{DIRECTOR}/bx24_sip_templates.json"} <= listed
    for name in ("bx24_sip.conf", "template_bx24_sip.yaml", "template_bx24_sip_7.0.yaml"):
        assert (Path(ZABBIX) / name).read_text() == (SCRIPT.parent / "contrib" / "zabbix" / name).read_text()
    for name in ("bx24_sip.json", "bx24_sip_templates.json"):
        assert (Path(DIRECTOR) / name).read_text() == (
            SCRIPT.parent / "contrib" / "icinga2" / "director" / name).read_text()
    guides = sorted(path.name for path in (SCRIPT.parent / "docs").glob("*.md"))
    assert guides and all({f"{DOC}/docs/{name}", f"{DOC}/docs/{name}.gz"} & listed
                          for name in guides)  # every guide (compressed above 4 KiB)
    assert not [path for path in listed if "/conf.d/" in path]  # commands, never services
    # the plugin is a module that starts from the bytecode py3compile made at install, and the
    # plugin folder holds a launcher run by Debian's python3
    assert MODULE.read_text() == SCRIPT.read_text().split("\n", 1)[1]
    assert sorted(path.name for path in MODULE.parent.glob("__pycache__/check_bx24_sip.*")) == [
        f"check_bx24_sip.cpython-{sys.version_info.major}{sys.version_info.minor}.pyc"]
    assert PLUGIN.read_text() == (SCRIPT.parent / "debian" / "check_bx24_sip.launcher").read_text()
    assert PLUGIN.read_text().startswith("#!/usr/bin/python3\n")
    assert gzip.decompress((DOC / "changelog.gz").read_bytes()).decode() == (
        SCRIPT.parent / "CHANGELOG.md").read_text()


def test_the_package_depends_on_debians_python_libraries_only():
    depends = subprocess.run(["dpkg-query", "-W", "-f=${Depends}", PACKAGE], capture_output=True,
                             text=True, check=True).stdout
    assert depends == "python3:any, python3-nagiosplugin (>= 1.3.2), python3-requests (>= 2.28)"


def test_the_installed_plugin_runs_with_debians_python_under_crons_path(portal):
    portal.serve("expiring")
    run = run_plugin("--webhook", portal.webhook, command=[str(PLUGIN)],
                     env={"PATH": "/usr/bin:/bin"})
    assert_output(run, 1, f"BX24_SIP WARNING - paid until {day(5)}, 5 days left | "
                          "days_left=5;7:;3: free_minutes=0;;;0 paid=1;;;0;1 time=T")


# --------------------------------------------------------------------------- Icinga 2

def icinga_host(name: str, url: str, scenario: str) -> str:
    """A portal host as the README's table of variables sets one up for its scenario."""
    opt_out = "" if fake_portal.serves_lines(scenario) else "\n  vars.bx24_sip_check_lines = false"
    opt_in = "\n  vars.bx24_sip_check_calls = true" if scenario in fake_portal.CALL_SCENARIOS else ""
    return (f'\nobject Host "{name}" {{\n  check_command = "dummy"\n'
            f'  vars.bx24_sip_webhook = "{url}"{opt_out}{opt_in}\n}}\n')


@pytest.fixture(scope="module")
def stock_icinga(tmp_path_factory, portals):
    """Debian's /etc/icinga2 as it is, plus the package user's two drop-ins, run as a daemon."""
    urls, _ = portals
    root = tmp_path_factory.mktemp("stock-icinga2")
    for folder in ("lib", "log", "cache", "run", "spool/tmp", "spool/perfdata", "etc/zones.d"):
        (root / folder).mkdir(parents=True)
    sink = GraphiteSink()
    placed = [ICINGA_CONF_D / "bx24_sip_services.conf", ICINGA_CONF_D / "zz-bx24-test.conf",
              ICINGA_CONF_D / "bx24_sip_calls.conf"]
    require_absent(*placed)
    config = Path("/etc/icinga2/icinga2.conf")
    daemon = None
    try:
        stock = validate_icinga(config, root)
        shutil.copy(DOC / "examples" / "bx24_sip_services.conf", placed[0])
        shutil.copy(DOC / "examples" / "bx24_sip_calls.conf", placed[2])
        placed[1].write_text(icinga_test_features(root, sink) + "".join(
            icinga_host(host, urls[host], scenario) for host, scenario in HOSTS))
        validation = validate_icinga(config, root)
        daemon = Daemon(["icinga2", "daemon", "-c", str(config), *icinga_constants(root)],
                        root / "console.log")
        wait_for(sink.connected.is_set, "Icinga 2's GraphiteWriter to connect", within=30)
        force_checks(daemon, root / "run" / "icinga2.cmd", "icinga")
        found = wait_for(lambda: icinga_results(root), "Icinga 2 to check every portal service")
    finally:
        if daemon is not None:
            daemon.stop()
        sink.close()
        for path in placed:
            path.unlink(missing_ok=True)
    REPORT.append(f"Icinga 2 with Debian's stock configuration and the package: {len(PORTALS)} "
                  "checks read back")
    yield {"stock": stock, "validation": validation, "results": found, "graphite": sink}


def test_stock_icinga_finds_the_packaged_checkcommand(stock_icinga):
    """No `cp` of a CheckCommand, no include line: the package's file is read by the stock
    `include <plugins-contrib>`, and the example rules add a service per portal and aspect."""
    assert service_count(stock_icinga["validation"]) == service_count(stock_icinga["stock"]) + len(
        PORTALS)
    assert "warning/" not in stock_icinga["validation"]


@pytest.mark.parametrize("portal", PORTALS, ids=[p.id for p in PORTALS])
def test_stock_icinga_runs_the_packaged_plugin(stock_icinga, portal):
    assert_icinga_result(stock_icinga["results"][(portal.host, portal.icinga_service)], portal)


def test_the_manual_command_file_beside_the_package_is_the_documented_conflict(tmp_path):
    """Why the README tells package users to copy only the rules: the CheckCommand twice."""
    for folder in ("lib", "log", "cache", "run", "spool", "etc/zones.d"):
        (tmp_path / folder).mkdir(parents=True)
    copied = ICINGA_CONF_D / "check_bx24_sip.conf"
    require_absent(copied)
    try:
        shutil.copy(SCRIPT.parent / "contrib" / "icinga2" / "check_bx24_sip.conf", copied)
        done = subprocess.run(["icinga2", "daemon", "-C", *icinga_constants(tmp_path)],
                              capture_output=True, text=True,
                              env={"PATH": PLAIN_PATH, "LANG": "C.UTF-8"})
    finally:
        copied.unlink(missing_ok=True)
    assert done.returncode != 0
    assert "re-defined" in done.stdout


# --------------------------------------------------------------------------- Nagios 4

def nagios_objects(urls: Dict[str, str]) -> str:
    """Hosts and services as the README's block has them, with the test's secret files."""
    objects = []
    for host, _ in HOSTS:
        objects.append(f"""
define host {{
    use                     generic-host
    host_name               {host}
    address                 127.0.0.1
    check_period            24x7
    max_check_attempts      1
    notification_interval   0
    notifications_enabled   0
    contact_groups          admins
}}
""")
    for portal in PORTALS:
        template = portal.nagios_template
        objects.append(f"""
define service {{
    use                     {template},generic-service
    host_name               {portal.host}
    notifications_enabled   0
    _BX24_WEBHOOK_FILE      {SECRETS / (portal.host + '.url')}
}}
""")
    return "".join(objects)


def write_secrets(urls: Dict[str, str]) -> None:
    """/etc/nagios4/bx24-test: root and the nagios group, as the README sets it up."""
    import grp

    nagios_gid = grp.getgrnam("nagios").gr_gid
    SECRETS.mkdir(mode=0o750)
    os.chown(SECRETS, 0, nagios_gid)
    for host, url in urls.items():
        secret = SECRETS / f"{host}.url"
        secret.write_text(url + "\n")
        secret.chmod(0o640)
        os.chown(secret, 0, nagios_gid)


@pytest.fixture(scope="module")
def stock_nagios(portals):
    """Debian's /etc/nagios4 as it is, the package's command, the templates and portals the
    README has a package user add; the daemon as Debian configures it (user nagios). What it
    writes (log, state, retention, object cache) is put back as it was afterwards."""
    require(NAGIOS is not None, "Nagios 4 is not installed (apt install nagios4-core)")
    urls, _ = portals
    placed = [NAGIOS_CONF_D / "bx24_sip_templates.cfg", NAGIOS_CONF_D / "zz-bx24-test.cfg"]
    require_absent(*placed, SECRETS)
    try:
        with restored(*NAGIOS_STATE):
            write_secrets(urls)
            shutil.copy(DOC / "examples" / "bx24_sip_templates.cfg", placed[0])
            placed[1].write_text(nagios_objects(urls))
            validation, found = run_stock_nagios()
    finally:
        for path in placed:
            path.unlink(missing_ok=True)
        shutil.rmtree(SECRETS, ignore_errors=True)
    REPORT.append(f"Nagios 4 with Debian's stock configuration and the package: {len(PORTALS)} "
                  "checks read back")
    yield {"validation": validation, "results": found}


NAGIOS_STATE = ("/var/lib/nagios4", "/var/log/nagios4", "/var/cache/nagios4")


def run_stock_nagios():
    """nagios4 -v, then the daemon on /etc/nagios4/nagios.cfg until every portal was checked."""
    assert NAGIOS is not None
    config = "/etc/nagios4/nagios.cfg"
    status_dat = Path("/var/lib/nagios4/status.dat")
    validation = subprocess.run([NAGIOS, "-v", config], capture_output=True, text=True,
                                env={"PATH": PLAIN_PATH, "LANG": "C.UTF-8"})
    assert validation.returncode == 0, validation.stdout
    started = time.time()
    daemon = Daemon([NAGIOS, config], Path(tempfile.mkdtemp()) / "console.log")
    try:
        force_checks(daemon, Path("/var/lib/nagios4/rw/nagios.cmd"), "nagios")

        def results():
            if not status_dat.exists():
                return None
            checked = {(block["host_name"], block["service_description"]): block
                       for block in status_blocks(status_dat, "servicestatus")
                       if block.get("host_name", "").endswith("-portal")
                       and int(block.get("last_check", "0")) >= int(started)}
            return checked if len(checked) == len(PORTALS) else None

        return validation, wait_for(results, "Nagios 4 to check every portal service", within=90)
    finally:
        daemon.stop()


def test_stock_nagios_validates_with_the_packaged_command(stock_nagios):
    output = stock_nagios["validation"].stdout
    assert "Total Warnings: 0" in output and "Total Errors:   0" in output


@pytest.mark.parametrize("portal", PORTALS, ids=[p.id for p in PORTALS])
def test_stock_nagios_runs_the_packaged_plugin(stock_nagios, portal):
    assert_nagios_result(stock_nagios["results"][(portal.host, portal.nagios_service)], portal)


# --------------------------------------------------------------------------- Zabbix


def test_the_readmes_zabbix_agent_steps_run_as_written():
    """Debian's own /etc/zabbix, the README's lines one by one, then put back as it was. The
    key's run goes to the placeholder portal, so it runs where no name can be resolved."""
    require(Path("/usr/sbin/zabbix_agent2").exists(), "zabbix-agent2 is not installed")
    require_absent(Path("/etc/zabbix/bx24"), Path("/etc/zabbix/zabbix_agent2.d/bx24_sip.conf"))
    lines = marked("zabbix-agent", guide("zabbix")).lines
    assert lines[-1].startswith("zabbix_agent2 -c /etc/zabbix/zabbix_agent2.conf -t ")
    with restored("/etc/zabbix"):
        for line in lines[:-1]:
            done = subprocess.run(["/bin/sh", "-c", line], capture_output=True, text=True,
                                  env={"PATH": PLAIN_PATH})
            assert (done.returncode, done.stderr) == (0, ""), line
        assert "\nTimeout=30\n" in Path("/etc/zabbix/zabbix_agent2.conf").read_text()
        done = subprocess.run(["unshare", "--net", "/bin/sh", "-c", lines[-1]],
                              capture_output=True, text=True, env={"PATH": PLAIN_PATH},
                              timeout=60)
    found = re.fullmatch(r"bx24\.sip\[yourportal,connector\] +\[s\|(.*)\]\n", done.stdout)
    assert found is not None, done.stdout + done.stderr
    value = json.loads(found.group(1))
    assert (value["state"], value["summary"], value["portal"]) == (
        "UNKNOWN", "cannot reach yourportal.bitrix24.com: cannot resolve the host name",
        "yourportal.bitrix24.com")
