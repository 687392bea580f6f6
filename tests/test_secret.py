"""The webhook code is a password: no error path, verbosity or traceback may print it."""

from __future__ import annotations

import json
import secrets
from typing import List

import fake_portal
import pytest
from fake_portal import Reply, serve_reply
from net import drip, free_port
from netns import netns_available, netns_prefix
from plugin import run_plugin

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
                     "<URL> (run with -vvv for details)\n")
    assert check_bx24_sip.main(["--webhook", url, "-vvv"], {}) == 3
    loud = capsys.readouterr().out
    assert loud.startswith("BX24_SIP UNKNOWN - internal error RuntimeError")
    assert "Traceback (most recent call last):" in loud
    assert secret not in loud


# ------------------------------------------------------------ a webhook in the wrong place

VALUE_OPTIONS = ["--webhook-file", "--check", "--line", "-w", "--warning-days", "-c",
                 "--critical-days", "--warning-minutes", "--critical-minutes", "--unpaid",
                 "--unreachable", "-t", "--timeout", "--ca-file", "--output", "--prometheus-file"]
FLAGS = ["--insecure", "-v", "-vvv"]


def unhexed_code() -> str:
    """A code of letters no other output has (no hex digits, no vowels): any 4 of its
    characters in a row in the output would be a leak, not chance."""
    return "".join(secrets.choice("ghjkmnpqrvwxyz") for _ in range(16))


def placements(url: str):
    """Every way a user can paste the URL where it does not belong, and the option the
    message must name (None: a stray argument)."""
    for option in VALUE_OPTIONS:
        yield [option, url], option
        if option.startswith("--"):
            yield [f"{option}={url}"], option
    for flag in FLAGS:
        yield [flag, url], None
    yield [url], None


def shown_parts(text: str, code: str) -> List[str]:
    return [code[i:i + 4] for i in range(len(code) - 3) if code[i:i + 4] in text]


@pytest.mark.parametrize("shape", ["https://yourportal.bitrix24.com/rest/1/{}/",
                                   "yourportal.bitrix24.ru/rest/1/{}/profile.json",
                                   "http://x.ru/rest/12/{}"])
@pytest.mark.parametrize("beside", ["alone", "--webhook", "BX24_WEBHOOK"])
@pytest.mark.parametrize("output", ["nagios", "json", "prometheus"])
def test_a_webhook_in_any_wrong_place_is_never_shown(shape, beside, output, tmp_path, capsys,
                                                    monkeypatch):
    """In every format, with or without a real webhook source: one UNKNOWN, no part of the code,
    in stdout and in the textfile; a hint says where it went, never what it was."""
    code, real = unhexed_code(), f"https://portal.example/rest/1/{unhexed_code()}/"
    url = shape.format(code)
    source = {"alone": [], "--webhook": ["--webhook", real], "BX24_WEBHOOK": []}[beside]
    environ = {"BX24_WEBHOOK": real} if beside == "BX24_WEBHOOK" else {}
    target = tmp_path / "bx24.prom"
    for placed, option in placements(url):
        monkeypatch.setattr(check_bx24_sip, "SECRETS", set())
        target.unlink(missing_ok=True)
        argv = [*source, *placed, f"--output={output}", f"--prometheus-file={target}"]
        assert check_bx24_sip.main(argv, environ) == 3, placed
        printed = capsys.readouterr().out
        assert printed.count("\n") == 1, (placed, printed)
        said = f"{option} got a webhook URL" if option else "a webhook URL was given without --webhook"
        assert said in printed, (placed, printed)
        assert shown_parts(printed, code) == [], (placed, printed)
        assert shown_parts(target.read_text(), code) == [], placed


def test_a_webhook_in_the_wrong_option_as_nagios_runs_it(tmp_path):
    """The cases users reported, end to end: the message names the option, not the URL."""
    code = unhexed_code()
    url = f"https://yourportal.bitrix24.com/rest/1/{code}/"
    expected = {
        ("--webhook-file", url): "--webhook-file got a webhook URL: give it the path of a file "
                                 "holding the URL (or pass the URL in BX24_WEBHOOK or with "
                                 "--webhook URL)",
        ("--ca-file", url): "--ca-file got a webhook URL: pass the webhook with --webhook-file "
                            "PATH (a file holding the URL), BX24_WEBHOOK or --webhook URL",
        ("--check", "lines", "--line", url): "--line got a webhook URL: pass the webhook with "
                                             "--webhook-file PATH (a file holding the URL), "
                                             "BX24_WEBHOOK or --webhook URL",
    }
    for args, summary in expected.items():
        for output in ("nagios", "json", "prometheus"):
            run = run_plugin(*args, "--output", output)
            assert run.code == 3
            assert shown_parts(run.stdout, code) == []
            if output == "nagios":
                assert run.stdout == f"BX24_SIP UNKNOWN - {summary}\n"
            elif output == "json":
                assert json.loads(run.stdout)["error"]["message"] == summary
            else:
                assert run.lines[0] == f"# BX24_SIP UNKNOWN - {summary}"


def test_text_shaped_like_a_webhook_is_redacted_wherever_it_comes_from():
    """The safety net behind every message: a URL or a /rest/N/ path, cut or whole."""
    redact = check_bx24_sip.redact
    assert redact("cannot read x.ru/rest/1/abcdefg... now") == "cannot read <URL> now"
    assert redact("argument --x: invalid value: 'https://x.ru/rest/1/ab'") == (
        "argument --x: invalid value: '<URL>'")
    assert redact('{"m": "at https://h/ and rest/2/k", "n": 1}') == '{"m": "at <URL> and <URL>", "n": 1}'
    assert redact("expected https://PORTAL/rest/USER_ID/CODE/") == (
        "expected https://PORTAL/rest/USER_ID/CODE/")
    assert redact("use https:// in the webhook URL") == "use https:// in the webhook URL"


@pytest.mark.parametrize("family,check", [("LINE_SCENARIOS", "all"),
                                          ("CALL_SCENARIOS", "all,calls")])
def test_no_secret_on_any_line_or_calls_path(httpserver, secret, family, check):
    """Every line and calls scenario (the slow ones aside) in every format: neither the code nor
    a part of it."""
    for scenario in getattr(fake_portal, family):
        if scenario.endswith("-slow"):
            continue
        httpserver.clear()
        fake_portal.serve_any(httpserver, scenario, secret=secret)
        url = fake_portal.webhook_for(httpserver, secret)
        for extra in (["-vvv"], ["--output=json"], ["--output=prometheus"]):
            run = run_plugin("--webhook", url, "--check", check, *extra)
            assert run.code in (0, 1, 2, 3)
            assert secret[:8] not in run.stdout + run.stderr, (scenario, extra)
