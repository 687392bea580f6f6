"""A PostgreSQL cluster of the tests' own (initdb as postgres, its socket in a private folder,
no TCP listener), for the Zabbix server and for Icinga Director; nothing of the machine's own
PostgreSQL is read, written or stopped."""

from __future__ import annotations

import glob
import grp
import os
import pwd
import subprocess
import tempfile
from pathlib import Path
from typing import List

from net import free_port


def as_user(user: str) -> List[str]:
    return ["runuser", "-u", user, "--"]


def private_folder(owner: str, purpose: str) -> Path:
    """A folder in /tmp that `owner` can use (pytest's own tmp folders are root's alone)."""
    folder = Path(tempfile.mkdtemp(prefix=f"bx24-{purpose}-"))
    folder.chmod(0o755)
    os.chown(folder, pwd.getpwnam(owner).pw_uid, grp.getgrnam(owner).gr_gid)
    return folder


class Postgres:
    """A PostgreSQL cluster of its own (user postgres), reached through its socket folder."""

    def __init__(self, root: Path):
        self.root = root
        self.port = free_port()
        self.data = root / "pgdata"
        bin_dir = Path(sorted(glob.glob("/usr/lib/postgresql/*/bin"))[-1])
        self.bin = bin_dir
        subprocess.run([*as_user("postgres"), str(bin_dir / "initdb"), "-D", str(self.data),
                        "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8"],
                       check=True, capture_output=True)
        options = (f"-p {self.port} -k {root} -c listen_addresses='' -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off")
        subprocess.run([*as_user("postgres"), str(bin_dir / "pg_ctl"), "-D", str(self.data),
                        "-o", options, "-l", str(root / "postgres.log"), "-w", "start"],
                       check=True, capture_output=True)

    def psql(self, sql: str, user: str = "postgres", database: str = "postgres") -> str:
        done = subprocess.run(["psql", "-h", str(self.root), "-p", str(self.port), "-U", user,
                               "-d", database, "-v", "ON_ERROR_STOP=1", "-qAt", "-c", sql],
                              check=True, capture_output=True, text=True)
        return done.stdout

    def stop(self) -> None:
        subprocess.run([*as_user("postgres"), str(self.bin / "pg_ctl"), "-D", str(self.data),
                        "-m", "immediate", "stop"], capture_output=True)
