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
import threading
from datetime import date, datetime, time, timedelta, timezone
from time import sleep
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Tuple, Union
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
    if scenario in CALL_SCENARIOS:
        serve_calls(httpserver, scenario, today=today)
    elif scenario in LINE_SCENARIOS:
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

    def answer(self, method: str, query: str, today: date) -> dict:
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
            reg_id = int(parse_qs(query)["REG_ID"][0])
            found = (self.statuses or {}).get(reg_id, REG_ID_NOT_FOUND)
            return found if isinstance(found, dict) and "error" in found else {"result": found}
        return command_error("ERROR_METHOD_NOT_FOUND", "Method not found!")


class RawJSON(str):
    """JSON text already encoded (a page of calls), put into an answer as it is."""


def encode(document) -> str:
    """json.dumps, with every RawJSON inside written as the JSON it already is (a page of 2500
    calls is encoded once, not on every request)."""
    raw: List[str] = []

    def mark(value):
        if isinstance(value, RawJSON):
            raw.append(value)
            return f"\x00{len(raw) - 1}\x00"
        if isinstance(value, dict):
            return {key: mark(item) for key, item in value.items()}
        if isinstance(value, list):
            return [mark(item) for item in value]
        return value

    import re

    return re.sub(r'"\\u0000(\d+)\\u0000"', lambda found: raw[int(found.group(1))],
                  json.dumps(mark(document)))


def batch_body(portal: Union[LinePortal, "CallsPortal"], commands: dict, today: date) -> dict:
    """The batch answer: every map a JSON list [] when empty, as PHP writes it."""
    results, errors, totals, nexts, times = {}, {}, {}, {}, {}
    for key, command in commands.items():
        method, _, query = command.partition("?")
        outcome = portal.answer(method, query, today)
        if "error" in outcome:
            errors[key] = {"error": outcome["error"],
                           "error_description": outcome.get("error_description", "")}
            continue
        results[key] = outcome["result"]
        times[key] = {"start": 1773323233, "finish": 1773323233.7, "duration": 0.7}
        if "total" in outcome:
            totals[key] = outcome["total"]
        if "next" in outcome:
            nexts[key] = outcome["next"]
    return envelope({"result": results or [], "result_error": errors or [],
                     "result_total": totals or [], "result_next": nexts or [],
                     "result_time": times or []})


def batch_handler(portal: Union[LinePortal, "CallsPortal"], today: Optional[date] = None):
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
        return Response(encode(body), status=200, content_type="application/json")

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


# --------------------------------------------------------------------------- call statistics

STATISTIC = "voximplant.statistic.get"
PAGE = 50  # Bitrix24's fixed page size for list methods


def php_parse_str(query: str) -> dict:
    """A batch command's query as PHP's parse_str reads it: '+' is a space, FILTER[KEY] nests.

    An unencoded '=' inside a key ends the key there, as it does on the server."""
    import re
    from urllib.parse import parse_qsl

    decoded: dict = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        base, bracket, rest = key.partition("[")
        if bracket and "]" not in rest:
            base, rest = f"{base}_{rest}", ""  # PHP: an unclosed '[' is a plain '_'
        parts = [base] + re.findall(r"\[?([^\]]*)\]", rest)
        target = decoded
        for part in parts[:-1]:
            target = target.setdefault(part, {})
            if not isinstance(target, dict):
                break
        else:
            target[parts[-1]] = value
    return decoded


def portal_date(value: str, zone: timezone = MOSCOW) -> Optional[datetime]:
    """A FILTER date as Bitrix24 reads it: with its offset, or in the server's zone without
    one; None when it does not read as a date (the condition is then dropped)."""
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=zone)


class CallSpec(NamedTuple):
    """One finished call of a scenario, placed relative to the moment it is asked for."""

    minutes_ago: float
    line: Any  # PORTAL_NUMBER as sent
    code: Any = "200"  # CALL_FAILED_CODE as sent
    call_type: int = 1  # 1 outgoing, 2 incoming, ...


REASONS = {"200": "Success call", "304": "Missed call", "402": "Insufficient funds",
           "403": "Forbidden", "404": "Invalid number", "423": "Locked", "480":
           "Temporarily unavailable", "484": "This direction is not available", "486": "Busy",
           "503": "This direction is not available", "603": "Declined", "603-S":
           "Call cancelled", "OTHER": "Unknown error"}


def call_record(call_id: int, spec: CallSpec, now: datetime) -> dict:
    """A row as voximplant.statistic.get writes it: strings, the date in the server's offset,
    about 1 KB (the method has no field selection)."""
    started = (now - timedelta(minutes=spec.minutes_ago)).astimezone(MOSCOW).replace(microsecond=0)
    code = str(spec.code)
    return {
        "ID": str(call_id), "PORTAL_USER_ID": "1", "PORTAL_NUMBER": spec.line,
        "PHONE_NUMBER": f"7495{call_id % 10000000:07d}",
        "CALL_ID": f"externalCall.{call_id:08d}6c1a5e3b9f2d4a7c8e0b1d3f5a7c9e1b.1764921600",
        "EXTERNAL_CALL_ID": None, "CALL_CATEGORY": "external",
        "CALL_DURATION": "42" if code == "200" else "0",
        "CALL_START_DATE": started.isoformat(),
        "CALL_RECORD_URL": "" if code != "200" else (
            f"https://example.bitrix24.ru/disk/downloadFile/{call_id}/?&ncc=1"
            f"&filename=record_{call_id}.mp3"),
        "CALL_VOTE": None, "COST": "0.0000", "COST_CURRENCY": "RUR",
        "CALL_FAILED_CODE": spec.code, "CALL_FAILED_REASON": REASONS.get(code, "Unknown error"),
        "CRM_ENTITY_TYPE": "CONTACT", "CRM_ENTITY_ID": str(1000 + call_id % 500),
        "CRM_ACTIVITY_ID": str(5000 + call_id), "REST_APP_ID": None, "REST_APP_NAME": None,
        "TRANSCRIPT_ID": None, "TRANSCRIPT_PENDING": "N", "SESSION_ID": str(900000 + call_id),
        "REDIAL_ATTEMPT": None, "COMMENT": None, "RECORD_DURATION": None,
        "RECORD_FILE_ID": None, "CALL_TYPE": str(spec.call_type),
        "CRM_BINDINGS": [{"OWNER_TYPE_ID": 3, "OWNER_ID": 1000 + call_id % 500}],
    }


COMPARE = {">=": lambda value, limit: value >= limit, "<=": lambda value, limit: value <= limit,
           ">": lambda value, limit: value > limit, "<": lambda value, limit: value < limit,
           "=": lambda value, limit: value == limit, "": lambda value, limit: value == limit}


def row_filter(conditions: dict) -> Callable[[dict, datetime], bool]:
    """FILTER as Bitrix24 applies it to these fields, read once per query: a predicate of a row
    and its CALL_START_DATE (read already). A date Bitrix24 cannot read is no condition."""
    tests: List[Tuple[Optional[str], Callable[[Any, Any], bool], Any]] = []
    for key, wanted in conditions.items():
        operator = next((op for op in (">=", "<=", ">", "<", "=") if key.startswith(op)), "")
        field = key[len(operator):]
        if field == "CALL_START_DATE":
            bound = portal_date(wanted)
            if bound is not None:
                tests.append((None, COMPARE[operator], bound))
        else:
            tests.append((field, COMPARE[operator], str(wanted)))
    return lambda row, started: all(
        compare(started if field is None else str(row.get(field)), limit)
        for field, compare, limit in tests)


def sort_key(field: str):
    """SORT by a field other than CALL_START_DATE: numbers as numbers, the rest as text."""
    def key(row: dict):
        text = str(row.get(field))
        return int(text) if text.isdigit() else text
    return key


class CallsPortal:
    """The call statistics of a scenario, answered as voximplant.statistic.get does: FILTER,
    SORT/ORDER, pages of 50 with `start`, `total` and `next`; the line methods and the
    connector as `lines` answers them."""

    def __init__(self, calls: List[CallSpec], lines: Optional[LinePortal] = None,
                 failing: Optional[dict] = None, delay: float = 0.0,
                 rows: Optional[Callable[[List[dict]], List[dict]]] = None,
                 arrivals: int = 0, slow_from: int = 0):
        self.calls = calls
        self.lines = lines or LINE_SCENARIOS["lines-registered"]
        self.failing = failing  # an error for every statistic.get command
        self.delay = delay  # seconds per page, as a busy portal takes (until released)
        self.released = threading.Event()  # set: no page waits any more (a test is done)
        self.slow_from = slow_from  # the first page's `start` that takes `delay`
        self.rows = rows  # rewrites the rows as served, in order (malformed scenarios)
        self.arrivals = arrivals  # calls that end right after page 1 is read
        self.pages_read = 0
        self.asked_at: Optional[datetime] = None
        self.top_level: Optional[Reply] = None  # the whole batch refused (none of these)
        self._answers: Dict[str, List[dict]] = {}  # filtered and sorted rows, per query
        self._records: Dict[bool, List[dict]] = {}  # every row, before and after arrivals
        self._started: Dict[int, datetime] = {}  # id(row) -> its CALL_START_DATE, read
        self._texts: Dict[int, str] = {}  # id(row) -> the row as JSON

    def records(self) -> List[dict]:
        """Every row, newest with the highest ID, the clock fixed at the first page asked;
        `arrivals` more once a page has been read (made once: a database does not rebuild its
        table for every query)."""
        arrived = bool(self.pages_read and self.arrivals)
        if arrived not in self._records:
            now = self.asked_at = self.asked_at or datetime.now(timezone.utc)
            specs = list(self.calls)
            if arrived:
                specs += [CallSpec(0, "reg150907", "200")] * self.arrivals
            ordered = sorted(specs, key=lambda spec: -spec.minutes_ago)
            rows = [call_record(100000 + number, spec, now)
                    for number, spec in enumerate(ordered)]
            self._started.update((id(row), datetime.fromisoformat(row["CALL_START_DATE"]))
                                 for row in rows)
            self._records[arrived] = rows
        return self._records[arrived]

    def text(self, row) -> "RawJSON":
        """A row as JSON, encoded once."""
        if id(row) not in self._texts:
            self._texts[id(row)] = json.dumps(row)
        return RawJSON(self._texts[id(row)])

    def page(self, params: dict) -> dict:
        """One statistic.get answer: {"result": rows, "total": N, "next": start+50}."""
        if self.failing is not None:
            return self.failing
        start = int(params.get("start") or 0)
        if self.delay and start >= self.slow_from:
            self.released.wait(self.delay)
        rows = self.selected({key: value for key, value in params.items() if key != "start"})
        self.pages_read += 1
        page = rows[start:start + PAGE]
        answer = {"result": RawJSON("[" + ",".join(self.text(row) for row in page) + "]"),
                  "total": len(rows)}
        if start + PAGE < len(rows):
            answer["next"] = start + PAGE
        return answer

    def selected(self, params: dict) -> List[dict]:
        """The rows FILTER keeps, in SORT/ORDER's order (worked out once per query and per
        arrival, as a portal's database would answer it)."""
        memo = json.dumps([params, bool(self.pages_read and self.arrivals)], sort_keys=True)
        if memo not in self._answers:
            conditions = params.get("FILTER") or {}
            keep = row_filter(conditions if isinstance(conditions, dict) else {})
            rows = [row for row in self.records() if keep(row, self._started[id(row)])]
            field = params.get("SORT") or "ID"
            if field == "CALL_START_DATE":
                rows.sort(key=lambda row: self._started[id(row)],
                          reverse=str(params.get("ORDER")).upper() == "DESC")
            elif all(row.get(field) is not None for row in rows):
                rows.sort(key=sort_key(field),
                          reverse=str(params.get("ORDER")).upper() == "DESC")
            self._answers[memo] = self.rows(rows) if self.rows else rows
        return self._answers[memo]

    def answer(self, method: str, query: str, today: date) -> dict:
        if method == STATISTIC:
            return self.page(php_parse_str(query))
        return self.lines.answer(method, query, today)


def spread(count: int, line: Any, codes: List[Any], newest: float = 1.0,
           oldest: float = 55.0) -> List[CallSpec]:
    """`count` calls on a line between `newest` and `oldest` minutes ago, newest first, their
    codes taken from `codes` in turn (codes[0] is the newest call's)."""
    step = (oldest - newest) / max(count - 1, 1)
    return [CallSpec(newest + index * step, line, codes[index % len(codes)])
            for index in range(count)]


NOT_OUTGOING = [CallSpec(3, "reg150907", "200", call_type=2),  # incoming: never asked for
                CallSpec(200, "reg150907", "503")]  # before the window: never asked for
HEALTHY = (spread(10, "reg150907", ["200"]) + spread(8, "reg151083", ["200", "486", "200"])
           + spread(5, "74951234567", ["200", "200", "603"]) + spread(2, "REST_APP:5", ["200"])
           + [CallSpec(30, "reg151085", "403")] + NOT_OUTGOING)
ROUTE_DOWN = [CallSpec(2, "reg151083", "503"), CallSpec(9, "reg151083", "503"),
              CallSpec(17, "reg151083", "402"), CallSpec(25, "reg151083", "503"),
              CallSpec(40, "reg151083", "200")]


def malformed(field: str, value: Any) -> Callable[[List[dict]], List[dict]]:
    """The rows with one field of the third row served changed (None: removed)."""
    def rewrite(rows: List[dict]) -> List[dict]:
        if len(rows) > 2:
            rows[2] = {key: item for key, item in rows[2].items() if key != field}
            if value is not None:
                rows[2][field] = value
        return rows
    return rewrite


class Calls(NamedTuple):
    """A call scenario: what a fresh CallsPortal is made of each time it is served (a portal
    keeps the clock of its first page and what it has served)."""

    calls: List[CallSpec]
    failing: Optional[dict] = None
    delay: float = 0.0
    rows: Optional[Callable[[List[dict]], List[dict]]] = None
    arrivals: int = 0
    slow_from: int = 0
    lines: Optional[LinePortal] = None

    def portal(self) -> CallsPortal:
        return CallsPortal(self.calls, self.lines, self.failing, self.delay, self.rows,
                           self.arrivals, self.slow_from)


CALL_SCENARIOS: Dict[str, Calls] = {
    "calls-ok": Calls(HEALTHY),
    "calls-none": Calls(NOT_OUTGOING),
    "calls-warning": Calls(spread(10, "reg150907", ["200", "200", "403", "200", "200"])
                           + spread(6, "reg151083", ["200"])),
    "calls-critical": Calls(ROUTE_DOWN + spread(10, "reg150907", ["200"])),
    "calls-streak": Calls([CallSpec(4, "reg151085", "402-B24"),
                           CallSpec(12, "reg151085", "402-b24 "), CallSpec(20, "reg151085", 423)]
                          + spread(12, "reg150907", ["200"])),
    "calls-callee": Calls(spread(12, "reg150907", ["486", "603", "304", "480", "603-S", "200"])),
    "calls-many-lines": Calls([spec for n in range(5)
                               for spec in spread(6, f"reg{160000 + n}", ["503", "200", "484"])]
                              + spread(6, "reg150907", ["200"])),
    "calls-busy-portal": Calls(spread(3000, "reg150907", ["200"] * 19 + ["503"], newest=0.5,
                                      oldest=58)),
    "calls-shifting": Calls(spread(120, "reg150907", ["200"]), arrivals=3),
    "calls-access-denied": Calls(HEALTHY, failing=command_error("ACCESS_DENIED",
                                                                "Access denied!")),
    "calls-insufficient-scope": Calls(HEALTHY, failing=command_error(
        "insufficient_scope", "The request requires higher privileges than provided by the "
        "webhook token")),
    "calls-malformed": Calls(HEALTHY, rows=malformed("CALL_FAILED_CODE", None)),
    "calls-slow": Calls(spread(120, "reg150907", ["200"]), delay=6.0),
}


def statistic_handler(portal: CallsPortal):
    """voximplant.statistic.get asked alone: its parameters as JSON, `total` and `next` beside
    `result`, its errors with HTTP 403 (ACCESS_DENIED) or 401 (insufficient_scope)."""
    from werkzeug import Response

    def handle(request):
        params = json.loads(request.get_data() or b"{}")
        answer = portal.page(params if isinstance(params, dict) else {})
        if "error" in answer:
            status = 403 if answer["error"] == "ACCESS_DENIED" else 401
            return Response(json.dumps(answer), status=status, content_type="application/json")
        body = {**envelope(answer["result"]), **{key: answer[key] for key in ("total", "next")
                                                  if key in answer}}
        return Response(encode(body), status=200, content_type="application/json")

    return handle


def serve_calls(httpserver, scenario: Union[str, Calls], secret: str = SECRET,
                today: Optional[date] = None) -> CallsPortal:
    """Answer batches (and statistic.get alone) as the call scenario (a name or a Calls) says;
    the lines as 'lines-registered', the connector as 'paid', unless it says otherwise."""
    calls = CALL_SCENARIOS[scenario] if isinstance(scenario, str) else scenario
    portal = calls.portal()
    httpserver.expect_request(batch_path(secret), method="POST").respond_with_handler(
        batch_handler(portal, today))
    httpserver.expect_request(f"/rest/{USER_ID}/{secret}/{STATISTIC}.json",
                              method="POST").respond_with_handler(statistic_handler(portal))
    serve_reply(httpserver, reply_for(portal.lines.connector, today), secret=secret)
    return portal


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


def serves_lines(scenario: str) -> bool:
    """The scenario answers the line methods (a line or a calls scenario)."""
    return scenario in LINE_SCENARIOS or scenario in CALL_SCENARIOS


def serve_any(httpserver, scenario: str, secret: str = SECRET) -> None:
    """Any scenario behind one webhook code: what a monitored portal host gets."""
    if scenario in CALL_SCENARIOS:
        serve_calls(httpserver, scenario, secret=secret)
    elif scenario in LINE_SCENARIOS:
        serve_lines(httpserver, scenario, secret=secret)
    else:
        serve_reply(httpserver, reply_for(scenario), secret=secret)


def every_scenario() -> List[str]:
    return sorted({**SCENARIOS, **LINE_SCENARIOS, **CALL_SCENARIOS})


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve one scenario of a fake Bitrix24 portal.")
    parser.add_argument("scenario", nargs="?", choices=every_scenario(),
                        metavar="SCENARIO")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: any)")
    parser.add_argument("--list", action="store_true", help="list the scenarios")
    args = parser.parse_args()
    if args.list or not args.scenario:
        print("\n".join(every_scenario()))
        return
    from pytest_httpserver import HTTPServer

    server = HTTPServer(host="127.0.0.1", port=args.port)
    serve(server, args.scenario)
    server.start()
    print(f"fake portal '{args.scenario}' on 127.0.0.1:{server.port}; in another shell run:")
    check = (" --check calls" if args.scenario in CALL_SCENARIOS
             else " --check all" if args.scenario in LINE_SCENARIOS else "")
    print(f"  {plugin_beside_python()}{check} --webhook {webhook_for(server)}")
    print("Ctrl-C stops it.", flush=True)
    try:
        while True:
            sleep(3600)
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
