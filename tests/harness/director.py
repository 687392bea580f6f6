"""Debian 12's Icinga Director 1.10.2 for the tests, driven the way a headless setup drives it:
`icingacli` with a private ICINGAWEB_CONFIGDIR (no web server, no /etc/icingaweb2), a database
of its own in the tests' private PostgreSQL cluster, and kickstart against a private Icinga 2.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any, Dict, Optional

from private_postgres import Postgres

ICINGACLI = "/usr/bin/icingacli"
MODULES = Path("/usr/share/icingaweb2/modules")
ENABLED = ("director", "incubator", "reactbundle")  # what Debian's packages enable
PLAIN_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"


def missing_parts() -> list:
    wanted = [ICINGACLI, *(str(MODULES / name / "module.info") for name in ENABLED)]
    return [path for path in wanted if not os.path.exists(path)]


def version() -> str:
    info = (MODULES / "director" / "module.info").read_text()
    found = re.search(r"^Version: (\S+)", info, re.M)
    assert found, info
    return found.group(1)


class Director:
    """One Director: its config folder and its database `name` in `database`."""

    def __init__(self, root: Path, database: Postgres, name: str):
        self.root, self.database, self.name = root, database, name
        database.psql(f"CREATE DATABASE {name} OWNER director ENCODING 'UTF8' TEMPLATE template0")
        (root / "enabledModules").mkdir(parents=True)
        for module in ENABLED:
            (root / "enabledModules" / module).symlink_to(MODULES / module)
        (root / "modules" / "director").mkdir(parents=True)
        (root / "resources.ini").write_text(
            f'[director_db]\ntype = "db"\ndb = "pgsql"\nhost = "{database.root}"\n'
            f'port = "{database.port}"\ndbname = "{name}"\nusername = "director"\n'
            'password = "director"\ncharset = "utf8"\n')
        (root / "modules" / "director" / "config.ini").write_text(
            '[db]\nresource = "director_db"\n')

    @staticmethod
    def create_role(database: Postgres) -> None:
        database.psql("CREATE USER director PASSWORD 'director'")

    def run(self, *args: str, stdin: Optional[str] = None) -> subprocess.CompletedProcess:
        return subprocess.run([ICINGACLI, "director", *args], input=stdin, capture_output=True,
                              text=True, timeout=120,
                              env={"PATH": PLAIN_PATH, "LANG": "C.UTF-8",
                                   "ICINGAWEB_CONFIGDIR": str(self.root)})

    def cli(self, *args: str, stdin: Optional[str] = None) -> str:
        """An icingacli director command; fails the test with its output unless it exits 0."""
        done = self.run(*args, stdin=stdin)
        assert done.returncode == 0, f"icingacli director {' '.join(args)}: exit " \
                                     f"{done.returncode}\n{done.stdout}{done.stderr}"
        return done.stdout

    def sql(self, query: str) -> str:
        return self.database.psql(query, database=self.name)

    def create(self, kind: str, name: str, properties: Dict[str, Any]) -> None:
        self.cli(kind, "create", name, "--json", json.dumps(properties))

    def store_kickstart_settings(self, endpoint: str, port: int, user: str, password: str) -> None:
        """What Director's kickstart wizard stores; `kickstart run` reads it."""
        (self.root / "modules" / "director" / "kickstart.ini").write_text(
            f'[config]\nendpoint = "{endpoint}"\nhost = "127.0.0.1"\nport = "{port}"\n'
            f'username = "{user}"\npassword = "{password}"\n')

    def kickstart(self, endpoint: str, port: int, user: str, password: str) -> str:
        self.store_kickstart_settings(endpoint, port, user, password)
        return self.cli("kickstart", "run")

    def dump(self, basket: str, objects: Dict[str, list]) -> Dict[str, Any]:
        """What `basket dump` writes for a basket of these objects (a row, as the web UI adds)."""
        chosen = json.dumps(objects).replace("'", "''")
        self.sql("INSERT INTO director_basket (uuid, basket_name, owner_type, owner_value, objects) "
                 f"VALUES (decode(md5('{basket}'), 'hex'), '{basket}', 'user', 'cli', '{chosen}') "
                 f"ON CONFLICT (uuid) DO UPDATE SET objects = EXCLUDED.objects")
        return json.loads(self.cli("basket", "dump", "--name", basket))

    def render(self) -> Dict[str, str]:
        """`config render`, then the files it stored, read back from the database."""
        said = self.cli("config", "render")
        found = re.search(r"checksum ([0-9a-f]{40}) has been generated", said)
        assert found, said
        rows = self.sql(
            "SELECT cf.file_path || ' ' || encode(convert_to(f.content, 'UTF8'), 'hex') "
            "FROM director_generated_config_file cf JOIN director_generated_file f "
            f"ON f.checksum = cf.file_checksum WHERE cf.config_checksum = "
            f"decode('{found.group(1)}', 'hex')")
        files = {}
        for row in rows.split("\n"):
            if row:
                path, content = row.split(" ")
                files[path] = bytes.fromhex(content).decode()
        return files
