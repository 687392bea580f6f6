"""End to end: the plugin as a subprocess against a fake portal, one test per row of the state table."""

from __future__ import annotations

import json
import re
import shutil
import sys
from datetime import date, timedelta, timezone

import fake_portal
import pytest
from fake_portal import Reply, serve_reply
from plugin import SCRIPT, TIME, assert_output, day, run_plugin
from werkzeug import Response

from check_bx24_sip import __version__

PAID_PERF = "free_minutes=0;;;0 paid=1;;;0;1 time=T"

STATE_TABLE = [
    ("paid", [], 0,
     f"BX24_SIP OK - paid until {day(30)} (30 days left) | days_left=30;7:;3: {PAID_PERF}"),
    ("expiring", [], 1,
     f"BX24_SIP WARNING - paid until {day(5)}, 5 days left | days_left=5;7:;3: {PAID_PERF}"),
    ("expiring-soon", [], 2,
     f"BX24_SIP CRITICAL - paid until {day(2)}, 2 days left | days_left=2;7:;3: {PAID_PERF}"),
    ("expired", [], 2,
     f"BX24_SIP CRITICAL - expired on {day(-3)} | days_left=-3;7:;3: {PAID_PERF}"),
    ("paid-no-date", [], 1,
     f"BX24_SIP WARNING - paid, but Bitrix24 reported no end date | {PAID_PERF}"),
    ("unpaid-trial", [], 1,
     "BX24_SIP WARNING - not paid, 60 free minutes left"
     " | free_minutes=60;10:;1:;0 paid=0;;;0;1 time=T"),
    ("unpaid-trial", ["--unpaid", "ok"], 0,
     "BX24_SIP OK - not paid, 60 free minutes left"
     " | free_minutes=60;10:;1:;0 paid=0;;;0;1 time=T"),
    ("unpaid-trial", ["--unpaid", "critical"], 2,
     "BX24_SIP CRITICAL - not paid, 60 free minutes left"
     " | free_minutes=60;10:;1:;0 paid=0;;;0;1 time=T"),
    ("unpaid-low-minutes", ["--unpaid", "ok"], 1,
     "BX24_SIP WARNING - not paid, 5 free minutes left"
     " | free_minutes=5;10:;1:;0 paid=0;;;0;1 time=T"),
    ("unpaid-low-minutes", ["--unpaid", "ok", "--critical-minutes", "6"], 2,
     "BX24_SIP CRITICAL - not paid, 5 free minutes left"
     " | free_minutes=5;10:;6:;0 paid=0;;;0;1 time=T"),
    ("unpaid-no-minutes", ["--unpaid", "ok", "--critical-minutes", "0"], 2,
     "BX24_SIP CRITICAL - not paid and no free minutes: outbound SIP calls are off"
     " | free_minutes=0;10:;0:;0 paid=0;;;0;1 time=T"),
]


@pytest.mark.parametrize("scenario,options,code,line", STATE_TABLE,
                         ids=[f"{row[0]}{''.join(row[1])}" for row in STATE_TABLE])
def test_connector_states(portal, scenario, options, code, line):
    portal.serve(scenario)
    assert_output(run_plugin("--webhook", portal.webhook, *options), code, line)


ERROR_TABLE = [
    ("insufficient-scope", "Bitrix24 error insufficient_scope: the webhook needs the telephony scope"),
    ("access-denied", 'Bitrix24 error ACCESS_DENIED: the webhook\'s user needs the telephony right '
                      '"Manage numbers - Edit - Any" (or REST is not on this plan)'),
    ("invalid-credentials", "Bitrix24 error INVALID_CREDENTIALS: wrong user id or code in the webhook URL"),
    ("no-auth-found", "Bitrix24 error NO_AUTH_FOUND: wrong user id or code in the webhook URL"),
    ("method-not-found", "Bitrix24 error ERROR_METHOD_NOT_FOUND: malformed webhook URL or no "
                         "telephony module on this portal"),
    ("query-limit", "Bitrix24 error QUERY_LIMIT_EXCEEDED: rate limited: check less often"),
    ("operation-time-limit", "Bitrix24 error OPERATION_TIME_LIMIT: rate limited: check less often"),
    ("controller-down", "Bitrix24 could not reach its telephony controller (HTTP 400): try again later"),
    ("error-with-200", "Bitrix24 error wrong_client: Wrong client"),
    ("moved", "the portal moved to newportal.bitrix24.com (HTTP 302): update the webhook URL"),
    ("html-page", "HTTP 200 answer is not JSON (text/html): is the webhook URL a Bitrix24 portal?"),
    ("bad-gateway", "HTTP 502 answer is not JSON (text/html): is the webhook URL a Bitrix24 portal?"),
    ("no-result", "the answer has no 'result': is this a Bitrix24 REST endpoint?"),
    ("ill-typed", 'PAID is "maybe", expected true or false'),
    ("huge", "the answer is 1048590 bytes, more than the 1 MiB this check reads"),
]


@pytest.mark.parametrize("scenario,summary", ERROR_TABLE, ids=[row[0] for row in ERROR_TABLE])
def test_answers_that_are_not_a_status_are_unknown(portal, scenario, summary):
    portal.serve(scenario)
    # -t 1.5 leaves no room for the rate-limit retry, so query-limit shows its own message
    run = run_plugin("--webhook", portal.webhook, "-t", "1.5")
    assert_output(run, 3, f"BX24_SIP UNKNOWN - {summary}")
    assert len(portal.server.log) == 1


@pytest.mark.parametrize("code", ["access_denied", "Access_Denied"])
def test_error_codes_compare_case_insensitively(portal, code):
    body = json.dumps({"error": code, "error_description": "Access denied!"}).encode()
    serve_reply(portal.server, Reply(200, body))
    run = run_plugin("--webhook", portal.webhook)
    assert_output(run, 3, f"BX24_SIP UNKNOWN - Bitrix24 error {code}: the webhook's user needs the "
                          'telephony right "Manage numbers - Edit - Any" (or REST is not on this plan)')


def test_unknown_error_code_shows_a_cleaned_description(portal):
    body = json.dumps({"error": "SOMETHING_NEW", "error_description": "a | b\nc"}).encode()
    serve_reply(portal.server, Reply(500, body))
    run = run_plugin("--webhook", portal.webhook)
    assert_output(run, 3, "BX24_SIP UNKNOWN - Bitrix24 error SOMETHING_NEW: a / b c")


def test_body_over_one_mebibyte_without_length_is_refused(portal):
    def chunked(request):
        return Response((b"x" * 65536 for _ in range(20)), content_type="application/json")

    portal.server.expect_request(fake_portal.path_for()).respond_with_handler(chunked)
    run = run_plugin("--webhook", portal.webhook)
    assert_output(run, 3, "BX24_SIP UNKNOWN - the answer is more than the 1 MiB this check reads")


@pytest.mark.parametrize("days,code,summary", [
    (7, 0, f"OK - paid until {day(7)} (7 days left)"),
    (6, 1, f"WARNING - paid until {day(6)}, 6 days left"),
    (3, 1, f"WARNING - paid until {day(3)}, 3 days left"),
    (2, 2, f"CRITICAL - paid until {day(2)}, 2 days left"),
    (1, 2, f"CRITICAL - paid until {day(1)}, 1 day left"),
    (0, 2, f"CRITICAL - paid until {day(0)}, 0 days left"),
])
def test_exactly_n_days_is_not_fewer_than_n(portal, days, code, summary):
    serve_reply(portal.server, fake_portal.paid_for(days)(date.today()))
    run = run_plugin("--webhook", portal.webhook)
    assert_output(run, code, f"BX24_SIP {summary} | days_left={days};7:;3: {PAID_PERF}")


@pytest.mark.parametrize("zone", ["+03:00", "-04:00", "+00:00", "+14:00", "-11:00"])
def test_paid_date_is_the_same_whatever_the_server_offset(portal, zone):
    sign = -1 if zone[0] == "-" else 1
    offset = timedelta(hours=int(zone[1:3])) * sign
    serve_reply(portal.server, fake_portal.paid_for(20, timezone(offset))(date.today()))
    run = run_plugin("--webhook", portal.webhook)
    assert_output(run, 0, f"BX24_SIP OK - paid until {day(20)} (20 days left)"
                          f" | days_left=20;7:;3: {PAID_PERF}")


def test_custom_day_thresholds_show_in_perfdata(portal):
    portal.serve("paid")
    run = run_plugin("--webhook", portal.webhook, "-w", "45", "-c", "31")
    assert_output(run, 2, f"BX24_SIP CRITICAL - paid until {day(30)}, 30 days left"
                          f" | days_left=30;45:;31: {PAID_PERF}")


def test_request_is_one_json_post_with_plugin_headers(portal):
    portal.server.expect_request(
        fake_portal.path_for(), method="POST", json={},
        headers={"Accept": "application/json", "Content-Type": "application/json",
                 "User-Agent": f"check_bx24_sip/{__version__}"},
    ).respond_with_json(fake_portal.envelope({"FREE_MINUTES": 60, "PAID": False}))
    run = run_plugin("--webhook", portal.webhook, "--unpaid", "ok")
    assert run.code == 0, run.stdout
    assert len(portal.server.log) == 1


@pytest.mark.parametrize("suffix", ["", "profile.json", "voximplant.sip.connector.status.json",
                                    "user.current", "profile"])
def test_webhook_forms_people_paste(portal, suffix):
    portal.serve("paid")
    url = portal.webhook.rstrip("/") + ("/" + suffix if suffix else "")
    run = run_plugin("--webhook", url)
    assert_output(run, 0, f"BX24_SIP OK - paid until {day(30)} (30 days left)"
                          f" | days_left=30;7:;3: {PAID_PERF}")
    assert portal.server.log[0][0].path == fake_portal.path_for()


def test_rate_limit_is_retried_once_when_the_deadline_allows(portal):
    limited = fake_portal.reply_for("query-limit")
    serve_reply(portal.server, limited, oneshot=True)
    serve_reply(portal.server, fake_portal.reply_for("unpaid-trial"), oneshot=True)
    run = run_plugin("--webhook", portal.webhook, "--unpaid", "ok")
    assert_output(run, 0, "BX24_SIP OK - not paid, 60 free minutes left"
                          " | free_minutes=60;10:;1:;0 paid=0;;;0;1 time=T")
    assert len(portal.server.log) == 2


def test_rate_limit_twice_is_unknown_after_two_requests(portal):
    portal.serve("query-limit")
    run = run_plugin("--webhook", portal.webhook)
    assert_output(run, 3, "BX24_SIP UNKNOWN - Bitrix24 error QUERY_LIMIT_EXCEEDED: "
                          "rate limited: check less often")
    assert len(portal.server.log) == 2


@pytest.mark.parametrize("scenario", ["access-denied", "operation-time-limit", "bad-gateway"])
def test_other_errors_are_never_retried(portal, scenario):
    portal.serve(scenario)
    run = run_plugin("--webhook", portal.webhook)
    assert run.code == 3
    assert len(portal.server.log) == 1


def test_webhook_from_environment_and_file(portal, tmp_path):
    portal.serve("paid")
    env_run = run_plugin(env={"BX24_WEBHOOK": portal.webhook})
    secret_file = tmp_path / "webhook"
    secret_file.write_text(f"\n  \n{portal.webhook}\nignored second line\n")
    bom_file = tmp_path / "webhook-from-notepad"
    bom_file.write_text(f"{portal.webhook}\r\n", encoding="utf-8-sig")  # BOM and CRLF
    bom_run = run_plugin("--webhook-file", str(bom_file))
    file_run = run_plugin("--webhook-file", str(secret_file))
    for run in (env_run, file_run, bom_run):
        assert_output(run, 0, f"BX24_SIP OK - paid until {day(30)} (30 days left)"
                              f" | days_left=30;7:;3: {PAID_PERF}")


def test_verbose_adds_detail_lines_after_the_status_line(portal):
    portal.serve("expiring")
    run = run_plugin("--webhook", portal.webhook, "-v")
    assert run.code == 1
    assert TIME.sub("time=T", run.lines[0]) == (
        f"BX24_SIP WARNING - paid until {day(5)}, 5 days left | days_left=5;7:;3: {PAID_PERF}")
    assert re.fullmatch(r"127\.0\.0\.1:\d+: HTTP 200, \d+ bytes in \d\.\d{3}s", run.lines[1])
    assert run.lines[2] == f"paid: yes, free minutes: 0, paid until: {day(5)}"
    assert len(run.lines) == 3


def test_very_verbose_adds_thresholds_and_the_answer(portal):
    portal.serve("unpaid-low-minutes")
    run = run_plugin("--webhook", portal.webhook, "-vv", "--unpaid", "ok", "-w", "9")
    assert run.code == 1
    assert run.lines[0].startswith("BX24_SIP WARNING - not paid, 5 free minutes left | ")
    assert run.lines[2:] == [
        "paid: no, free minutes: 5, paid until: not reported",
        "thresholds: WARNING below 9 days, CRITICAL below 3; unpaid: OK, WARNING below 10 free "
        "minutes, CRITICAL below 1",
        "answer: " + json.dumps(fake_portal.envelope({"FREE_MINUTES": 5, "PAID": False})),
    ]


def test_proxy_from_environment_is_used(httpserver):
    """HTTP_PROXY points at the fake portal; the portal's own name is never resolved here."""
    serve_reply(httpserver, fake_portal.reply_for("paid"))
    proxy = f"http://127.0.0.1:{httpserver.port}"
    run = run_plugin("--webhook", f"http://portal.invalid/rest/1/{fake_portal.SECRET}/",
                     env={"http_proxy": proxy, "HTTP_PROXY": proxy})
    assert run.code == 0, run.stdout
    request = httpserver.log[0][0]
    assert request.headers["Host"] == "portal.invalid"


def test_script_copied_alone_into_a_plugin_folder_runs(portal, tmp_path):
    """As /usr/lib/nagios/plugins/check_bx24_sip: one file, executable, no package around it."""
    plugin = tmp_path / "plugins" / "check_bx24_sip"
    plugin.parent.mkdir()
    shutil.copy(SCRIPT, plugin)
    plugin.chmod(0o755)
    portal.serve("expired")
    run = run_plugin("--webhook", portal.webhook, command=[sys.executable, str(plugin)])
    assert_output(run, 2, f"BX24_SIP CRITICAL - expired on {day(-3)}"
                          f" | days_left=-3;7:;3: {PAID_PERF}")


def test_webhook_file_can_be_a_pipe_such_as_stdin(portal):
    """`--webhook-file /dev/stdin`, fed by a password manager, as `pass show bx24 | check...`."""
    portal.serve("paid")
    run = run_plugin("--webhook-file", "/dev/stdin", stdin_text=portal.webhook + "\n")
    assert_output(run, 0, f"BX24_SIP OK - paid until {day(30)} (30 days left)"
                          f" | days_left=30;7:;3: {PAID_PERF}")


def test_http_webhook_redirected_to_https_says_to_use_https(portal):
    location = portal.webhook.replace("http://", "https://") + fake_portal.METHOD + ".json"
    serve_reply(portal.server, Reply(301, b"", "text/html", {"Location": location}))
    run = run_plugin("--webhook", portal.webhook)
    assert_output(run, 3, "BX24_SIP UNKNOWN - the portal answers only over https (HTTP 301): "
                          "use https:// in the webhook URL")
