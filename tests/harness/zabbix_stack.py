"""Debian's Zabbix for the tests (6.0 on Debian 12, 7.0 on Debian 13), every part private: a
PostgreSQL cluster, the server, the frontend's API under `php -S`, both agents and a proxy, each
on its own 127.0.0.1 port with its own folder. Nothing of the machine's own Zabbix (or
PostgreSQL) is read, written or stopped.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import socket
import subprocess
import urllib.request
from functools import lru_cache
from pathlib import Path
from typing import Any, List, Optional, Tuple

from daemons import Daemon, wait_for
from net import free_port
from private_postgres import Postgres, as_user

PLAIN_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
SERVER = "/usr/sbin/zabbix_server"
AGENTD = "/usr/sbin/zabbix_agentd"
AGENT2 = "/usr/sbin/zabbix_agent2"
ZABBIX_GET = "/usr/bin/zabbix_get"
# Debian's zabbix-proxy-sqlite3 conflicts with zabbix-server-pgsql: on one machine, .ci/run
# unpacks the proxy's package into a folder of its own and names its binary here
PROXY = os.environ.get("BX24_ZABBIX_PROXY", "/usr/sbin/zabbix_proxy")
FRONTEND = Path("/usr/share/zabbix")
SCHEMA = Path("/usr/share/zabbix-server-pgsql")


@lru_cache(maxsize=None)
def version() -> Tuple[int, int]:
    """The server's major and minor version: (6, 0) on Debian 12, (7, 0) on Debian 13."""
    printed = subprocess.run([SERVER, "--version"], capture_output=True, text=True).stdout
    major, minor = printed.split("\n", 1)[0].rsplit(" ", 1)[1].split(".")[:2]
    return int(major), int(minor)


def missing_parts() -> List[str]:
    """What this machine lacks for the tests (empty: everything is there)."""
    wanted = [SERVER, AGENTD, AGENT2, ZABBIX_GET, str(FRONTEND / "api_jsonrpc.php"),
              str(SCHEMA / "schema.sql.gz"), shutil.which("php") or "php"]
    missing = [path for path in wanted if not os.path.exists(path)]
    if not glob.glob("/usr/lib/postgresql/*/bin/initdb"):
        missing.append("/usr/lib/postgresql/*/bin/initdb")
    return missing


def listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def load_zabbix_schema(database: Postgres) -> None:
    """createuser, createdb, the three SQL files of zabbix-server-pgsql, VACUUM ANALYZE."""
    database.psql("CREATE USER zabbix")
    database.psql("CREATE DATABASE zabbix OWNER zabbix ENCODING 'UTF8' TEMPLATE template0")
    for name in ("schema", "images", "data"):
        sql = subprocess.run(["zcat", str(SCHEMA / f"{name}.sql.gz")], check=True,
                             capture_output=True).stdout
        subprocess.run(["psql", "-h", str(database.root), "-p", str(database.port), "-U", "zabbix",
                        "-d", "zabbix", "-q", "-v", "ON_ERROR_STOP=1"], input=sql,
                       check=True, capture_output=True)
    database.psql("VACUUM ANALYZE", user="zabbix", database="zabbix")


class Server:
    """zabbix_server -f on the private database; started as root, it runs as zabbix."""

    def __init__(self, root: Path, database: Postgres):
        self.root = root
        self.port = free_port()
        self.log = root / "zabbix_server.log"
        self.config = root / "zabbix_server.conf"
        self.config.write_text("\n".join([
            "LogType=console", f"PidFile={root}/zabbix_server.pid", f"SocketDir={root}",
            f"ListenPort={self.port}", "ListenIP=127.0.0.1", f"DBHost={database.root}",
            f"DBPort={database.port}", "DBName=zabbix", "DBUser=zabbix",
            "Timeout=30", "CacheUpdateFrequency=1", "StartPollers=3", "StartPingers=0",
            "StartDiscoverers=0", "StartHTTPPollers=0", "StartTimers=1", "StartEscalators=1",
            "StartAlerters=1", "StartLLDProcessors=2", "StartPreprocessors=2",
            "HousekeepingFrequency=0", "UnavailableDelay=10", "UnreachableDelay=5",
            "UnreachablePeriod=10", "ProblemHousekeepingFrequency=60", ""]))
        self.process = Daemon([SERVER, "-f", "-c", str(self.config)], self.log)

    def stop(self) -> None:
        self.process.stop()


class Frontend:
    """The frontend's API (api_jsonrpc.php) under `php -S`, from a private copy of
    /usr/share/zabbix whose configuration file is the test's, not /etc/zabbix's."""

    def __init__(self, root: Path, database: Postgres):
        self.root = root
        self.port = free_port()
        web = root / "frontend"
        shutil.copytree(FRONTEND, web, symlinks=True)
        config = root / "zabbix.conf.php"
        config.write_text(f"""<?php
$DB['TYPE'] = 'POSTGRESQL';
$DB['SERVER'] = '{database.root}';
$DB['PORT'] = '{database.port}';
$DB['DATABASE'] = 'zabbix';
$DB['USER'] = 'zabbix';
$DB['PASSWORD'] = '';
$DB['SCHEMA'] = '';
$ZBX_SERVER = '127.0.0.1';
$ZBX_SERVER_NAME = 'bx24-test';
$IMAGE_FORMAT_DEFAULT = IMAGE_FORMAT_PNG;
""")
        settings = web / "include" / "classes" / "core" / "CConfigFile.php"
        settings.write_text(settings.read_text().replace("/etc/zabbix/zabbix.conf.php",
                                                         str(config)))
        self.process = Daemon(
            ["php", "-d", "memory_limit=512M", "-d", "post_max_size=32M",
             "-d", "max_execution_time=300", "-d", "date.timezone=UTC",
             "-S", f"127.0.0.1:{self.port}", "-t", str(web)], root / "php.log")
        wait_for(lambda: listening(self.port), "php -S to listen", within=20)
        self.token: Optional[str] = None

    def call(self, method: str, params: Any) -> Any:
        body = {"jsonrpc": "2.0", "method": method, "params": params, "id": 1}
        headers = {"Content-Type": "application/json-rpc"}
        if self.token and method not in ("user.login", "apiinfo.version"):
            if version() >= (6, 4):  # the header since 6.4; the "auth" field is gone in 7.2
                headers["Authorization"] = f"Bearer {self.token}"
            else:
                body["auth"] = self.token
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/api_jsonrpc.php", data=json.dumps(body).encode(),
            headers=headers)
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(request, timeout=120) as answer:
            reply = json.loads(answer.read())
        if "error" in reply:
            raise AssertionError(f"{method}: {reply['error']}")
        return reply["result"]

    def login(self) -> None:
        self.token = self.call("user.login", {"username": "Admin", "password": "zabbix"})

    def stop(self) -> None:
        self.process.stop()


def agentd_config(root: Path, port: int, include: Path) -> Path:
    config = root / "zabbix_agentd.conf"
    config.write_text("\n".join([
        f"PidFile={root}/zabbix_agentd.pid", "LogType=file", f"LogFile={root}/zabbix_agentd.log",
        "DebugLevel=4", "Server=127.0.0.1", f"ListenPort={port}", "ListenIP=127.0.0.1",
        "StartAgents=3", "Hostname=bx24-test", "Timeout=30", f"Include={include}", ""]))
    return config


def agent2_config(root: Path, port: int, include: Path) -> Path:
    config = root / "zabbix_agent2.conf"
    config.write_text("\n".join([
        f"PidFile={root}/zabbix_agent2.pid", "LogType=file", f"LogFile={root}/zabbix_agent2.log",
        "DebugLevel=4", "Server=127.0.0.1", f"ListenPort={port}", "ListenIP=127.0.0.1",
        "Hostname=bx24-test", "Timeout=30", f"ControlSocket={root}/agent2.sock",
        f"PluginSocket={root}/agent2.plugin.sock", f"Include={include}", ""]))
    return config


class Agent:
    """zabbix_agentd (started as root, it drops to zabbix) or zabbix_agent2 (run as zabbix, as
    Debian's unit runs it), with the shipped UserParameter file included."""

    def __init__(self, kind: str, root: Path, include: Path):
        self.kind = kind
        self.root = root
        self.port = free_port()
        if kind == "agentd":
            self.log = root / "zabbix_agentd.log"
            config = agentd_config(root, self.port, include)
            command = [AGENTD, "-f", "-c", str(config)]
        else:
            self.log = root / "zabbix_agent2.log"
            config = agent2_config(root, self.port, include)
            command = [*as_user("zabbix"), AGENT2, "-c", str(config)]
        self.process = Daemon(command, root / f"{kind}.console.log")
        wait_for(self.started, f"zabbix_{kind} to listen", within=30)

    def started(self) -> bool:
        self.process.assert_running()
        return listening(self.port)

    def get(self, key: str) -> str:
        done = subprocess.run([ZABBIX_GET, "-s", "127.0.0.1", "-p", str(self.port), "-t", "30",
                               "-k", key], capture_output=True, text=True, timeout=60)
        assert done.stderr == "", done.stderr
        return done.stdout.rstrip("\n")

    def stop(self) -> None:
        self.process.stop()


class Proxy:
    """An active zabbix_proxy on SQLite (Debian's zabbix-proxy-sqlite3) that the server knows
    as `name`; started as root, it runs as zabbix. It asks the server for its configuration and
    sends its data every second."""

    def __init__(self, root: Path, name: str, server: Server):
        self.name = name
        self.log = root / "zabbix_proxy.log"
        frequency = "ProxyConfigFrequency" if version() >= (7, 0) else "ConfigFrequency"
        config = root / "zabbix_proxy.conf"
        config.write_text("\n".join([
            "ProxyMode=0", f"Server=127.0.0.1:{server.port}", f"Hostname={name}",
            "LogType=console", f"PidFile={root}/zabbix_proxy.pid", f"SocketDir={root}",
            f"ListenPort={free_port()}", "ListenIP=127.0.0.1", f"DBName={root}/zabbix_proxy.db",
            "Timeout=30", f"{frequency}=1", "DataSenderFrequency=1", "StartPollers=3",
            "StartPingers=0", "StartDiscoverers=0", "StartHTTPPollers=0",
            "StartPreprocessors=2", "HousekeepingFrequency=0", "UnavailableDelay=10",
            "UnreachableDelay=5", "UnreachablePeriod=10", ""]))
        self.process = Daemon([PROXY, "-f", "-c", str(config)], self.log)

    def stop(self) -> None:
        self.process.stop()
