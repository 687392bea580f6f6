"""--check lines and --check all: cloud PBX SIP line registration, end to end and in pure parts.

End to end, the plugin runs as a subprocess against the fake portal's batch answers; each test
asserts the exit code, the exact first line and how many HTTP requests the check made.
"""

from __future__ import annotations

import json

import fake_portal
import pytest
from nagiosplugin.state import Critical, Ok, Unknown, Warn
from plugin import TIME, assert_output, day, run_plugin
from promtool import promtool_verdict, require_promtool

from check_bx24_sip import (
    Answer,
    BadAnswer,
    PortalRefused,
    SipLine,
    UsageError,
    interpret_batch,
    judge_line,
    judged,
    line_counts,
    line_id,
    parse_default_line,
    parse_line_list,
    parse_sip_status,
    select_lines,
    status_batches,
    summarize_lines,
)


def perf(total: int, registered: int, pending: int = 0, failed: int = 0) -> str:
    """The lines' perfdata as the plugin prints it (nagiosplugin sorts the labels)."""
    return (f"lines={total};;;0 lines_failed={failed};;0;0;{total} "
            f"lines_pending={pending};0;;0;{total} lines_registered={registered};;;0;{total}")


def all_perf(lines_part: str) -> str:
    """--check all: the paid connector's figures and the lines', sorted, then the time."""
    return f"days_left=30;7:;3: free_minutes=0;;;0 {lines_part} paid=1;;;0;1 time=T"


PAID = f"paid until {day(30)} (30 days left)"
FAILED_DEFAULT = ('1 of 3 SIP lines not registered: "Office trunk" (reg150907, default outgoing): '
                  "SIP 403 Forbidden")
PENDING = ('2 of 3 SIP lines not registered: "Cloud PBX (9)" (reg151083): registration in '
           'progress; "SIP line 2" (reg151085): waiting to register')
DELETED = '1 of 3 SIP lines not registered: "SIP line 2" (reg151085): deleted while checking'
ACCESS = ('Bitrix24 error ACCESS_DENIED: the webhook\'s user needs the telephony right "Manage '
          'numbers - Edit - Any" (or REST is not on this plan)')
MALFORMED = ('3 of 3 SIP lines not registered: "Trunk / with newline" (reg150907, default '
             'outgoing): STATUS_RESULT is 7, expected a word; "42" (reg151083): its status answer '
             'is a JSON array, not an object; "Typo" (reg151085): unexpected status "rebooting"')

# scenario, exit code and first line of --check lines, the same of --check all, HTTP requests
SCENARIOS = [
    ("lines-registered", 0, f"OK - 3 SIP lines registered | {perf(3, 3)} time=T",
     0, f"OK - {PAID}; 3 SIP lines registered | {all_perf(perf(3, 3))}", 2),
    ("lines-default-failed", 2, f"CRITICAL - {FAILED_DEFAULT} | {perf(3, 2, failed=1)} time=T",
     2, f"CRITICAL - {PAID}; {FAILED_DEFAULT} | {all_perf(perf(3, 2, failed=1))}", 2),
    ("lines-pending", 1, f"WARNING - {PENDING} | {perf(3, 1, pending=2)} time=T",
     1, f"WARNING - {PAID}; {PENDING} | {all_perf(perf(3, 1, pending=2))}", 2),
    ("lines-office-only", 1, f"WARNING - no cloud PBX SIP lines to check | {perf(0, 0)} time=T",
     1, f"WARNING - {PAID}; no cloud PBX SIP lines to check | {all_perf(perf(0, 0))}", 1),
    ("lines-none", 1, f"WARNING - no cloud PBX SIP lines to check | {perf(0, 0)} time=T",
     1, f"WARNING - {PAID}; no cloud PBX SIP lines to check | {all_perf(perf(0, 0))}", 1),
    ("lines-deleted", 1, f"WARNING - {DELETED} | {perf(3, 2, pending=1)} time=T",
     1, f"WARNING - {PAID}; {DELETED} | {all_perf(perf(3, 2, pending=1))}", 2),
    ("lines-all-fail", 3, f"UNKNOWN - cannot list the SIP lines: {ACCESS}",
     3, f"UNKNOWN - {ACCESS}", 1),
    ("lines-many", 0, f"OK - 120 SIP lines registered | {perf(120, 120)} time=T",
     0, f"OK - {PAID}; 120 SIP lines registered | {all_perf(perf(120, 120))}", 4),
    ("lines-batch-error", 3, "UNKNOWN - Bitrix24 error INVALID_CREDENTIALS: wrong user id or code "
                             "in the webhook URL",
     3, "UNKNOWN - Bitrix24 error INVALID_CREDENTIALS: wrong user id or code in the webhook URL", 1),
    ("lines-malformed-list", 3, "UNKNOWN - the line list is a JSON string, not an object",
     3, f"UNKNOWN - {PAID}; the line list is a JSON string, not an object | "
        "days_left=30;7:;3: free_minutes=0;;;0 paid=1;;;0;1", 1),
    ("lines-malformed-status", 3, f"UNKNOWN - {MALFORMED} | {perf(3, 0)} time=T",
     3, f"UNKNOWN - {PAID}; {MALFORMED} | {all_perf(perf(3, 0))}", 2),
]


@pytest.mark.parametrize("scenario,code,line,all_code,all_line,requests", SCENARIOS,
                         ids=[row[0] for row in SCENARIOS])
def test_line_scenarios_in_both_modes(portal, scenario, code, line, all_code, all_line, requests):
    portal.serve(scenario)
    run = run_plugin("--webhook", portal.webhook, "--check", "lines")
    assert_output(run, code, f"BX24_SIP {line}")
    assert [entry[0].path for entry in portal.server.log] == [fake_portal.batch_path()] * requests
    portal.server.clear_log()
    run = run_plugin("--webhook", portal.webhook, "--check", "all")
    assert_output(run, all_code, f"BX24_SIP {all_line}")
    assert len(portal.server.log) == requests


def batch_commands(portal) -> list:
    return [json.loads(entry[0].get_data())["cmd"] for entry in portal.server.log]


def test_first_batch_asks_for_lines_and_default_and_in_all_the_connector(portal):
    portal.serve("lines-registered")
    run_plugin("--webhook", portal.webhook, "--check", "all")
    first, second = batch_commands(portal)
    assert first == {"lines": "voximplant.line.get", "default": "voximplant.line.outgoing.get",
                     "connector": "voximplant.sip.connector.status"}
    assert second == {f"reg{n}": f"voximplant.sip.status?REG_ID={n}"
                      for n in (150907, 151083, 151085)}
    assert json.loads(portal.server.log[0][0].get_data())["halt"] == 0


def test_many_lines_make_batches_of_fifty(portal):
    portal.serve("lines-many")
    run_plugin("--webhook", portal.webhook, "--check", "lines")
    sizes = [len(commands) for commands in batch_commands(portal)]
    assert sizes == [2, 50, 50, 20]


def test_connector_mode_is_still_one_request_to_the_method(portal):
    portal.serve("lines-registered")
    run = run_plugin("--webhook", portal.webhook)
    assert_output(run, 0, f"BX24_SIP OK - {PAID} | days_left=30;7:;3: free_minutes=0;;;0 "
                          "paid=1;;;0;1 time=T")
    assert [entry[0].path for entry in portal.server.log] == [fake_portal.path_for()]


# ------------------------------------------------------------------ --line

@pytest.mark.parametrize("named", [["--line", "reg150907"], ["--line", "150907"],
                                   ["--line=reg150907", "--line", "150907"]])
def test_named_line_is_the_only_one_checked(portal, named):
    portal.serve("lines-default-failed")
    run = run_plugin("--webhook", portal.webhook, "--check", "lines", *named)
    assert_output(run, 2, '''BX24_SIP CRITICAL - 1 of 1 SIP line not registered: "Office trunk" '''
                          "(reg150907, default outgoing): SIP 403 Forbidden | "
                          f"{perf(1, 0, failed=1)} time=T")
    assert list(batch_commands(portal)[1]) == ["reg150907"]


def test_named_line_that_the_portal_does_not_have_is_critical(portal):
    portal.serve("lines-registered")
    run = run_plugin("--webhook", portal.webhook, "--check", "lines", "--line", "151083",
                     "--line", "reg999")
    assert_output(run, 2, "BX24_SIP CRITICAL - 1 of 2 SIP lines not registered: line reg999 is "
                          f"not on the portal | {perf(2, 1, failed=1)} time=T")
    assert list(batch_commands(portal)[1]) == ["reg151083"]


def test_named_lines_on_a_portal_without_cloud_lines_are_each_critical(portal):
    portal.serve("lines-none")
    run = run_plugin("--webhook", portal.webhook, "--check", "lines", "--line", "reg1",
                     "--line", "reg2")
    assert_output(run, 2, "BX24_SIP CRITICAL - 2 of 2 SIP lines not registered: line reg1 is not "
                          "on the portal; line reg2 is not on the portal | "
                          f"{perf(2, 0, failed=2)} time=T")
    assert len(portal.server.log) == 1  # no status to ask for


@pytest.mark.parametrize("args,summary", [
    (["--check", "lines", "--line", "sip7"],
     "--line sip7 is an office PBX line: Bitrix24 has no registration state for it; name cloud "
     "PBX lines (regNNN)"),
    (["--check", "lines", "--line", "+74951234567"],
     "--line +74951234567 is not a cloud PBX line id: give regNNN or NNN as voximplant.line.get "
     "lists it"),
    (["--line", "reg150907"], "--line needs the lines aspect: --check lines, all or a list with "
                              "lines"),
    (["--check", "connector,calls", "--line", "reg150907"],
     "--line needs the lines aspect: --check lines, all or a list with lines"),
    (["--check", "everything"], '--check everything: unknown aspect "everything"; give '
                                "connector, lines, calls, all or a comma list of them"),
])
def test_line_usage_errors(args, summary):
    run = run_plugin("--webhook", f"https://127.0.0.1:1/rest/1/{fake_portal.SECRET}/", *args)
    assert_output(run, 3, f"BX24_SIP UNKNOWN - {summary}")


# ------------------------------------------------------------------ all: connector errors

def test_all_gives_a_connector_error_the_hint_of_the_direct_call(portal):
    """One error table: in a batch the connector's code gets the same hint and state."""
    scenario = fake_portal.LINE_SCENARIOS["lines-registered"]._replace(connector="access-denied")
    portal.server.expect_request(fake_portal.batch_path()).respond_with_handler(
        fake_portal.batch_handler(scenario))
    run = run_plugin("--webhook", portal.webhook, "--check", "all")
    assert_output(run, 3, f"BX24_SIP UNKNOWN - {ACCESS}; 3 SIP lines registered | "
                          f"{perf(3, 3)} time=T")


def test_all_reads_a_codeless_connector_error_as_the_controller_failure(portal):
    scenario = fake_portal.LINE_SCENARIOS["lines-registered"]._replace(connector="controller-down")
    portal.server.expect_request(fake_portal.batch_path()).respond_with_handler(
        fake_portal.batch_handler(scenario))
    run = run_plugin("--webhook", portal.webhook, "--check", "all")
    assert_output(run, 3, "BX24_SIP UNKNOWN - Bitrix24 could not reach its telephony controller "
                          f"(HTTP 400): try again later; 3 SIP lines registered | {perf(3, 3)} "
                          "time=T")


def test_all_with_an_expiring_connector_is_its_warning(portal):
    scenario = fake_portal.LINE_SCENARIOS["lines-registered"]._replace(connector="expiring")
    portal.server.expect_request(fake_portal.batch_path()).respond_with_handler(
        fake_portal.batch_handler(scenario))
    run = run_plugin("--webhook", portal.webhook, "--check", "all")
    assert_output(run, 1, f"BX24_SIP WARNING - paid until {day(5)}, 5 days left; 3 SIP lines "
                          f"registered | days_left=5;7:;3: free_minutes=0;;;0 {perf(3, 3)} "
                          "paid=1;;;0;1 time=T")


def test_rate_limited_batch_is_retried_once(portal):
    limited = fake_portal.reply_for("query-limit")
    portal.server.expect_oneshot_request(fake_portal.batch_path()).respond_with_data(
        limited.body, status=limited.status, content_type="application/json")
    portal.serve("lines-registered")
    run = run_plugin("--webhook", portal.webhook, "--check", "lines")
    assert_output(run, 0, f"BX24_SIP OK - 3 SIP lines registered | {perf(3, 3)} time=T")
    assert len(portal.server.log) == 3


# ------------------------------------------------------------------ the deadline

def test_late_statuses_say_how_many_lines_were_unread(portal):
    portal.serve("lines-slow")  # 0.8 s per line: 2.4 s for the status batch
    run = run_plugin("--webhook", portal.webhook, "--check", "lines", "-t", "1.5",
                     "--unreachable", "critical")
    assert_output(run, 2, f"BX24_SIP CRITICAL - 127.0.0.1:{portal.server.port} gave no complete "
                          "answer within the 1.5s timeout (3 SIP lines still unread)")
    assert run.seconds < 3.5


# ------------------------------------------------------------------ other outputs

def test_verbose_adds_a_line_per_sip_line(portal):
    portal.serve("lines-default-failed")
    run = run_plugin("--webhook", portal.webhook, "--check", "lines", "-v")
    assert run.code == 2
    assert TIME.sub("time=T", run.lines[0]) == (f"BX24_SIP CRITICAL - {FAILED_DEFAULT} | "
                                                f"{perf(3, 2, failed=1)} time=T")
    assert len(run.lines) == 6
    assert run.lines[3:] == [
        'reg150907 "Office trunk" (default outgoing): CRITICAL, status error, SIP 403, '
        '"Forbidden", updated 2026-11-30 09:10:51',
        'reg151083 "Cloud PBX (9)": OK, status success, SIP 200, updated 2026-11-30 09:10:51',
        'reg151085 "SIP line 2": OK, status success, SIP 200, updated 2026-11-30 09:10:51',
    ]


def test_json_lists_every_line(portal):
    portal.serve("lines-deleted")
    run = run_plugin("--webhook", portal.webhook, "--check", "all", "--output", "json")
    assert run.code == 1
    document = json.loads(run.stdout)
    assert (document["check"], document["state"], document["paid"]) == ("all", "WARNING", True)
    assert document["summary"] == f"{PAID}; {DELETED}"
    assert document["lines"] == [
        {"id": "reg150907", "name": "Office trunk", "reg_id": 150907, "default_outgoing": True,
         "status": "success", "sip_status_code": 200, "error_message": None,
         "last_updated": "2026-11-30 09:10:51", "state": "OK", "state_code": 0,
         "summary": '"Office trunk" (reg150907, default outgoing): registered'},
        {"id": "reg151083", "name": "Cloud PBX (9)", "reg_id": 151083, "default_outgoing": False,
         "status": "success", "sip_status_code": 200, "error_message": None,
         "last_updated": "2026-11-30 09:10:51", "state": "OK", "state_code": 0,
         "summary": '"Cloud PBX (9)" (reg151083): registered'},
        {"id": "reg151085", "name": "SIP line 2", "reg_id": 151085, "default_outgoing": False,
         "status": None, "sip_status_code": None, "error_message": None, "last_updated": None,
         "state": "WARNING", "state_code": 1,
         "summary": '"SIP line 2" (reg151085): deleted while checking'},
    ]


def test_json_of_lines_mode_has_no_connector_figures(portal):
    portal.serve("lines-default-failed")
    document = json.loads(run_plugin("--webhook", portal.webhook, "--check", "lines",
                                     "--output", "json").stdout)
    assert (document["check"], document["paid"], document["free_minutes"]) == ("lines", None, None)
    assert document["lines"][0]["error_message"] == "Forbidden"
    assert (document["lines"][0]["state"], document["lines"][0]["state_code"]) == ("CRITICAL", 2)
    assert document["lines"][0]["summary"] == ('"Office trunk" (reg150907, default outgoing): '
                                               "SIP 403 Forbidden")


def test_prometheus_has_a_gauge_per_line(portal):
    parser = pytest.importorskip("prometheus_client.parser")
    portal.serve("lines-malformed-status")
    run = run_plugin("--webhook", portal.webhook, "--check", "lines", "--output", "prometheus")
    assert run.code == 3
    portal_label = f"127.0.0.1:{portal.server.port}"
    samples = {(s.name, s.labels.get("line")): (s.labels, s.value)
               for family in parser.text_string_to_metric_families(run.stdout)
               for s in family.samples}
    assert samples[("bx24_sip_lines", None)] == ({"portal": portal_label, "check": "lines"}, 3)
    assert samples[("bx24_sip_line_registered", "reg150907")] == (
        {"portal": portal_label, "check": "lines", "line": "reg150907",
         "name": "Trunk / with newline"}, 0)
    assert samples[("bx24_sip_line_check_state", "reg151085")][1] == 3
    assert samples[("bx24_sip_up", None)][1] == 1
    assert "bx24_sip_paid" not in {name for name, _ in samples}


# ------------------------------------------------------------------ pure parts

ASKED = f"https://p/rest/1/{fake_portal.SECRET}/batch.json"


def batch(body: dict, status: int = 200) -> Answer:
    return Answer(ASKED, status, "application/json", None, json.dumps(body).encode(), 0.01)


def test_batch_answer_with_empty_maps_as_lists():
    answer = interpret_batch(batch({"result": {"result": [], "result_error": {
        "lines": {"error": "ACCESS_DENIED", "error_description": "Access denied!"}}}}))
    assert answer.results == {}
    with pytest.raises(PortalRefused) as raised:
        answer.get("lines")
    assert raised.value.code == "ACCESS_DENIED"
    with pytest.raises(BadAnswer) as missing:
        interpret_batch(batch({"result": {"result": {}, "result_error": []}})).get("x")
    assert missing.value.message == "the batch answer has no result for 'x'"


@pytest.mark.parametrize("body,message", [
    ({"result": "x"}, "the batch answer's 'result' is a JSON string, not an object"),
    ({"result": {"result": 5}}, "the batch answer's 'result' is a JSON number, not an object"),
    ({"result": {"result": {}, "result_error": "x"}},
     "the batch answer's 'result_error' is a JSON string, not an object"),
])
def test_ill_formed_batch_answers(body, message):
    with pytest.raises(BadAnswer) as raised:
        interpret_batch(batch(body))
    assert raised.value.message == message


def test_line_list_and_default_line():
    assert parse_line_list([]) == {}
    assert parse_line_list({"reg1": "A | b\nc", "sip7": 7, "x": None}) == {
        "reg1": "A / b c", "sip7": "7", "x": ""}
    answers: list = ["reg1", "", None, [], 5]
    assert [parse_default_line(v) for v in answers] == ["reg1", None, None, None, "5"]
    with pytest.raises(BadAnswer):
        parse_default_line({"id": "reg1"})


@pytest.mark.parametrize("text,expected", [("reg150907", "reg150907"), ("150907", "reg150907"),
                                           (" REG12 ", "reg12"), ("007", "reg7")])
def test_line_id(text, expected):
    assert line_id(text) == expected


@pytest.mark.parametrize("text", ["sip7", "reg", "reg1a", "", "LINK_BASE_NUMBER"])
def test_line_id_refuses(text):
    with pytest.raises(UsageError):
        line_id(text)


def test_select_lines_takes_cloud_lines_in_the_portals_order():
    listed = {"reg3": "C", "sip7": "Office", "reg1": "A", "74951234567": "Number"}
    assert select_lines(listed, (), "reg1") == [SipLine("reg3", "C"), SipLine("reg1", "A", True)]
    assert select_lines(listed, ("reg9", "reg3"), None) == [SipLine("reg9", None),
                                                           SipLine("reg3", "C")]


def test_status_batches_skip_lines_not_on_the_portal_and_hold_fifty():
    lines = [SipLine(f"reg{n}", "x") for n in range(101)] + [SipLine("reg999", None)]
    batches = status_batches(lines)
    assert [len(b) for b in batches] == [50, 50, 1]
    assert batches[2] == {"reg100": "voximplant.sip.status?REG_ID=100"}


def test_sip_status_fields():
    assert parse_sip_status({"STATUS_RESULT": "error", "STATUS_CODE": "408",
                             "ERROR_MESSAGE": "Request | Timeout", "LAST_UPDATED": ""}) == {
        "status": "error", "sip_status_code": 408, "error_message": "Request / Timeout",
        "last_updated": None}
    assert parse_sip_status({"STATUS_RESULT": "wait", "STATUS_CODE": True})["sip_status_code"] is None


def failed(code: str) -> SipLine:
    return SipLine("reg1", "A", failure=PortalRefused(f"Bitrix24 error {code}: x", code=code))


@pytest.mark.parametrize("line,state,reason", [
    (SipLine("reg1", "A", status="success", sip_status_code=200), Ok, "registered"),
    (SipLine("reg1", "A", status="in_progress"), Warn, "registration in progress"),
    (SipLine("reg1", "A", status="wait"), Warn, "waiting to register"),
    (SipLine("reg1", "A", status="error", sip_status_code=503, error_message="Service Unavailable"),
     Critical, "SIP 503 Service Unavailable"),
    (SipLine("reg1", "A", status="error", sip_status_code=404), Critical, "SIP 404"),
    (SipLine("reg1", "A", status="error", error_message="Auth failed"), Critical, "Auth failed"),
    (SipLine("reg1", "A", status="error"), Critical, "registration failed"),
    (SipLine("reg1", "A", status="maybe"), Unknown, 'unexpected status "maybe"'),
    (SipLine("reg1", None), Critical, "not on the portal"),
    (failed("REG_ID_NOT_FOUND"), Warn, "deleted while checking"),
    (failed("reg_id_not_found"), Warn, "deleted while checking"),
    (failed("ACCESS_DENIED"), Unknown, "Bitrix24 error ACCESS_DENIED: x"),
])
def test_judge_line(line, state, reason):
    assert judge_line(line) == (state, reason)


def test_summary_puts_the_default_line_first_and_counts_the_rest():
    lines = [SipLine(f"reg{n}", f"L{n}", status="error", sip_status_code=403) for n in range(5)]
    lines[3] = lines[3]._replace(default_outgoing=True)
    lines = [judged(line) for line in lines]
    state, sentence = summarize_lines(lines + [judged(SipLine("reg9", "ok", status="success"))])
    assert state == Critical
    assert sentence == ('5 of 6 SIP lines not registered: "L3" (reg3, default outgoing): SIP 403; '
                        '"L0" (reg0): SIP 403; "L1" (reg1): SIP 403; and 2 more')
    assert line_counts(lines) == {"lines_registered": 0, "lines_pending": 0, "lines_failed": 5}


def test_summary_orders_worse_lines_first():
    lines = [judged(SipLine("reg1", "W", status="wait")), judged(SipLine("reg2", "E", status="error"))]
    assert summarize_lines(lines) == (Critical, '2 of 2 SIP lines not registered: "E" (reg2): '
                                                'registration failed; "W" (reg1): waiting to register')
    assert summarize_lines([judged(SipLine("reg1", "A", status="success"))]) == (
        Ok, "1 SIP line registered")


def test_a_line_is_judged_once_and_carries_its_verdict():
    line = judged(SipLine("reg1", "A", status="error", sip_status_code=403))
    assert (line.verdict, line.state, line.reason) == ((Critical, "SIP 403"), Critical, "SIP 403")
    with pytest.raises(AssertionError, match="^a line is judged once, when it is read$"):
        SipLine("reg1", "A").state  # noqa: B018 - unjudged: a renderer must not judge
    assert summarize_lines([]) == (Warn, "no cloud PBX SIP lines to check")


# ------------------------------------------------------------------ every scenario, every output

def summary_of(first_line: str) -> str:
    """The summary of an expected first line: after 'STATE - ', before the perfdata."""
    return first_line.split(" - ", 1)[1].split(" | ", 1)[0]


OUTPUT_CASES = [(row[0], mode, code, line, row[5])
                for row in SCENARIOS
                for mode, code, line in (("lines", row[1], row[2]), ("all", row[3], row[4]))]


@pytest.mark.parametrize("scenario,mode,code,line,requests", OUTPUT_CASES,
                         ids=[f"{case[0]}-{case[1]}" for case in OUTPUT_CASES])
def test_line_scenarios_in_json_and_prometheus(portal, scenario, mode, code, line, requests):
    """The same verdict in every output; Prometheus' own linter has nothing to say."""
    portal.serve(scenario)
    run = run_plugin("--webhook", portal.webhook, "--check", mode, "--output", "json")
    document = json.loads(run.stdout)
    assert (run.code, document["state_code"], document["check"]) == (code, code, mode)
    assert document["summary"] == summary_of(line)
    run = run_plugin("--webhook", portal.webhook, "--check", mode, "--output", "prometheus")
    assert run.code == code
    assert (f'bx24_sip_check_state{{portal="127.0.0.1:{portal.server.port}",check="{mode}"}} {code}'
            in run.lines)
    assert len(portal.server.log) == 2 * requests
    require_promtool()
    assert promtool_verdict(run.stdout) == "exit 0:"


@pytest.mark.parametrize("scenario", [row[0] for row in SCENARIOS])
def test_connector_mode_ignores_the_lines(portal, scenario):
    portal.serve(scenario)
    run = run_plugin("--webhook", portal.webhook, "--output", "json")
    assert (run.code, json.loads(run.stdout)["lines"]) == (0, None)
    assert [entry[0].path for entry in portal.server.log] == [fake_portal.path_for()]


def test_verbose_lines_of_a_deleted_and_a_missing_line(portal):
    portal.serve("lines-deleted")
    run = run_plugin("--webhook", portal.webhook, "--check", "lines", "-v", "--line", "151085",
                     "--line", "reg999")
    assert run.code == 2
    assert run.lines[3:] == ['reg151085 "SIP line 2": WARNING, deleted while checking',
                             "reg999: CRITICAL, not on the portal"]


def test_a_line_named_like_the_connector_sentence_is_still_reported(portal):
    """User text that repeats the connector's sentence must not hide the failing line."""
    name = f"paid until {day(30)} (30 days left)"
    scenario = fake_portal.LINE_SCENARIOS["lines-default-failed"]._replace(
        lines={"reg150907": name})
    portal.server.expect_request(fake_portal.batch_path()).respond_with_handler(
        fake_portal.batch_handler(scenario))
    run = run_plugin("--webhook", portal.webhook, "--check", "all")
    assert_output(run, 2, f'BX24_SIP CRITICAL - {PAID}; 1 of 1 SIP line not registered: "{name}" '
                          "(reg150907, default outgoing): SIP 403 Forbidden | days_left=30;7:;3: "
                          f"free_minutes=0;;;0 {perf(1, 0, failed=1)} paid=1;;;0;1 time=T")


def test_a_default_line_that_cannot_be_read_says_so(portal):
    """The line list came, the default outgoing line was refused: the lines aspect fails, naming
    which command."""
    scenario = fake_portal.LINE_SCENARIOS["lines-registered"]._replace(
        default=fake_portal.command_error("ACCESS_DENIED", "Access denied!"))
    portal.server.expect_request(fake_portal.batch_path()).respond_with_handler(
        fake_portal.batch_handler(scenario))
    run = run_plugin("--webhook", portal.webhook, "--check", "lines")
    assert_output(run, 3, "BX24_SIP UNKNOWN - cannot read the default outgoing line: Bitrix24 "
                          "error ACCESS_DENIED: the webhook's user needs the telephony right "
                          '"Manage numbers - Edit - Any" (or REST is not on this plan)')
