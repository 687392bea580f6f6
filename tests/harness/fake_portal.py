"""A fake Bitrix24 portal that answers voximplant.sip.connector.status and, in batches, the SIP
line methods (voximplant.line.get, voximplant.line.outgoing.get, voximplant.sip.status) like
the real one.

The bodies and HTTP statuses are those Bitrix24 sends (its REST documentation and the
server's voximplant and rest modules, as researched for the plugin): errors keyed by `error`
(some with HTTP 200), `PAID_DATE_END` only when paid, at 00:00 UTC of the paid-until date
written in the server's offset; batch answers with HTTP 200 and their per-command errors in
`result_error`, every empty map written as a list [] (PHP). The tests use it through
pytest-httpserver; a person can run it to see every state before deploying:

    python tests/harness/fake_portal.py expiring          # then run the printed command
    python tests/harness/fake_portal.py --list
"""

from __future__ import annotations

import argparse
import json
from datetime import date, datetime, time, timedelta, timezone
from time import sleep
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Union
from urllib.parse import parse_qs

USER_ID = "1"
METHOD = "voximplant.sip.connector.status"
SECRET = "fakewebhookcode0"
MOSCOW = timezone(timedelta(hours=3))


class Reply(NamedTuple):
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: Optional[Dict[str, str]] = None


def bitrix_date(paid_until: date, zone: timezone = MOSCOW) -> str:
    """PAID_DATE_END as CRestUtil::ConvertDate writes it: 00:00 UTC shown in the server's zone."""
    midnight_utc = datetime.combine(paid_until, time(0), tzinfo=timezone.utc)
    return midnight_utc.astimezone(zone).isoformat()


def envelope(result) -> dict:
    return {
        "result": result,
        "time": {"start": 1773323233, "finish": 1773323233.979212, "duration": 0.979,
                 "processing": 0, "date_start": "2026-03-12T16:47:13+03:00",
                 "date_finish": "2026-03-12T16:47:13+03:00"},
    }


def ok_json(result, status: int = 200) -> Reply:
    return Reply(status, json.dumps(envelope(result)).encode())


def paid_for(days: int, zone: timezone = MOSCOW) -> Callable[[date], Reply]:
    def reply(today: date) -> Reply:
        paid_until = today + timedelta(days=days)
        return ok_json({"FREE_MINUTES": 0, "PAID": True,
                        "PAID_DATE_END": bitrix_date(paid_until, zone)})
    return reply


def unpaid(minutes: int) -> Callable[[date], Reply]:
    return lambda today: ok_json({"FREE_MINUTES": minutes, "PAID": False})


def error(status: int, code: str, description: str) -> Callable[[date], Reply]:
    body = json.dumps({"error": code, "error_description": description}).encode()
    return lambda today: Reply(status, body)


def fixed(reply: Reply) -> Callable[[date], Reply]:
    return lambda today: reply


SCENARIOS: Dict[str, Callable[[date], Reply]] = {
    # the connector's own states
    "paid": paid_for(30),
    "expiring": paid_for(5),
    "expiring-soon": paid_for(2),
    "expired": paid_for(-3),
    "paid-no-date": lambda today: ok_json({"FREE_MINUTES": 0, "PAID": True, "PAID_DATE_END": ""}),
    "unpaid-trial": unpaid(60),
    "unpaid-low-minutes": unpaid(5),
    "unpaid-no-minutes": unpaid(0),
    # Bitrix24 refusing, with the statuses the source code and SDK tests show
    "insufficient-scope": error(401, "insufficient_scope", "The request requires higher "
                                "privileges than provided by the webhook token"),
    "access-denied": error(403, "ACCESS_DENIED", "Access denied!"),
    "invalid-credentials": error(401, "INVALID_CREDENTIALS", "Invalid request credentials"),
    "no-auth-found": error(401, "NO_AUTH_FOUND", "Wrong authorization data"),
    "method-not-found": error(404, "ERROR_METHOD_NOT_FOUND", "Method not found!"),
    "query-limit": error(503, "QUERY_LIMIT_EXCEEDED", "Too many requests"),
    "operation-time-limit": error(429, "OPERATION_TIME_LIMIT",
                                  "Method is blocked due to operation time limit."),
    "controller-down": error(400, "", ""),
    "error-with-200": error(200, "wrong_client", "Wrong client"),
    # answers that make no sense
    "moved": fixed(Reply(302, b"", "text/html",
                         {"Location": f"https://newportal.bitrix24.com/rest/{USER_ID}/{SECRET}/"})),
    "html-page": fixed(Reply(200, b"<html><body>Bitrix24 is updating</body></html>",
                             "text/html; charset=utf-8")),
    "bad-gateway": fixed(Reply(502, b"<html>502 Bad Gateway</html>", "text/html")),
    "no-result": fixed(Reply(200, b'{"time": {"start": 1}}')),
    "ill-typed": lambda today: ok_json({"FREE_MINUTES": 60, "PAID": "maybe"}),
    "huge": fixed(Reply(200, b'{"result": "' + b"x" * (1024 * 1024) + b'"}')),
}


def reply_for(scenario: str, today: Optional[date] = None) -> Reply:
    return SCENARIOS[scenario](today or date.today())


def serve(httpserver, scenario: str, today: Optional[date] = None) -> None:
    """Make a pytest-httpserver answer as the scenario says (a line scenario: batches too)."""
    if scenario in LINE_SCENARIOS:
        serve_lines(httpserver, scenario, today=today)
    else:
        serve_reply(httpserver, reply_for(scenario, today))


def path_for(secret: str = SECRET) -> str:
    return f"/rest/{USER_ID}/{secret}/{METHOD}.json"


def serve_reply(httpserver, reply: Reply, oneshot: bool = False, secret: str = SECRET) -> None:
    expect = httpserver.expect_oneshot_request if oneshot else httpserver.expect_request
    expect(path_for(secret), method="POST").respond_with_data(
        reply.body, status=reply.status, content_type=reply.content_type,
        headers=reply.headers or {},
    )


def webhook_for(httpserver, secret: str = SECRET, scheme: str = "http") -> str:
    return f"{scheme}://127.0.0.1:{httpserver.port}/rest/{USER_ID}/{secret}/"


# --------------------------------------------------------------------------- SIP lines (batch)

BATCH_LIMIT = 50


def sip_status(reg_id: int, result: str = "success", code: Union[int, str] = 200,
               message: str = "") -> dict:
    """voximplant.sip.status's result, as the documentation shows it."""
    return {"REG_ID": reg_id, "LAST_UPDATED": "2026-11-30 09:10:51", "ERROR_MESSAGE": message,
            "STATUS_CODE": code, "STATUS_RESULT": result}


def command_error(code: str, description: str) -> dict:
    return {"error": code, "error_description": description}


REG_ID_NOT_FOUND = command_error("REG_ID_NOT_FOUND", "Настройки не найдены")


class LinePortal(NamedTuple):
    """What the line methods answer: the line list, the default line and each line's status."""

    lines: Union[dict, list, str]  # voximplant.line.get's result ([] for none, as PHP writes)
    default: Union[str, dict] = "reg150907"
    statuses: Optional[Dict[int, Any]] = None  # REG_ID -> result, or an error for the command
    connector: str = "paid"  # the connector scenario answering in --check all
    failing: Optional[dict] = None  # an error for every command (result: [])
    top_level: Optional[Reply] = None  # an error of the whole batch
    delay: float = 0.0  # seconds per status command, as Bitrix24 asks its controller

    def answer(self, method: str, query: Dict[str, List[str]], today: date) -> dict:
        """One command's {"result": ...} or {"error": ...}."""
        if self.failing is not None:
            return self.failing
        if method == "voximplant.line.get":
            return {"result": self.lines}
        if method == "voximplant.line.outgoing.get":
            return self.default if isinstance(self.default, dict) else {"result": self.default}
        if method == METHOD:
            return json.loads(reply_for(self.connector, today).body)
        if method == "voximplant.sip.status":
            sleep(self.delay)
            reg_id = int(query["REG_ID"][0])
            found = (self.statuses or {}).get(reg_id, REG_ID_NOT_FOUND)
            return found if isinstance(found, dict) and "error" in found else {"result": found}
        return command_error("ERROR_METHOD_NOT_FOUND", "Method not found!")


def batch_body(portal: LinePortal, commands: dict, today: date) -> dict:
    """The batch answer: every map a JSON list [] when empty, as PHP writes it."""
    results, errors, times = {}, {}, {}
    for key, command in commands.items():
        method, _, query = command.partition("?")
        outcome = portal.answer(method, parse_qs(query), today)
        if "error" in outcome:
            errors[key] = {"error": outcome["error"],
                           "error_description": outcome.get("error_description", "")}
        else:
            results[key] = outcome["result"]
            times[key] = {"start": 1773323233, "finish": 1773323233.7, "duration": 0.7}
    return envelope({"result": results or [], "result_error": errors or [], "result_total": [],
                     "result_next": [], "result_time": times or []})


def batch_handler(portal: LinePortal, today: Optional[date] = None):
    """A pytest-httpserver handler that answers POST .../batch.json like Bitrix24."""
    from werkzeug import Response

    def handle(request):
        if portal.top_level is not None:
            reply = portal.top_level
            return Response(reply.body, status=reply.status, content_type=reply.content_type)
        commands = json.loads(request.get_data() or b"{}").get("cmd") or {}
        if len(commands) > BATCH_LIMIT:
            body = command_error("ERROR_BATCH_LENGTH_EXCEEDED", "Max batch length exceeded")
            return Response(json.dumps(body), status=400, content_type="application/json")
        body = batch_body(portal, commands, today or date.today())
        return Response(json.dumps(body), status=200, content_type="application/json")

    return handle


THREE_LINES = {"reg150907": "Office trunk", "sip7": "Office PBX 1", "reg151083": "Cloud PBX (9)",
               "reg151085": "SIP line 2"}
ALL_REGISTERED = {150907: sip_status(150907), 151083: sip_status(151083),
                  151085: sip_status(151085)}


def many_lines(count: int) -> LinePortal:
    lines = {f"reg{200000 + n}": f"Trunk {n}" for n in range(count)}
    return LinePortal(lines, "reg200000", {200000 + n: sip_status(200000 + n) for n in range(count)})


LINE_SCENARIOS: Dict[str, LinePortal] = {
    "lines-registered": LinePortal(THREE_LINES, "reg150907", ALL_REGISTERED),
    "lines-default-failed": LinePortal(THREE_LINES, "reg150907", {
        **ALL_REGISTERED, 150907: sip_status(150907, "error", 403, "Forbidden")}),
    "lines-pending": LinePortal(THREE_LINES, "sip7", {
        **ALL_REGISTERED, 151083: sip_status(151083, "in_progress", 0),
        151085: sip_status(151085, "wait", 0)}),
    "lines-office-only": LinePortal({"sip7": "Office PBX 1", "sip11": "Office PBX (11)"}, "sip7"),
    "lines-none": LinePortal([], ""),
    "lines-deleted": LinePortal(THREE_LINES, "reg150907", {
        150907: sip_status(150907), 151083: sip_status(151083)}),  # reg151085 went away
    "lines-all-fail": LinePortal(THREE_LINES, failing=command_error(
        "ACCESS_DENIED", "Access denied!")),
    "lines-many": many_lines(120),
    "lines-batch-error": LinePortal(THREE_LINES, top_level=Reply(401, json.dumps(command_error(
        "INVALID_CREDENTIALS", "Invalid request credentials")).encode())),
    "lines-malformed-list": LinePortal("reg150907"),
    "lines-malformed-status": LinePortal(
        {"reg150907": "Trunk | with\nnewline", "reg151083": 42, "reg151085": "Typo"},
        "reg150907", {150907: {"STATUS_RESULT": 7}, 151083: ["not", "an", "object"],
                      151085: sip_status(151085, "rebooting", "503")}),
    "lines-slow": LinePortal(THREE_LINES, "reg150907", ALL_REGISTERED, delay=0.8),
}

# 20 lines at Bitrix24's slowest pace, 1 s a line: what the Zabbix templates' 25 s must hold
# (not a scenario: it outlasts the plugin's default 10 s timeout)
TWENTY_SLOW_LINES = many_lines(20)._replace(delay=1.0)


def batch_path(secret: str = SECRET) -> str:
    return f"/rest/{USER_ID}/{secret}/batch.json"


def serve_lines(httpserver, scenario: str, secret: str = SECRET,
                today: Optional[date] = None) -> None:
    """Answer batches as the line scenario says, and the connector's method as 'paid'."""
    httpserver.expect_request(batch_path(secret), method="POST").respond_with_handler(
        batch_handler(LINE_SCENARIOS[scenario], today))
    serve_reply(httpserver, reply_for(LINE_SCENARIOS[scenario].connector, today), secret=secret)


def plugin_beside_python() -> str:
    """The command that runs the plugin from here: the console script of this Python's
    environment (.venv/bin/check_bx24_sip), else the file itself; check_bx24_sip is seldom on
    PATH."""
    import os
    import shlex
    import sys
    from pathlib import Path

    script = Path(sys.executable).parent / "check_bx24_sip"
    if script.exists():
        command = [str(script)]
    else:
        command = [sys.executable,
                   str(Path(__file__).resolve().parent.parent.parent / "check_bx24_sip.py")]
    here = os.getcwd()
    shown = [os.path.relpath(part, here) if part.startswith(here + os.sep) else part
             for part in command]
    return " ".join(shlex.quote(part if "/" in part else f"./{part}") for part in shown)


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve one scenario of a fake Bitrix24 portal.")
    parser.add_argument("scenario", nargs="?", choices=sorted({**SCENARIOS, **LINE_SCENARIOS}),
                        metavar="SCENARIO")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: any)")
    parser.add_argument("--list", action="store_true", help="list the scenarios")
    args = parser.parse_args()
    if args.list or not args.scenario:
        print("\n".join(sorted({**SCENARIOS, **LINE_SCENARIOS})))
        return
    from pytest_httpserver import HTTPServer

    server = HTTPServer(host="127.0.0.1", port=args.port)
    serve(server, args.scenario)
    server.start()
    print(f"fake portal '{args.scenario}' on 127.0.0.1:{server.port}; in another shell run:")
    check = " --check all" if args.scenario in LINE_SCENARIOS else ""
    print(f"  {plugin_beside_python()}{check} --webhook {webhook_for(server)}")
    print("Ctrl-C stops it.", flush=True)
    try:
        while True:
            sleep(3600)
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
