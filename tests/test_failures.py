"""End to end: the portal cannot be reached, or answers too slowly; the deadline always holds."""

from __future__ import annotations

import socket

import fake_portal
import pytest
from fake_portal import SECRET
from net import drip, free_port
from netns import netns_prefix
from plugin import UNREACHABLE_STATES, assert_output, day, run_plugin


def webhook(host: str, scheme: str = "https") -> str:
    return f"{scheme}://{host}/rest/1/{SECRET}/"


@pytest.mark.parametrize("extra,code,state", UNREACHABLE_STATES)
def test_refused_connection_takes_the_unreachable_state(extra, code, state):
    port = free_port()
    run = run_plugin("--webhook", webhook(f"127.0.0.1:{port}", "http"), *extra)
    assert_output(run, code, f"BX24_SIP {state} - cannot reach 127.0.0.1:{port}: "
                             "connection refused")


def test_unresolvable_host_in_a_private_network(tmp_path):
    run = run_plugin("--webhook", webhook("portal.bitrix24.invalid"), "--unreachable", "critical",
                     prefix=netns_prefix(tmp_path))
    assert_output(run, 2, "BX24_SIP CRITICAL - cannot reach portal.bitrix24.invalid: "
                          "cannot resolve the host name")


def test_hanging_dns_lookup_still_ends_at_the_deadline(tmp_path):
    run = run_plugin("--webhook", webhook("portal.bitrix24.invalid"), "-t", "2",
                     prefix=netns_prefix(tmp_path, dns_blackhole=True))
    assert_output(run, 3, "BX24_SIP UNKNOWN - portal.bitrix24.invalid gave no complete answer "
                          "within the 2s timeout")
    assert run.seconds < 4


def test_plain_http_server_behind_https_is_a_tls_failure(portal):
    portal.serve("paid")
    run = run_plugin("--webhook", fake_portal.webhook_for(portal.server, scheme="https"))
    assert_output(run, 3, f"BX24_SIP UNKNOWN - cannot reach 127.0.0.1:{portal.server.port}: "
                          "TLS handshake failed")


def test_untrusted_certificate_is_a_tls_failure(tls_portal):
    server, _ = tls_portal
    run = run_plugin("--webhook", fake_portal.webhook_for(server, scheme="https"))
    assert_output(run, 3, f"BX24_SIP UNKNOWN - cannot reach 127.0.0.1:{server.port}: TLS failed: "
                          "self-signed certificate")


@pytest.mark.parametrize("trust", ["--ca-file", "--insecure"])
def test_ca_file_or_insecure_reach_the_portal_without_warnings(tls_portal, trust):
    server, cert = tls_portal
    args = [trust, str(cert)] if trust == "--ca-file" else [trust]
    run = run_plugin("--webhook", fake_portal.webhook_for(server, scheme="https"), *args,
                     env={"PYTHONWARNINGS": "always"})
    assert_output(run, 0, f"BX24_SIP OK - paid until {day(30)} (30 days left)"
                          " | days_left=30;7:;3: free_minutes=0;;;0 paid=1;;;0;1 time=T")


@pytest.mark.parametrize("extra,code,state", UNREACHABLE_STATES)
def test_dripping_body_ends_at_the_deadline(httpserver, extra, code, state):
    httpserver.expect_request(fake_portal.path_for()).respond_with_handler(drip)
    run = run_plugin("--webhook", fake_portal.webhook_for(httpserver), "-t", "2", *extra)
    assert_output(run, code, f"BX24_SIP {state} - 127.0.0.1:{httpserver.port} gave no complete "
                             "answer within the 2s timeout")
    assert run.seconds < 4


def test_silent_server_ends_at_the_deadline():
    """A listener that accepts and never answers (TCP backlog), with a fractional deadline."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        run = run_plugin("--webhook", webhook(f"127.0.0.1:{port}", "http"), "-t", "1.5")
    assert_output(run, 3, f"BX24_SIP UNKNOWN - 127.0.0.1:{port} gave no complete answer "
                          "within the 1.5s timeout")
    assert run.seconds < 3.5
