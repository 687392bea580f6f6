"""A fake Bitrix24 portal that answers voximplant.sip.connector.status like the real one.

The bodies and HTTP statuses are those of shared/bitrix24-api.md: errors keyed by `error`
(some with HTTP 200), `PAID_DATE_END` only when paid, at 00:00 UTC of the paid-until date
written in the server's offset. The tests use it through pytest-httpserver; a person can run
it to see every state before deploying:

    python tests/fake_portal.py expiring          # then run the printed command
    python tests/fake_portal.py --list
"""

from __future__ import annotations

import argparse
import json
from datetime import date, datetime, time, timedelta, timezone
from time import sleep
from typing import Callable, Dict, NamedTuple, Optional

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
    """Make a pytest-httpserver answer POSTs to the method as the scenario says."""
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


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve one scenario of a fake Bitrix24 portal.")
    parser.add_argument("scenario", nargs="?", choices=sorted(SCENARIOS), metavar="SCENARIO")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: any)")
    parser.add_argument("--list", action="store_true", help="list the scenarios")
    args = parser.parse_args()
    if args.list or not args.scenario:
        print("\n".join(sorted(SCENARIOS)))
        return
    from pytest_httpserver import HTTPServer

    server = HTTPServer(host="127.0.0.1", port=args.port)
    serve(server, args.scenario)
    server.start()
    print(f"fake portal '{args.scenario}' on 127.0.0.1:{server.port}; in another shell run:")
    print(f"  check_bx24_sip --webhook {webhook_for(server)}")
    print("Ctrl-C stops it.", flush=True)
    try:
        while True:
            sleep(3600)
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
