"""--check calls: outgoing-call failures per line, read from voximplant.statistic.get.

End to end, the plugin runs as a subprocess against the fake portal's call statistics (FILTER,
SORT/ORDER, pages of 50, totals, PHP's decoding of batch queries); each test asserts the exit
code, the exact first line and the requests the check made, as the README's "How the outgoing
calls are checked" says.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from fractions import Fraction
from typing import List, Optional

import fake_portal
import pytest
from fake_portal import Calls, CallSpec, php_parse_str, spread
from nagiosplugin.state import Critical, Ok, Unknown, Warn
from plugin import TIME, assert_output, day, run_plugin

from check_bx24_sip import (
    BadAnswer,
    Call,
    CallLine,
    CallsLimits,
    UsageError,
    aspects_of,
    call_line_fragment,
    call_lines,
    calls_command,
    check_name,
    failed_code,
    is_failure,
    judge_call_line,
    later_pages,
    meaning,
    newest_calls,
    parse_call,
    parse_calls_page,
    parse_total,
    perf_label,
    since_of,
    summarize_calls,
    tally,
)

STATISTIC = "voximplant.statistic.get"
PAID = f"paid until {day(30)} (30 days left)"
LINES_OK = "3 SIP lines registered"
CONNECTOR_PERF = ["days_left=30;7:;3:", "free_minutes=0;;;0", "paid=1;;;0;1"]
LINES_PERF = ["lines=3;;;0", "lines_failed=0;;0;0;3", "lines_pending=0;0;;0;3",
              "lines_registered=3;;;0;3"]


def figures(suffix: str, outgoing: int, failed: int, pct: Optional[str]) -> List[str]:
    """One calls/calls_failed/calls_failed_pct triple as the plugin prints it."""
    items = [f"calls{suffix}={outgoing};;;0", f"calls_failed{suffix}={failed};;;0"]
    return items + ([] if pct is None else [f"calls_failed_pct{suffix}={pct}%;;;0;100"])


def perf(*groups: List[str]) -> str:
    """Perfdata as nagiosplugin prints it: every label sorted, then the request time."""
    return " ".join(sorted(item for group in groups for item in group)) + " time=T"


OK_PERF = perf(figures("", 26, 1, "3.8"), figures("_reg151085", 1, 1, "100"),
               figures("_74951234567", 5, 0, "0"), figures("_REST_APP_5", 2, 0, "0"),
               figures("_reg150907", 10, 0, "0"), figures("_reg151083", 8, 0, "0"))
ROUTE_DOWN = ("reg151083: 4 of 5 outgoing calls failed in the last 60 min (503 route unavailable "
              "x3, 402 insufficient funds x1), the last 4 in a row")
FREE_PLAN = ("reg151085: 3 of 3 outgoing calls failed in the last 60 min (402-B24 unavailable on "
             "the free plan x2, 423 blocked x1), the last 3 in a row")
FORBIDDEN = ("reg150907: 2 of 10 outgoing calls failed in the last 60 min (403 forbidden x2)")
MANY = "; ".join(f"reg16000{n}: 4 of 6 outgoing calls failed in the last 60 min (484 route "
                 "unavailable x2, 503 route unavailable x2)" for n in range(3))
CALLS_RIGHT = ('cannot read the call statistics: Bitrix24 error ACCESS_DENIED: the webhook\'s '
               'user needs the telephony right "Call statistics - View - Any"')

# scenario, exit code, first line of --check calls, HTTP requests
SCENARIOS = [
    ("calls-ok", 0, "OK - 26 outgoing calls on 5 lines in the last 60 min, 1 failed (3.8%) | "
                    + OK_PERF, 1),
    ("calls-none", 0, "OK - no outgoing calls in the last 60 min | "
                      + perf(figures("", 0, 0, None)), 1),
    ("calls-warning", 1, f"WARNING - 1 of 2 lines failing calls: {FORBIDDEN} | "
     + perf(figures("", 16, 2, "12.5"), figures("_reg150907", 10, 2, "20"),
            figures("_reg151083", 6, 0, "0")), 1),
    ("calls-critical", 2, f"CRITICAL - 1 of 2 lines failing calls: {ROUTE_DOWN} | "
     + perf(figures("", 15, 4, "26.7"), figures("_reg151083", 5, 4, "80"),
            figures("_reg150907", 10, 0, "0")), 1),
    ("calls-streak", 2, f"CRITICAL - 1 of 2 lines failing calls: {FREE_PLAN} | "
     + perf(figures("", 15, 3, "20"), figures("_reg151085", 3, 3, "100"),
            figures("_reg150907", 12, 0, "0")), 1),
    ("calls-callee", 0, "OK - 12 outgoing calls on 1 line in the last 60 min, none failed | "
     + perf(figures("", 12, 0, "0"), figures("_reg150907", 12, 0, "0")), 1),
    ("calls-many-lines", 2, f"CRITICAL - 5 of 6 lines failing calls: {MANY}; and 2 more | "
     + perf(figures("", 36, 20, "55.6"), figures("_reg150907", 6, 0, "0"),
            *[figures(f"_reg16000{n}", 6, 4, "66.7") for n in range(5)]), 1),
    ("calls-busy-portal", 0, "OK - 2500 outgoing calls on 1 line in the last 60 min, 125 failed "
                             "(5%), newest 2500 of 3000 outgoing calls judged | "
     + perf(figures("", 2500, 125, "5"), figures("_reg150907", 2500, 125, "5")), 2),
    ("calls-shifting", 0, "OK - 120 outgoing calls on 1 line in the last 60 min, none failed | "
     + perf(figures("", 120, 0, "0"), figures("_reg150907", 120, 0, "0")), 2),
    ("calls-access-denied", 3, f"UNKNOWN - {CALLS_RIGHT}", 1),
    ("calls-insufficient-scope", 3, "UNKNOWN - cannot read the call statistics: Bitrix24 error "
                                    "insufficient_scope: the webhook needs the telephony scope", 1),
    ("calls-malformed", 3, "UNKNOWN - voximplant.statistic.get: call 100026 has CALL_FAILED_CODE "
                           "null, expected a code such as 200 or 503", 1),
]


def commands_sent(portal) -> List[dict]:
    """The `cmd` of every batch the check sent, in order."""
    assert {entry[0].path for entry in portal.server.log} == {fake_portal.batch_path()}
    return [json.loads(entry[0].get_data())["cmd"] for entry in portal.server.log]


def statistic_queries(commands: dict) -> dict:
    """key -> the decoded parameters of each statistic.get command, as PHP reads them."""
    found = {}
    for key, command in commands.items():
        method, _, query = command.partition("?")
        if method == STATISTIC:
            found[key] = php_parse_str(query)
    return found


def page_query(since: str, start: int) -> dict:
    return {"FILTER": {"CALL_TYPE": "1", ">=CALL_START_DATE": since}, "SORT": "CALL_START_DATE",
            "ORDER": "DESC", "start": str(start)}


@pytest.mark.parametrize("scenario,code,line,requests", SCENARIOS, ids=[r[0] for r in SCENARIOS])
def test_every_calls_scenario(portal, scenario, code, line, requests):
    portal.serve(scenario)
    run = run_plugin("--webhook", portal.webhook, "--check", "calls")
    assert_output(run, code, f"BX24_SIP {line}")
    assert len(portal.server.log) == requests


# ------------------------------------------------------------------ the request plan

def test_calls_alone_ask_page_one_in_one_batch_with_the_exact_filter(portal):
    portal.serve("calls-ok")
    before = datetime.now(timezone.utc).replace(microsecond=0)
    run = run_plugin("--webhook", portal.webhook, "--check", "calls", "--output", "json",
                     env={"TZ": "MSK-3"})
    after = datetime.now(timezone.utc)
    assert (run.code, run.stderr) == (0, "")
    since = json.loads(run.stdout)["calls"]["since"]
    assert since.endswith("+03:00") and len(since) == len("2026-12-05T10:00:00+03:00")
    assert before - timedelta(minutes=60) <= datetime.fromisoformat(since)
    assert datetime.fromisoformat(since) <= after - timedelta(minutes=60)
    [commands] = commands_sent(portal)
    assert list(commands) == ["calls"]
    assert statistic_queries(commands) == {"calls": page_query(since, 0)}
    assert json.loads(portal.server.log[0][0].get_data())["halt"] == 0


@pytest.mark.parametrize("zone,offset", [("MSK-3", "+03:00"), ("EST5", "-05:00"),
                                         ("UTC0", "+00:00"), ("<+0530>-5:30", "+05:30")])
def test_the_date_carries_a_numeric_offset_encoded_for_php(portal, zone, offset):
    portal.serve("calls-ok")
    run = run_plugin("--webhook", portal.webhook, "--check", "calls", "--calls-window", "15",
                     "--output", "json", env={"TZ": zone})
    since = json.loads(run.stdout)["calls"]["since"]
    assert since.endswith(offset)
    [commands] = commands_sent(portal)
    encoded = since.replace(":", "%3A").replace("+", "%2B")
    assert commands["calls"] == (
        f"{STATISTIC}?FILTER%5BCALL_TYPE%5D=1&FILTER%5B%3E%3DCALL_START_DATE%5D={encoded}"
        "&SORT=CALL_START_DATE&ORDER=DESC&start=0")
    asked = datetime.fromisoformat(since)
    assert timedelta(minutes=14) < datetime.now(timezone.utc) - asked < timedelta(minutes=16)


def test_beyond_50_calls_one_batch_holds_every_later_page(portal):
    portal.serve("calls-busy-portal")
    run = run_plugin("--webhook", portal.webhook, "--check", "calls", "--output", "json")
    document = json.loads(run.stdout)["calls"]
    first, pages = commands_sent(portal)
    since = document["since"]
    assert statistic_queries(first) == {"calls": page_query(since, 0)}
    assert list(statistic_queries(pages).values()) == [page_query(since, start)
                                                      for start in range(50, 2500, 50)]
    assert len(pages) == 49 and len(statistic_queries(pages)) == 49
    assert {key: document[key] for key in ("outgoing", "total", "failed", "failed_pct",
                                           "truncated")} == {
        "outgoing": 2500, "total": 3000, "failed": 125, "failed_pct": 5.0, "truncated": True}


@pytest.mark.parametrize("count,pages", [(0, []), (1, []), (50, []), (51, [50]),
                                         (100, [50]), (101, [50, 100]), (2500, list(range(50, 2500, 50)))])
def test_pages_are_asked_once_each_below_the_total(portal, count, pages):
    fake_portal.serve_calls(portal.server, Calls(spread(count, "reg150907", ["200"])))
    run = run_plugin("--webhook", portal.webhook, "--check", "calls")
    expected = (f"BX24_SIP OK - {count} outgoing calls on 1 line in the last 60 min, none failed"
                if count != 1 else
                "BX24_SIP OK - 1 outgoing call on 1 line in the last 60 min, none failed")
    if count == 0:
        expected = "BX24_SIP OK - no outgoing calls in the last 60 min"
    assert run.code == 0 and run.first_line.split(" | ")[0] == expected
    sent = commands_sent(portal)
    assert len(sent) == (2 if pages else 1)
    later = [int(query["start"]) for query in statistic_queries(sent[1]).values()] if pages else []
    assert later == pages


def test_rows_that_shift_between_pages_are_counted_once(portal):
    """Three calls end between the two requests: page 2 repeats three rows of page 1."""
    served = fake_portal.serve_calls(portal.server, "calls-shifting")
    run = run_plugin("--webhook", portal.webhook, "--check", "calls", "--output", "json")
    document = json.loads(run.stdout)["calls"]
    assert (run.code, document["outgoing"], document["total"]) == (0, 120, 120)
    assert served.pages_read == 3  # page 1, then pages 2 and 3 of the 123 rows now there


@pytest.mark.parametrize("check,first_keys,requests", [
    ("connector,lines,calls", ["lines", "default", "connector", "calls"], 2),
    ("all,calls", ["lines", "default", "connector", "calls"], 2),
    ("calls,lines", ["lines", "default", "calls"], 2),
    ("connector,calls", ["connector", "calls"], 1),
    ("calls,connector,calls", ["connector", "calls"], 1),
])
def test_page_one_rides_in_the_first_batch(portal, check, first_keys, requests):
    portal.serve("calls-critical")
    run = run_plugin("--webhook", portal.webhook, "--check", check)
    assert run.code == 2
    sent = commands_sent(portal)
    assert len(sent) == requests
    assert list(sent[0]) == first_keys
    assert sent[0].get("connector") in (None, "voximplant.sip.connector.status")
    for later in sent[1:]:  # the lines' statuses, and nothing else
        assert {command.partition("?")[0] for command in later.values()} == {
            "voximplant.sip.status"}


@pytest.mark.parametrize("check,requests", [("connector,lines,calls", 3), ("connector,calls", 2),
                                            ("lines,calls", 3)])
def test_many_calls_add_one_request_beside_the_lines(portal, check, requests):
    portal.serve("calls-busy-portal")
    run = run_plugin("--webhook", portal.webhook, "--check", check)
    assert run.code == 0
    sent = commands_sent(portal)
    assert len(sent) == requests
    kinds = [{command.partition("?")[0] for command in batch.values()} for batch in sent[1:]]
    assert {STATISTIC} in kinds and len(kinds[kinds.index({STATISTIC})]) == 1
    assert sum(len(batch) for batch in sent[1:] if STATISTIC in str(batch)) == 49


@pytest.mark.parametrize("check", ["all", "connector", "lines"])
def test_other_checks_never_ask_for_call_statistics(portal, check):
    portal.serve("calls-critical")
    run = run_plugin("--webhook", portal.webhook, "--check", check, "--calls-window", "5")
    assert run.code == 0
    assert STATISTIC not in "".join(entry[0].get_data(as_text=True) + entry[0].path
                                    for entry in portal.server.log)


# ------------------------------------------------------------------ several aspects

def test_all_three_aspects_in_one_line(portal):
    portal.serve("calls-critical")
    run = run_plugin("--webhook", portal.webhook, "--check", "all,calls")
    assert_output(run, 2, f"BX24_SIP CRITICAL - {PAID}; {LINES_OK}; 1 of 2 lines failing calls: "
                          f"{ROUTE_DOWN} | "
                  + perf(CONNECTOR_PERF, LINES_PERF, figures("", 15, 4, "26.7"),
                         figures("_reg151083", 5, 4, "80"), figures("_reg150907", 10, 0, "0")))


def test_when_only_the_calls_fail_the_others_are_still_reported(portal):
    portal.serve("calls-access-denied")
    run = run_plugin("--webhook", portal.webhook, "--check", "calls,lines,connector",
                     "--unreachable", "critical")
    assert_output(run, 3, f"BX24_SIP UNKNOWN - {PAID}; {LINES_OK}; {CALLS_RIGHT} | "
                  + " ".join(sorted(CONNECTOR_PERF + LINES_PERF)))


@pytest.mark.parametrize("output", ["json", "prometheus"])
def test_the_check_has_its_canonical_name(portal, output):
    portal.serve("calls-none")
    run = run_plugin("--webhook", portal.webhook, "--check", "calls,all", "--output", output)
    assert run.code == 0
    if output == "json":
        assert json.loads(run.stdout)["check"] == "connector,lines,calls"
    else:
        assert 'check="connector,lines,calls"' in run.stdout
        assert 'check="' + "all" not in run.stdout


# ------------------------------------------------------------------ thresholds and options

@pytest.mark.parametrize("scenario,args,code,summary", [
    ("calls-warning", ["--calls-warning", "20.01"], 0,
     "OK - 16 outgoing calls on 2 lines in the last 60 min, 2 failed (12.5%)"),
    ("calls-warning", ["--calls-critical", "20"], 2,
     f"CRITICAL - 1 of 2 lines failing calls: {FORBIDDEN}"),
    ("calls-warning", ["--calls-min", "11"], 0,
     "OK - 16 outgoing calls on 2 lines in the last 60 min, 2 failed (12.5%)"),
    ("calls-warning", ["--calls-min", "10"], 1, f"WARNING - 1 of 2 lines failing calls: {FORBIDDEN}"),
    ("calls-streak", ["--calls-streak", "0"], 0,
     "OK - 15 outgoing calls on 2 lines in the last 60 min, 3 failed (20%)"),
    ("calls-streak", ["--calls-streak", "4"], 0,
     "OK - 15 outgoing calls on 2 lines in the last 60 min, 3 failed (20%)"),
    ("calls-streak", ["--calls-streak", "2"], 2,
     f"CRITICAL - 1 of 2 lines failing calls: {FREE_PLAN}"),
    ("calls-streak", ["--calls-streak", "0", "--calls-min", "3"], 2,
     "CRITICAL - 1 of 2 lines failing calls: reg151085: 3 of 3 outgoing calls failed in the last "
     "60 min (402-B24 unavailable on the free plan x2, 423 blocked x1)"),
    ("calls-none", ["--calls-none", "critical"], 2, "CRITICAL - no outgoing calls in the last 60 min"),
    ("calls-none", ["--calls-none", "warning"], 1, "WARNING - no outgoing calls in the last 60 min"),
    ("calls-none", ["--calls-none", "warning", "--calls-window", "300"], 0,
     "OK - 1 outgoing call on 1 line in the last 300 min, 1 failed (100%)"),
    ("calls-none", ["--calls-window", "300", "--calls-streak", "1"], 2,
     "CRITICAL - 1 of 1 line failing calls: reg150907: 1 of 1 outgoing calls failed in the last "
     "300 min (503 route unavailable x1), the last 1 in a row"),
    ("calls-critical", ["--calls-window", "10"], 0,
     "OK - 4 outgoing calls on 2 lines in the last 10 min, 2 failed (50%)"),
    ("calls-critical", ["--calls-window=", "--calls-min=", "--calls-warning=", "--calls-critical=",
                        "--calls-streak=", "--calls-none="], 2,
     f"CRITICAL - 1 of 2 lines failing calls: {ROUTE_DOWN}"),
])
def test_thresholds_and_window(portal, scenario, args, code, summary):
    portal.serve(scenario)
    run = run_plugin("--webhook", portal.webhook, "--check", "calls", *args)
    assert (run.code, run.stderr) == (code, "")
    assert run.first_line.split(" | ")[0] == f"BX24_SIP {summary}"


def test_none_unknown_is_a_judged_state_with_its_figures(portal):
    portal.serve("calls-none")
    run = run_plugin("--webhook", portal.webhook, "--check", "calls", "--calls-none", "unknown")
    assert_output(run, 3, "BX24_SIP UNKNOWN - no outgoing calls in the last 60 min | "
                  + perf(figures("", 0, 0, None)))
    portal.server.clear_log()
    document = json.loads(run_plugin("--webhook", portal.webhook, "--check", "calls",
                                     "--calls-none", "unknown", "--output", "json").stdout)
    assert (document["error"], document["calls"]["state"], document["calls"]["outgoing"]) == (
        None, "UNKNOWN", 0)
    assert document["calls"]["failed_pct"] is None


def test_calls_options_are_ignored_without_the_calls_aspect(portal):
    portal.serve("paid")
    run = run_plugin("--webhook", portal.webhook, "--calls-window", "5", "--calls-none", "critical")
    assert_output(run, 0, f"BX24_SIP OK - {PAID} | days_left=30;7:;3: free_minutes=0;;;0 "
                          "paid=1;;;0;1 time=T")


@pytest.mark.parametrize("args", [
    ["--calls-window", "0"], ["--calls-window", "10081"], ["--calls-window", "1.5"],
    ["--calls-window", "x"], ["--calls-window", "-5"], ["--calls-min", "0"],
    ["--calls-min", "two"], ["--calls-warning", "100.5"], ["--calls-warning", "-1"],
    ["--calls-warning", "nan"], ["--calls-warning", "1e1"], ["--calls-critical", "inf"],
    ["--calls-streak", "-1"], ["--calls-streak", "1.0"], ["--calls-none", "maybe"],
    ["--check", "calls,"], ["--check", "call"], ["--check", ""  + "connector;lines"],
])
def test_bad_calls_options_are_usage_errors_without_a_request(portal, args):
    portal.serve("calls-ok")
    run = run_plugin("--webhook", portal.webhook, "--check", "calls", *args)
    assert (run.code, run.stderr) == (3, "")
    assert run.first_line.startswith("BX24_SIP UNKNOWN - ")
    assert args[0] in run.first_line
    assert portal.server.log == []


@pytest.mark.parametrize("args,message", [
    (["--calls-min", "0"], "argument --calls-min: invalid whole number (1 or more) value: '0'"),
    (["--calls-window", "10081"],
     "argument --calls-window: invalid number of minutes (1-10080) value: '10081'"),
    (["--calls-critical", "100.01"],
     "argument --calls-critical: invalid percentage (0-100) value: '100.01'"),
    (["--calls-streak", "-1"], "argument --calls-streak: invalid whole number value: '-1'"),
])
def test_a_bad_value_says_what_the_option_takes(args, message):
    run = run_plugin("--webhook", f"https://127.0.0.1:1/rest/1/{fake_portal.SECRET}/", *args)
    assert_output(run, 3, f"BX24_SIP UNKNOWN - {message} (see --help)")


@pytest.mark.parametrize("args", [["--calls-warning", "100", "--calls-critical", "100"],
                                  ["--calls-window", "10080"], ["--calls-window", "1"],
                                  ["--calls-min", "1"], ["--calls-warning", "0"],
                                  ["--calls-warning", " 12.5 "], ["--calls-critical", "50."],
                                  ["--calls-warning", ".5"]])
def test_the_bounds_of_the_calls_options_are_accepted(portal, args):
    portal.serve("calls-none")
    run = run_plugin("--webhook", portal.webhook, "--check", "calls", *args)
    assert (run.code, run.stderr) == (0, "")
    assert run.first_line.startswith("BX24_SIP OK - ")  # the week holds the 200-minute-old call


@pytest.mark.parametrize("warning,critical", [("60", "50"), ("50.1", "50")])
def test_warning_above_critical_is_one_line(portal, warning, critical):
    portal.serve("calls-ok")
    run = run_plugin("--webhook", portal.webhook, "--check", "calls", "--calls-warning", warning,
                     "--calls-critical", critical)
    assert_output(run, 3, f"BX24_SIP UNKNOWN - --calls-warning ({warning}) must not be above "
                          f"--calls-critical ({critical})")
    assert portal.server.log == []


def test_equal_thresholds_are_allowed(portal):
    portal.serve("calls-warning")
    run = run_plugin("--webhook", portal.webhook, "--check", "calls", "--calls-warning", "20",
                     "--calls-critical", "20")
    assert run.code == 2 and f"CRITICAL - 1 of 2 lines failing calls: {FORBIDDEN}" in run.stdout


# ------------------------------------------------------------------ malformed answers

def with_row(field: str, value, index: int = 2):
    """The rows served with one changed: the row itself (field None), or one field of it
    removed (value ...) or set; a copy, as every query gets its own rows."""
    def rewrite(rows):
        rows = list(rows)
        if field is None:
            rows[index] = value
        elif value is Ellipsis:
            rows[index] = {key: item for key, item in rows[index].items() if key != field}
        else:
            rows[index] = {**rows[index], field: value}
        return rows
    return rewrite


@pytest.mark.parametrize("field,value,message", [
    ("CALL_FAILED_CODE", ..., "call 100026 has CALL_FAILED_CODE null, expected a code such as "
                              "200 or 503"),
    ("CALL_FAILED_CODE", "  ", 'call 100026 has CALL_FAILED_CODE "", expected a code such as '
                               "200 or 503"),
    ("CALL_FAILED_CODE", [503], "call 100026 has CALL_FAILED_CODE a JSON array, expected a code "
                                "such as 200 or 503"),
    ("CALL_FAILED_CODE", True, "call 100026 has CALL_FAILED_CODE true, expected a code such as "
                               "200 or 503"),
    ("CALL_START_DATE", "2026-12-05 10:00:00", 'call 100026 has CALL_START_DATE "2026-12-05 '
                                               '10:00:00", expected ISO 8601 with an offset'),
    ("CALL_START_DATE", "05.12.2026 10:00:00+03:00", 'call 100026 has CALL_START_DATE '
     '"05.12.2026 10:00:00+03:00", expected ISO 8601 with an offset'),
    ("CALL_START_DATE", "2026-13-45T10:00:00+03:00", 'call 100026 has CALL_START_DATE '
     '"2026-13-45T10:00:00+03:00", expected ISO 8601 with an offset'),
    ("CALL_START_DATE", ..., "call 100026 has CALL_START_DATE null, expected ISO 8601 with an "
                             "offset"),
    ("ID", "12a", 'a call record\'s ID is "12a", expected digits'),
    ("ID", ..., "a call record's ID is null, expected digits"),
    ("ID", -4, "a call record's ID is -4, expected digits"),
    (None, "a row", "a call record is not an object (a JSON string)"),
    (None, None, "a call record is not an object (a JSON null)"),
])
def test_a_malformed_row_names_its_field(portal, field, value, message):
    fake_portal.serve_calls(portal.server, Calls(fake_portal.HEALTHY,
                                                 rows=with_row(field, value)))
    for extra in ([], ["--check", "calls,connector"]):
        portal.server.clear_log()
        run = run_plugin("--webhook", portal.webhook, "--check", "calls", *extra)
        prefix = f"{PAID}; " if extra else ""
        tail = " | days_left=30;7:;3: free_minutes=0;;;0 paid=1;;;0;1" if extra else ""
        assert_output(run, 3, f"BX24_SIP UNKNOWN - {prefix}voximplant.statistic.get: "
                              f"{message}{tail}")


def test_a_malformed_row_on_a_later_page_fails_the_calls_too(portal):
    fake_portal.serve_calls(portal.server, Calls(spread(120, "reg150907", ["200"]),
                                                 rows=with_row("CALL_START_DATE", "soon", 70)))
    run = run_plugin("--webhook", portal.webhook, "--check", "calls")
    assert_output(run, 3, 'BX24_SIP UNKNOWN - voximplant.statistic.get: call 100049 has '
                          'CALL_START_DATE "soon", expected ISO 8601 with an offset')
    assert len(portal.server.log) == 2  # the 71st newest call is on page 2


@pytest.mark.parametrize("result,total,message", [
    ({"0": {}}, 1, "voximplant.statistic.get: 'result' is not a list (a JSON object)"),
    ("none", 0, "voximplant.statistic.get: 'result' is not a list (a JSON string)"),
    ([], "many", "voximplant.statistic.get: 'total' is \"many\", expected a whole number"),
    ([], -1, "voximplant.statistic.get: 'total' is -1, expected a whole number"),
    ([], None, "voximplant.statistic.get: 'total' is null, expected a whole number"),
])
def test_a_malformed_page_is_unknown(portal, result, total, message):
    body = fake_portal.envelope({"result": {"calls": result}, "result_error": [],
                                 "result_total": {} if total is None else {"calls": total},
                                 "result_next": [], "result_time": []})
    portal.server.expect_request(fake_portal.batch_path(), method="POST").respond_with_json(body)
    run = run_plugin("--webhook", portal.webhook, "--check", "calls")
    assert_output(run, 3, f"BX24_SIP UNKNOWN - {message}")


def padded(size: int):
    """Every row served with a COMMENT of `size` characters (Bitrix24 has no field selection)."""
    def rewrite(rows):
        return [{**row, "COMMENT": "x" * size} for row in rows]
    return rewrite


@pytest.mark.parametrize("count,size,limit,requests", [(50, 25000, 1, 1), (2500, 4000, 8, 2)])
def test_answers_above_their_cap_are_refused(portal, count, size, limit, requests):
    """Page 1 rides in a batch capped at 1 MiB like every answer; the later pages' batch may
    hold 8 MiB (49 pages of about 1 KB rows), and no more."""
    fake_portal.serve_calls(portal.server, Calls(spread(count, "reg150907", ["200"]),
                                                 rows=padded(size)))
    run = run_plugin("--webhook", portal.webhook, "--check", "calls")
    assert run.code == 3 and run.stderr == ""
    assert re.fullmatch(rf"BX24_SIP UNKNOWN - the answer is \d+ bytes, more than the {limit} MiB "
                        r"this check reads\n", run.stdout), run.stdout
    assert len(portal.server.log) == requests


def test_a_page_batch_above_1_mib_is_read(portal):
    """2500 rows of about 3 KB: 7 MB in the later pages' batch, within its 8 MiB."""
    fake_portal.serve_calls(portal.server, Calls(spread(2500, "reg150907", ["200"]),
                                                 rows=padded(2000)))
    run = run_plugin("--webhook", portal.webhook, "--check", "calls", "-t", "30")
    assert (run.code, run.first_line.split(" | ")[0]) == (
        0, "BX24_SIP OK - 2500 outgoing calls on 1 line in the last 60 min, none failed")


# ------------------------------------------------------------------ time

@pytest.mark.parametrize("args,code,state", [([], 3, "UNKNOWN"),
                                             (["--unreachable", "critical"], 2, "CRITICAL")])
def test_pages_that_never_come_fail_the_calls_in_time(args, code, state):
    """Page 1 comes at once; the later pages take far longer than -t (on a server of its own,
    whose waiting page is released when the plugin has answered, so it holds up no other
    test)."""
    from pytest_httpserver import HTTPServer

    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    served = fake_portal.serve_calls(server, Calls(spread(120, "reg150907", ["200"]), delay=60,
                                                   slow_from=50))
    try:
        run = run_plugin("--webhook", fake_portal.webhook_for(server), "--check",
                         "calls,connector", "-t", "2", *args)
    finally:
        served.released.set()
        server.stop()
    assert_output(run, code, f"BX24_SIP {state} - {PAID}; 127.0.0.1:{server.port} gave no "
                             "complete answer within the 2s timeout (2 pages of call statistics "
                             "unread) | days_left=30;7:;3: free_minutes=0;;;0 paid=1;;;0;1")
    assert run.seconds < 2 + 5


# ------------------------------------------------------------------ outputs

def test_json_calls_object(portal):
    portal.serve("calls-critical")
    run = run_plugin("--webhook", portal.webhook, "--check", "calls", "--output", "json")
    assert run.code == 2
    document = json.loads(run.stdout)
    assert list(document)[-1] == "calls" and document["lines"] is None
    calls = document["calls"]
    assert calls.pop("since") == statistic_queries(commands_sent(portal)[0])["calls"]["FILTER"][
        ">=CALL_START_DATE"]
    assert calls == {
        "window_minutes": 60, "outgoing": 15, "total": 15, "failed": 4, "failed_pct": 26.7,
        "truncated": False, "state": "CRITICAL", "state_code": 2, "lines": [
            {"portal_number": "reg151083", "outgoing": 5, "failed": 4, "failed_pct": 80.0,
             "streak": 4, "codes": {"503": 3, "402": 1}, "state": "CRITICAL", "state_code": 2,
             "summary": ROUTE_DOWN},
            {"portal_number": "reg150907", "outgoing": 10, "failed": 0, "failed_pct": 0.0,
             "streak": 0, "codes": {}, "state": "OK", "state_code": 0,
             "summary": "reg150907: 0 of 10 outgoing calls failed in the last 60 min"}]}


def test_json_of_a_calls_failure(portal):
    portal.serve("calls-access-denied")
    run = run_plugin("--webhook", portal.webhook, "--check", "connector,calls", "--output", "json")
    document = json.loads(run.stdout)
    assert (run.code, document["state"], document["paid"], document["calls"]) == (
        3, "UNKNOWN", True, None)
    assert document["error"] == {"kind": "portal", "code": "ACCESS_DENIED",
                                 "message": CALLS_RIGHT}


def test_verbose_lines_name_each_line(portal):
    portal.serve("calls-critical")
    run = run_plugin("--webhook", portal.webhook, "--check", "calls", "-v")
    assert run.code == 2
    assert run.lines[2].startswith("calls: outgoing since ")
    assert run.lines[2].endswith(", 15 reported, 15 judged, 4 failed")
    assert run.lines[3:] == [
        "calls reg151083: CRITICAL, 4 of 5 failed (80%), streak 4, 503 route unavailable x3, "
        "402 insufficient funds x1",
        "calls reg150907: OK, 0 of 10 failed (0%), streak 0"]
    run = run_plugin("--webhook", portal.webhook, "--check", "calls", "-vv")
    assert ("calls thresholds: window 60 min; from 5 calls on a line, WARNING at 20% failed, "
            "CRITICAL at 50%; streak: the last 3 failed; no calls: OK") in run.lines


def test_prometheus_calls_families(portal):
    from promtool import promtool_verdict, require_promtool

    portal.serve("calls-critical")
    run = run_plugin("--webhook", portal.webhook, "--check", "calls", "--output", "prometheus")
    assert run.code == 2
    labels = f'portal="127.0.0.1:{portal.server.port}",check="calls"'
    samples = [line for line in run.stdout.splitlines()
               if line.startswith("bx24_sip_calls") or line.startswith("bx24_sip_up")]
    assert samples == [
        f"bx24_sip_up{{{labels}}} 1",
        f"bx24_sip_calls{{{labels}}} 15",
        f"bx24_sip_calls_window_seconds{{{labels}}} 3600",
        f"bx24_sip_calls_truncated{{{labels}}} 0",
        f'bx24_sip_calls_outgoing{{{labels},line="reg151083"}} 5',
        f'bx24_sip_calls_outgoing{{{labels},line="reg150907"}} 10',
        f'bx24_sip_calls_failed{{{labels},line="reg151083",code="503"}} 3',
        f'bx24_sip_calls_failed{{{labels},line="reg151083",code="402"}} 1',
        f'bx24_sip_calls_failed_ratio{{{labels},line="reg151083"}} 0.8',
        f'bx24_sip_calls_failed_ratio{{{labels},line="reg150907"}} 0.0',
        f'bx24_sip_calls_streak{{{labels},line="reg151083"}} 4',
        f'bx24_sip_calls_streak{{{labels},line="reg150907"}} 0',
        f'bx24_sip_calls_line_state{{{labels},line="reg151083"}} 2',
        f'bx24_sip_calls_line_state{{{labels},line="reg150907"}} 0']
    assert [line for line in run.stdout.splitlines() if line.startswith("# HELP bx24_sip_calls")] == [
        "# HELP bx24_sip_calls Outgoing calls judged",
        "# HELP bx24_sip_calls_window_seconds The window of outgoing calls judged, in seconds",
        "# HELP bx24_sip_calls_truncated 1 when only the newest 2500 outgoing calls were judged, "
        "else 0",
        "# HELP bx24_sip_calls_outgoing Outgoing calls on the line",
        "# HELP bx24_sip_calls_failed Outgoing calls on the line that failed on its side, per "
        "failure code",
        "# HELP bx24_sip_calls_failed_ratio Share of the line's outgoing calls that failed, 0 to 1",
        "# HELP bx24_sip_calls_streak The line's newest outgoing calls that failed one after the "
        "other",
        "# HELP bx24_sip_calls_line_state State of the line's outgoing calls: 0 OK, 1 WARNING, 2 "
        "CRITICAL"]
    require_promtool()
    assert promtool_verdict(run.stdout + "\n") == "exit 0:"


@pytest.mark.parametrize("scenario,up", [("calls-access-denied", 0), ("calls-none", 1),
                                         ("calls-busy-portal", 1), ("calls-ok", 1)])
def test_prometheus_text_is_clean_in_every_calls_state(portal, scenario, up):
    from promtool import promtool_verdict, require_promtool

    portal.serve(scenario)
    run = run_plugin("--webhook", portal.webhook, "--check", "all,calls", "--output", "prometheus")
    labels = f'{{portal="127.0.0.1:{portal.server.port}",check="connector,lines,calls"}}'
    assert f"bx24_sip_up{labels} {up}" in run.stdout.splitlines()
    assert ("bx24_sip_calls" in run.stdout) == bool(up)
    truncated = f"bx24_sip_calls_truncated{labels} {int(scenario == 'calls-busy-portal')}"
    assert (truncated in run.stdout.splitlines()) == bool(up)
    require_promtool()
    assert promtool_verdict(run.stdout + "\n") == "exit 0:"


# ------------------------------------------------------------------ pure parts

NOW = datetime(2026, 12, 5, 13, 0, 0, tzinfo=timezone(timedelta(hours=3)))


def call(call_id: int, line: str, code: str, minutes_ago: float = 1.0) -> Call:
    return Call(call_id, line, code, NOW - timedelta(minutes=minutes_ago))


@pytest.mark.parametrize("text,aspects,name", [
    ("connector", ("connector",), "connector"), ("lines", ("lines",), "lines"),
    ("calls", ("calls",), "calls"), ("all", ("connector", "lines"), "all"),
    ("lines,connector", ("connector", "lines"), "all"),
    ("all,calls", ("connector", "lines", "calls"), "connector,lines,calls"),
    ("calls,connector", ("connector", "calls"), "connector,calls"),
    ("calls,lines", ("lines", "calls"), "lines,calls"),
    ("calls, calls,CALLS", ("calls",), "calls"),
])
def test_check_lists_and_their_canonical_names(text, aspects, name):
    assert aspects_of(text) == aspects
    assert check_name(aspects) == name


@pytest.mark.parametrize("text", ["", "calls,", "everything", "connector lines", "all;calls"])
def test_unknown_check_items_are_usage_errors(text):
    with pytest.raises(UsageError):
        aspects_of(text)


@pytest.mark.parametrize("now,window,since", [
    (NOW, 60, "2026-12-05T12:00:00+03:00"),
    (NOW.replace(microsecond=999999), 1, "2026-12-05T12:59:00+03:00"),
    (NOW.astimezone(timezone.utc), 10080, "2026-11-28T10:00:00+00:00"),
    (NOW.astimezone(timezone(timedelta(hours=-4))), 30, "2026-12-05T05:30:00-04:00"),
    (NOW.astimezone(timezone(timedelta(hours=5, minutes=30, seconds=15))), 60,
     "2026-12-05T09:00:00+00:00"),
])
def test_since_has_seconds_and_a_numeric_offset(now, window, since):
    assert since_of(now, window) == since


def test_the_command_decodes_back_to_the_filter_as_php_reads_it():
    since = "2026-12-05T10:00:00+03:00"
    command = calls_command(since, 100)
    assert command == (f"{STATISTIC}?FILTER%5BCALL_TYPE%5D=1&FILTER%5B%3E%3DCALL_START_DATE%5D="
                       "2026-12-05T10%3A00%3A00%2B03%3A00&SORT=CALL_START_DATE&ORDER=DESC&start=100")
    assert php_parse_str(command.partition("?")[2]) == page_query(since, 100)
    # what the server would read from the same query written carelessly
    careless = f"FILTER[>=CALL_START_DATE]={since}"
    assert php_parse_str(careless) == {"FILTER_>": "CALL_START_DATE]=2026-12-05T10:00:00 03:00"}


@pytest.mark.parametrize("total,pages", [(0, []), (50, []), (51, [50]), (2450, list(range(50, 2450, 50))),
                                         (2451, list(range(50, 2500, 50))),
                                         (10 ** 6, list(range(50, 2500, 50)))])
def test_later_pages(total, pages):
    assert later_pages(total) == pages
    assert len(later_pages(total)) <= 49


@pytest.mark.parametrize("value,total", [(0, 0), (3000, 3000), ("17", 17), (" 5 ", 5)])
def test_totals(value, total):
    assert parse_total(value) == total


@pytest.mark.parametrize("value", [-1, "x", None, True, 1.5, [], {}])
def test_bad_totals(value):
    with pytest.raises(BadAnswer, match="'total' is"):
        parse_total(value)


@pytest.mark.parametrize("code,failure,meant", [
    ("200", False, None), ("304", False, None), ("480", False, None), ("486", False, None),
    ("603", False, None), ("603-S", False, None),
    ("402", True, "insufficient funds"), ("402-B24", True, "unavailable on the free plan"),
    ("403", True, "forbidden"), ("404", True, "invalid number"), ("423", True, "blocked"),
    ("484", True, "route unavailable"), ("500", True, "server error"),
    ("503", True, "route unavailable"), ("OTHER", True, "other error"),
    ("487", True, "unknown code"), ("606", True, "unknown code"), ("X-1", True, "unknown code"),
])
def test_classification(code, failure, meant):
    assert is_failure(code) is failure
    if failure:
        assert meaning(code) == meant


@pytest.mark.parametrize("raw,code", [("603-s", "603-S"), (" 486 ", "486"), (503, "503"),
                                      ("other", "OTHER"), ("402-b24", "402-B24")])
def test_codes_are_compared_trimmed_and_case_insensitively(raw, code):
    assert failed_code(raw, 1) == code


def test_a_row_reads_into_a_call():
    row = {"ID": "77", "PORTAL_NUMBER": "REST_APP:5", "CALL_FAILED_CODE": "503",
           "CALL_START_DATE": "2026-12-05T10:00:00Z"}
    assert parse_call(row) == Call(77, "REST_APP:5", "503",
                                   datetime(2026, 12, 5, 10, tzinfo=timezone.utc))
    absent: List[object] = [None, "", [], {}]
    for number in absent:
        assert parse_call({**row, "PORTAL_NUMBER": number}).line == "unknown"
    assert parse_call({**row, "PORTAL_NUMBER": "reg1|x\ny"}).line == "reg1/x y"
    assert parse_call({**row, "ID": 78}).id == 78
    assert parse_calls_page([]) == []


def test_newest_calls_are_unique_ordered_and_capped():
    older = call(1, "a", "200", 30)
    same_time = [call(5, "a", "200", 10), call(9, "a", "200", 10)]
    twice = [call(3, "a", "503", 20), call(3, "a", "200", 5)]  # the first read wins
    assert [c.id for c in newest_calls([older, *same_time, *twice])] == [9, 5, 3, 1]
    assert newest_calls(twice)[0].code == "503"
    zones = [Call(1, "a", "200", datetime(2026, 12, 5, 12, tzinfo=timezone(timedelta(hours=3)))),
             Call(2, "a", "200", datetime(2026, 12, 5, 8, tzinfo=timezone.utc))]
    assert [c.id for c in newest_calls(zones)] == [1, 2]  # 09:00 UTC is newer than 08:00 UTC
    many = [call(n, "a", "200", n / 100) for n in range(3000)]
    kept = newest_calls(many)
    assert len(kept) == 2500 and kept[0].id == 0 and kept[-1].id == 2499


def test_tally_counts_a_line():
    calls = [call(9, "reg1", "503"), call(8, "reg1", "503"), call(7, "reg1", "486"),
             call(6, "reg1", "402"), call(5, "reg1", "200")]
    assert tally("reg1", calls) == CallLine("reg1", 5, 3, 2, (("503", 2), ("402", 1)))
    assert tally("reg1", calls[:2]).streak == 2
    assert tally("reg1", [call(1, "reg1", "486")]).streak == 0


LIMITS = CallsLimits()


@pytest.mark.parametrize("outgoing,failed,streak,limits,state", [
    (5, 1, 0, LIMITS, Warn),  # exactly 20 %
    (5, 0, 0, LIMITS, Ok),
    (4, 1, 0, LIMITS, Ok),  # below --calls-min
    (4, 2, 2, LIMITS, Ok),
    (10, 5, 0, LIMITS, Critical),  # exactly 50 %
    (10, 4, 0, LIMITS, Warn),
    (3, 3, 3, LIMITS, Critical),  # the streak, whatever the count
    (100, 3, 3, LIMITS, Critical),
    (3, 3, 3, LIMITS._replace(streak=0), Ok),
    (3, 3, 3, LIMITS._replace(streak=4), Ok),
    (3, 1, 1, LIMITS._replace(min_calls=3, warning=Fraction("33.3")), Warn),  # 33.33... >= 33.3
    (3, 1, 1, LIMITS._replace(min_calls=3, warning=Fraction("33.34")), Ok),
    (3, 0, 0, LIMITS._replace(min_calls=3, warning=Fraction(0)), Warn),
    (1, 1, 1, LIMITS._replace(min_calls=1, streak=0), Critical),
])
def test_line_states(outgoing, failed, streak, limits, state):
    line = CallLine("reg1", outgoing, failed, streak, (("503", failed),) if failed else ())
    assert judge_call_line(line, limits) == state


def test_line_order_worst_then_failures_then_share_then_id():
    calls = ([call(n, "b", "503") for n in range(1, 4)]  # 3 of 3: CRITICAL by streak
             + [call(n, "a", "503") for n in range(10, 13)]  # the same: a before b
             + [call(n, "c", "503") for n in range(20, 22)] + [call(n, "c", "200", 2)
                                                                for n in range(22, 30)]
             + [call(n, "d", "200") for n in range(30, 40)]
             + [call(40, "e", "503"), call(41, "e", "200", 3)])
    order = [line.id for line in call_lines(calls, LIMITS)]
    assert order == ["a", "b", "c", "e", "d"]
    states = [line.state for line in call_lines(calls, LIMITS)]
    assert states == [Critical, Critical, Warn, Ok, Ok]


def test_between_equal_states_and_failures_the_higher_share_comes_first():
    limits = LIMITS._replace(min_calls=1, streak=0)
    calls = ([call(1, "x", "503"), call(2, "x", "200", 2)]  # 1 of 2: 50 %
             + [call(3, "y", "503")]  # 1 of 1: 100 %
             + [call(4, "w", "503"), call(5, "w", "200", 2)])  # as x: then by id
    lines = call_lines(calls, limits)
    assert [(line.id, line.state, line.failed) for line in lines] == [
        ("y", Critical, 1), ("w", Critical, 1), ("x", Critical, 1)]


def test_summaries_say_the_fixed_phrases():
    lines = call_lines([call(n, f"reg{n % 5}", "503") for n in range(15)], LIMITS)
    state, summary = summarize_calls(lines, LIMITS)
    assert state == Critical
    assert summary == ("5 of 5 lines failing calls: " + "; ".join(
        f"reg{n}: 3 of 3 outgoing calls failed in the last 60 min (503 route unavailable x3), "
        "the last 3 in a row" for n in range(3)) + "; and 2 more")
    assert summarize_calls([], LIMITS._replace(window=5, none=Unknown)) == (
        Unknown, "no outgoing calls in the last 5 min")
    one = call_lines([call(1, "reg1", "200")], LIMITS)
    assert summarize_calls(one, LIMITS) == (
        Ok, "1 outgoing call on 1 line in the last 60 min, none failed")
    quiet = CallLine("reg1", 5, 0, 0, (), Warn)
    assert call_line_fragment(quiet, LIMITS) == "reg1: 0 of 5 outgoing calls failed in the last 60 min"


@pytest.mark.parametrize("line,label", [("reg150907", "reg150907"), ("REST_APP:5", "REST_APP_5"),
                                        ("+7 495 123", "_7_495_123"), ("a.b-c_d", "a.b-c_d"),
                                        ("линия", "_____")])
def test_perf_labels(line, label):
    assert perf_label(line) == label


def test_twenty_lines_at_most_in_perfdata_and_no_label_twice(portal):
    specs = [CallSpec(1 + n / 10, f"reg{170000 + n}", "503" if n < 2 else "200") for n in range(25)]
    specs += [CallSpec(2, "REST_APP:5", "200"), CallSpec(3, "REST_APP_5", "503")]
    fake_portal.serve_calls(portal.server, Calls(specs))
    run = run_plugin("--webhook", portal.webhook, "--check", "calls", "--calls-min", "1")
    assert run.code == 2 and TIME.search(run.first_line)
    labels = [item.split("=")[0] for item in run.first_line.split(" | ")[1].split()]
    assert len(labels) == len(set(labels))
    per_line = [label for label in labels if label.startswith("calls_failed_pct_")]
    assert len(per_line) == 19  # the first 20 lines, less REST_APP:5 whose label is taken
    assert "calls_failed_pct_REST_APP_5" in per_line
    assert "calls_REST_APP_5=1;;;0" in run.first_line  # the first in the line order: 1 failed
