"""The webhook code is a password: no error path, verbosity or traceback may print it."""

from __future__ import annotations

import json
import secrets

import fake_portal
import pytest
from conftest import run_plugin
from fake_portal import Reply, serve_reply
from netns import netns_available, netns_prefix
from test_failures import drip, free_port

import check_bx24_sip

ANSWER_SCENARIOS = ["insufficient-scope", "access-denied", "invalid-credentials", "no-auth-found",
                    "method-not-found", "query-limit", "operation-time-limit", "controller-down",
                    "error-with-200", "moved", "html-page", "bad-gateway", "no-result",
                    "ill-typed", "huge"]


def assert_hidden(run, secret: str, flag: str = "") -> None:
    assert run.code in (0, 1, 2, 3)
    start = {"--output=json": '{"state": ', "--output=prometheus": "# BX24_SIP "}
    assert run.stdout.startswith(start.get(flag, "BX24_SIP "))
    assert secret not in run.stdout
    assert secret not in run.stderr


@pytest.fixture
def secret():
    return "s" + secrets.token_hex(8)


@pytest.mark.parametrize("verbosity", ["", "-v", "-vv", "-vvv", "--output=json",
                                       "--output=prometheus"])
def test_answers_never_show_the_secret(httpserver, secret, verbosity):
    for scenario in ANSWER_SCENARIOS:
        httpserver.clear()
        reply = fake_portal.reply_for(scenario)
        # answers that echo the URL back, as error pages and redirects do
        body = reply.body.replace(fake_portal.SECRET.encode(), secret.encode())
        headers = {k: v.replace(fake_portal.SECRET, secret) for k, v in (reply.headers or {}).items()}
        if not reply.body.startswith(b"{"):
            body += f" /rest/1/{secret}/".encode()
        serve_reply(httpserver, reply._replace(body=body, headers=headers), secret=secret)
        url = fake_portal.webhook_for(httpserver, secret)
        args = ["--webhook", url, "-t", "1.5"] + ([verbosity] if verbosity else [])
        run = run_plugin(*args)
        assert run.code == 3, (scenario, run.stdout)
        assert_hidden(run, secret, verbosity)


def test_error_description_quoting_the_secret_is_redacted(httpserver, secret):
    body = json.dumps({"error": "ODD", "error_description": f"bad hook {secret}"}).encode()
    serve_reply(httpserver, Reply(401, body), secret=secret)
    run = run_plugin("--webhook", fake_portal.webhook_for(httpserver, secret))
    assert run.stdout == "BX24_SIP UNKNOWN - Bitrix24 error ODD: bad hook ***\n"


@pytest.mark.parametrize("verbosity", ["", "-vvv", "--output=json", "--output=prometheus"])
def test_transport_failures_never_show_the_secret(httpserver, tmp_path, secret, verbosity):
    extra = [verbosity] if verbosity else []
    runs = [
        run_plugin("--webhook", f"http://127.0.0.1:{free_port()}/rest/1/{secret}/", *extra),
        run_plugin("--webhook", fake_portal.webhook_for(httpserver, secret, "https"), *extra),
    ]
    httpserver.expect_request(fake_portal.path_for(secret)).respond_with_handler(drip)
    runs.append(run_plugin("--webhook", fake_portal.webhook_for(httpserver, secret), "-t", "1",
                           *extra))
    if netns_available():
        runs.append(run_plugin("--webhook", f"https://portal.invalid/rest/1/{secret}/", *extra,
                               prefix=netns_prefix(tmp_path)))
    for run in runs:
        assert run.code == 3, run.stdout
        assert_hidden(run, secret, verbosity)


def test_usage_errors_never_show_the_secret(tmp_path, secret):
    hook_file = tmp_path / "hook"
    hook_file.write_text(f"https://portal.example/rest/x/{secret}/\n")
    runs = [
        run_plugin("--webhook", f"https://portal.example/rest/1/{secret}/?x=1"),
        run_plugin("--webhook", f"ftp://portal.example/rest/1/{secret}/"),
        run_plugin("--webhook-file", str(hook_file)),
        run_plugin("--webhook", f"https://portal.example/rest/1/{secret}/", "-w", "1", "-c", "2"),
        run_plugin("--webhook", f"https://portal.example/rest/1/{secret}/",
                   env={"BX24_WEBHOOK": f"https://portal.example/rest/1/{secret}/"}),
        run_plugin(f"--webhook=https://portal.example:99999/rest/1/{secret}/"),
        run_plugin(f"https://portal.example/rest/1/{secret}/"),  # --webhook forgotten
        run_plugin("-w", f"https://portal.example/rest/{secret}/"),  # wrong option, bad URL
        # the webhook given to --prometheus-file: no file is made, and its path is not echoed
        run_plugin("--bogus", "--prometheus-file", f"https://portal.example/rest/1/{secret}/"),
        run_plugin(f"--prometheus-file=https://portal.example/rest/1/{secret}/",
                   "--webhook-file", str(tmp_path / "missing")),
        run_plugin("--webhook", f"https://portal.example/rest/1/{secret}0/", "--prometheus-file",
                   f"https://portal.example/rest/1/{secret}/"),
    ]
    for run in runs:
        assert run.code == 3
        assert run.stdout.count("\n") == 1
        assert_hidden(run, secret)


def test_prometheus_file_never_holds_the_secret(httpserver, tmp_path, secret):
    serve_reply(httpserver, fake_portal.reply_for("access-denied"), secret=secret)
    target = tmp_path / "bx24.prom"
    run = run_plugin("--webhook", fake_portal.webhook_for(httpserver, secret), "--output",
                     "prometheus", "--prometheus-file", str(target))
    assert (run.code, run.stdout) == (3, "")
    assert "bx24_sip_up" in target.read_text()
    assert secret not in target.read_text()


def test_internal_error_traceback_at_vvv_is_redacted(monkeypatch, capsys, secret):
    """A bug deep in the check (simulated) that puts the URL in its message."""
    def broken(*args, **kwargs):
        raise RuntimeError(f"boom at https://portal.example/rest/1/{secret}/")

    monkeypatch.setattr(check_bx24_sip, "build_check", broken)
    url = f"https://portal.example/rest/1/{secret}/"
    assert check_bx24_sip.main(["--webhook", url], {}) == 3
    quiet = capsys.readouterr().out
    assert quiet == ("BX24_SIP UNKNOWN - internal error RuntimeError: boom at "
                     "https://portal.example/rest/1/***/ (run with -vvv for details)\n")
    assert check_bx24_sip.main(["--webhook", url, "-vvv"], {}) == 3
    loud = capsys.readouterr().out
    assert loud.startswith("BX24_SIP UNKNOWN - internal error RuntimeError")
    assert "Traceback (most recent call last):" in loud
    assert secret not in loud
