"""End to end: --output json and prometheus, and the atomic --prometheus-file, for cron and dashboards."""

from __future__ import annotations

import json
import threading
import time
from datetime import date, datetime, timedelta, timezone

import fake_portal
import pytest
from net import drip, free_port
from plugin import TIME, day, run_plugin
from promtool import promtool_verdict, require_promtool

from check_bx24_sip import __version__

parser = pytest.importorskip("prometheus_client.parser", reason="the test extra has prometheus-client")

JSON_KEYS = ["state", "state_code", "summary", "portal", "paid", "free_minutes", "paid_until",
             "days_left", "thresholds", "request_duration_seconds", "checked_at", "error",
             "plugin_version", "check", "lines", "calls"]
DEFAULT_THRESHOLDS = {"warning_days": 7, "critical_days": 3, "warning_minutes": 10,
                      "critical_minutes": 1, "unpaid": "WARNING", "unreachable": "UNKNOWN",
                      "timeout_seconds": 10.0}


def json_of(run) -> dict:
    assert run.stderr == ""
    assert run.stdout.count("\n") == 1
    document = json.loads(run.stdout)
    assert list(document) == JSON_KEYS
    assert document["state_code"] == run.code
    checked = datetime.strptime(document["checked_at"], "%Y-%m-%dT%H:%M:%SZ")
    assert abs(checked.replace(tzinfo=timezone.utc) - datetime.now(timezone.utc)) < timedelta(minutes=1)
    duration = document["request_duration_seconds"]
    if duration is not None:
        assert 0 <= duration < 5 and round(duration, 3) == duration  # milliseconds
    return document


def without_volatile(document: dict) -> dict:
    return {k: v for k, v in document.items() if k not in ("checked_at", "request_duration_seconds")}


def test_json_paid_expiring(portal):
    portal.serve("expiring")
    run = run_plugin("--webhook", portal.webhook, "--output", "json")
    assert run.code == 1
    document = json_of(run)
    assert document["request_duration_seconds"] is not None
    assert without_volatile(document) == {
        "state": "WARNING", "state_code": 1, "summary": f"paid until {day(5)}, 5 days left",
        "portal": f"127.0.0.1:{portal.server.port}", "paid": True, "free_minutes": 0,
        "paid_until": day(5), "days_left": 5, "thresholds": DEFAULT_THRESHOLDS, "error": None,
        "plugin_version": __version__, "check": "connector", "lines": None,
        "calls": None,
    }


def test_json_unpaid_with_own_thresholds(portal):
    portal.serve("unpaid-no-minutes")
    run = run_plugin("--webhook", portal.webhook, "--output", "json", "--unpaid", "ok",
                     "--warning-minutes", "30", "--critical-minutes", "5", "-t", "4.5",
                     "--unreachable", "critical")
    assert run.code == 2
    document = json_of(run)
    assert without_volatile(document) == {
        "state": "CRITICAL", "state_code": 2,
        "summary": "not paid and no free minutes: outbound SIP calls are off",
        "portal": f"127.0.0.1:{portal.server.port}", "paid": False, "free_minutes": 0,
        "paid_until": None, "days_left": None,
        "thresholds": {"warning_days": 7, "critical_days": 3, "warning_minutes": 30,
                       "critical_minutes": 5, "unpaid": "OK", "unreachable": "CRITICAL",
                       "timeout_seconds": 4.5},
        "error": None, "plugin_version": __version__, "check": "connector", "lines": None, "calls": None,
    }


@pytest.mark.parametrize("scenario,kind,code,message", [
    ("access-denied", "portal", "ACCESS_DENIED",
     'Bitrix24 error ACCESS_DENIED: the webhook\'s user needs the telephony right '
     '"Manage numbers - Edit - Any" (or REST is not on this plan)'),
    ("controller-down", "portal", None,
     "Bitrix24 could not reach its telephony controller (HTTP 400): try again later"),
    ("ill-typed", "answer", None, 'PAID is "maybe", expected true or false'),
])
def test_json_failed_check_has_an_error_object(portal, scenario, kind, code, message):
    portal.serve(scenario)
    run = run_plugin("--webhook", portal.webhook, "--output", "json")
    assert run.code == 3
    document = json_of(run)
    assert document["error"] == {"kind": kind, "code": code, "message": message}
    assert (document["state"], document["summary"]) == ("UNKNOWN", message)
    assert (document["paid"], document["free_minutes"], document["days_left"]) == (None, None, None)
    assert document["request_duration_seconds"] is not None


def test_json_unreachable_and_deadline(httpserver):
    port = free_port()
    run = run_plugin("--webhook", f"http://127.0.0.1:{port}/rest/1/abcd1234efgh5678/", "--output", "json",
                     "--unreachable", "warning")
    document = json_of(run)
    assert (run.code, document["state"]) == (1, "WARNING")
    assert document["error"] == {"kind": "unreachable", "code": None, "message":
                                 f"cannot reach 127.0.0.1:{port}: connection refused"}
    assert document["request_duration_seconds"] is None

    httpserver.expect_request(fake_portal.path_for()).respond_with_handler(drip)
    run = run_plugin("--webhook", fake_portal.webhook_for(httpserver), "--output", "json", "-t", "1")
    document = json_of(run)
    assert run.code == 3
    assert document["error"]["message"] == (f"127.0.0.1:{httpserver.port} gave no complete answer"
                                            " within the 1s timeout")
    assert run.seconds < 3


def test_json_usage_error():
    run = run_plugin("--output", "json", "-w", "1", "-c", "2", "--webhook", "https://p/rest/1/c0de1234c0de1234/")
    assert run.code == 3
    document = json_of(run)
    assert document["error"] == {"kind": "usage", "code": None,
                                 "message": "--warning-days (1) must not be below --critical-days (2)"}
    assert (document["portal"], document["thresholds"]) == (None, None)


def prometheus_of(text: str) -> dict:
    """{metric name: (labels, value)} from a real parser; each family has HELP, TYPE gauge, 1 sample."""
    metrics = {}
    for family in parser.text_string_to_metric_families(text):
        assert family.type == "gauge" and family.documentation
        assert len(family.samples) == 1
        sample = family.samples[0]
        metrics[sample.name] = (sample.labels, sample.value)
    return metrics


def midnight(offset: int) -> float:
    """00:00 UTC of the day `offset` days from today, as a Unix time."""
    return datetime.combine(date.today() + timedelta(days=offset), datetime.min.time(),
                            tzinfo=timezone.utc).timestamp()


def test_prometheus_paid(portal):
    portal.serve("expired")
    run = run_plugin("--webhook", portal.webhook, "--output", "prometheus")
    assert (run.code, run.stderr) == (2, "")
    metrics = prometheus_of(run.stdout)
    label = {"portal": f"127.0.0.1:{portal.server.port}", "check": "connector"}
    paid_until = midnight(-3)
    duration = metrics.pop("bx24_sip_request_duration_seconds")
    assert duration[0] == label and 0 <= duration[1] < 5
    assert metrics == {
        "bx24_sip_up": (label, 1), "bx24_sip_paid": (label, 1),
        "bx24_sip_free_call_seconds": (label, 0),
        "bx24_sip_paid_until_timestamp_seconds": (label, paid_until),
        "bx24_sip_check_state": (label, 2),
    }


def test_prometheus_unpaid_has_no_date_metrics(portal):
    portal.serve("unpaid-trial")
    run = run_plugin("--webhook", portal.webhook, "--output", "prometheus", "--unpaid", "ok")
    metrics = prometheus_of(run.stdout)
    assert run.code == 0
    assert {name: value for name, (_, value) in metrics.items()
            if name != "bx24_sip_request_duration_seconds"} == {
        "bx24_sip_up": 1, "bx24_sip_paid": 0, "bx24_sip_free_call_seconds": 3600,
        "bx24_sip_check_state": 0}


def test_prometheus_failure_is_up_zero():
    port = free_port()
    run = run_plugin("--webhook", f"http://127.0.0.1:{port}/rest/1/abcd1234efgh5678/", "--output=prometheus",
                     "--unreachable", "critical", "--check", "all")
    assert run.code == 2
    label = {"portal": f"127.0.0.1:{port}", "check": "all"}
    assert prometheus_of(run.stdout) == {"bx24_sip_up": (label, 0),
                                         "bx24_sip_check_state": (label, 2)}


def test_prometheus_file_is_written_and_stdout_stays_quiet(portal, tmp_path):
    portal.serve("paid")
    target = tmp_path / "bx24_sip.prom"
    run = run_plugin("--webhook", portal.webhook, "--output", "prometheus",
                     "--prometheus-file", str(target))
    assert (run.code, run.stdout, run.stderr) == (0, "", "")
    metrics = prometheus_of(target.read_text())
    assert metrics["bx24_sip_paid_until_timestamp_seconds"][1] == midnight(30)
    assert target.stat().st_mode & 0o777 == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["bx24_sip.prom"]


def test_prometheus_file_beside_nagios_output(portal, tmp_path):
    portal.serve("paid-no-date")
    target = tmp_path / "bx24_sip.prom"
    run = run_plugin("--webhook", portal.webhook, "--prometheus-file", str(target))
    assert run.code == 1
    assert run.first_line.startswith("BX24_SIP WARNING - paid, but Bitrix24 reported no end date | ")
    assert "bx24_sip_paid_until_timestamp_seconds" not in prometheus_of(target.read_text())


@pytest.mark.parametrize("folder", ["/nonexistent-folder", "/etc/hostname"])
def test_unwritable_prometheus_file_is_a_clear_unknown(portal, folder):
    portal.serve("paid")
    path = f"{folder}/bx24_sip.prom"
    reason = "No such file or directory" if "nonexistent" in folder else "Not a directory"
    run = run_plugin("--webhook", portal.webhook, "--output", "prometheus", "--prometheus-file", path)
    assert run.code == 3
    assert run.stdout.startswith(f"BX24_SIP UNKNOWN - cannot write --prometheus-file {path}: "
                                 f"{reason} | days_left=30;7:;3: ")
    run = run_plugin("--webhook", portal.webhook, "--output", "json", "--prometheus-file", path)
    assert run.code == 3
    assert json_of(run)["error"] == {"kind": "output", "code": None, "message":
                                     f"cannot write --prometheus-file {path}: {reason}"}


def test_readers_never_see_a_partial_prometheus_file(portal, tmp_path):
    """A reader polls the file while the plugin rewrites it: every read is a whole exposition."""
    portal.serve("expiring")
    target = tmp_path / "bx24_sip.prom"
    seen, reads, stop = set(), [0], threading.Event()

    def reader():
        while not stop.is_set():
            try:
                seen.add(target.read_text())
                reads[0] += 1
            except FileNotFoundError:
                pass
            time.sleep(0.0005)  # let the fake portal's thread in this process have the GIL

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for _ in range(8):
            run = run_plugin("--webhook", portal.webhook, "--output", "prometheus",
                             "--prometheus-file", str(target))
            assert run.code == 1
    finally:
        stop.set()
        thread.join()
    assert reads[0] > 50
    for text in seen:
        assert text.endswith("\n")
        assert prometheus_of(text)["bx24_sip_paid_until_timestamp_seconds"][1] == midnight(5)
    assert [p.name for p in tmp_path.iterdir()] == ["bx24_sip.prom"]


@pytest.mark.parametrize("scenario", ["paid", "expired", "paid-no-date", "unpaid-trial",
                                      "unpaid-no-minutes", "access-denied", "html-page"])
def test_promtool_accepts_the_text_of_every_state(portal, scenario):
    require_promtool()
    portal.serve(scenario)
    run = run_plugin("--webhook", portal.webhook, "--output", "prometheus")
    assert run.code == fake_portal_state(scenario)
    assert promtool_verdict(run.stdout) == "exit 0:"


def test_promtool_accepts_the_text_of_failures_that_stop_the_check_early(tmp_path):
    require_promtool()
    port = free_port()
    for args in (["--webhook", f"http://127.0.0.1:{port}/rest/1/abcd1234efgh5678/"],
                 ["--webhook-file", str(tmp_path / "missing")], ["--bogus"]):
        run = run_plugin(*args, "--output", "prometheus")
        assert run.code == 3
        assert promtool_verdict(run.stdout) == "exit 0:"


def fake_portal_state(scenario: str) -> int:
    return {"paid": 0, "expired": 2, "paid-no-date": 1, "unpaid-trial": 1,
            "unpaid-no-minutes": 2}.get(scenario, 3)


def test_failed_check_says_why_in_a_comment_line():
    port = free_port()
    run = run_plugin("--webhook", f"http://127.0.0.1:{port}/rest/1/abcd1234efgh5678/",
                     "--output", "prometheus")
    label = f'portal="127.0.0.1:{port}",check="connector"'
    assert (run.code, run.stderr) == (3, "")
    assert run.stdout == (
        f"# BX24_SIP UNKNOWN - cannot reach 127.0.0.1:{port}: connection refused\n"
        "# HELP bx24_sip_up 1 when Bitrix24 answered everything the check asked, else 0\n"
        f"# TYPE bx24_sip_up gauge\nbx24_sip_up{{{label}}} 0\n"
        "# HELP bx24_sip_check_state Check state: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN\n"
        f"# TYPE bx24_sip_check_state gauge\nbx24_sip_check_state{{{label}}} 3\n")


STALE = "# HELP bx24_sip_up stale\n# TYPE bx24_sip_up gauge\nbx24_sip_up{portal=\"old\"} 1\n"
DOWN = {"bx24_sip_up": ({"portal": "", "check": "connector"}, 0),
        "bx24_sip_check_state": ({"portal": "", "check": "connector"}, 3)}


@pytest.mark.parametrize("args,reason", [
    (["--webhook", "http://127.0.0.1:1/rest/1/abcd1234efgh5678/", "-w", "1", "-c", "2"],
     "--warning-days (1) must not be below --critical-days (2)"),
    (["--webhook-file", "/nonexistent/bx24_webhook"],
     "cannot read --webhook-file /nonexistent/bx24_webhook: No such file or directory"),
    (["--bogus"], "unrecognized arguments: --bogus (see --help)"),
])
def test_a_check_that_cannot_start_rewrites_the_textfile_and_says_why(tmp_path, args, reason):
    """node_exporter must not keep serving the last good values; cron must mail the reason."""
    target = tmp_path / "bx24_sip.prom"
    target.write_text(STALE)
    for output in (["--output", "prometheus"], ["--output=prometheus"]):
        run = run_plugin(*args, *output, "--prometheus-file", str(target))
        # the reason alone on stdout (what cron mails); the metrics are in the file
        assert (run.code, run.stderr, run.stdout) == (3, "", f"BX24_SIP UNKNOWN - {reason}\n")
        assert target.read_text().splitlines()[0] == f"# BX24_SIP UNKNOWN - {reason}"
        assert prometheus_of(target.read_text()) == DOWN
    run = run_plugin(*args, "--output", "prometheus")  # no file: stdout is the metrics text
    assert (run.code, run.lines[0]) == (3, f"# BX24_SIP UNKNOWN - {reason}")
    assert prometheus_of(run.stdout) == DOWN
    run = run_plugin(*args, "--prometheus-file", str(target))
    assert (run.code, run.stdout) == (3, f"BX24_SIP UNKNOWN - {reason}\n")
    assert prometheus_of(target.read_text()) == DOWN
    run = run_plugin(*args, f"--prometheus-file={target}", "--output", "json")
    assert json_of(run)["error"] == {"kind": "usage", "code": None, "message": reason}


def test_unreachable_portal_rewrites_the_textfile_quietly(tmp_path):
    """The check ran: the file is the output, up 0 says it failed, and stdout stays quiet."""
    target = tmp_path / "bx24_sip.prom"
    target.write_text(STALE)
    port = free_port()
    run = run_plugin("--webhook", f"http://127.0.0.1:{port}/rest/1/abcd1234efgh5678/",
                     "--output", "prometheus", "--prometheus-file", str(target))
    assert (run.code, run.stdout, run.stderr) == (3, "", "")
    label = {"portal": f"127.0.0.1:{port}", "check": "connector"}
    assert prometheus_of(target.read_text()) == {"bx24_sip_up": (label, 0),
                                                  "bx24_sip_check_state": (label, 3)}


def test_paid_answer_without_free_minutes_is_judged_by_the_date(portal):
    body = fake_portal.envelope({"PAID": True, "PAID_DATE_END": fake_portal.bitrix_date(
        date.today() + timedelta(days=30))})
    fake_portal.serve_reply(portal.server, fake_portal.Reply(200, json.dumps(body).encode()))
    run = run_plugin("--webhook", portal.webhook, "-v")
    assert run.code == 0
    assert TIME.sub("time=T", run.lines[0]) == (
        f"BX24_SIP OK - paid until {day(30)} (30 days left) | days_left=30;7:;3: "
        "paid=1;;;0;1 time=T")
    assert run.lines[2] == f"paid: yes, free minutes: not reported, paid until: {day(30)}"
    document = json_of(run_plugin("--webhook", portal.webhook, "--output", "json"))
    assert (document["state"], document["free_minutes"], document["days_left"]) == ("OK", None, 30)
    metrics = prometheus_of(run_plugin("--webhook", portal.webhook, "--output", "prometheus").stdout)
    assert "bx24_sip_free_call_seconds" not in metrics
    assert metrics["bx24_sip_paid"][1] == 1


def test_unwritable_textfile_of_a_failed_check_keeps_the_first_reason():
    """The reason to fix first stays first; the file's trouble is said after it."""
    run = run_plugin("--bogus", "--output", "prometheus", "--prometheus-file",
                     "/nonexistent-folder/bx24_sip.prom")
    assert (run.code, run.stderr) == (3, "")
    assert run.stdout == ("BX24_SIP UNKNOWN - unrecognized arguments: --bogus (see --help); also "
                          "cannot write --prometheus-file /nonexistent-folder/bx24_sip.prom: No such "
                          "file or directory\n")
