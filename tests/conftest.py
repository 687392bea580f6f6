"""Fixtures that run the plugin the way Nagios does (the fake portal, certificates, the daemons'
portals and plugin folder) and the session's check that the machine was left as it was. What the
tests share besides fixtures is in tests/harness/, one module per room."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # check_bx24_sip
sys.path.insert(0, str(Path(__file__).resolve().parent / "harness"))

import fake_portal  # noqa: E402 - after sys.path
from daemons import HOSTS, install_plugin_copy, is_plugin_copy  # noqa: E402
from plugin import REPORT  # noqa: E402
from system_state import SYSTEM_BEFORE, WATCHED, excluded_folders, fingerprint  # noqa: E402


@pytest.fixture(scope="session")
def httpserver_listen_address():
    return ("127.0.0.1", 0)


@pytest.fixture
def portal(httpserver):
    """The fake portal: `portal.serve(scenario)` then `portal.webhook`."""
    import fake_portal

    class Portal:
        webhook = fake_portal.webhook_for(httpserver)
        server = httpserver

        @staticmethod
        def serve(scenario: str, **kwargs) -> None:
            fake_portal.serve(httpserver, scenario, **kwargs)

    return Portal


@pytest.fixture(scope="module")
def portals(tmp_path_factory):
    """A fake portal per monitored host, each on its own port (its own `portal` label, as two
    real portals have) and behind its own webhook code."""
    from pytest_httpserver import HTTPServer

    servers, codes, urls = [], {}, {}
    for host, scenario in HOSTS:
        server = HTTPServer(host="127.0.0.1", port=0)
        server.start()
        servers.append(server)
        codes[host] = "d" + secrets.token_hex(8)
        fake_portal.serve_any(server, scenario, secret=codes[host])
        urls[host] = fake_portal.webhook_for(server, codes[host])
    yield urls, codes
    for server in servers:
        server.stop()


@pytest.fixture(scope="module")
def plugin_dir(tmp_path_factory) -> Path:
    """Where the daemons find check_bx24_sip: the plugin file alone, executable."""
    configured = os.environ.get("BX24_PLUGIN_DIR")
    if configured:
        folder = Path(configured)
        assert is_plugin_copy(folder / "check_bx24_sip"), (
            f"{folder}/check_bx24_sip is not this checkout's check_bx24_sip.py")
        return folder
    folder = tmp_path_factory.mktemp("plugins")
    install_plugin_copy(folder / "check_bx24_sip")
    return folder


@pytest.fixture(scope="session")
def openssl_cert(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1 made with the openssl command."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    return cert, key


@pytest.fixture
def tls_portal(openssl_cert):
    """The fake portal over HTTPS with a self-signed certificate."""
    from net import tls_portal_server

    yield from tls_portal_server(*openssl_cert)


def pytest_sessionstart(session):
    excluded = excluded_folders()
    SYSTEM_BEFORE[0].update(fingerprint(WATCHED, excluded))
    SYSTEM_BEFORE[1].extend(excluded)


def pytest_collection_modifyitems(session, config, items):
    """The check that the machine was left as it was runs after every other test."""
    last = [item for item in items if item.module.__name__ == "test_system_untouched"]
    items[:] = [item for item in items if item not in last] + last


def pytest_terminal_summary(terminalreporter):
    if SYSTEM_BEFORE[1]:
        REPORT.append("not compared (rewritten by this machine's own running daemons): "
                      + ", ".join(SYSTEM_BEFORE[1]))
    if REPORT:
        terminalreporter.section("monitoring daemons")
        for line in REPORT:
            terminalreporter.write_line(line)
