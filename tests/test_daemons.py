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

import shutil
import subprocess
import time
from pathlib import Path
from typing import Dict

import fake_portal
import pytest
from daemons import (
    HOSTS,
    ICINGA2,
    NAGIOS,
    PLAIN_PATH,
    PORTALS,
    Daemon,
    GraphiteSink,
    files_holding,
    find_daemon,
    force_checks,
    install_plugin_copy,
    require,
    require_system_python,
    searched,
    user_and_group,
    wait_for,
)
from icinga import (
    ICINGA_CONFIG,
    ICINGA_HOST,
    ICINGA_LINES,
    assert_icinga_result,
    icinga2_dumps_objects,
    icinga_constants,
    icinga_results,
    icinga_test_features,
    service_count,
    validate_icinga,
)
from nagios import (
    NAGIOS_CONFIG,
    NAGIOS_HOST,
    NAGIOS_OBJECTS,
    NAGIOS_SERVICE,
    STOCK_NAGIOS,
    assert_nagios_result,
    nagios_services,
    status_blocks,
    validate_stock_nagios,
)
from plugin import REPO, REPORT
from system_state import require_stock

from docs import blocks, guide

pytestmark = pytest.mark.daemons

# --------------------------------------------------------------------------- Icinga 2


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
        if not fake_portal.serves_lines(scenario):  # the opt-out the services file offers
            variables += "\n  vars.bx24_sip_check_lines = false"
        elif scenario in fake_portal.LINE_SCENARIOS:
            # host-wide, as the README's table allows: the connector service must not mind
            variables += (f'\n  vars.bx24_sip_lines = {ICINGA_LINES}'
                          f'\n  vars.bx24_sip_prometheus_dir = "{root / "textfile"}"')
        else:  # the calls service is asked for by the host, as the services file says
            variables += ('\n  vars.bx24_sip_check_calls = true'
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
            assert float(values[f"{label}.value"]) == float(value.removesuffix("%"))


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
        template = portal.nagios_template
        extra = ""
        if fake_portal.serves_lines(portal.scenario):  # a textfile per service, as documented
            textfile = root / "textfile" / f"{portal.id}.prom"
            extra = f"\n    _BX24_PROMETHEUS_FILE {textfile}"
            if portal.lines and portal.scenario in fake_portal.LINE_SCENARIOS:
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


def test_nagios_never_logs_or_stores_the_secret(nagios):
    root = nagios["root"]
    assert (root / "var" / "nagios.debug").stat().st_size > 0
    for host, code in nagios["codes"].items():
        assert files_holding(root, code) == [f"secrets/{host}.url"]


@pytest.mark.parametrize("example", ["contrib/nagios/bx24_sip_example.cfg", "docs/nagios.md"])
def test_nagios_accepts_the_examples_in_debians_stock_configuration(example):
    """As the README says: the files dropped into /etc/nagios4/conf.d of the packaged, unchanged
    configuration, then `nagios4 -v /etc/nagios4/nagios.cfg`. The files are removed again."""
    require(NAGIOS is not None and STOCK_NAGIOS.exists(),
            f"Nagios 4 and its packaged {STOCK_NAGIOS} are not installed: "
            f"{searched('nagios4', 'nagios')}, or no {STOCK_NAGIOS} (apt install nagios4-core)")
    require_stock("validating the examples inside /etc/nagios4")
    text = (blocks("nagios", guide("nagios"))[0].text if example == "docs/nagios.md"
            else (REPO / example).read_text())
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


# --------------------------------------------------------------------------- node_exporter

NODE_EXPORTER = find_daemon("prometheus-node-exporter", "node_exporter")


def assert_node_exporter_serves_both_services(folder: Path, ports: Dict[str, int],
                                              tmp_path: Path) -> None:
    """The services of two portals write their own files into one textfile folder; Debian's
    node_exporter serves every series of each (a series in two files would be served once)."""
    from node_exporter import bx24_samples, scrape_textfiles

    require(NODE_EXPORTER is not None, f"node_exporter is not installed: "
                                       f"{searched('prometheus-node-exporter', 'node_exporter')} "
                                       "(apt install prometheus-node-exporter)")
    assert NODE_EXPORTER is not None
    assert len(list(folder.glob("*.prom"))) == 5, sorted(folder.iterdir())
    samples, log = scrape_textfiles(NODE_EXPORTER, folder, tmp_path / "node_exporter.log")
    assert "collected before" not in log, log
    assert samples[("node_textfile_scrape_error", ())] == 0
    portal = f"127.0.0.1:{ports['lines-portal']}"
    connector = {"portal": portal, "check": "connector"}
    lines = {"portal": portal, "check": "lines"}
    served = bx24_samples(samples)
    assert ("bx24_sip_check_state", connector, 0) in served
    assert ("bx24_sip_check_state", lines, 2) in served  # the CRITICAL line is not hidden
    assert ("bx24_sip_paid", connector, 1) in served
    assert ("bx24_sip_lines", lines, 3) in served
    assert ("bx24_sip_line_check_state", {**lines, "line": "reg150907", "name": "Office trunk"},
            2) in served
    calls = {"portal": f"127.0.0.1:{ports['calls-portal']}", "check": "calls"}
    assert ("bx24_sip_check_state", calls, 2) in served
    assert ("bx24_sip_calls", calls, 15) in served
    assert ("bx24_sip_calls_window_seconds", calls, 3600) in served
    assert ("bx24_sip_calls_failed", {**calls, "line": "reg151083", "code": "503"}, 3) in served
    assert ("bx24_sip_calls_failed_ratio", {**calls, "line": "reg151083"}, 0.8) in served
    assert ("bx24_sip_calls_streak", {**calls, "line": "reg151083"}, 4) in served
    assert ("bx24_sip_calls_line_state", {**calls, "line": "reg150907"}, 0) in served
    assert [name for name, labels, _ in served if name == "bx24_sip_up"] == ["bx24_sip_up"] * 5


def portal_ports(codes_and_urls) -> Dict[str, int]:
    urls, _ = codes_and_urls
    return {host: int(url.split(":")[2].split("/")[0]) for host, url in urls.items()}


def test_icinga_services_write_one_textfile_each(icinga, portals, tmp_path):
    folder = icinga["textfile"]
    assert sorted(path.name for path in folder.iterdir()) == [
        "bx24_sip_calls-portal_bx24-sip-calls.prom", "bx24_sip_calls-portal_bx24-sip-lines.prom",
        "bx24_sip_calls-portal_bx24-sip.prom", "bx24_sip_lines-portal_bx24-sip-lines.prom",
        "bx24_sip_lines-portal_bx24-sip.prom"]
    assert_node_exporter_serves_both_services(folder, portal_ports(portals), tmp_path)


def test_nagios_services_write_one_textfile_each(nagios, portals, tmp_path):
    assert_node_exporter_serves_both_services(nagios["textfile"], portal_ports(portals), tmp_path)


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
    assert done.stdout == ('BX24_SIP UNKNOWN - --check bogus: unknown aspect "bogus"; give '
                           "connector, lines, calls, all or a comma list of them\n")
