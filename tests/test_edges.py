"""Edges a user would notice: long portal text, rare error codes, what is sent and trusted,
body sizes, the retry timing, the date rule's boundaries, and usage errors in every format."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from datetime import date, datetime, timezone

import fake_portal
import pytest
from fake_portal import Reply, serve_reply
from net import free_port
from plugin import assert_output, day, run_plugin
from werkzeug import Response

from check_bx24_sip import (
    BadAnswer,
    Outcome,
    internal_error,
    parse_paid_date,
    render_json,
    render_prometheus,
)

PAID_OK = (f"BX24_SIP OK - paid until {day(30)} (30 days left) | days_left=30;7:;3: "
           "free_minutes=0;;;0 paid=1;;;0;1 time=T")


def serve_error(portal, body: dict, status: int) -> None:
    serve_reply(portal.server, Reply(status, json.dumps(body).encode()))


# ------------------------------------------------------------------ long portal text

def test_long_error_description_is_cut_to_80_characters(portal):
    serve_error(portal, {"error": "SOMETHING_NEW", "error_description": "word " * 30}, 500)
    run = run_plugin("--webhook", portal.webhook)
    assert_output(run, 3, "BX24_SIP UNKNOWN - Bitrix24 error SOMETHING_NEW: "
                          + ("word " * 16)[:77] + "...")


def test_long_error_code_is_cut_to_40_characters(portal):
    serve_error(portal, {"error": "E" * 50, "error_description": "x"}, 500)
    assert_output(run_plugin("--webhook", portal.webhook), 3,
                  f"BX24_SIP UNKNOWN - Bitrix24 error {'E' * 37}...: x")


def test_long_ill_typed_value_is_cut_to_30_characters(portal):
    serve_reply(portal.server, fake_portal.ok_json({"FREE_MINUTES": 1, "PAID": "p" * 40}))
    assert_output(run_plugin("--webhook", portal.webhook), 3,
                  f'BX24_SIP UNKNOWN - PAID is "{"p" * 27}...", expected true or false')


def test_very_verbose_answer_line_is_cut_to_300_characters(portal):
    result = {"FREE_MINUTES": 60, "PAID": False, "NOTE": "n" * 400}
    serve_reply(portal.server, fake_portal.ok_json(result))
    run = run_plugin("--webhook", portal.webhook, "-vv", "--unpaid", "ok")
    assert run.code == 0
    answer = json.dumps(fake_portal.envelope(result))
    assert run.lines[-1] == "answer: " + answer[:297] + "..."
    assert len(run.lines) == 5


# ------------------------------------------------------------------ rare Bitrix24 errors

@pytest.mark.parametrize("body,status,summary", [
    ({"error": "PAYMENT_REQUIRED", "error_description": "Subscription has been ended"}, 401,
     "Bitrix24 error PAYMENT_REQUIRED: the portal's subscription has ended"),
    ({"error": "PORTAL_DELETED", "error_description": "Portal was deleted"}, 403,
     "Bitrix24 error PORTAL_DELETED: the portal was deleted"),
    ({"error": "expired_token", "error_description": "The access token provided has expired"},
     401, "Bitrix24 error expired_token: the webhook has expired: create a new one"),
    ({"error": "invalid_token", "error_description": "Unable to get application by token"}, 401,
     "Bitrix24 error invalid_token: the webhook has expired: create a new one"),
    ({"error": "authorization_error", "error_description": "x"}, 401,
     "Bitrix24 error authorization_error: the webhook's user is inactive"),
    ({"error": "OVERLOAD_LIMIT", "error_description": "x"}, 503,
     "Bitrix24 error OVERLOAD_LIMIT: REST is blocked by Bitrix24 for overload"),
    ({"error": "BRAND_NEW"}, 418, "Bitrix24 error BRAND_NEW: HTTP 418"),
    ({"error": "BRAND_NEW", "error_description": 17}, 500, "Bitrix24 error BRAND_NEW: 17"),
    ({"error": 42, "error_description": "numeric"}, 500, "Bitrix24 error 42: numeric"),
    ({"error": ["list"], "error_description": "x"}, 500,
     "Bitrix24 reported an error without a code (HTTP 500)"),
    ({"error": True}, 200, "Bitrix24 reported an error without a code (HTTP 200)"),
])
def test_rare_error_codes_and_fallbacks(portal, body, status, summary):
    serve_error(portal, body, status)
    assert_output(run_plugin("--webhook", portal.webhook, "-t", "1.5"), 3,
                  f"BX24_SIP UNKNOWN - {summary}")


# ------------------------------------------------------------------ what is sent and trusted

def test_request_asks_for_an_unencoded_answer(portal):
    portal.server.expect_request(fake_portal.path_for(), method="POST",
                                 headers={"Accept-Encoding": "identity"}).respond_with_data(
        fake_portal.reply_for("paid").body, content_type="application/json")
    assert_output(run_plugin("--webhook", portal.webhook), 0, PAID_OK)


@pytest.mark.parametrize("variable", ["REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"])
def test_ca_bundle_variables_are_ignored(tls_portal, variable):
    """Only --ca-file changes what is trusted: a stray variable must not turn TLS off or on."""
    server, cert = tls_portal
    run = run_plugin("--webhook", fake_portal.webhook_for(server, scheme="https"),
                     env={variable: str(cert)})
    assert_output(run, 3, f"BX24_SIP UNKNOWN - cannot reach 127.0.0.1:{server.port}: TLS failed: "
                          "self-signed certificate")


def test_netrc_credentials_are_never_sent(portal, tmp_path):
    netrc = tmp_path / ".netrc"
    netrc.write_text("machine 127.0.0.1 login someone password hunter2\n")
    netrc.chmod(0o600)
    portal.serve("paid")
    assert_output(run_plugin("--webhook", portal.webhook, env={"HOME": str(tmp_path)}), 0, PAID_OK)
    assert "Authorization" not in portal.server.log[0][0].headers


# ------------------------------------------------------------------ transport and body edges

def test_connection_closed_without_an_answer_is_a_connection_failure():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]

        def close_at_once():
            connection, _ = listener.accept()
            connection.close()

        thread = threading.Thread(target=close_at_once)
        thread.start()
        run = run_plugin("--webhook", f"http://127.0.0.1:{port}/rest/1/{fake_portal.SECRET}/",
                         "--unreachable", "warning")
        thread.join()
    assert_output(run, 1, f"BX24_SIP WARNING - cannot reach 127.0.0.1:{port}: connection failed")


def test_answer_without_content_type_that_is_not_json(portal):
    def bare(request):
        response = Response(b"<html>maintenance</html>", status=200)
        del response.headers["Content-Type"]
        return response

    portal.server.expect_request(fake_portal.path_for()).respond_with_handler(bare)
    assert_output(run_plugin("--webhook", portal.webhook), 3,
                  "BX24_SIP UNKNOWN - HTTP 200 answer is not JSON (no content type): is the "
                  "webhook URL a Bitrix24 portal?")


def test_answer_in_many_small_chunks_is_read_whole(portal):
    body = fake_portal.reply_for("paid").body

    def chunks(request):
        return Response((body[i:i + 7] for i in range(0, len(body), 7)),
                        content_type="application/json")

    portal.server.expect_request(fake_portal.path_for()).respond_with_handler(chunks)
    assert_output(run_plugin("--webhook", portal.webhook), 0, PAID_OK)


def padded_to(size: int) -> bytes:
    """The paid answer with trailing spaces (valid JSON) to exactly `size` bytes."""
    body = fake_portal.reply_for("paid").body
    return body + b" " * (size - len(body))


@pytest.mark.parametrize("streamed", [False, True])
def test_answer_of_exactly_one_mebibyte_is_read(portal, streamed):
    body = padded_to(1024 * 1024)

    def handler(request):
        if streamed:  # no Content-Length: the cap counts the bytes as they come
            return Response((body[i:i + 65536] for i in range(0, len(body), 65536)),
                            content_type="application/json")
        return Response(body, content_type="application/json")

    portal.server.expect_request(fake_portal.path_for()).respond_with_handler(handler)
    assert_output(run_plugin("--webhook", portal.webhook), 0, PAID_OK)


def test_answer_one_byte_over_one_mebibyte_is_refused(portal):
    serve_reply(portal.server, Reply(200, padded_to(1024 * 1024 + 1)))
    assert_output(run_plugin("--webhook", portal.webhook), 3,
                  "BX24_SIP UNKNOWN - the answer is 1048577 bytes, more than the 1 MiB this check "
                  "reads")


def test_http_300_is_a_redirect(portal):
    serve_reply(portal.server, Reply(300, b"", "text/html",
                                     {"Location": "https://other.bitrix24.ru/"}))
    assert_output(run_plugin("--webhook", portal.webhook), 3,
                  "BX24_SIP UNKNOWN - the portal moved to other.bitrix24.ru (HTTP 300): update the "
                  "webhook URL")


def test_rate_limit_retry_waits_one_second_when_more_than_two_are_left(portal):
    arrivals = []
    replies = [fake_portal.reply_for("query-limit"), fake_portal.reply_for("paid")]

    def handler(request):
        arrivals.append(time.monotonic())
        reply = replies[len(arrivals) - 1]
        return Response(reply.body, status=reply.status, content_type="application/json")

    portal.server.expect_request(fake_portal.path_for()).respond_with_handler(handler)
    assert_output(run_plugin("--webhook", portal.webhook, "-t", "2.5"), 0, PAID_OK)
    assert len(arrivals) == 2
    assert 1.0 <= arrivals[1] - arrivals[0] < 1.8


def test_ca_file_that_never_delivers_ends_at_the_deadline(tmp_path):
    fifo = tmp_path / "ca.pem"
    os.mkfifo(fifo)
    run = run_plugin("--webhook", f"https://127.0.0.1:1/rest/1/{fake_portal.SECRET}/",
                     "--ca-file", str(fifo), "-t", "1")
    assert_output(run, 3, f"BX24_SIP UNKNOWN - --ca-file {fifo} could not be read within the 1s "
                          "timeout")
    assert run.seconds < 3


def test_two_files_that_never_deliver_are_both_named(tmp_path):
    """Which of them hung cannot be told from outside the reading thread: both are named."""
    webhook, ca = tmp_path / "webhook", tmp_path / "ca.pem"
    os.mkfifo(webhook)
    os.mkfifo(ca)
    run = run_plugin("--webhook-file", str(webhook), "--ca-file", str(ca), "-t", "1")
    assert_output(run, 3, f"BX24_SIP UNKNOWN - --webhook-file {webhook} and --ca-file {ca} could "
                          "not be read within the 1s timeout")
    assert run.seconds < 3


# ------------------------------------------------------------------ the date rule's boundaries

@pytest.mark.parametrize("text,paid_until", [
    ("2024-05-01T11:59:59Z", date(2024, 5, 1)),   # +12 h: still the same day
    ("2024-05-01T12:00:00Z", date(2024, 5, 2)),   # +12 h: the next day
    ("2024-04-30T12:00:00Z", date(2024, 5, 1)),
    ("2024-04-30T11:00:00Z", date(2024, 4, 30)),
    ("2010-01-01T03:00:00+03:00", date(2010, 1, 1)),   # the first plausible date
])
def test_date_rule_boundaries(text, paid_until):
    assert parse_paid_date(text) == paid_until


def test_dates_before_2010_are_implausible():
    with pytest.raises(BadAnswer) as raised:
        parse_paid_date("2009-12-31T03:00:00+03:00")
    assert raised.value.message == ('PAID_DATE_END is "2009-12-31T03:00:00+03:00", an '
                                    "implausible date")


# ------------------------------------------------------------------ renderers, called directly

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)


def test_prometheus_label_escapes_quotes_and_backslashes():
    outcome = internal_error(ValueError("x"), NOW)._replace(portal='a"b\\c', check="lines")
    assert ('bx24_sip_up{portal="a\\"b\\\\c",check="lines"} 0'
            in render_prometheus(outcome).splitlines())


def test_internal_error_in_json_has_its_own_kind():
    try:
        raise ValueError("boom | two\nlines")
    except ValueError as err:
        outcome = internal_error(err, NOW)
    document = json.loads(render_json(outcome))
    assert document["error"] == {"kind": "internal", "code": None, "message":
                                 "internal error ValueError: boom / two lines (run with -vvv for "
                                 "details)"}
    assert (document["state"], document["state_code"], document["portal"]) == ("UNKNOWN", 3, None)
    assert isinstance(outcome, Outcome)
    assert outcome.details[0][0] == 3 and "Traceback" in outcome.details[0][1]


# ------------------------------------------------------------------ usage errors in every format

def json_error(run) -> dict:
    assert (run.code, run.stderr, run.stdout.count("\n")) == (3, "", 1)
    return json.loads(run.stdout)["error"]


@pytest.mark.parametrize("args", [
    ["--output=json", "-w", "1", "-c", "2"],
    ["-w", "1", "-c", "2", "--output", "json"],
    ["--output", "nagios", "-w", "1", "-c", "2", "--output", "json"],
])
def test_usage_error_is_printed_in_the_requested_format(args):
    run = run_plugin("--webhook", f"https://127.0.0.1:1/rest/1/{fake_portal.SECRET}/", *args)
    assert json_error(run) == {"kind": "usage", "code": None, "message":
                               "--warning-days (1) must not be below --critical-days (2)"}


def test_bare_trailing_output_option_is_a_nagios_usage_error():
    run = run_plugin("--webhook", f"https://127.0.0.1:1/rest/1/{fake_portal.SECRET}/", "--output")
    assert_output(run, 3, "BX24_SIP UNKNOWN - argument --output: expected one argument "
                          "(see --help)")


def test_a_proxy_that_fails_is_named_as_the_proxy(portal):
    """The standard proxy variables are honoured; a dead proxy is not the portal's fault."""
    portal.serve("paid")
    dead = f"http://127.0.0.1:{free_port()}"
    run = run_plugin("--webhook", portal.webhook, env={"http_proxy": dead, "https_proxy": dead})
    assert_output(run, 3, f"BX24_SIP UNKNOWN - cannot reach 127.0.0.1:{portal.server.port}: the "
                          "proxy failed")
    assert portal.server.log == []
