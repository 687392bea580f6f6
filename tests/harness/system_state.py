"""What a test run may not change: /etc and /var/lib of the machine it runs on.

A user runs the suite as root on the host that runs their Nagios, Icinga, Zabbix or
node_exporter. Tests that need Debian's own configuration run only where BX24_TEST_STOCK=yes
asks for them (CI), and put back what they touched; the last test of the session compares
these folders with what they held when it started.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import pytest

WATCHED = ("/etc", "/var/lib")
STOCK_VARIABLE = "BX24_TEST_STOCK"
PACKAGE_VARIABLE = "BX24_TEST_PACKAGE"

# state folders that a daemon already running on this host rewrites by itself: not ours to judge
DAEMON_STATE = {"nagios4": "/var/lib/nagios4", "icinga2": "/var/lib/icinga2",
                "postgres": "/var/lib/postgresql", "mariadbd": "/var/lib/mysql",
                "mysqld": "/var/lib/mysql", "prometheus": "/var/lib/prometheus/metrics2",
                "zabbix_server": "/var/lib/zabbix", "zabbix_agentd": "/var/lib/zabbix",
                "zabbix_agent2": "/var/lib/zabbix", "cron": "/var/lib/cron"}

Entry = Tuple[str, int, int, int, int, int, str]

# /etc and /var/lib as the session found them, and the state folders left out (a daemon of the
# machine's own that was running rewrites them by itself): filled by conftest's session start
SYSTEM_BEFORE: Tuple[Dict[str, Any], List[str]] = ({}, [])


def stock_tests_asked() -> bool:
    return os.environ.get(STOCK_VARIABLE) == "yes"


def package_tests_asked() -> bool:
    """CI built and installed the Debian package and asks the tests to use it."""
    return os.environ.get(PACKAGE_VARIABLE) == "installed"


def require_stock(what: str) -> None:
    """Skip a test that changes Debian's own monitoring setup unless CI asked for it."""
    if not stock_tests_asked():
        pytest.skip(f"{what} uses this machine's own monitoring configuration; it runs only "
                    f"where {STOCK_VARIABLE}=yes asks for it (.ci/run does)")
    if os.geteuid() != 0:
        pytest.fail(f"{STOCK_VARIABLE}=yes needs root: {what} writes into /etc")


def running_daemons() -> List[str]:
    names = []
    for status in Path("/proc").glob("[0-9]*/comm"):
        try:
            names.append(status.read_text().strip())
        except OSError:
            continue
    return sorted(set(names) & DAEMON_STATE.keys())


def excluded_folders() -> List[str]:
    """The state folders of the daemons running now (the user's own), left out of the check."""
    return sorted({DAEMON_STATE[name] for name in running_daemons()})


def fingerprint(roots=WATCHED, excluded=()) -> Dict[str, Entry]:
    """Every path's kind, mode, owner, size, mtime and link target; folders without mtime (a
    file made and removed again changes it, and nothing else)."""
    found: Dict[str, Entry] = {}
    for root in roots:
        for folder, subfolders, files in os.walk(root):
            if any(folder == ex or folder.startswith(ex + "/") for ex in excluded):
                subfolders[:] = []
                continue
            for name in subfolders + files:
                path = os.path.join(folder, name)
                try:
                    info = os.lstat(path)
                except OSError:
                    continue
                kind = stat.S_IFMT(info.st_mode)
                is_dir = stat.S_ISDIR(info.st_mode)
                target = os.readlink(path) if stat.S_ISLNK(info.st_mode) else ""
                found[path] = (oct(kind), info.st_mode & 0o7777, info.st_uid, info.st_gid,
                               0 if is_dir else info.st_size,
                               0 if is_dir else info.st_mtime_ns, target)
    return found


def differences(before: Dict[str, Entry], after: Dict[str, Entry]) -> List[str]:
    changes = [f"added {path}" for path in sorted(after.keys() - before.keys())]
    changes += [f"removed {path}" for path in sorted(before.keys() - after.keys())]
    changes += [f"changed {path}" for path in sorted(before.keys() & after.keys())
                if before[path] != after[path]]
    return changes


@contextmanager
def restored(*folders: str) -> Iterator[None]:
    """Put the folders back exactly as they were (files, owners, modes, times) afterwards: a
    daemon run on Debian's configuration writes its logs, state and caches there."""
    saved = tempfile.mkdtemp(prefix="bx24-restore-")
    archives = {}
    try:
        for index, folder in enumerate(folders):
            if os.path.isdir(folder):
                archives[folder] = os.path.join(saved, f"{index}.tar")
                subprocess.run(["tar", "-C", folder, "-cpf", archives[folder], "."], check=True)
        yield
    finally:
        for folder in folders:
            if folder in archives:
                for child in Path(folder).iterdir():
                    if child.is_dir() and not child.is_symlink():
                        shutil.rmtree(child)
                    else:
                        child.unlink()
                subprocess.run(["tar", "-C", folder, "-xpf", archives[folder],
                                "--same-owner", "--numeric-owner"], check=True)
            elif os.path.exists(folder):
                shutil.rmtree(folder)
        shutil.rmtree(saved, ignore_errors=True)
