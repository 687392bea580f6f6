"""The README's commands as a new user runs them: cron lines under cron's PATH, Debian's paths.

The Quick start is run as written by .ci/run (it installs from PyPI); the Nagios block is
validated by tests/test_daemons.py against Debian's stock configuration.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import List, Optional

import pytest
from conftest import REPO

README = (REPO / "README.md").read_text()
PLUGIN = "/usr/lib/nagios/plugins/check_bx24_sip"
CRON_PATH = "/usr/bin:/bin"  # what cron gives a job, whatever the admin's shell has
WEBHOOK_FILE = "/etc/nagios4/bx24/yourportal.url"


def blocks(language: str) -> List[str]:
    """The fenced code blocks of one language ("" for those without one)."""
    found: List[str] = []
    current: List[str] = []
    inside: Optional[str] = None
    for line in README.splitlines():
        if line.startswith("```"):
            if inside is None:
                inside, current = line[3:].strip(), []
            else:
                if inside == language:
                    found.append("\n".join(current))
                inside = None
        elif inside is not None:
            current.append(line)
    return found


def cron_jobs() -> List[str]:
    """The command of every job line (/etc/cron.d format: five times, a user, the command)."""
    jobs = []
    for block in blocks("cron"):
        for line in block.splitlines():
            fields = line.split(None, 6)
            if len(fields) == 7 and not line.startswith("#") and "=" not in fields[0]:
                jobs.append(fields[6])
    return jobs


def test_the_readme_has_cron_jobs():
    assert len(cron_jobs()) == 3


@pytest.mark.parametrize("command", cron_jobs())
def test_cron_jobs_call_the_plugin_by_its_full_path(command):
    assert re.findall(r"[\w/.-]*check_bx24_sip\b", command) == [PLUGIN]


@pytest.mark.parametrize("command", cron_jobs())
def test_cron_jobs_run_under_crons_path(command, tmp_path):
    """As cron runs them: /bin/sh, PATH=/usr/bin:/bin. The webhook file does not exist here, so
    each job must say so (what cron mails), never 'not found'."""
    if not os.access(PLUGIN, os.X_OK):
        if os.environ.get("CI") == "true":
            pytest.fail(f"{PLUGIN} is missing (CI=true: .ci/run installs it)")
        pytest.skip(f"{PLUGIN} is not installed")
    assert not os.path.exists(WEBHOOK_FILE)
    written = re.search(r"> (/\S+)$", command)
    if written and not os.access(os.path.dirname(written.group(1)), os.W_OK):
        pytest.skip(f"{os.path.dirname(written.group(1))} is not writable here")
    existed = written is not None and os.path.exists(written.group(1))
    done = subprocess.run(["/bin/sh", "-c", command], env={"PATH": CRON_PATH, "HOME": str(tmp_path)},
                          capture_output=True, text=True, timeout=60)
    try:
        reason = f"cannot read --webhook-file {WEBHOOK_FILE}: No such file or directory"
        assert done.stderr == ""
        if written:
            assert done.stdout == ""
            document = json.loads(Path(written.group(1)).read_text())
            assert document["error"] == {"kind": "usage", "code": None, "message": reason}
        else:
            assert done.stdout.splitlines()[0].startswith(f"BX24_SIP UNKNOWN - {reason}")
    finally:
        if written and not existed and os.path.exists(written.group(1)):
            os.unlink(written.group(1))


# folders that a package the README names creates, which CI does not install at that point:
# Debian's node exporter, and this project's own package (tests/test_package.py checks its files)
FROM_OTHER_PACKAGES = ("/var/lib/prometheus/node-exporter", "/usr/share/doc/monitoring-plugins-bx24-sip")


def created_by_the_readme() -> List[str]:
    """Paths a README command makes: install -d / install ... /dev/null / echo ... > PATH."""
    made = re.findall(r"install (?:-d )?(?:-[mog] \S+ )*(?:/dev/null |\S+ )?(/[\w/.-]+)", README)
    made += re.findall(r"> (/[\w/.-]+)", README)
    made += re.findall(r"python3 -m venv (/[\w/.-]+)", README)
    return made


def paths_in_commands() -> List[str]:
    text = "\n".join(blocks("sh") + blocks("cron") + blocks("nagios") + blocks(""))
    return sorted(set(re.findall(r"(?<![\w.~$])(/(?:etc|usr|var|opt|root)/[\w/.-]*[\w])", text)))


@pytest.mark.parametrize("path", paths_in_commands())
def test_every_path_in_the_readme_exists_on_debian_or_is_made_by_it(path):
    if not Path("/etc/nagios4").is_dir() or not Path("/etc/icinga2").is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail("Debian's nagios4 and icinga2 configuration must be installed in CI")
        pytest.skip("needs Debian's /etc/nagios4 and /etc/icinga2 (apt install nagios4-core icinga2)")
    made = created_by_the_readme() + list(FROM_OTHER_PACKAGES)

    def known(candidate: str) -> bool:
        return Path(candidate).exists() or any(
            candidate == m or candidate.startswith(m + "/") for m in made)

    # a file the user writes (a cron file, a copied configuration) needs its folder to exist
    assert known(path) or known(os.path.dirname(path)), (
        f"{path}: neither it nor its folder is on this Debian or made by the README")
