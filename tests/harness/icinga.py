"""Icinga 2 for the tests: its version, the test node's configuration and features, the
results its perfdata writer wrote, and what Icinga must show for each portal."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

from daemons import ICINGA2, PLAIN_PATH, PORTALS, GraphiteSink, Portal, parse_perfdata, user_and_group


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


ICINGA_CONFIG = """
const PluginContribDir = "{plugins}"
const NodeName = "bx24-ci"
include <itl>
include "{repo}/contrib/icinga2/check_bx24_sip.conf"
include "{repo}/contrib/icinga2/bx24_sip_services.conf"
include "{repo}/contrib/icinga2/bx24_sip_calls.conf"

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


def assert_icinga_result(result: Dict[str, str], portal: Portal) -> None:
    """What Icinga 2's perfdata writer wrote of a service: state, output and perfdata."""
    states = ["OK", "WARNING", "CRITICAL", "UNKNOWN"]
    assert (result["STATEID"], result["STATE"]) == (str(portal.code), states[portal.code])
    # Icinga 2 cuts the line at "|" and keeps the space before it
    assert result["OUTPUT"] == portal.output + (" " if portal.perfdata else "")
    perfdata = parse_perfdata(result["PERFDATA"]) if result["PERFDATA"] else {}
    assert perfdata == portal.perfdata

