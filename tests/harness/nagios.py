"""Nagios 4 for the tests: the test instance's configuration and objects, its status.dat, the
stock configuration's validation, and what Nagios must show for each portal."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Dict, List

from daemons import NAGIOS, PLAIN_PATH, Portal, parse_perfdata

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


def assert_nagios_result(result: Dict[str, str], portal: Portal) -> None:
    """What status.dat holds of a service: the plugin's state, line and perfdata."""
    assert result["check_command"] == "check_bx24_sip"
    assert result["current_state"] == str(portal.code)
    assert result["plugin_output"] == portal.output
    assert result["long_plugin_output"] == ""
    perfdata = parse_perfdata(result["performance_data"]) if result["performance_data"] else {}
    assert perfdata == portal.perfdata


STOCK_NAGIOS = Path("/etc/nagios4/nagios.cfg")


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

