"""The pure parts, called directly: webhook parsing, value coercion, the date rule, the verdict."""

from __future__ import annotations

from datetime import date

import pytest
from nagiosplugin.state import Critical, Ok, Unknown, Warn

from check_bx24_sip import (
    Answer,
    BadAnswer,
    ConnectorStatus,
    PortalRefused,
    Thresholds,
    Unreachable,
    UsageError,
    _seconds,
    build_parser,
    coerce_minutes,
    coerce_paid,
    days_left,
    describe_value,
    failure_state,
    interpret_connector,
    judge,
    parse_paid_date,
    parse_webhook,
    read_argv,
    requested,
    value_options,
    without_empty_values,
)

TODAY = date(2026, 11, 28)
LIMITS = Thresholds()


# ------------------------------------------------------------------ PAID_DATE_END

@pytest.mark.parametrize("text", [
    "2024-05-01T03:00:00+03:00",   # Moscow server: 00:00 UTC shown as 03:00
    "2024-04-30T20:00:00-04:00",   # New York server: the previous calendar day on paper
    "2024-04-30T19:00:00-05:00",
    "2024-05-01T00:00:00Z",
    "2024-05-01T00:00:00z",
    "2024-05-01T00:00:00+00:00",
    "2024-05-01T14:00:00+14:00",   # Kiribati
    "2024-04-30T13:00:00-11:00",   # Niue
    "2024-05-01T04:00:00+03:00",   # DST drift: the offset of "today" was applied, +1 h
    "2024-05-01T02:00:00+03:00",   # DST drift, -1 h
    "2024-05-01T03:00:00+0300",
    "2024-05-01 03:00:00+03:00",
    "2024-05-01T03:00:00.000+03:00",
    "2024-05-01",
    " 2024-05-01T03:00:00+03:00 ",
])
def test_paid_date_is_the_utc_date_of_the_instant(text):
    assert parse_paid_date(text) == date(2024, 5, 1)


@pytest.mark.parametrize("value", [None, ""])
def test_no_paid_date(value):
    assert parse_paid_date(value) is None


@pytest.mark.parametrize("value,message", [
    ("01.05.2024", 'PAID_DATE_END is "01.05.2024", expected an ISO 8601 date'),
    ("2024-13-01T00:00:00Z", 'PAID_DATE_END is "2024-13-01T00:00:00Z", not a valid date'),
    ("2024-02-30", 'PAID_DATE_END is "2024-02-30", not a valid date'),
    ("1970-01-01T03:00:00+03:00", 'PAID_DATE_END is "1970-01-01T03:00:00+03:00", '
                                  "an implausible date"),
    ("9999-12-31T23:00:00-05:00", 'PAID_DATE_END is "9999-12-31T23:00:00-05:00", '
                                  "not a valid date"),
    ("2024-05-01T03:00:00+25:00", 'PAID_DATE_END is "2024-05-01T03:00:00+25:00", '
                                  "not a valid date"),
    (1714521600, "PAID_DATE_END is 1714521600, expected an ISO 8601 date"),
    (False, "PAID_DATE_END is false, expected an ISO 8601 date"),
    ({"date": "2024-05-01"}, "PAID_DATE_END is a JSON object, expected an ISO 8601 date"),
])
def test_bad_paid_dates(value, message):
    with pytest.raises(BadAnswer) as raised:
        parse_paid_date(value)
    assert raised.value.message == message


# ------------------------------------------------------------------ coercion

@pytest.mark.parametrize("value,paid", [
    (True, True), (False, False), (1, True), (0, False), ("Y", True), ("N", False),
    ("y", True), ("n", False), ("1", True), ("0", False), ("true", True), ("false", False),
    ("", False),
])
def test_paid_variants(value, paid):
    assert coerce_paid(value) is paid


@pytest.mark.parametrize("value,shown", [
    ("maybe", '"maybe"'), (2, "2"), (-1, "-1"), (1.0, "1.0"), (None, "null"),
    ([], "a JSON array"), ({}, "a JSON object"),
])
def test_paid_rejects_the_rest(value, shown):
    with pytest.raises(BadAnswer) as raised:
        coerce_paid(value)
    assert raised.value.message == f"PAID is {shown}, expected true or false"


@pytest.mark.parametrize("value,minutes", [(60, 60), (0, 0), ("60", 60), (" 7 ", 7),
                                           (60.0, 60)])
def test_minutes_variants(value, minutes):
    assert coerce_minutes(value) == minutes


@pytest.mark.parametrize("value,shown", [
    (-1, "-1"), (1.5, "1.5"), ("1.5", '"1.5"'), ("-3", '"-3"'), (True, "true"),
    (None, "null"), ("", '""'), ([60], "a JSON array"), (float("inf"), "inf"),
])
def test_minutes_rejects_the_rest(value, shown):
    with pytest.raises(BadAnswer) as raised:
        coerce_minutes(value)
    assert raised.value.message == f"FREE_MINUTES is {shown}, expected a whole number >= 0"


# ------------------------------------------------------------------ whole days

@pytest.mark.parametrize("until,left", [
    (date(2026, 11, 28), 0), (date(2026, 11, 29), 1), (date(2026, 11, 27), -1),
    (date(2026, 12, 5), 7), (date(2027, 11, 28), 365), (date(2028, 11, 28), 731),
])
def test_days_left(until, left):
    assert days_left(until, TODAY) == left


# ------------------------------------------------------------------ the verdict

def paid_until(days: int) -> ConnectorStatus:
    return ConnectorStatus(True, 0, date.fromordinal(TODAY.toordinal() + days))


@pytest.mark.parametrize("status,limits,state,summary", [
    (paid_until(30), LIMITS, Ok, "paid until 2026-12-28 (30 days left)"),
    (paid_until(7), LIMITS, Ok, "paid until 2026-12-05 (7 days left)"),
    (paid_until(6), LIMITS, Warn, "paid until 2026-12-04, 6 days left"),
    (paid_until(3), LIMITS, Warn, "paid until 2026-12-01, 3 days left"),
    (paid_until(2), LIMITS, Critical, "paid until 2026-11-30, 2 days left"),
    (paid_until(1), LIMITS, Critical, "paid until 2026-11-29, 1 day left"),
    (paid_until(0), LIMITS, Critical, "paid until 2026-11-28, 0 days left"),
    (paid_until(-1), LIMITS, Critical, "expired on 2026-11-27"),
    (paid_until(0), Thresholds(0, 0), Ok, "paid until 2026-11-28 (0 days left)"),
    (paid_until(-1), Thresholds(0, 0), Critical, "expired on 2026-11-27"),
    (paid_until(1), LIMITS._replace(critical_days=1), Warn, "paid until 2026-11-29, 1 day left"),
    (ConnectorStatus(True, 0, None), LIMITS, Warn, "paid, but Bitrix24 reported no end date"),
    (ConnectorStatus(False, 60, None), LIMITS, Warn, "not paid, 60 free minutes left"),
    (ConnectorStatus(False, 60, None), LIMITS._replace(unpaid=Ok), Ok,
     "not paid, 60 free minutes left"),
    (ConnectorStatus(False, 10, None), LIMITS._replace(unpaid=Ok), Ok,
     "not paid, 10 free minutes left"),
    (ConnectorStatus(False, 9, None), LIMITS._replace(unpaid=Ok), Warn,
     "not paid, 9 free minutes left"),
    (ConnectorStatus(False, 1, None), LIMITS._replace(unpaid=Ok), Warn,
     "not paid, 1 free minute left"),
    (ConnectorStatus(False, 4, None), LIMITS._replace(unpaid=Ok, critical_minutes=5), Critical,
     "not paid, 4 free minutes left"),
    (ConnectorStatus(False, 60, None), LIMITS._replace(unpaid=Critical), Critical,
     "not paid, 60 free minutes left"),
    (ConnectorStatus(False, 5, None), LIMITS._replace(unpaid=Critical), Critical,
     "not paid, 5 free minutes left"),
    (ConnectorStatus(False, 0, None), Thresholds(0, 0, 0, 0, Ok), Critical,
     "not paid and no free minutes: outbound SIP calls are off"),
])
def test_judge(status, limits, state, summary):
    assert judge(status, limits, TODAY) == (state, summary)


def test_failures_map_to_states():
    assert failure_state(Unreachable("x"), Critical) is Critical
    assert failure_state(PortalRefused("x"), Critical) is Unknown
    assert failure_state(BadAnswer("x"), Warn) is Unknown


# ------------------------------------------------------------------ interpretation

ASKED = "https://p.bitrix24.ru/rest/1/abcd1234efgh5678/voximplant.sip.connector.status.json"


def answer(body: bytes, status: int = 200, location=None, url: str = ASKED) -> Answer:
    return Answer(url, status, "application/json", location, body, 0.01)


def test_interpret_documented_example():
    body = (b'{"result":{"FREE_MINUTES":60,"PAID":false},"time":{"start":1773323233,'
            b'"finish":1773323233.979212,"duration":0.9792120456695557,"processing":0}}')
    assert interpret_connector(answer(body)) == ConnectorStatus(False, 60, None)


def test_interpret_paid_ignores_date_of_unpaid_and_reads_date_of_paid():
    unpaid = b'{"result":{"FREE_MINUTES":"5","PAID":"N","PAID_DATE_END":"garbage"}}'
    assert interpret_connector(answer(unpaid)) == ConnectorStatus(False, 5, None)
    paid = b'{"result":{"FREE_MINUTES":0,"PAID":1,"PAID_DATE_END":"2024-04-30T20:00:00-04:00"}}'
    assert interpret_connector(answer(paid)) == ConnectorStatus(True, 0, date(2024, 5, 1))


@pytest.mark.parametrize("body,status,kind,message", [
    (b'{"error":"ACCESS_DENIED","error_description":"Access denied!"}', 200, PortalRefused,
     'Bitrix24 error ACCESS_DENIED: the webhook\'s user needs the telephony right '
     '"Manage numbers - Edit - Any" (or REST is not on this plan)'),
    (b'{"error":null,"error_description":null}', 400, PortalRefused,
     "Bitrix24 could not reach its telephony controller (HTTP 400): try again later"),
    (b'{"error":"CONNECT_ERROR","error_description":"Parse error"}', 400, PortalRefused,
     "Bitrix24 error CONNECT_ERROR: Bitrix24 could not reach its telephony controller: "
     "try again later"),
    (b'{"error":"INVALID_REQUEST","error_description":"Https required."}', 401, PortalRefused,
     "Bitrix24 error INVALID_REQUEST: Https required."),
    (b'{"error":""}', 500, PortalRefused,
     "Bitrix24 reported an error without a code (HTTP 500)"),
    (b'{"result":{}}', 400, PortalRefused,
     "Bitrix24 could not reach its telephony controller (HTTP 400): try again later"),
    (b'{"result":{}}', 500, BadAnswer, "HTTP 500 without a Bitrix24 error code"),
    (b'{"result":[]}', 200, BadAnswer, "'result' is empty"),
    (b'{"result":"ok"}', 200, BadAnswer, "'result' is a JSON string, not an object"),
    (b'{"result":[1]}', 200, BadAnswer, "'result' is a JSON array, not an object"),
    (b'{"result":{"PAID":false}}', 200, BadAnswer, "'result' has no FREE_MINUTES"),
    (b'{"result":{"FREE_MINUTES":1}}', 200, BadAnswer, "'result' has no PAID"),
    (b'[1,2]', 200, BadAnswer, "the answer is a JSON array, not an object"),
    (b'null', 200, BadAnswer, "the answer is a JSON null, not an object"),
    (b'', 200, BadAnswer,
     "HTTP 200 answer is not JSON (application/json): is the webhook URL a Bitrix24 portal?"),
    (b'\xff\xfe\x00', 200, BadAnswer,
     "HTTP 200 answer is not JSON (application/json): is the webhook URL a Bitrix24 portal?"),
])
def test_interpret_failures(body, status, kind, message):
    with pytest.raises(kind) as raised:
        interpret_connector(answer(body, status))
    assert raised.value.message == message


@pytest.mark.parametrize("location,message", [
    ("https://new.bitrix24.de/rest/1/code/", "the portal moved to new.bitrix24.de (HTTP 301): "
                                            "update the webhook URL"),
    ("/rest/1/code/", "the portal redirects (HTTP 301): check the webhook URL"),
    (None, "the portal redirects (HTTP 301): check the webhook URL"),
])
def test_redirects_name_only_the_host(location, message):
    with pytest.raises(BadAnswer) as raised:
        interpret_connector(answer(b"", 301, location))
    assert raised.value.message == message


# ------------------------------------------------------------------ options

CODE = "abcd1234efgh5678"


@pytest.mark.parametrize("url,base,host", [
    (f"https://p.bitrix24.ru/rest/1/{CODE}/", f"https://p.bitrix24.ru/rest/1/{CODE}/",
     "p.bitrix24.ru"),
    (f"https://p.bitrix24.ru/rest/1/{CODE}", f"https://p.bitrix24.ru/rest/1/{CODE}/",
     "p.bitrix24.ru"),
    (f"https://p.bitrix24.ru/rest/1/{CODE}/profile.json", f"https://p.bitrix24.ru/rest/1/{CODE}/",
     "p.bitrix24.ru"),
    (f"https://p.bitrix24.ru/rest/1/{CODE}/profile", f"https://p.bitrix24.ru/rest/1/{CODE}/",
     "p.bitrix24.ru"),
    ("  http://127.0.0.1:8080/rest/17/abc_-9xyz0/\n", "http://127.0.0.1:8080/rest/17/abc_-9xyz0/",
     "127.0.0.1:8080"),
    (f"https://crm.example.com/bitrix/rest/1/{CODE}/",
     f"https://crm.example.com/bitrix/rest/1/{CODE}/", "crm.example.com"),
    (f"https://[::1]:8443/rest/1/{CODE}/", f"https://[::1]:8443/rest/1/{CODE}/", "[::1]:8443"),
    (f"https://[2001:db8::1]/rest/1/{CODE}/", f"https://[2001:db8::1]/rest/1/{CODE}/",
     "[2001:db8::1]"),
    (f"https://портал.рф/rest/1/{CODE}/", f"https://портал.рф/rest/1/{CODE}/", "портал.рф"),
])
def test_parse_webhook(url, base, host):
    hook = parse_webhook(url)
    assert (hook.base, hook.host, hook.secret) == (base, host, base.rstrip("/").rsplit("/")[-1])
    assert hook.url_for("batch") == base + "batch.json"


SHAPE = "the webhook URL must look like https://PORTAL/rest/USER_ID/CODE/"
BAD_HOST = "the webhook's host name is not valid; expected https://PORTAL/rest/USER_ID/CODE/"


@pytest.mark.parametrize("url,message", [
    ("", "the webhook must be an http(s) URL like https://PORTAL/rest/USER_ID/CODE/"),
    ("https://", "the webhook must be an http(s) URL like https://PORTAL/rest/USER_ID/CODE/"),
    ("https://p/rest/1/", SHAPE),
    (f"https://p/1/{CODE}/x/", SHAPE),
    (f"https://p/rest/1/{CODE}/user/get", SHAPE),
    ("https://p/rest/1/a+b/", SHAPE),
    ("mailto:x@y", "the webhook must be an http(s) URL like https://PORTAL/rest/USER_ID/CODE/"),
    (f"https://p/rest/1/{CODE}/#x", "the webhook URL must have no user:password@, ?query or "
                                    "#fragment; expected https://PORTAL/rest/USER_ID/CODE/"),
    (f"https://my portal.bitrix24.ru/rest/1/{CODE}/", BAD_HOST),
    (f"https://portal<.ru/rest/1/{CODE}/", BAD_HOST),
    (f"https://[fe80::zz]/rest/1/{CODE}/", "the webhook is not a URL; expected "
                                           "https://PORTAL/rest/USER_ID/CODE/"),
    ("https://p/rest/1/1234567/", "the webhook code is 7 characters long; Bitrix24's are 16 (at "
                                  "least 8 are needed): copy the whole webhook URL"),
])
def test_parse_webhook_rejects(url, message):
    with pytest.raises(UsageError) as raised:
        parse_webhook(url)
    assert raised.value.message == message


def test_shortest_code_accepted_has_eight_characters():
    assert parse_webhook("https://p/rest/1/12345678/").secret == "12345678"


@pytest.mark.parametrize("location,message", [
    ("https://p.bitrix24.ru/rest/1/x/", "the portal answers only over https (HTTP 301): "
                                        "use https:// in the webhook URL"),
    ("https://other.bitrix24.ru/rest/1/x/", "the portal moved to other.bitrix24.ru (HTTP 301): "
                                            "update the webhook URL"),
    ("http://p.bitrix24.ru/elsewhere/", "the portal redirects (HTTP 301): check the webhook URL"),
])
def test_http_redirect_to_https_on_the_same_host_says_so(location, message):
    asked = ASKED.replace("https://", "http://")
    with pytest.raises(BadAnswer) as raised:
        interpret_connector(answer(b"", 301, location, url=asked))
    assert raised.value.message == message


@pytest.mark.parametrize("argv,count", [([], 0), (["-v"], 1), (["-vvv"], 3),
                                        (["-v", "--verbose", "-v"], 3), (["-vx"], 0)])
def test_requested_verbosity(argv, count):
    assert requested(read_argv(argv)).verbosity == count


@pytest.mark.parametrize("argv,asked", [
    ([], ("nagios", "connector", None)),
    (["--output=json", "--check", "lines", "--prometheus-file", "/tmp/x.prom"],
     ("json", "lines", "/tmp/x.prom")),
    (["--output", "json", "--output=prometheus"], ("prometheus", "connector", None)),
    (["--output", "--output=json"], ("json", "connector", None)),  # the last one counts
    (["--output", "xml", "--check=both"], ("nagios", "connector", None)),  # not allowed: default
    (["--prometheus-file=https://p/rest/1/abcdefgh/"], ("nagios", "connector", None)),  # a URL
    (["--prometheus-file"], ("nagios", "connector", None)),
])
def test_what_a_failed_run_prints_is_read_off_argv(argv, asked):
    found = requested(read_argv(argv))
    assert (found.output, found.check, found.textfile) == asked


@pytest.mark.parametrize("argv,kept", [
    (["-w", "", "--check=", "-c", "5"], ["-c", "5"]),
    (["--check", "--check", ""], ["--check"]),
    (["-t", "", ""], [""]),
    (["--check=", ""], [""]),
    (["--webhook-dir", ""], ["--webhook-dir", ""]),  # an empty webhook source is no default
    (["--line=", "--unpaid", "ok"], ["--unpaid", "ok"]),
])
def test_empty_values_mean_the_default(argv, kept):
    parser = build_parser()
    assert without_empty_values(read_argv(argv), value_options(parser, False)) == kept


def test_the_options_with_values_are_read_off_the_parser():
    parser = build_parser()
    assert value_options(parser, True) == ("--webhook", "--webhook-file", "--portal",
                                           "--webhook-dir") + value_options(parser, False)
    assert {"-w", "--line", "--prometheus-file", "-t"} <= set(value_options(parser, False))
    assert {"--insecure", "-v", "--verbose", "-h"}.isdisjoint(value_options(parser, True))


@pytest.mark.parametrize("body,limited", [
    (b'{"error":"QUERY_LIMIT_EXCEEDED","error_description":"Too many requests"}', True),
    (b'{"error":"query_limit_exceeded"}', True),
    (b'{"error":"OPERATION_TIME_LIMIT"}', False),
    (b'{"error":"ACCESS_DENIED","error_description":"QUERY_LIMIT_EXCEEDED"}', False),
])
def test_only_query_limit_exceeded_is_worth_a_retry(body, limited):
    with pytest.raises(PortalRefused) as raised:
        interpret_connector(answer(body, 503))
    assert raised.value.rate_limited is limited


def test_a_spent_deadline_has_nothing_left_and_a_fresh_one_its_seconds():
    import time

    from check_bx24_sip import Deadline

    assert Deadline(1.0, time.monotonic() - 5).remaining() == 0.0
    fresh = Deadline(10.0, time.monotonic()).remaining()
    assert 9.0 < fresh <= 10.0


@pytest.mark.parametrize("value,expected", [([], {}), ({}, {}), ({"a": 1}, {"a": 1})])
def test_as_map_takes_phps_empty_list_for_an_empty_map(value, expected):
    from check_bx24_sip import as_map

    assert as_map(value, "the line list") == expected


@pytest.mark.parametrize("value,kind", [([1], "array"), ("x", "string"), (None, "null")])
def test_as_map_refuses_anything_else(value, kind):
    from check_bx24_sip import BadAnswer, as_map

    with pytest.raises(BadAnswer) as refused:
        as_map(value, "the line list")
    assert refused.value.message == f"the line list is a JSON {kind}, not an object"


@pytest.mark.parametrize("value,shown", [
    (10 ** 40, "100000000000000000000000000..."),  # 30 characters at most, like a string
    (10 ** 29, "100000000000000000000000000000"),
    (-1.5, "-1.5"), (True, "true"), (None, "null"), ([1], "a JSON array"),
    ("x" * 31, '"xxxxxxxxxxxxxxxxxxxxxxxxxxx..."'),
])
def test_an_ill_typed_value_is_described_in_a_few_characters(value, shown):
    assert describe_value(value) == shown


@pytest.mark.parametrize("text,seconds", [("3600", 3600.0), ("0.001", 0.001), ("10", 10.0)])
def test_a_deadline_is_positive_and_at_most_an_hour(text, seconds):
    assert _seconds(text) == seconds


@pytest.mark.parametrize("text", ["0", "-1", "3600.5", "3601", "inf", "nan"])
def test_a_deadline_outside_that_is_refused(text):
    with pytest.raises(ValueError):
        _seconds(text)
