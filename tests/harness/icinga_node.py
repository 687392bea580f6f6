"""An Icinga 2 node of its own for the tests: its own configuration, data, log, run and spool
folders under one root, its own API port on 127.0.0.1, and its own CA or certificates made with
`icinga2 pki` as the Icinga documentation describes. Nothing of the machine's Icinga 2 is read or
written: every path constant is given on the command line, LogDir too (a pki command without it
writes crash reports into /var/log/icinga2/crash).
"""

from __future__ import annotations

import http.client
import json
import shutil
import ssl
import subprocess
import time
import urllib.request
from base64 import b64encode
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

from daemons import ICINGA2, PLAIN_PATH, Daemon, wait_for, write_command
from icinga import icinga_constants

FOLDERS = ("etc/zones.d", "lib/certs", "log", "cache", "run", "spool")

# What every test node adds to its configuration: an API user for the test, a debug log, the
# checker and the external command pipe the tests force checks through.
TEST_OBJECTS = """
object ApiUser "{user}" {{ password = "{password}"; permissions = [ "*" ] }}
object CheckerComponent "checker" {{ }}
object FileLogger "debug" {{ path = "{root}/log/debug.log"; severity = "debug" }}
object ExternalCommandListener "bx24-test-command" {{ command_path = "{root}/run/icinga2.cmd" }}
"""


class IcingaNode:
    """One Icinga 2 instance named `name` (its NodeName and certificate CN) under `root`."""

    def __init__(self, root: Path, name: str, api_port: int):
        self.root, self.name, self.api_port = root, name, api_port
        for folder in FOLDERS:
            (root / folder).mkdir(parents=True, exist_ok=True)
        self.config = root / "etc" / "icinga2.conf"
        self.certs = root / "lib" / "certs"
        self.daemon: Optional[Daemon] = None

    def test_objects(self, user: str, password: str) -> str:
        return TEST_OBJECTS.format(user=user, password=password, root=self.root)

    @property
    def constants(self) -> List[str]:
        return [*icinga_constants(self.root), f"-DConfiguration.ConfigDir={self.root / 'etc'}",
                f"-DNodeName={self.name}"]

    def icinga2(self, *args: str) -> str:
        """An icinga2 CLI command on this node's folders; fails the test with its output."""
        assert ICINGA2 is not None
        done = subprocess.run([ICINGA2, *args, *self.constants], capture_output=True, text=True,
                              env={"PATH": PLAIN_PATH, "LANG": "C.UTF-8"}, timeout=60)
        assert done.returncode == 0, f"icinga2 {' '.join(args)}:\n{done.stdout}{done.stderr}"
        return done.stdout + done.stderr

    # ---------------------------------------------------------------- certificates

    def make_ca(self) -> None:
        """The master's CA and its own certificate signed by it: `icinga2 node setup --master`'s
        pki steps, without the configuration files node setup would rewrite."""
        self.icinga2("pki", "new-ca")
        key, csr, cert = (self.certs / f"{self.name}.{ext}" for ext in ("key", "csr", "crt"))
        self.icinga2("pki", "new-cert", "--cn", self.name, "--key", str(key), "--csr", str(csr))
        self.icinga2("pki", "sign-csr", "--csr", str(csr), "--cert", str(cert))
        (self.certs / "ca.crt").write_bytes((self.root / "lib" / "ca" / "ca.crt").read_bytes())

    def share_ca(self, other: "IcingaNode") -> None:
        """Take `other`'s CA and certificate (a node of the same name): each RSA key costs
        `icinga2 pki` about 3 s, and tests of one node need no CA of their own."""
        assert other.name == self.name
        for folder in ("ca", "certs"):
            shutil.copytree(other.root / "lib" / folder, self.root / "lib" / folder,
                            dirs_exist_ok=True)

    def ticket_for(self, name: str, salt: str) -> str:
        """What `icinga2 pki ticket --cn NAME` prints on the master."""
        return self.icinga2("pki", "ticket", "--cn", name, "--salt", salt).strip()

    def request_certificate(self, parent_port: int, ticket: str) -> None:
        """An agent's certificate, signed by the parent's CA through its API with a ticket."""
        key, cert = self.certs / f"{self.name}.key", self.certs / f"{self.name}.crt"
        trusted = self.certs / "trusted-parent.crt"
        self.icinga2("pki", "new-cert", "--cn", self.name, "--key", str(key), "--cert", str(cert))
        self.icinga2("pki", "save-cert", "--trustedcert", str(trusted),
                     "--host", "127.0.0.1", "--port", str(parent_port))
        self.icinga2("pki", "request", "--host", "127.0.0.1", "--port", str(parent_port),
                     "--ticket", ticket, "--key", str(key), "--cert", str(cert),
                     "--trustedcert", str(trusted), "--ca", str(self.certs / "ca.crt"))

    # ---------------------------------------------------------------- daemon

    def validate(self) -> str:
        output = self.icinga2("daemon", "-C", "-c", str(self.config))
        assert "critical/" not in output, output
        return output

    def start(self) -> None:
        assert ICINGA2 is not None
        self.daemon = Daemon([ICINGA2, "daemon", "-c", str(self.config), *self.constants],
                             self.root / "console.log")

    def stop(self) -> None:
        if self.daemon is not None:
            self.daemon.stop()
            self.daemon = None

    def command(self, line: str) -> None:
        """An external command (the config must have an ExternalCommandListener on run/icinga2.cmd)."""
        assert self.daemon is not None
        write_command(self.daemon, self.root / "run" / "icinga2.cmd", line)

    def force_check(self, host: str, service: str) -> None:
        self.command(f"SCHEDULE_FORCED_SVC_CHECK;{host};{service};{int(time.time())}")

    # ---------------------------------------------------------------- API

    def api(self, path: str, user: str, password: str) -> Any:
        """GET https://127.0.0.1:PORT/v1/PATH, the server verified against this node's CA."""
        context = ssl.create_default_context(cafile=str(self.certs / "ca.crt"))
        context.check_hostname = False  # the certificate names the node, not 127.0.0.1
        # Python 3.13 sets VERIFY_X509_STRICT, which refuses `icinga2 pki` certificates (no key
        # identifiers, no key usage on the CA): Icinga's own clients accept them
        context.verify_flags &= ~ssl.VERIFY_X509_STRICT
        request = urllib.request.Request(
            f"https://127.0.0.1:{self.api_port}/v1/{path}",
            headers={"Accept": "application/json", "Authorization": "Basic " + b64encode(
                f"{user}:{password}".encode()).decode()})
        with urllib.request.urlopen(request, context=context, timeout=10) as answer:
            return json.load(answer)

    def services(self, user: str, password: str, *attrs: str) -> Dict[Tuple[str, str], dict]:
        """(host, service) -> the asked attributes of every service, as the API shows them."""
        query = "&".join(f"attrs={name}" for name in ("host_name", "name", *attrs))
        answer = self.api(f"objects/services?{query}", user, password)
        return {(item["attrs"]["host_name"], item["attrs"]["name"]): item["attrs"]
                for item in answer["results"]}

    def plugin_results(self, user: str, password: str,
                       wanted: Iterable[Tuple[str, str]]) -> Dict[Tuple[str, str], dict]:
        """The last check result of every wanted service once each has one from the plugin
        (not, say, "Remote Icinga instance is not connected"); else {} (wait_for retries)."""
        found = {key: attrs["last_check_result"] for key, attrs in
                 self.services(user, password, "last_check_result").items()
                 if (attrs["last_check_result"] or {}).get("output", "").startswith("BX24_SIP")}
        return found if set(wanted) <= found.keys() else {}

    def poll(self, probe: Callable[[], Any], what: str, within: float = 60) -> Any:
        """wait_for(probe) while the daemon may be (re)starting, after a deploy or a zone sync:
        a refused or dropped API connection only means "not yet"; an exited daemon fails."""
        def attempt():
            assert self.daemon is not None
            self.daemon.assert_running()
            try:
                return probe()
            except (OSError, http.client.HTTPException):
                return None
        return wait_for(attempt, what, within=within)

    def wait_for_api(self, user: str, password: str) -> Dict[str, Any]:
        return self.poll(lambda: self.api("status/ApiListener", user, password),
                         f"the API of {self.name} on port {self.api_port}", within=30)


def result_fields(result: dict) -> Dict[str, str]:
    """A check result from the API in the perfdata writer's fields (test_daemons'
    assert_icinga_result reads those); the API's output is also cut before the "|"."""
    states = ["OK", "WARNING", "CRITICAL", "UNKNOWN"]
    state = int(result["state"])
    return {"STATEID": str(state), "STATE": states[state], "OUTPUT": result["output"],
            "PERFDATA": " ".join(result["performance_data"])}
