"""The README's commands as a new user runs them: cron lines under cron's PATH, Debian's paths.

The Quick start is run as written by .ci/run (it installs from PyPI); the Nagios block is
validated by tests/test_daemons.py against Debian's stock configuration.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import List

import pytest
from plugin import REPO
from system_state import require_stock, restored

import docs

# the README and the guides: every command a user copies
README = "\n".join(path.read_text() for path in docs.english_documents())
PLUGIN = "/usr/lib/nagios/plugins/check_bx24_sip"
CRON_PATH = "/usr/bin:/bin"  # what cron gives a job, whatever the admin's shell has
WEBHOOK_FILE = "/etc/nagios4/bx24/yourportal.url"


def blocks(language: str) -> List[str]:
    """The fenced code blocks of one language in the README and the guides, without their last
    newline."""
    return [block.text.rstrip("\n") for path in docs.english_documents()
            for block in docs.blocks(language, path)]


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
    assert len(cron_jobs()) == 5


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
    require_absent(WEBHOOK_FILE)
    redirected = re.search(r"> (/\S+)$", command)
    textfile = re.search(r"--prometheus-file (/\S+)", command)
    written = redirected or textfile
    if written:  # into Debian's own folders: only where CI asks, and put back after
        require_stock("a cron line that writes into /var/lib")
        folder = os.path.dirname(written.group(1))
        assert os.access(folder, os.W_OK), f"{folder} is not writable"
    reason = f"cannot read --webhook-file {WEBHOOK_FILE}: No such file or directory"
    with restored(*([os.path.dirname(written.group(1))] if written else [])):
        done = subprocess.run(["/bin/sh", "-c", command],
                              env={"PATH": CRON_PATH, "HOME": str(tmp_path)},
                              capture_output=True, text=True, timeout=60)
        assert done.stderr == ""
        if redirected:
            assert done.stdout == ""
            document = json.loads(Path(redirected.group(1)).read_text())
            assert document["error"] == {"kind": "usage", "code": None, "message": reason}
        elif textfile:  # the file holds the metrics; cron mails only the reason
            assert done.stdout == f"BX24_SIP UNKNOWN - {reason}\n"
            assert Path(textfile.group(1)).read_text().startswith(f"# BX24_SIP UNKNOWN - {reason}\n")
        else:
            assert done.stdout.splitlines()[0].startswith(f"BX24_SIP UNKNOWN - {reason}")


def require_absent(path: str) -> None:
    if os.path.exists(path):
        pytest.skip(f"{path} exists here: the cron lines are tested where it does not")


# folders that a package the README names creates, which CI does not install at that point:
# Debian's node exporter, and this project's own package (tests/test_package.py checks its files)
FROM_OTHER_PACKAGES = ("/var/lib/prometheus/node-exporter", "/usr/share/doc/monitoring-plugins-bx24-sip",
                       "/usr/share/monitoring-plugins-bx24-sip")


def created_by_the_readme() -> List[str]:
    """Paths a README command makes: install -d / install ... /dev/null / echo ... > PATH /
    mkdir -p."""
    made = re.findall(r"install (?:-d )?(?:-[mog] \S+ )*(?:/dev/null |\S+ )?(/[\w/.-]+)", README)
    made += [path for paths in re.findall(r"mkdir -p ((?:/[\w/.-]+ ?)+)", README)
             for path in paths.split()]
    made += re.findall(r"> (/[\w/.-]+)", README)
    made += re.findall(r"python3 -m venv (/[\w/.-]+)", README)
    return made


def paths_in_commands() -> List[str]:
    text = "\n".join(blocks("sh") + blocks("cron") + blocks("nagios") + blocks(""))
    return sorted(set(re.findall(r"(?<![\w.~$])(/(?:etc|usr|var|opt|root)/[\w/.-]*[\w])", text)))


@pytest.mark.parametrize("path", paths_in_commands())
def test_every_path_in_the_readme_exists_on_debian_or_is_made_by_it(path):
    if not all(Path(folder).is_dir() for folder in ("/etc/nagios4", "/etc/icinga2", "/etc/zabbix")):
        if os.environ.get("CI") == "true":
            pytest.fail("Debian's nagios4, icinga2 and zabbix configuration must be installed in CI")
        pytest.skip("needs Debian's /etc/nagios4, /etc/icinga2 and /etc/zabbix (apt install "
                    "nagios4-core icinga2 zabbix-agent2 zabbix-server-pgsql)")
    made = created_by_the_readme() + list(FROM_OTHER_PACKAGES)

    def known(candidate: str) -> bool:
        return Path(candidate).exists() or any(
            candidate == m or candidate.startswith(m + "/") for m in made)

    # a file the user writes (a cron file, a copied configuration) needs its folder to exist
    assert known(path) or known(os.path.dirname(path)), (
        f"{path}: neither it nor its folder is on this Debian or made by the README")


def test_the_fake_portal_prints_a_command_that_works():
    """"See every state before deploying": the printed command, pasted into a shell as is."""
    from plugin import clean_env, day

    portal = subprocess.Popen([sys.executable, "tests/harness/fake_portal.py", "expiring"], cwd=REPO,
                              stdout=subprocess.PIPE, text=True, env=clean_env())
    try:
        assert portal.stdout is not None
        assert "in another shell run:" in portal.stdout.readline()
        command = portal.stdout.readline().strip()
        done = subprocess.run(["/bin/sh", "-c", command], cwd=REPO, capture_output=True,
                              text=True, timeout=60, env=clean_env())
    finally:
        portal.terminate()
        portal.wait(10)
    assert (done.returncode, done.stderr) == (1, "")
    assert done.stdout.startswith(f"BX24_SIP WARNING - paid until {day(5)}, 5 days left | ")


def test_the_readme_nagios_block_is_what_the_example_file_holds():
    """The README says "exactly what the example file holds": the objects, not the comments."""
    block = docs.blocks("nagios", docs.guide("nagios"))[0].text
    example = (REPO / "contrib" / "nagios" / "bx24_sip_example.cfg").read_text()
    objects = "\n".join(line for line in example.splitlines() if not line.startswith("#")).strip()
    assert block.strip() == objects
