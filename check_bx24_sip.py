#!/usr/bin/env python3
"""Nagios/Icinga plugin: can this Bitrix24 portal call out over SIP?

Three aspects, chosen with --check: the SIP connector (paid, expiring, or out of free minutes?
asked with ``voximplant.sip.connector.status``), the cloud PBX SIP lines (registered? asked
in ``batch`` requests of ``voximplant.line.get``, ``voximplant.line.outgoing.get`` and
``voximplant.sip.status``) and the outgoing calls (do they fail on the line's side? read from
``voximplant.statistic.get``), through an inbound webhook, turned into an exit code, a status
line and performance data.

The file reads top to bottom as the data flows; its sections, in order:

    failures      CheckFailure and its kinds: what went wrong, raised where it is found
    text          clean, describe_value, plural: portal text made safe for one line
    clock         Deadline, within_deadline: one -t budget for every wait
    options       argv (read once) / file / env  ->  Options          (pure but for files)
    portal        Bitrix24: POSTs and batches under one deadline, retry   (the only I/O)
    interpretation: the connector   Answer  ->  ConnectorStatus          (pure)
    interpretation: the lines       Answer  ->  BatchAnswer  ->  SipLine  (pure)
    interpretation: the calls       the FILTER sent; BatchAnswer  ->  Call rows  (pure)
    plan          PortalReads: each request once, the lines' and calls' batches planned
    verdict       status or line + thresholds + today  ->  state, reason  (pure)
    verdict: the calls              calls + CallsLimits  ->  CallLine figures, states  (pure)
    nagiosplugin: the connector     SipConnector (Resource): the status and its verdict
    nagiosplugin: the lines         SipLines (Resource): the lines and their verdicts
    nagiosplugin: the calls         OutgoingCalls (Resource): the calls per line, judged
    nagiosplugin: the check         VerdictContext, perfdata contexts, CheckSummary, build_check
    output        one Outcome, three renderers (Nagios, JSON, Prometheus), emit, redact
    main          run, main, and what a run whose options failed prints (Requested)

Failures are exceptions of a few kinds (UsageError, Unreachable, PortalRefused, BadAnswer,
OutputError), raised where they are found and turned into a state in one place (VerdictContext).
Each aspect is judged once, where they are read (their Resource); renderers only format. The
webhook code is kept as a secret where the webhook is read (keep_secret) and removed from all
text in one place (redact), just before anything is printed or written.
"""

from __future__ import annotations

import os
import re
import sys
import threading
import time
import traceback
import warnings
from datetime import date, datetime, timedelta, timezone
from fractions import Fraction
from functools import lru_cache
from typing import Dict, Iterable, Iterator, List, NamedTuple, Optional, Tuple, Union
from urllib.parse import urlencode, urljoin, urlsplit

__version__ = "1.5.0"

PLUGIN_NAME = "BX24_SIP"


# Warnings (urllib3's InsecureRequestWarning, dependency version notes) go to stderr, which
# Icinga 2 merges into the check output; a monitoring plugin keeps stderr silent.
warnings.simplefilter("ignore")

try:
    import nagiosplugin
    import requests
except ImportError as missing:  # pragma: no cover - exercised by a subprocess test
    print(
        f"{PLUGIN_NAME} UNKNOWN - Python module '{missing.name}' is missing for "
        f"{sys.executable or 'this python3'}: install it with 'pip install nagiosplugin requests' "
        "(Debian: apt install python3-nagiosplugin python3-requests, which serve /usr/bin/python3)"
    )
    sys.exit(3)


from nagiosplugin.state import Critical, Ok, Unknown, Warn  # noqa: E402 - after the import guard

CONNECTOR_METHOD = "voximplant.sip.connector.status"
MIB = 1024 * 1024
MAX_BODY = MIB
RATE_LIMIT_PAUSE = 1.0
ASPECT_NAMES = ("connector", "lines", "calls")  # the canonical order of a --check list
ALL = ("connector", "lines")  # --check all: calls need another right, so they are asked by name
STATES = {"ok": Ok, "warning": Warn, "critical": Critical, "unknown": Unknown}


# --------------------------------------------------------------------------- failures


class CheckFailure(Exception):
    """A reason the connector's state could not be learned; its text is the summary."""

    kind = "internal"

    def __init__(self, message: str, code: Optional[str] = None):
        super().__init__(message)
        self.message = message
        self.code = code


class UsageError(CheckFailure):
    """The command line or the webhook source is wrong: the user must fix the call."""

    kind = "usage"


class Unreachable(CheckFailure):
    """No HTTP answer arrived: DNS, connect, TLS or the deadline. State: --unreachable."""

    kind = "unreachable"


class PortalRefused(CheckFailure):
    """Bitrix24 answered with an error code: the webhook, its rights or the portal need care."""

    kind = "portal"

    @property
    def rate_limited(self) -> bool:
        return (self.code or "").lower() == "query_limit_exceeded"


class BadAnswer(CheckFailure):
    """An answer arrived but does not read as a connector status."""

    kind = "answer"


class OutputError(CheckFailure):
    """The result could not be delivered (an unwritable --prometheus-file)."""

    kind = "output"


# --------------------------------------------------------------------------- text


def clean(value, limit: int) -> str:
    """Make text from the portal safe for a status line: one line, no '|', bounded length."""
    if not isinstance(value, (str, int)) or isinstance(value, bool):
        return ""
    text = " ".join(str(value).replace("|", "/").split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


@lru_cache(maxsize=4096)
def clean_text(text: str, limit: int) -> str:
    """clean() of a text that repeats (a line, a failure code in 2500 call records)."""
    return clean(text, limit)


def json_type(value) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}
    return names.get(type(value), "number")


def describe_value(value) -> str:
    """A short rendering of an ill-typed value for an error message."""
    if isinstance(value, str):
        return f'"{clean(value, 30)}"'
    if isinstance(value, bool) or value is None:
        return {True: "true", False: "false", None: "null"}[value]
    if isinstance(value, (int, float)):
        return clean(repr(value), 30)
    return f"a JSON {json_type(value)}"


def as_map(value, what: str) -> dict:
    """PHP writes an empty map as []."""
    if isinstance(value, list) and not value:
        return {}
    if not isinstance(value, dict):
        raise BadAnswer(f"{what} is a JSON {json_type(value)}, not an object")
    return value


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


# --------------------------------------------------------------------------- clock


class Deadline:
    """One clock for the whole run, so every wait shares the -t budget."""

    def __init__(self, seconds: float, started: float):
        self.seconds = seconds
        self.end = started + seconds

    def remaining(self) -> float:
        return max(0.0, self.end - time.monotonic())


def within_timeout(seconds: float) -> str:
    """How every message where time ran out says so: raising -t is what helps there."""
    return f"within the {seconds:g}s timeout"


def within_deadline(deadline: Deadline, work, late: CheckFailure):
    """Run work() in a helper thread and raise `late` if the deadline passes first.

    A signal cannot interrupt a DNS lookup blocked in C, nor an open() of a FIFO; a thread
    that is abandoned can be left behind, so the plugin always answers in time.
    """
    outcome = {}

    def target():
        try:
            outcome["value"] = work()
        except BaseException as exc:  # handed to the main thread as it is
            outcome["error"] = exc

    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    worker.join(deadline.remaining())
    if worker.is_alive():
        raise late
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


# --------------------------------------------------------------------------- options


class Webhook(NamedTuple):
    base: str  # https://host/rest/1/code/
    host: str  # what messages may name
    secret: str  # the code; never printed

    def url_for(self, method: str) -> str:
        return f"{self.base}{method}.json"


class Defaults(NamedTuple):
    """Every default, written once: Thresholds, argparse and --help ("(default 7)") read it."""

    check: str = "connector"
    warning_days: int = 7
    critical_days: int = 3
    warning_minutes: int = 10
    critical_minutes: int = 1
    unpaid: str = "warning"
    unreachable: str = "unknown"
    timeout: float = 10.0
    output: str = "nagios"
    calls_window: int = 60
    calls_min: int = 5
    calls_warning: str = "20"  # percent; text, as Fraction reads it exactly
    calls_critical: str = "50"
    calls_streak: int = 3
    calls_none: str = "ok"


DEFAULTS = Defaults()


class Thresholds(NamedTuple):
    warning_days: int = DEFAULTS.warning_days
    critical_days: int = DEFAULTS.critical_days
    warning_minutes: int = DEFAULTS.warning_minutes
    critical_minutes: int = DEFAULTS.critical_minutes
    unpaid: nagiosplugin.state.ServiceState = STATES[DEFAULTS.unpaid]


class CallsLimits(NamedTuple):
    """How the outgoing calls are judged: the window, and when a line's failures matter."""

    window: int = DEFAULTS.calls_window  # minutes
    min_calls: int = DEFAULTS.calls_min  # a rate is judged from this many calls on
    warning: Fraction = Fraction(DEFAULTS.calls_warning)  # percent failed, >=
    critical: Fraction = Fraction(DEFAULTS.calls_critical)
    streak: int = DEFAULTS.calls_streak  # this many newest calls failed: CRITICAL; 0: off
    none: nagiosplugin.state.ServiceState = STATES[DEFAULTS.calls_none]


class Limits(NamedTuple):
    """What a check is judged against, as the JSON output reports it."""

    thresholds: Thresholds
    unreachable: nagiosplugin.state.ServiceState
    timeout: float


class Options(NamedTuple):
    webhook: Webhook
    thresholds: Thresholds
    unreachable: nagiosplugin.state.ServiceState
    verify: Union[bool, str]
    verbose: int
    deadline: "Deadline"
    output: str
    prometheus_file: Optional[str]
    check: str  # the canonical name: "all", "connector,calls", ...
    aspects: Tuple[str, ...]  # in ASPECT_NAMES order
    lines: Tuple[str, ...]  # --line ids, reg150907 form
    calls: CallsLimits

    @property
    def limits(self) -> Limits:
        return Limits(self.thresholds, self.unreachable, self.deadline.seconds)


WEBHOOK_SHAPE = "https://PORTAL/rest/USER_ID/CODE/"
SECRETS: set = set()  # the webhook codes this run has read: redact() removes them from output
_CODE = re.compile(r"[A-Za-z0-9_-]+")
MIN_CODE = 8  # shorter codes would make redact() rewrite ordinary words and numbers


# Text shaped like a webhook (a URL, or a /rest/USER_ID/ path with or without the scheme):
# never printed, wherever it was given; redact() replaces it with <URL>.
_WORD = r"[^\s'\"\\]*"  # up to a space or a quote, as argparse, JSON and sentences end one

WEBHOOK_TEXT = re.compile(rf"[a-z][a-z0-9+.-]*://{_WORD[:-1]}+|{_WORD}\brest/\d+/{_WORD}",
                          re.IGNORECASE)


def parse_webhook(text: str) -> Webhook:
    """Split an inbound-webhook URL into what may be shown and the secret code.

    Error messages never echo the URL: it carries the secret.
    """
    text = text.strip()
    if text[:1] in ("'", '"'):
        raise UsageError(f"the webhook URL is in quotes: remove them; expected {WEBHOOK_SHAPE}")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise UsageError(f"the webhook is not a URL; expected {WEBHOOK_SHAPE}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"the webhook must be an http(s) URL like {WEBHOOK_SHAPE}")
    if parts.username is not None or parts.query or parts.fragment:
        raise UsageError(
            f"the webhook URL must have no user:password@, ?query or #fragment; "
            f"expected {WEBHOOK_SHAPE}"
        )
    check_host_name(parts.hostname)
    prefix, code = split_webhook_path(parts.path)
    name = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname  # IPv6
    host = name if port is None else f"{name}:{port}"
    base = f"{parts.scheme}://{parts.netloc}/{prefix}/{code}/"
    return Webhook(base=base, host=host, secret=code)


def check_host_name(host: str) -> None:
    """A typo in the host is the user's mistake, not an unreachable portal to page about.

    RFC 1123 labels (IDN names as their punycode), or an IPv6 address; checked before any I/O.
    """
    if ":" in host:
        import ipaddress

        try:
            ipaddress.IPv6Address(host)  # a zone (fe80::1%eth0) too, since Python 3.9
            return
        except ValueError:
            pass
    elif is_host_name(host):
        return
    raise UsageError(f"the webhook's host name is not valid; expected {WEBHOOK_SHAPE}")


_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)", re.IGNORECASE)


def is_host_name(host: str) -> bool:
    try:
        ascii_name = host.encode("idna").decode("ascii")
    except UnicodeError:
        return False
    labels = ascii_name[:-1].split(".") if ascii_name.endswith(".") else ascii_name.split(".")
    return len(ascii_name) <= 253 and all(_LABEL.fullmatch(label) for label in labels)


def split_webhook_path(path: str) -> Tuple[str, str]:
    """(the path up to the user id, the code) of /rest/USER_ID/CODE/[METHOD].

    A method name copied with the URL (profile, user.current.json) is dropped.
    """
    segments = [s for s in path.split("/") if s]
    for index in range(1, len(segments) - 1):
        if segments[index].isdigit():
            code, tail = segments[index + 1], segments[index + 2:]
            if _CODE.fullmatch(code) and len(tail) <= 1:
                if len(code) < MIN_CODE:
                    raise UsageError(
                        f"the webhook code is {len(code)} characters long; Bitrix24's are 16 "
                        f"(at least {MIN_CODE} are needed): copy the whole webhook URL")
                return "/".join(segments[:index + 1]), code
            break
    raise UsageError(f"the webhook URL must look like {WEBHOOK_SHAPE}")


PORTAL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def portal_file(args) -> str:
    """DIR/NAME.url of --webhook-dir and --portal. NAME comes from a monitoring system's key or
    macro (Zabbix passes it unchecked but for shell characters): a plain name only, so that
    nothing outside DIR is ever read."""
    name = args.portal
    if not PORTAL_NAME.fullmatch(name) or ".." in name:
        raise UsageError("--portal must be a plain name such as yourportal (letters, digits, "
                         "'.', '_' and '-', at most 64, no '..'): the webhook is read from "
                         "--webhook-dir/NAME.url")
    if not args.webhook_dir:  # "" would read NAME.url from whatever folder the agent runs in
        raise UsageError("--portal needs --webhook-dir DIR, the folder of the NAME.url files")
    return os.path.join(args.webhook_dir, f"{name}.url")


def read_portal_file(args) -> str:
    path = portal_file(args)
    return read_webhook_file(path, f"{path} (--portal)")


def read_webhook_file(path: str, named: Optional[str] = None) -> str:
    """First non-empty line of the file: the secret stays out of ps and object configs."""
    named = named or f"--webhook-file {path}"
    try:
        with open(path, encoding="utf-8-sig", errors="replace") as handle:  # -sig: a BOM
            for line in handle.read(64 * 1024).splitlines():
                if line.strip():
                    return line.strip()
    except OSError as err:
        raise UsageError(f"cannot read {named}: {err.strerror}") from None
    raise UsageError(f"{named} holds no webhook URL")


def resolve_webhook(args, environ) -> Webhook:
    """Exactly one source, so a forgotten environment variable never wins silently."""
    sources = []
    if args.webhook is not None:
        sources.append(("--webhook", lambda: args.webhook))
    if args.webhook_file is not None:
        sources.append(("--webhook-file", lambda: read_webhook_file(args.webhook_file)))
    if args.portal is not None:
        sources.append(("--portal", lambda: read_portal_file(args)))
    if environ.get("BX24_WEBHOOK"):
        sources.append(("BX24_WEBHOOK", lambda: environ["BX24_WEBHOOK"]))
    if not sources:
        raise UsageError("no webhook given: use --webhook-file PATH, BX24_WEBHOOK or --webhook URL"
                         + (" (--webhook-dir needs --portal NAME)" if args.webhook_dir else ""))
    if len(sources) > 1:
        names = ", ".join(name for name, _ in sources)
        raise UsageError(f"give exactly one webhook source, not {names}")
    webhook = parse_webhook(sources[0][1]())
    keep_secret(webhook.secret)
    return webhook


def keep_secret(code: str) -> None:
    """From here on, redact() removes this code from whatever the run prints or writes."""
    SECRETS.add(code)


def build_parser():
    """The command line; argparse's own exits (2 on errors, 0 on --help) become UNKNOWN (3)."""
    import argparse

    class Once(argparse.Action):
        """A webhook source given twice is a mistake; argparse would let the last one win."""

        def __call__(self, parser, namespace, values, option_string=None):
            if getattr(namespace, self.dest) is not None:
                raise UsageError(f"{option_string} is given twice: give exactly one webhook source")
            setattr(namespace, self.dest, values)

    class Parser(argparse.ArgumentParser):
        """argparse exits 2 (CRITICAL to Nagios); a plugin's usage errors are UNKNOWN."""

        webhook_sources: List[argparse.Action]  # set below: the options that name the webhook

        def error(self, message):
            # argparse quotes the values it rejects; a URL there (a webhook given without
            # --webhook, or to the wrong option) would print the secret before it is known
            raise UsageError(f"{WEBHOOK_TEXT.sub('<URL>', message)} (see --help)")

        def exit(self, status=0, message=None):
            if message:
                print(message.strip())
            sys.exit(3)

    parser = Parser(
        prog="check_bx24_sip",
        description=(
            f"check_bx24_sip {__version__}: check that the Bitrix24 SIP connector of a portal "
            "is paid, not about to expire and, while unpaid, not out of free minutes; "
            "(--check lines) that its cloud PBX SIP lines are registered; and (--check calls) "
            "that its outgoing calls do not fail on the line's side."
        ),
        epilog=(
            "Thresholds are lower bounds: WARNING when FEWER than N days (minutes) remain; "
            "exactly N is OK. Exit codes: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN. "
            "Perfdata: days_left, free_minutes, paid, time; with lines: lines, "
            "lines_registered, lines_pending, lines_failed; with calls: calls, calls_failed, "
            "calls_failed_pct and the same per line (calls_reg150907, ...)."
        ),
        allow_abbrev=False,
    )
    source = parser.add_argument_group(
        "webhook (exactly one source)", "--webhook, --webhook-file, --portal, or the environment "
        "variable BX24_WEBHOOK (best: a file or the environment keep it out of ps)")
    parser.webhook_sources = [
        source.add_argument("--webhook", metavar="URL", action=Once,
                            help=f"inbound webhook, {WEBHOOK_SHAPE}"),
        source.add_argument("--webhook-file", metavar="PATH", action=Once,
                            help="read the webhook URL from the first non-empty line"),
        source.add_argument("--portal", metavar="NAME", action=Once,
                            help="read the webhook URL from --webhook-dir/NAME.url; NAME is a "
                                 "plain name (letters, digits, '.', '_', '-'), as a Zabbix macro "
                                 "gives it"),
        source.add_argument("--webhook-dir", metavar="DIR",
                            help="the folder of --portal's NAME.url files")]
    what = parser.add_argument_group("what to check")
    what.add_argument("--check", metavar="LIST", type=aspects_of, default=DEFAULTS.check,
                      help="connector: is the SIP connector paid (one request); lines: are the "
                           "cloud PBX SIP lines registered; calls: do the outgoing calls fail "
                           "(needs the right Call statistics - View - Any); all: connector and "
                           "lines; or a comma list (connector,lines,calls); the worst state wins "
                           f"(default {DEFAULTS.check})")
    what.add_argument("--line", metavar="ID", action="extend", type=line_ids, default=[],
                      help="with --check lines/all: check only this cloud PBX line (reg150907 or "
                           "150907; repeatable, or several separated by commas; an empty value "
                           "adds none); default: every cloud PBX line. Bitrix24 takes "
                           "0.5-1 s per line: give -t at least 5 + 1 per line")
    calls = parser.add_argument_group(
        "outgoing calls (--check calls)", "a line's failures are calls that failed on the "
        "line's or provider's side (403, 503, 402, ...); busy, declined or missed calls never "
        "count")
    calls.add_argument("--calls-window", metavar="MINUTES", type=_window,
                       default=DEFAULTS.calls_window,
                       help="judge the calls that started in the last MINUTES minutes, 1-10080 "
                            "(default %(default)s)")
    calls.add_argument("--calls-min", metavar="N", type=_at_least_one,
                       default=DEFAULTS.calls_min,
                       help="judge a line's failed share only from N calls on "
                            "(default %(default)s)")
    calls.add_argument("--calls-warning", metavar="PCT", type=_percent,
                       default=DEFAULTS.calls_warning,
                       help="WARNING when a line's failed share is PCT percent or more "
                            "(default %(default)s)")
    calls.add_argument("--calls-critical", metavar="PCT", type=_percent,
                       default=DEFAULTS.calls_critical,
                       help="CRITICAL when a line's failed share is PCT percent or more "
                            "(default %(default)s)")
    calls.add_argument("--calls-streak", metavar="N", type=_count, default=DEFAULTS.calls_streak,
                       help="CRITICAL when a line's N newest calls all failed, whatever the "
                            "share; 0 turns this off (default %(default)s)")
    calls.add_argument("--calls-none", choices=tuple(STATES), default=DEFAULTS.calls_none,
                       help="state when no outgoing call was made in the window "
                            "(default %(default)s)")
    limits = parser.add_argument_group("thresholds")
    limits.add_argument("-w", "--warning-days", type=_count, default=DEFAULTS.warning_days,
                        metavar="N", help="WARNING when fewer than N days of paid time remain "
                                          "(default %(default)s)")
    limits.add_argument("-c", "--critical-days", type=_count, default=DEFAULTS.critical_days,
                        metavar="N", help="CRITICAL when fewer than N days remain "
                                          "(default %(default)s)")
    limits.add_argument("--warning-minutes", type=_count, default=DEFAULTS.warning_minutes,
                        metavar="N", help="while unpaid: WARNING when fewer than N free minutes "
                                          "remain (default %(default)s)")
    limits.add_argument("--critical-minutes", type=_count, default=DEFAULTS.critical_minutes,
                        metavar="N", help="while unpaid: CRITICAL when fewer than N free minutes "
                                          "remain (default %(default)s); 0 free minutes is "
                                          "always CRITICAL")
    limits.add_argument("--unpaid", choices=("ok", "warning", "critical"),
                        default=DEFAULTS.unpaid,
                        help="state of an unpaid connector that still has free minutes "
                             "(default %(default)s)")
    conn = parser.add_argument_group("connection")
    conn.add_argument("--unreachable", choices=("unknown", "warning", "critical"),
                      default=DEFAULTS.unreachable,
                      help="state when the portal cannot be reached in time "
                           "(default %(default)s)")
    conn.add_argument("-t", "--timeout", type=_seconds, default=DEFAULTS.timeout,
                      metavar="SECONDS",
                      help="deadline for the whole run, DNS and slow answers included "
                           "(default %(default)g); for --check lines give 5 + 1 per cloud PBX "
                           "line")
    trust = conn.add_mutually_exclusive_group()
    trust.add_argument("--ca-file", metavar="PATH", help="trust the CA certificates in PATH")
    trust.add_argument("--insecure", action="store_true",
                       help="do not verify the portal's TLS certificate")
    out = parser.add_argument_group("output")
    out.add_argument("--output", choices=tuple(RENDERERS), default=DEFAULTS.output,
                     help="stdout format; the exit code is the same in all "
                          "(default %(default)s)")
    out.add_argument("--prometheus-file", metavar="PATH", type=_textfile,
                     help="also write the Prometheus text to PATH atomically, for "
                          "node_exporter's textfile collector (with --output prometheus, "
                          "instead of stdout)")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="more detail on the following lines (up to -vvv)")
    parser.add_argument("-V", "--version", action="version",
                        version=f"check_bx24_sip {__version__}")
    return parser


def _count(text: str) -> int:
    """A threshold: a whole number of days or minutes, 0 or more."""
    if not text.strip().isdigit():
        raise ValueError(text)
    return int(text)
_count.__name__ = "whole number"


def _whole(low: int, high: Optional[int], name: str):
    """An argparse type: a whole number from low to high; `name` is how argparse's message
    calls it ("invalid number of minutes (1-10080) value: '0'")."""
    def read(text: str) -> int:
        value = _count(text)
        if value < low or (high is not None and value > high):
            raise ValueError(text)
        return value
    read.__name__ = name
    return read


_window = _whole(1, 10080, "number of minutes (1-10080)")  # --calls-window: up to a week
_at_least_one = _whole(1, None, "whole number (1 or more)")


def _percent(text: str) -> Fraction:
    """A share in percent, read exactly (33.3 is 333/10): the thresholds compare exact ratios."""
    if not re.fullmatch(r"\s*\d+(\.\d*)?\s*|\s*\.\d+\s*", text):
        raise ValueError(text)
    value = Fraction(text.strip())
    if value > 100:
        raise ValueError(text)
    return value
_percent.__name__ = "percentage (0-100)"


def percent_text(value: Fraction) -> str:
    """A percentage as people write it: 20, 33.3 (at most one decimal, as the output rounds)."""
    return f"{round(float(value), 1):g}"


def aspects_of(text: str) -> Tuple[str, ...]:
    """--check: one aspect or a comma list, in any order and with repeats; `all` is
    connector and lines. The aspects come back in ASPECT_NAMES order."""
    asked: set = set()
    for item in (part.strip().lower() for part in text.split(",")):
        if item == "all":
            asked.update(ALL)
        elif item in ASPECT_NAMES:
            asked.add(item)
        else:
            raise UsageError(f"--check {clean(text, 40)}: unknown aspect "
                             f"{describe_value(item)}; give connector, lines, calls, all or a "
                             "comma list of them")
    return tuple(name for name in ASPECT_NAMES if name in asked)


def check_name(aspects: Tuple[str, ...]) -> str:
    """The check's canonical name (JSON `check`, the Prometheus label): `all` as in 1.3.0."""
    return "all" if aspects == ALL else ",".join(aspects)


def _seconds(text: str) -> float:
    """A deadline: positive, finite and short enough to be a monitoring check."""
    value = float(text)
    if not 0 < value <= 3600:
        raise ValueError(text)
    return value
_seconds.__name__ = "number of seconds (0 < t <= 3600)"


def _textfile(text: str) -> str:
    """A file to write; a URL here is a webhook in the wrong place (never echoed, never made)."""
    if "://" in text:
        raise ValueError(text)
    return text
_textfile.__name__ = "file path"
CLOUD_LINE = re.compile(r"reg(\d+)")  # a cloud PBX line: Bitrix24 registers on the PBX
OFFICE_LINE = re.compile(r"sip\d+")  # an office PBX line: the PBX registers on Bitrix24


def line_id(text: str) -> str:
    """--line: reg150907 or 150907; office PBX lines have no registration state to check."""
    value = text.strip().lower()
    if value.isdigit():
        value = f"reg{int(value)}"
    if OFFICE_LINE.fullmatch(value):
        raise UsageError(f"--line {clean(text, 30)} is an office PBX line: Bitrix24 has no "
                         "registration state for it; name cloud PBX lines (regNNN)")
    if not CLOUD_LINE.fullmatch(value):
        raise UsageError(f"--line {clean(text, 30)} is not a cloud PBX line id: give regNNN or NNN "
                         "as voximplant.line.get lists it")
    return value


def line_ids(text: str) -> List[str]:
    """--line reg1,151083: a list, so a monitoring system can pass one variable; "" is none."""
    return [line_id(part) for part in text.split(",") if part.strip()]


class Arg(NamedTuple):
    """One command-line argument as the option scans see it."""

    text: str  # as given
    follows: Optional[str]  # the argument before it
    option: Optional[str]  # "--check" of "--check=all", else the argument before if an option
    value: str  # what follows "=" in "--check=all", else the argument itself
    inline: bool  # "--check=all": option and value in one argument


def read_argv(argv: List[str]) -> List[Arg]:
    """argv read once: what every later step (the scans, argparse, the output path of a run
    whose options failed) takes its arguments from."""
    args: List[Arg] = []
    follows: Optional[str] = None
    for text in argv:
        if text.startswith("--") and "=" in text:
            option, value = text.split("=", 1)
            args.append(Arg(text, follows, option, value, inline=True))
        else:
            before = follows if follows is not None and follows.startswith("-") else None
            args.append(Arg(text, follows, before, text, inline=False))
        follows = text
    return args


class Requested(NamedTuple):
    """What the output path needs, as argv asked for it: read before parsing, so that a run
    whose options fail still prints in the format its caller parses."""

    output: str
    check: str
    textfile: Optional[str]
    verbosity: int


def value_options(parser, webhook_sources: bool) -> Tuple[str, ...]:
    """The options that take a value, read off the parser; without webhook_sources, those whose
    empty value means their default (an empty webhook source is no webhook, not a default)."""
    left_out = [] if webhook_sources else parser.webhook_sources
    return tuple(option for action in parser._actions  # argparse lists them nowhere public
                 if action.nargs != 0 and action not in left_out
                 for option in action.option_strings)


def refuse_misplaced_webhook(args: List[Arg], options_with_value: Tuple[str, ...]) -> None:
    """A webhook pasted into another option or left as a stray argument: say where, never what.

    Every code such a text holds is also redacted from whatever the run prints later.
    """
    for arg in args:
        if not WEBHOOK_TEXT.search(arg.value):
            continue
        for code in re.findall(r"rest/\d+/([A-Za-z0-9_-]+)", arg.value):
            if len(code) >= MIN_CODE:
                keep_secret(code)
        if arg.option == "--webhook":
            continue
        raise UsageError(misplaced_message(
            arg.option if arg.option in options_with_value else None))


def misplaced_message(option: Optional[str]) -> str:
    sources = "--webhook-file PATH (a file holding the URL), BX24_WEBHOOK or --webhook URL"
    if option == "--webhook-file":
        return ("--webhook-file got a webhook URL: give it the path of a file holding the URL "
                "(or pass the URL in BX24_WEBHOOK or with --webhook URL)")
    if option is not None:
        return f"{option} got a webhook URL: pass the webhook with {sources}"
    return f"a webhook URL was given without --webhook: pass it with {sources}"


def without_empty_values(args: List[Arg], default_when_empty: Tuple[str, ...]) -> List[str]:
    """argv less every option of default_when_empty given an empty value: what Nagios or Zabbix
    passes for a variable a host leaves unset (--warning-days=$_SERVICEBX24_WARNING_DAYS$)."""
    dropped = set()
    for index, arg in enumerate(args):
        if arg.text.endswith("=") and arg.text[:-1] in default_when_empty:
            dropped.add(index)  # --warning-days= (or -w=)
        elif arg.text == "" and arg.follows in default_when_empty:
            dropped.update((index - 1, index))  # --warning-days ""
    return [arg.text for index, arg in enumerate(args) if index not in dropped]


def parse_options(argv: List[Arg], environ, started: float) -> Options:
    """Options from argv and the environment; the -t clock already runs while files are read."""
    parser = build_parser()
    refuse_misplaced_webhook(argv, value_options(parser, webhook_sources=True))
    args = parser.parse_args(without_empty_values(argv, value_options(parser,
                                                                      webhook_sources=False)))
    for unit in ("days", "minutes"):
        warning, critical = getattr(args, f"warning_{unit}"), getattr(args, f"critical_{unit}")
        if warning < critical:
            raise UsageError(f"--warning-{unit} ({warning}) must not be below "
                             f"--critical-{unit} ({critical})")
    thresholds = Thresholds(
        args.warning_days, args.critical_days, args.warning_minutes, args.critical_minutes,
        STATES[args.unpaid],
    )
    if args.line and "lines" not in args.check:
        raise UsageError("--line needs the lines aspect: --check lines, all or a list with lines")
    if args.calls_warning > args.calls_critical:
        raise UsageError(f"--calls-warning ({percent_text(args.calls_warning)}) must not be "
                         f"above --calls-critical ({percent_text(args.calls_critical)})")
    deadline = Deadline(args.timeout, started)
    return Options(
        webhook=within_deadline(deadline, lambda: read_option_files(args, environ),
                                late=UsageError(slow_files_message(args))),
        thresholds=thresholds,
        unreachable=STATES[args.unreachable],
        verify=args.ca_file or not args.insecure,
        verbose=min(args.verbose, 3),
        deadline=deadline,
        output=args.output,
        prometheus_file=args.prometheus_file,
        check=check_name(args.check),
        aspects=args.check,
        lines=tuple(dict.fromkeys(args.line)),  # each line once, in the order given
        calls=CallsLimits(args.calls_window, args.calls_min, args.calls_warning,
                          args.calls_critical, args.calls_streak, STATES[args.calls_none]),
    )


def read_option_files(args, environ) -> Webhook:
    """The parts of option parsing that read files, which can block (a FIFO, a hung mount):
    the CA file is checked and the webhook read from its one source."""
    if args.ca_file is not None:
        check_ca_file(args.ca_file)
    return resolve_webhook(args, environ)


def slow_files_message(args) -> str:
    """Only a file can make read_option_files late, so the message names the files given."""
    portal = args.portal and args.webhook_dir and os.path.join(args.webhook_dir, args.portal)
    named = [f"{flag} {path}" for flag, path in (("--webhook-file", args.webhook_file),
                                                  ("--portal", portal and f"{portal}.url"),
                                                  ("--ca-file", args.ca_file)) if path]
    return f"{' and '.join(named)} could not be read {within_timeout(args.timeout)}"


def check_ca_file(path: str) -> None:
    """A wrong --ca-file is the user's mistake; found later it would look like a TLS failure."""
    import ssl

    if not os.access(path, os.R_OK):
        raise UsageError(f"cannot read --ca-file {path}")
    if os.path.isdir(path):
        return  # a c_rehash'ed folder, as requests accepts
    try:
        ssl.create_default_context().load_verify_locations(cafile=path)
    except (ssl.SSLError, ValueError, OSError):
        raise UsageError(f"--ca-file {path} holds no PEM certificate") from None


# --------------------------------------------------------------------------- portal (the only I/O)


class Answer(NamedTuple):
    url: str  # what was asked; holds the secret, so only its scheme and host are ever shown
    status: int
    content_type: str
    location: Optional[str]
    body: bytes
    elapsed: float


class Request(NamedTuple):
    """One POST: the method's URL (it holds the secret), the JSON body, and how much of an
    answer is read."""

    url: str
    body: bytes
    limit: int = MAX_BODY


def post_once(request: Request, host: str, deadline: Deadline, verify) -> Answer:
    """One POST with the answer capped at the request's limit; transport errors become
    Unreachable.

    Proxies come from the standard variables; the rest of requests' trust_env (~/.netrc
    credentials, REQUESTS_CA_BUNDLE) is not for a monitoring check and costs a file read.
    """
    started = time.monotonic()
    wait = max(deadline.remaining(), 0.001)
    session = requests.Session()
    session.trust_env = False
    session.proxies = requests.utils.get_environ_proxies(request.url)
    try:
        response = session.post(
            request.url,
            data=request.body,
            headers={
                "Content-Type": "application/json",
                "Accept": "application/json",
                "Accept-Encoding": "identity",
                "User-Agent": f"check_bx24_sip/{__version__}",
            },
            timeout=(wait, wait),
            allow_redirects=False,
            stream=True,
            verify=verify,
        )
        with response:
            body = read_capped(response, request.limit)
    except requests.RequestException as exc:
        raise Unreachable(describe_transport_error(exc, host, deadline)) from exc
    finally:
        session.close()
    return Answer(
        url=request.url,
        status=response.status_code,
        content_type=response.headers.get("Content-Type", ""),
        location=response.headers.get("Location"),
        body=body,
        elapsed=time.monotonic() - started,
    )


def read_capped(response, limit: int) -> bytes:
    """Read the body, refusing more than `limit` bytes before it is all in memory."""
    declared = response.headers.get("Content-Length", "")
    most = f"the {limit // MIB} MiB this check reads"
    if declared.isdigit() and int(declared) > limit:
        raise BadAnswer(f"the answer is {int(declared)} bytes, more than {most}")
    chunks, size = [], 0
    for chunk in response.iter_content(1024 * 1024):  # few reads: a page batch is 2.5 MB
        size += len(chunk)
        if size > limit:
            raise BadAnswer(f"the answer is more than {most}")
        chunks.append(chunk)
    return b"".join(chunks)


def describe_transport_error(exc: Exception, host: str, deadline: Deadline) -> str:
    """Name the kind of failure from the exception chain, never from its text (it holds the URL).

    Only a failure where time ran out names the timeout: raising -t helps nothing else."""
    import socket
    import ssl

    chain = list(exception_chain(exc))

    def has(kind):
        return any(isinstance(link, kind) for link in chain)

    if has(requests.exceptions.ProxyError):
        what = "the proxy failed"
    elif has(requests.exceptions.SSLError) or has(ssl.SSLError):
        verify = next((c for c in chain if isinstance(c, ssl.SSLCertVerificationError)), None)
        what = f"TLS failed: {verify.verify_message}" if verify else "TLS handshake failed"
    elif has(socket.gaierror):
        what = "cannot resolve the host name"
    elif has(ConnectionRefusedError):
        what = "connection refused"
    elif has(requests.exceptions.ConnectTimeout):
        return f"{host} did not accept a connection {within_timeout(deadline.seconds)}"
    elif has(requests.exceptions.Timeout) or has(socket.timeout):
        return no_answer_in_time(host, deadline)
    else:
        what = "connection failed"
    return f"cannot reach {host}: {what}"  # time did not run out: -t would not help


def no_answer_in_time(host: str, deadline: Deadline) -> str:
    return f"{host} gave no complete answer {within_timeout(deadline.seconds)}"


def exception_chain(exc) -> Iterator[BaseException]:
    """The exception and every exception it wraps (requests and urllib3 nest them deeply)."""
    seen, todo = set(), [exc]
    while todo:
        link = todo.pop()
        if not isinstance(link, BaseException) or id(link) in seen:
            continue
        seen.add(id(link))
        yield link
        todo.extend([link.__cause__, link.__context__, getattr(link, "reason", None), *link.args])


class Bitrix24:
    """The portal's REST API as the check uses it: single methods and batches of them, all under
    one deadline, each retried once when Bitrix24 says it is rate limited and time allows.
    Every answer is kept, for -v and for the request time."""

    def __init__(self, webhook: Webhook, deadline: "Deadline", verify: Union[bool, str]):
        self.webhook = webhook
        self.deadline = deadline
        self.verify = verify
        self.answers: List[Answer] = []

    def call(self, method: str, read, body: bytes = b"{}", limit: int = MAX_BODY):
        """POST one method (or batch) and read the answer with `read`."""
        request = Request(self.webhook.url_for(method), body, limit)
        try:
            return read(self.post(request))
        except PortalRefused as refused:
            time_left = self.deadline.remaining()
            if not refused.rate_limited or time_left <= RATE_LIMIT_PAUSE + 1:
                raise
        time.sleep(RATE_LIMIT_PAUSE)
        return read(self.post(request))

    def batch(self, commands: Dict[str, str], limit: int = MAX_BODY) -> "BatchAnswer":
        """Up to 50 commands in one request; their results, errors and totals, by key."""
        import json

        body = json.dumps({"halt": 0, "cmd": commands}).encode()
        return self.call("batch", interpret_batch, body, limit)

    def post(self, request: Request) -> Answer:
        host, deadline = self.webhook.host, self.deadline
        answer = within_deadline(deadline,
                                 lambda: post_once(request, host, deadline, self.verify),
                                 late=Unreachable(no_answer_in_time(host, deadline)))
        self.answers.append(answer)
        return answer

    @property
    def elapsed(self) -> Optional[float]:
        """Seconds spent in requests that were answered; None when none was."""
        return round(sum(a.elapsed for a in self.answers), 3) if self.answers else None

    def details(self) -> Tuple[List[str], List[str]]:
        """For -v a line per request, for -vv each answer's body."""
        host = self.webhook.host
        return ([f"{host}: HTTP {a.status}, {len(a.body)} bytes in {a.elapsed:.3f}s"
                 for a in self.answers],
                [f"answer: {clean(a.body[:2000].decode('utf-8', 'replace'), 300)}"
                 for a in self.answers])  # 300 characters of 2.5 MB: only the start decoded


# -------------------------------------------------------------------- interpretation: the connector


class ConnectorStatus(NamedTuple):
    paid: bool
    free_minutes: Optional[int]  # None: not sent, which only matters while unpaid
    paid_until: Optional[date]


ERROR_HINTS = {
    "insufficient_scope": "the webhook needs the telephony scope",
    "access_denied": 'the webhook\'s user needs the telephony right "Manage numbers - Edit - Any"'
                     " (or REST is not on this plan)",
    "invalid_credentials": "wrong user id or code in the webhook URL",
    "no_auth_found": "wrong user id or code in the webhook URL",
    "authorization_error": "the webhook's user is inactive",
    "expired_token": "the webhook has expired: create a new one",
    "invalid_token": "the webhook has expired: create a new one",
    "error_method_not_found": "malformed webhook URL or no telephony module on this portal",
    "query_limit_exceeded": "rate limited: check less often",
    "operation_time_limit": "rate limited: check less often",
    "overload_limit": "REST is blocked by Bitrix24 for overload",
    "payment_required": "the portal's subscription has ended",
    "portal_deleted": "the portal was deleted",
}


def interpret_connector(answer: Answer) -> ConnectorStatus:
    """Turn an HTTP answer into a ConnectorStatus, or raise the failure it shows."""
    return parse_connector(read_result(answer))


def read_result(answer: Answer):
    """The 'result' of a successful answer, or the failure the answer shows instead."""
    if 300 <= answer.status < 400:
        raise BadAnswer(describe_redirect(answer))
    payload = decode_json(answer)
    if "error" in payload or answer.status == 400:
        raise portal_error(payload, answer.status)
    if answer.status != 200:
        raise BadAnswer(f"HTTP {answer.status} without a Bitrix24 error code")
    if "result" not in payload:
        raise BadAnswer("the answer has no 'result': is this a Bitrix24 REST endpoint?")
    return payload["result"]


def describe_redirect(answer: Answer) -> str:
    """Name only the new host: the Location path may carry the secret."""
    asked = urlsplit(answer.url)
    target = urlsplit(urljoin(answer.url, answer.location or ""))
    if not answer.location:
        return f"the portal redirects (HTTP {answer.status}): check the webhook URL"
    if (asked.scheme, target.scheme) == ("http", "https") and asked.hostname == target.hostname:
        return (f"the portal answers only over https (HTTP {answer.status}): "
                "use https:// in the webhook URL")
    if target.hostname != asked.hostname:
        return (f"the portal moved to {target.hostname} (HTTP {answer.status}): "
                "update the webhook URL")
    return f"the portal redirects (HTTP {answer.status}): check the webhook URL"


def decode_json(answer: Answer) -> dict:
    import json

    try:
        payload = json.loads(answer.body)
    except (ValueError, UnicodeDecodeError):
        kind = (answer.content_type.split(";")[0].strip() or "no content type").lower()
        raise BadAnswer(f"HTTP {answer.status} answer is not JSON ({clean(kind, 40)}): "
                        "is the webhook URL a Bitrix24 portal?") from None
    if not isinstance(payload, dict):
        raise BadAnswer(f"the answer is a JSON {json_type(payload)}, not an object")
    return payload


def portal_error(payload: dict, status: int) -> PortalRefused:
    """Bitrix24 error codes come in mixed case and with any HTTP status, 200 included.

    HTTP 400 is what this method answers when the portal cannot reach its telephony controller,
    with the controller's code, an empty one, or none at all.
    """
    raw = payload.get("error")
    code = clean(raw, 40) if isinstance(raw, (str, int)) else ""
    if not code:
        if status == 400:
            return PortalRefused(controller_message(400))
        return PortalRefused(f"Bitrix24 reported an error without a code (HTTP {status})")
    hint = ERROR_HINTS.get(code.lower())
    if hint is None and status == 400:
        hint = controller_message(None)
    if hint is None:
        hint = clean(payload.get("error_description"), 80) or f"HTTP {status}"
    return PortalRefused(f"Bitrix24 error {code}: {hint}", code=code)


def controller_message(status: Optional[int]) -> str:
    suffix = f" (HTTP {status})" if status else ""
    return f"Bitrix24 could not reach its telephony controller{suffix}: try again later"


def parse_connector(result) -> ConnectorStatus:
    if isinstance(result, list) and not result:
        raise BadAnswer("'result' is empty")
    if not isinstance(result, dict):
        raise BadAnswer(f"'result' is a JSON {json_type(result)}, not an object")
    if "PAID" not in result:
        raise BadAnswer("'result' has no PAID")
    paid = coerce_paid(result["PAID"])
    if "FREE_MINUTES" in result:
        minutes: Optional[int] = coerce_minutes(result["FREE_MINUTES"])
    elif paid:
        minutes = None  # while paid the date decides; the minutes are only a figure
    else:
        raise BadAnswer("'result' has no FREE_MINUTES")
    paid_until = parse_paid_date(result.get("PAID_DATE_END")) if paid else None
    return ConnectorStatus(paid, minutes, paid_until)


_TRUE, _FALSE = ("y", "1", "true"), ("n", "0", "false", "")


def coerce_paid(value) -> bool:
    """JSON boolean as documented; also 1/0 and "Y"/"N" (bool("N") would be True)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
        return value.strip().lower() in _TRUE
    raise BadAnswer(f"PAID is {describe_value(value)}, expected true or false")


def coerce_minutes(value) -> int:
    """A whole number of minutes, 0 or more; numeric strings and 60.0 are accepted."""
    number = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and value.strip().isdigit():
        number = int(value.strip())
    if number is None or number < 0:
        raise BadAnswer(f"FREE_MINUTES is {describe_value(value)}, expected a whole number >= 0")
    return number


_ISO_DATE = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)"
    r"(?:[T ](\d\d):(\d\d)(?::(\d\d)(?:[.,]\d+)?)?)?"
    r"\s*(?:Z|([+-])(\d\d):?(\d\d))?",
    re.IGNORECASE,
)


def parse_paid_date(value) -> Optional[date]:
    """The paid-until calendar date from PAID_DATE_END.

    Bitrix24 sends 00:00 UTC of that date in the server's offset (2024-05-01T03:00:00+03:00,
    or 2024-04-30T19:00:00-04:00 for the same date), give or take an hour of DST drift; the UTC
    date of that instant plus 12 h is the date whatever the offset. Absent or "" means no date.
    """
    if value is None or value == "":
        return None
    match = _ISO_DATE.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise BadAnswer(f"PAID_DATE_END is {describe_value(value)}, expected an ISO 8601 date")
    year, month, day, hour, minute, second, sign, off_h, off_m = match.groups()
    try:
        offset = timedelta(hours=int(off_h or 0), minutes=int(off_m or 0))
        zone = timezone(-offset if sign == "-" else offset)
        instant = datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0),
                           int(second or 0), tzinfo=zone)
        paid_until = (instant.astimezone(timezone.utc) + timedelta(hours=12)).date()
    except (ValueError, OverflowError):
        raise BadAnswer(f"PAID_DATE_END is {describe_value(value)}, not a valid date") from None
    if paid_until.year < 2010:
        raise BadAnswer(f"PAID_DATE_END is {describe_value(value)}, an implausible date")
    return paid_until


# ------------------------------------------------------------------------ interpretation: the lines


class BatchAnswer(NamedTuple):
    """A batch's results, per-command errors and list totals, each keyed by the command's key."""

    results: dict
    errors: dict
    totals: Optional[dict] = None  # result_total: a list method's `total`

    def get(self, key: str, status: int = 200):
        """One command's result, or the failure Bitrix24 gave for it.

        Errors inside a batch carry no HTTP status; `status` is the one the method's own
        errors have when it is called alone.
        """
        if key in self.errors:
            error = self.errors[key]
            raise portal_error(error if isinstance(error, dict) else {}, status)
        if key not in self.results:
            raise BadAnswer(f"the batch answer has no result for '{key}'")
        return self.results[key]


def interpret_batch(answer: Answer) -> BatchAnswer:
    """A batch answer: HTTP 200 even when commands failed; an empty map comes as a list []."""
    outer = read_result(answer)
    if not isinstance(outer, dict):
        raise BadAnswer(f"the batch answer's 'result' is a JSON {json_type(outer)}, not an object")
    return BatchAnswer(as_map(outer.get("result", []), "the batch answer's 'result'"),
                       as_map(outer.get("result_error", []), "the batch answer's 'result_error'"),
                       as_map(outer.get("result_total", []), "the batch answer's 'result_total'"))


def parse_line_list(value) -> Dict[str, str]:
    """voximplant.line.get: line id -> display name ([] for a portal without lines)."""
    lines = as_map(value, "the line list")
    return {str(key): clean(name, 40) for key, name in lines.items()}


def parse_default_line(value) -> Optional[str]:
    """voximplant.line.outgoing.get: the id of the default outgoing line, if any."""
    if value in ("", None, [], False):
        return None
    if not isinstance(value, (str, int)) or isinstance(value, bool):
        raise BadAnswer(f"the default outgoing line is {describe_value(value)}, expected a line id")
    return str(value)


class SipLine(NamedTuple):
    """A cloud PBX line and what Bitrix24 said of its registration."""

    id: str  # reg150907
    name: Optional[str]  # None: the line is not on the portal
    default_outgoing: bool = False
    status: Optional[str] = None  # success, error, in_progress, wait
    sip_status_code: Optional[int] = None
    error_message: str = ""
    last_updated: Optional[str] = None
    failure: Optional[CheckFailure] = None  # its status could not be read
    verdict: Optional[Tuple[nagiosplugin.state.ServiceState, str]] = None  # judged(): once

    @property
    def reg_id(self) -> int:
        return int(self.id[3:])

    @property
    def state(self) -> nagiosplugin.state.ServiceState:
        assert self.verdict is not None, "a line is judged once, when it is read"
        return self.verdict[0]

    @property
    def reason(self) -> str:
        assert self.verdict is not None, "a line is judged once, when it is read"
        return self.verdict[1]


def with_status(line: SipLine, batch: BatchAnswer) -> SipLine:
    """The line with its registration state, or with the failure that hid it."""
    try:
        return line._replace(**parse_sip_status(batch.get(line.id)))
    except CheckFailure as failure:
        return line._replace(failure=failure)


def parse_sip_status(value) -> dict:
    """voximplant.sip.status: STATUS_RESULT, STATUS_CODE (SIP), ERROR_MESSAGE, LAST_UPDATED."""
    if not isinstance(value, dict):
        raise BadAnswer(f"its status answer is a JSON {json_type(value)}, not an object")
    status = value.get("STATUS_RESULT")
    if not isinstance(status, str) or not status:
        raise BadAnswer(f"STATUS_RESULT is {describe_value(status)}, expected a word")
    code = value.get("STATUS_CODE")
    if isinstance(code, str) and code.strip().isdigit():
        code = int(code)
    return {
        "status": clean(status, 30),
        "sip_status_code": code if isinstance(code, int) and not isinstance(code, bool) else None,
        "error_message": clean(value.get("ERROR_MESSAGE"), 60),
        "last_updated": clean(value.get("LAST_UPDATED"), 30) or None,
    }


# ------------------------------------------------------------------------ interpretation: the calls


CALLS_METHOD = "voximplant.statistic.get"
CALLS_PAGE = 50  # rows per page: Bitrix24's fixed page size
MAX_CALLS = 2500  # page 1 and one batch of 49 pages: the newest calls judged
MAX_PAGES_BODY = 8 * MIB  # 49 pages of 50 rows of about 1 KB: the one answer above MAX_BODY


class Call(NamedTuple):
    """One finished outgoing call as the statistics record it."""

    id: int
    line: str  # PORTAL_NUMBER, cleaned: reg150907, a number, REST_APP:5, or "unknown"
    code: str  # CALL_FAILED_CODE, trimmed and upper-case: 200, 503, 603-S, OTHER
    started: datetime


def since_of(now: datetime, window: int) -> str:
    """FILTER's date: seconds and a numeric offset (a date without one is read in the portal
    server's zone); the local offset when it is whole minutes, else UTC."""
    start = (now - timedelta(minutes=window)).replace(microsecond=0)
    offset = start.utcoffset()
    if offset is None or offset % timedelta(minutes=1):
        start = start.astimezone(timezone.utc)
    return start.isoformat()


def calls_command(since: str, start: int) -> str:
    """One page of outgoing calls as a batch command, its query encoded as PHP's parse_str
    reads it: a bare '+' of the offset would turn into a space and the date be lost."""
    query = urlencode([("FILTER[CALL_TYPE]", 1), ("FILTER[>=CALL_START_DATE]", since),
                       ("SORT", "CALL_START_DATE"), ("ORDER", "DESC"), ("start", start)])
    return f"{CALLS_METHOD}?{query}"


def later_pages(total: int) -> List[int]:
    """The `start` of every page after the first that the newest MAX_CALLS calls need."""
    return list(range(CALLS_PAGE, min(total, MAX_CALLS), CALLS_PAGE))


def parse_total(value) -> int:
    """A list method's `total`: how many rows match the FILTER."""
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise BadAnswer(f"{CALLS_METHOD}: 'total' is {describe_value(value)}, "
                        "expected a whole number")
    return value


def parse_calls_page(value) -> List[Call]:
    """One page's `result`: a list of call records ([] when no call matched)."""
    if not isinstance(value, list):
        raise BadAnswer(f"{CALLS_METHOD}: 'result' is not a list (a JSON {json_type(value)})")
    return [parse_call(row) for row in value]


_CALL_DATE = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)",
                        re.IGNORECASE)


def parse_call(row) -> Call:
    """A record of voximplant.statistic.get; any field it needs, malformed, fails the aspect."""
    if not isinstance(row, dict):
        raise BadAnswer(f"{CALLS_METHOD}: a call record is not an object (a JSON "
                        f"{json_type(row)})")
    call_id = row.get("ID")
    if isinstance(call_id, str) and call_id.strip().isdigit():
        call_id = int(call_id)
    if not isinstance(call_id, int) or isinstance(call_id, bool) or call_id < 0:
        raise BadAnswer(f"{CALLS_METHOD}: a call record's ID is {describe_value(call_id)}, "
                        "expected digits")
    return Call(call_id, call_line(row.get("PORTAL_NUMBER")),
                failed_code(row.get("CALL_FAILED_CODE"), call_id),
                call_start(row.get("CALL_START_DATE"), call_id))


def call_line(value) -> str:
    """PORTAL_NUMBER: the line the call went out on; none given is the line `unknown`."""
    return (clean_text(value, 40) if isinstance(value, str) else clean(value, 40)) or "unknown"


def failed_code(value, call_id: int) -> str:
    """CALL_FAILED_CODE: 200, a SIP code, or a Bitrix24 word; compared case-insensitively."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    code = clean_text(value, 20).upper() if isinstance(value, str) else ""
    if not code:
        raise BadAnswer(f"{CALLS_METHOD}: call {call_id} has CALL_FAILED_CODE "
                        f"{describe_value(value)}, expected a code such as 200 or 503")
    return code


def call_start(value, call_id: int) -> datetime:
    """CALL_START_DATE: ISO 8601 with its offset, so that calls of any zone sort as instants."""
    text = value.strip() if isinstance(value, str) else ""
    if len(text) == 25 and text[10] == "T" and text[19] in "+-" and text[22] == ":":
        try:  # Bitrix24's own form, 2026-12-05T10:00:00+03:00: 2500 of them per check
            return datetime.fromisoformat(text)
        except ValueError:
            pass  # said below
    try:
        if not _CALL_DATE.fullmatch(text):
            raise ValueError(text)
        started = datetime.fromisoformat(re.sub(r"[zZ]$", "+00:00", text.replace(" ", "T")))
    except ValueError:
        raise BadAnswer(f"{CALLS_METHOD}: call {call_id} has CALL_START_DATE "
                        f"{describe_value(value)}, expected ISO 8601 with an offset") from None
    return started


def newest_calls(rows: Iterable[Call]) -> List[Call]:
    """Each call once (pages can shift while calls arrive: the first row read wins), newest
    first (ties: higher ID first), at most MAX_CALLS."""
    unique: Dict[int, Call] = {}
    for call in rows:
        unique.setdefault(call.id, call)
    ordered = sorted(unique.values(), key=lambda call: (call.started, call.id), reverse=True)
    return ordered[:MAX_CALLS]


# ------------------------------------------------------------------- plan: what each aspect reads


class PortalReads:
    """What the aspects read from the portal, each request made once.

    `--check connector` asks the connector's method alone (one request, as in 1.0). Every other
    check starts with one batch that all its aspects read: the line list and default line
    (lines), the connector's status (connector), page 1 of the outgoing calls (calls). The lines
    then need one batch of statuses per MAX_BATCH cloud lines; more than one page of calls, one
    batch of the later pages.
    """

    def __init__(self, api: Bitrix24, aspects: Tuple[str, ...], since: str):
        self.api = api
        self.aspects = aspects
        self.since = since  # the calls' FILTER date, the same in every request of the run
        self._first: Union[BatchAnswer, CheckFailure, None] = None

    def connector(self) -> ConnectorStatus:
        if self.aspects == ("connector",):
            return self.api.call(CONNECTOR_METHOD, interpret_connector)
        # the method alone answers its own errors with HTTP 400, which picks the same hint
        return parse_connector(self.first_batch().get("connector", status=400))

    def first_batch(self) -> BatchAnswer:
        if self._first is None:
            commands: Dict[str, str] = {}
            if "lines" in self.aspects:
                commands.update(lines="voximplant.line.get",
                                default="voximplant.line.outgoing.get")
            if "connector" in self.aspects:
                commands["connector"] = CONNECTOR_METHOD
            if "calls" in self.aspects:
                commands["calls"] = calls_command(self.since, 0)
            try:
                self._first = self.api.batch(commands)
            except CheckFailure as failure:
                self._first = failure  # the second aspect reports the same failure
        if isinstance(self._first, CheckFailure):
            raise self._first
        return self._first

    def lines(self, named: Tuple[str, ...]) -> List[SipLine]:
        first = self.first_batch()
        listed = parse_line_list(command_result(first, "lines", "cannot list the SIP lines"))
        default = parse_default_line(
            command_result(first, "default", "cannot read the default outgoing line"))
        lines = select_lines(listed, named, default)
        read: Dict[str, SipLine] = {}
        batches = status_batches(lines)
        for commands in batches:
            try:
                batch = self.api.batch(commands)
            except Unreachable as late:
                unread = sum(len(c) for c in batches) - len(read)
                raise Unreachable(f"{late.message} ({plural(unread, 'SIP line')} "
                                  "still unread)") from None
            read.update((line.id, with_status(line, batch))
                        for line in lines if line.id in commands)
        return [read.get(line.id, line) for line in lines]

    def calls(self) -> Tuple[List[Call], int]:
        """The newest outgoing calls of the window (at most MAX_CALLS) and Bitrix24's total:
        page 1 from the first batch, the later pages all in one more batch."""
        first = self.first_batch()
        rows = parse_calls_page(calls_result(first, "calls"))
        total = parse_total((first.totals or {}).get("calls"))
        starts = later_pages(total)
        if starts:
            commands = {f"calls{start}": calls_command(self.since, start) for start in starts}
            try:
                pages = self.api.batch(commands, MAX_PAGES_BODY)
            except Unreachable as late:
                raise Unreachable(f"{late.message} ({plural(len(starts), 'page')} of call "
                                  "statistics unread)") from None
            for key in commands:
                rows += parse_calls_page(calls_result(pages, key))
        return newest_calls(rows), total


def command_result(batch: BatchAnswer, key: str, what: str, hints: Optional[dict] = None):
    """A command the whole aspect depends on: its failure fails the aspect, saying which;
    `hints` replace ERROR_HINTS' for the codes this method means otherwise."""
    try:
        return batch.get(key)
    except CheckFailure as failure:
        hint = (hints or {}).get((failure.code or "").lower())
        message = f"Bitrix24 error {failure.code}: {hint}" if hint else failure.message
        raise type(failure)(f"{what}: {message}", failure.code) from None


# the statistics need another right than the connector's and the lines' methods
CALLS_HINTS = {"access_denied": 'the webhook\'s user needs the telephony right "Call statistics '
                                '- View - Any"'}


def calls_result(batch: BatchAnswer, key: str):
    """A page of calls, or why it could not be read."""
    return command_result(batch, key, "cannot read the call statistics", CALLS_HINTS)


MAX_BATCH = 50  # commands per batch request; Bitrix24 refuses more (ERROR_BATCH_LENGTH_EXCEEDED)


def select_lines(listed: Dict[str, str], named: Tuple[str, ...],
                 default: Optional[str]) -> List[SipLine]:
    """The lines to check: those named with --line (listed or not), else every cloud line."""
    chosen = named or tuple(key for key in listed if CLOUD_LINE.fullmatch(key))
    return [SipLine(key, listed.get(key), key == default) for key in chosen]


def status_batches(lines: List[SipLine]) -> List[Dict[str, str]]:
    """voximplant.sip.status for each listed line, MAX_BATCH commands per request."""
    commands = [(line.id, f"voximplant.sip.status?REG_ID={line.reg_id}")
                for line in lines if line.name is not None]
    return [dict(commands[i:i + MAX_BATCH]) for i in range(0, len(commands), MAX_BATCH)]


# --------------------------------------------------------------------------- verdict


def days_left(paid_until: date, today: date) -> int:
    """Whole days from today to the paid-until date; negative once it has passed."""
    return (paid_until - today).days


def judge(status: ConnectorStatus, limits: Thresholds, today: date):
    """State and summary of a connector. Thresholds mean "fewer than N": exactly N is fine."""
    if status.paid:
        if status.paid_until is None:
            return Warn, "paid, but Bitrix24 reported no end date"
        until = status.paid_until.isoformat()
        left = days_left(status.paid_until, today)
        if left < 0:
            return Critical, f"expired on {until}"
        if left < limits.critical_days:
            return Critical, f"paid until {until}, {plural(left, 'day')} left"
        if left < limits.warning_days:
            return Warn, f"paid until {until}, {plural(left, 'day')} left"
        return Ok, f"paid until {until} ({plural(left, 'day')} left)"
    minutes = status.free_minutes or 0  # parse_connector requires them while unpaid
    if minutes == 0:
        return Critical, "not paid and no free minutes: outbound SIP calls are off"
    state = limits.unpaid
    if minutes < limits.critical_minutes:
        state = Critical
    elif minutes < limits.warning_minutes:
        state = max(state, Warn)
    return state, f"not paid, {plural(minutes, 'free minute')} left"


def describe_status(status: ConnectorStatus) -> str:
    """The -v line: the connector's fields as Bitrix24 sent them, in words."""
    minutes = "not reported" if status.free_minutes is None else status.free_minutes
    return (f"paid: {'yes' if status.paid else 'no'}, free minutes: {minutes}, "
            f"paid until: {status.paid_until or 'not reported'}")


LINE_STATES = {"success": (Ok, "registered"), "in_progress": (Warn, "registration in progress"),
               "wait": (Warn, "waiting to register")}


def judge_line(line: SipLine):
    """State and reason of one line: registered, pending, failed, or not known."""
    if line.name is None:
        return Critical, "not on the portal"
    if line.failure is not None:
        if (line.failure.code or "").lower() == "reg_id_not_found":
            return Warn, "deleted while checking"
        return Unknown, line.failure.message
    if line.status in LINE_STATES:
        return LINE_STATES[line.status]
    if line.status == "error":
        words = [] if line.sip_status_code is None else [f"SIP {line.sip_status_code}"]
        words += [line.error_message] if line.error_message else []
        return Critical, " ".join(words) or "registration failed"
    return Unknown, f"unexpected status {describe_value(line.status)}"


def judged(line: SipLine) -> SipLine:
    """The line with its verdict: every summary, count and renderer reads that one."""
    return line._replace(verdict=judge_line(line))


def describe_line(line: SipLine) -> str:
    """How the first line names a judged line: its name, id, whether it is the default one,
    and its reason."""
    if line.name is None:
        return f"line {line.id} is {line.reason}"
    default = ", default outgoing" if line.default_outgoing else ""
    return f'"{line.name}" ({line.id}{default}): {line.reason}'


def summarize_lines(lines: List[SipLine]) -> Tuple[nagiosplugin.state.ServiceState, str]:
    """The worst line's state, and a sentence that names the lines that matter most first."""
    if not lines:
        return Warn, "no cloud PBX SIP lines to check"
    problems = sorted((line for line in lines if line.state != Ok),
                      key=lambda line: (not line.default_outgoing, -line.state.code))
    if not problems:
        return Ok, f"{plural(len(lines), 'SIP line')} registered"
    named = [describe_line(line) for line in problems[:3]]
    if len(problems) > 3:
        named.append(f"and {len(problems) - 3} more")
    noun = "SIP line" if len(lines) == 1 else "SIP lines"
    sentence = f"{len(problems)} of {len(lines)} {noun} not registered: {'; '.join(named)}"
    return max(line.state for line in problems), sentence


def line_counts(lines: List[SipLine]) -> Dict[str, int]:
    """Registered, pending (not confirmed yet) and failed lines, for perfdata."""
    counts = {"lines_registered": 0, "lines_pending": 0, "lines_failed": 0}
    for line in lines:
        if line.state == Ok:
            counts["lines_registered"] += 1
        elif line.state == Warn:
            counts["lines_pending"] += 1
        elif line.state == Critical:
            counts["lines_failed"] += 1
    return counts


def describe_line_detail(line: SipLine) -> str:
    """The -v line of one SIP line: everything Bitrix24 said of it."""
    state, reason = line.state, line.reason
    name = "" if line.name is None else f' "{line.name}"'
    default = " (default outgoing)" if line.default_outgoing else ""
    if line.name is None or line.failure is not None:
        return f"{line.id}{name}{default}: {str(state).upper()}, {reason}"
    code = "-" if line.sip_status_code is None else line.sip_status_code
    message = f', "{line.error_message}"' if line.error_message else ""
    updated = line.last_updated or "never"
    return (f"{line.id}{name}{default}: {str(state).upper()}, status {line.status}, "
            f"SIP {code}{message}, updated {updated}")


def failure_state(failure: CheckFailure, unreachable) -> nagiosplugin.state.ServiceState:
    return unreachable if isinstance(failure, Unreachable) else Unknown


# ------------------------------------------------------------------------- verdict: the calls


SUCCESS = "200"
CALLEE_OUTCOMES = ("304", "480", "486", "603", "603-S")  # missed, unavailable, busy, declined
FAILURE_MEANINGS = {"402": "insufficient funds", "402-B24": "unavailable on the free plan",
                    "403": "forbidden", "404": "invalid number", "423": "blocked",
                    "484": "route unavailable", "500": "server error",
                    "503": "route unavailable", "OTHER": "other error"}


def is_failure(code: str) -> bool:
    """A failure on the line's, the provider's or the billing side; what the callee did (busy,
    declined, no answer) says nothing about the line."""
    return code != SUCCESS and code not in CALLEE_OUTCOMES


def meaning(code: str) -> str:
    return FAILURE_MEANINGS.get(code, "unknown code")


class CallLine(NamedTuple):
    """One line's outgoing calls in the window, counted."""

    id: str
    outgoing: int
    failed: int
    streak: int  # its newest calls that failed one after the other
    codes: Tuple[Tuple[str, int], ...]  # failures per code, most frequent first, ties by code
    state: nagiosplugin.state.ServiceState = Ok

    @property
    def share(self) -> Fraction:
        return Fraction(self.failed, self.outgoing)


def tally(line: str, calls: List[Call]) -> CallLine:
    """A line's figures from its calls, newest first."""
    failures = [call.code for call in calls if is_failure(call.code)]
    streak = next((index for index, call in enumerate(calls) if not is_failure(call.code)),
                  len(calls))
    counts: Dict[str, int] = {}
    for code in failures:
        counts[code] = counts.get(code, 0) + 1
    codes = tuple(sorted(counts.items(), key=lambda item: (-item[1], item[0])))
    return CallLine(line, len(calls), len(failures), streak, codes)


def streak_holds(line: CallLine, limits: CallsLimits) -> bool:
    return 0 < limits.streak <= line.streak


def judge_call_line(line: CallLine, limits: CallsLimits) -> nagiosplugin.state.ServiceState:
    """A streak of failures is CRITICAL at once; a share only counts from --calls-min calls.
    The share is compared exactly: 1 of 5 is 20 %, not 19.99 or 20.01."""
    rated = line.outgoing >= limits.min_calls
    percent = 100 * line.share
    if streak_holds(line, limits) or (rated and percent >= limits.critical):
        return Critical
    if rated and percent >= limits.warning:
        return Warn
    return Ok


def call_lines(calls: List[Call], limits: CallsLimits) -> List[CallLine]:
    """Every line with calls, judged, in the order every list of lines uses: worst state,
    then more failures, then a higher failed share, then the line id."""
    by_line: Dict[str, List[Call]] = {}
    for call in calls:
        by_line.setdefault(call.line, []).append(call)
    lines = [tally(line, line_calls) for line, line_calls in by_line.items()]
    lines = [line._replace(state=judge_call_line(line, limits)) for line in lines]
    return sorted(lines, key=lambda line: (-line.state.code, -line.failed, -line.share, line.id))


def rounded_percent(part: int, whole: int) -> float:
    """A share in percent, to one decimal, for perfdata and JSON."""
    return round(100 * part / whole, 1)


def percent_of(part: int, whole: int) -> str:
    return f"{rounded_percent(part, whole):g}%"


def describe_codes(codes: Tuple[Tuple[str, int], ...]) -> str:
    return ", ".join(f"{code} {meaning(code)} x{count}" for code, count in codes)


def call_line_fragment(line: CallLine, limits: CallsLimits) -> str:
    """How the first line names a line whose calls fail."""
    text = (f"{line.id}: {line.failed} of {line.outgoing} outgoing calls failed in the last "
            f"{limits.window} min")
    if line.codes:
        text += f" ({describe_codes(line.codes)})"
    if streak_holds(line, limits):
        text += f", the last {line.streak} in a row"
    return text


def summarize_calls(lines: List[CallLine], limits: CallsLimits
                    ) -> Tuple[nagiosplugin.state.ServiceState, str]:
    """The worst line's state (--calls-none without calls) and the calls' sentence."""
    if not lines:
        return limits.none, f"no outgoing calls in the last {limits.window} min"
    calls = sum(line.outgoing for line in lines)
    problems = [line for line in lines if line.state != Ok]
    if not problems:
        failed = sum(line.failed for line in lines)
        noun = "line" if len(lines) == 1 else "lines"
        return Ok, (f"{plural(calls, 'outgoing call')} on {len(lines)} {noun} in the last "
                    f"{limits.window} min, "
                    + (f"{failed} failed ({percent_of(failed, calls)})" if failed
                       else "none failed"))
    named = [call_line_fragment(line, limits) for line in problems[:3]]
    if len(problems) > 3:
        named.append(f"and {len(problems) - 3} more")
    return (problems[0].state,
            f"{len(problems)} of {plural(len(lines), 'line')} failing calls: {'; '.join(named)}")


def describe_call_line(line: CallLine) -> str:
    """The -v line of one line's calls."""
    words = [f"{str(line.state).upper()}",
             f"{line.failed} of {line.outgoing} failed ({percent_of(line.failed, line.outgoing)})",
             f"streak {line.streak}"]
    if line.codes:
        words.append(describe_codes(line.codes))
    return f"calls {line.id}: {', '.join(words)}"


PERF_LABEL = re.compile(r"[^A-Za-z0-9_.-]")


def perf_label(line: str) -> str:
    """A line id as a perfdata label's tail: reg150907, REST_APP_5."""
    return PERF_LABEL.sub("_", line)


# ---------------------------------------------------------------------- nagiosplugin: the connector


class ConnectorVerdict(NamedTuple):
    status: ConnectorStatus
    state: nagiosplugin.state.ServiceState
    summary: str


class SipConnector(nagiosplugin.Resource):
    """The connector's status judged (or the failure that hid it), and the figures to graph."""

    def __init__(self, reads: PortalReads, limits: Thresholds, today: date, timed: bool):
        self.reads = reads
        self.limits = limits
        self.today = today
        self.timed = timed  # the time figure is the last aspect's

    def probe(self):
        try:
            status = self.reads.connector()
        except CheckFailure as failure:
            yield nagiosplugin.Metric("connector", failure, context="connector")
            return
        verdict = ConnectorVerdict(status, *judge(status, self.limits, self.today))
        yield nagiosplugin.Metric("connector", verdict, context="connector")
        yield from self.figures(status)
        if self.timed:
            yield time_metric(self.reads.api)

    def figures(self, status: ConnectorStatus):
        if status.paid_until is not None:
            yield nagiosplugin.Metric("days_left", days_left(status.paid_until, self.today),
                                      context="days_left")
        if status.free_minutes is not None:
            minutes_context = "free_minutes" if not status.paid else "plain"
            yield nagiosplugin.Metric("free_minutes", status.free_minutes, min=0,
                                      context=minutes_context)
        yield nagiosplugin.Metric("paid", int(status.paid), min=0, max=1, context="plain")


# -------------------------------------------------------------------------- nagiosplugin: the lines


class LinesVerdict(NamedTuple):
    lines: Tuple[SipLine, ...]  # each judged
    state: nagiosplugin.state.ServiceState
    summary: str


class SipLines(nagiosplugin.Resource):
    """The cloud PBX lines' registration judged, line by line and as a whole (or the failure
    that hid them), and their counts to graph."""

    def __init__(self, reads: PortalReads, named: Tuple[str, ...], timed: bool):
        self.reads = reads
        self.named = named
        self.timed = timed  # the time figure is the last aspect's

    def probe(self):
        try:
            lines = [judged(line) for line in self.reads.lines(self.named)]
        except CheckFailure as failure:
            yield nagiosplugin.Metric("sip_lines", failure, context="sip_lines")
            return
        verdict = LinesVerdict(tuple(lines), *summarize_lines(lines))
        yield nagiosplugin.Metric("sip_lines", verdict, context="sip_lines")
        total = len(lines)
        yield nagiosplugin.Metric("lines", total, min=0, context="plain")
        for name, count in line_counts(lines).items():
            yield nagiosplugin.Metric(name, count, min=0, max=total, context=name)
        if self.timed:
            yield time_metric(self.reads.api)


# -------------------------------------------------------------------------- nagiosplugin: the calls


class CallsVerdict(NamedTuple):
    since: str  # the FILTER date sent
    total: int  # Bitrix24's count of the window's outgoing calls
    judged: int  # the newest of them, at most MAX_CALLS
    lines: Tuple[CallLine, ...]  # judged, in the line order
    limits: CallsLimits
    state: nagiosplugin.state.ServiceState
    summary: str

    @property
    def failed(self) -> int:
        return sum(line.failed for line in self.lines)

    @property
    def truncated(self) -> bool:
        return self.total > MAX_CALLS


PERF_LINES = 20  # lines with their own perfdata, the first in the line order


class OutgoingCalls(nagiosplugin.Resource):
    """The window's outgoing calls judged line by line (or the failure that hid them), and
    their counts to graph."""

    def __init__(self, reads: PortalReads, limits: CallsLimits):
        self.reads = reads
        self.limits = limits

    def probe(self):
        try:
            calls, total = self.reads.calls()
        except CheckFailure as failure:
            yield nagiosplugin.Metric("outgoing_calls", failure, context="outgoing_calls")
            return
        lines = call_lines(calls, self.limits)
        state, summary = summarize_calls(lines, self.limits)
        if total > MAX_CALLS:
            summary += f", newest {len(calls)} of {total} outgoing calls judged"
        verdict = CallsVerdict(self.reads.since, total, len(calls), tuple(lines), self.limits,
                               state, summary)
        yield nagiosplugin.Metric("outgoing_calls", verdict, context="outgoing_calls")
        yield from call_figures("", len(calls), verdict.failed)
        taken = {"calls", "calls_failed", "calls_failed_pct"}
        for line in lines[:PERF_LINES]:
            label = perf_label(line.id)
            if f"calls_{label}" not in taken:  # two ids may clean to one label: the first wins
                figures = list(call_figures(f"_{label}", line.outgoing, line.failed))
                taken.update(metric.name for metric in figures)
                yield from figures
        yield time_metric(self.reads.api)


def call_figures(suffix: str, outgoing: int, failed: int) -> Iterator[nagiosplugin.Metric]:
    """calls, calls_failed and (with calls) calls_failed_pct, for all lines or one."""
    yield nagiosplugin.Metric(f"calls{suffix}", outgoing, min=0, context="plain")
    yield nagiosplugin.Metric(f"calls_failed{suffix}", failed, min=0, context="plain")
    if outgoing:
        yield nagiosplugin.Metric(f"calls_failed_pct{suffix}",
                                  f"{rounded_percent(failed, outgoing):g}", "%", min=0, max=100,
                                  context="plain")


# -------------------------------------------------------------------------- nagiosplugin: the check


def time_metric(api: Bitrix24) -> nagiosplugin.Metric:
    return nagiosplugin.Metric("time", f"{api.elapsed or 0:.3f}", "s", min=0, context="plain")


class VerdictContext(nagiosplugin.Context):
    """An aspect's Result: its Resource's verdict, or the failure that kept it from one (in
    the --unreachable state when the portal could not be reached)."""

    def __init__(self, name: str, unreachable: nagiosplugin.state.ServiceState):
        super().__init__(name)
        self.unreachable = unreachable

    def evaluate(self, metric, resource):
        if isinstance(metric.value, CheckFailure):
            failure = metric.value
            return nagiosplugin.Result(failure_state(failure, self.unreachable), failure.message,
                                       metric)
        return nagiosplugin.Result(metric.value.state, metric.value.summary, metric)


class FigureContext(nagiosplugin.Context):
    """Performance data only, with the guideline ranges given as text ("7:" alerts below 7)."""

    def __init__(self, name: str, warning: str = "", critical: str = ""):
        super().__init__(name)
        self.warning = warning
        self.critical = critical

    def performance(self, metric, resource):
        return nagiosplugin.Performance(
            metric.name, metric.value, metric.uom, self.warning, self.critical,
            metric.min, metric.max,
        )


class CheckSummary(nagiosplugin.Summary):
    """Presentation: the aspects' own sentences joined, a failure they share said once."""

    def ok(self, results):
        sentences: List[str] = []
        for name in (name for name in ASPECTS if name in results):
            hint = results[name].hint
            failed = isinstance(results[name].metric.value, CheckFailure)
            if not any(repeats(hint, said, failed) for said in sentences):
                sentences.append(hint)
        return "; ".join(sentences)

    problem = ok


ASPECTS = ("connector", "sip_lines", "outgoing_calls")  # the metrics with an aspect's verdict


def repeats(sentence: str, said: str, failed: bool) -> bool:
    """The same failure as one already said, maybe with what it hid ("cannot list ...: ")."""
    return sentence == said or (failed and sentence.endswith(": " + said))


def build_check(options: Options, now: datetime, api: Bitrix24) -> nagiosplugin.Check:
    """One Resource and Context per aspect; --check decides which go in."""
    limits, aspects = options.thresholds, options.aspects
    reads = PortalReads(api, aspects, since_of(now.astimezone(), options.calls.window))
    parts: list = []
    if "connector" in aspects:
        parts += [SipConnector(reads, limits, now.astimezone().date(),
                               timed=aspects[-1] == "connector"),
                  VerdictContext("connector", options.unreachable),
                  FigureContext("days_left", f"{limits.warning_days}:", f"{limits.critical_days}:"),
                  FigureContext("free_minutes", f"{limits.warning_minutes}:",
                                f"{limits.critical_minutes}:")]
    if "lines" in aspects:
        parts += [SipLines(reads, options.lines, timed=aspects[-1] == "lines"),
                  VerdictContext("sip_lines", options.unreachable),
                  FigureContext("lines_registered"), FigureContext("lines_pending", warning="0"),
                  FigureContext("lines_failed", critical="0")]
    if "calls" in aspects:
        parts += [OutgoingCalls(reads, options.calls),
                  VerdictContext("outgoing_calls", options.unreachable)]
    return nagiosplugin.Check(*parts, FigureContext("plain"), CheckSummary())


# --------------------------------------------------------------------------- output


class Outcome(NamedTuple):
    """Everything a renderer may show: one evaluation, several ways to print it."""

    state: nagiosplugin.state.ServiceState
    summary: str
    checked_at: datetime
    portal: Optional[str] = None  # the webhook's host, never the webhook: None before options
    check: Optional[str] = None  # --check as parsed; None when the options failed
    limits: Optional[Limits] = None
    status: Optional[ConnectorStatus] = None
    days_left: Optional[int] = None
    elapsed: Optional[float] = None  # seconds, rounded to ms
    failure: Optional[CheckFailure] = None  # the first aspect's that failed
    perfdata: Tuple[str, ...] = ()
    details: Tuple[Tuple[int, str], ...] = ()  # (lowest -v level that shows it, line)
    lines: Optional[Tuple[SipLine, ...]] = None  # None: not checked, or not read
    calls: Optional[CallsVerdict] = None  # None: not checked, or not read
    check_asked: str = "connector"  # --check as argv gave it, for a run whose options failed


def with_options(outcome: Outcome, options: Options) -> Outcome:
    """The Outcome's part that comes from the options: what was checked, never with what."""
    return outcome._replace(portal=options.webhook.host, check=options.check,
                            limits=options.limits)


def outcome_of(check: nagiosplugin.Check, options: Options, checked_at: datetime,
               api: Bitrix24) -> Outcome:
    """The Outcome of the evaluated check: its state, summary and perfdata, each aspect's
    verdict (or failure), and what the portal was asked."""
    connector, lines, calls = values = [value_of(check, name) for name in ASPECTS]
    status = connector.status if isinstance(connector, ConnectorVerdict) else None
    judged_lines = lines.lines if isinstance(lines, LinesVerdict) else None
    calls = calls if isinstance(calls, CallsVerdict) else None
    requests_seen, answers = api.details()
    details = [(1, line) for line in requests_seen]
    details += [(1, describe_status(status))] if status else []
    details += [(1, describe_line_detail(line)) for line in judged_lines or ()]
    details += [(1, describe_calls(calls))] if calls else []
    details += [(1, describe_call_line(line)) for line in calls.lines] if calls else []
    details.append((2, describe_thresholds(options.thresholds)))
    details += [(2, describe_calls_limits(options.calls))] if "calls" in options.aspects else []
    details += [(2, line) for line in answers]
    return with_options(Outcome(
        state=check.state,
        summary=check.summary_str,
        checked_at=checked_at,
        status=status,
        days_left=value_of(check, "days_left"),
        elapsed=api.elapsed,
        failure=next((v for v in values if isinstance(v, CheckFailure)), None),
        perfdata=tuple(check.perfdata),
        details=tuple(details),
        lines=judged_lines,
        calls=calls,
    ), options)


def value_of(check: nagiosplugin.Check, name: str):
    """The value of a metric the check evaluated, None if it has none of that name."""
    if name not in check.results:
        return None
    metric = check.results[name].metric
    return None if metric is None else metric.value


def describe_thresholds(limits: Thresholds) -> str:
    unpaid = str(limits.unpaid).upper()
    return (f"thresholds: WARNING below {limits.warning_days} days, CRITICAL below "
            f"{limits.critical_days}; unpaid: {unpaid}, WARNING below {limits.warning_minutes} "
            f"free minutes, CRITICAL below {limits.critical_minutes}")


def describe_calls(calls: CallsVerdict) -> str:
    """The -v line of the calls aspect: what was asked and how much of it was judged."""
    return (f"calls: outgoing since {calls.since}, {calls.total} reported, {calls.judged} "
            f"judged, {calls.failed} failed")


def describe_calls_limits(limits: CallsLimits) -> str:
    streak = f"the last {limits.streak} failed" if limits.streak else "off"
    return (f"calls thresholds: window {limits.window} min; from {limits.min_calls} calls on a "
            f"line, WARNING at {percent_text(limits.warning)}% failed, CRITICAL at "
            f"{percent_text(limits.critical)}%; streak: {streak}; no calls: "
            f"{str(limits.none).upper()}")


def status_line(state, summary: str, perfdata) -> str:
    line = f"{PLUGIN_NAME} {str(state).upper()} - {summary}"
    return f"{line} | {' '.join(perfdata)}" if perfdata else line


def render_nagios(outcome: Outcome, verbose: int) -> str:
    """The plugin API: status line with perfdata first, -v details on the lines after it."""
    lines = [status_line(outcome.state, outcome.summary, outcome.perfdata)]
    lines += [line for level, line in outcome.details if level <= verbose]
    return "\n".join(lines)


def render_json(outcome: Outcome, verbose: int = 0) -> str:
    """One JSON object; the schema is documented in the README and kept stable."""
    import json

    status, limits, failure = outcome.status, outcome.limits, outcome.failure
    document = {
        "state": str(outcome.state).upper(),
        "state_code": outcome.state.code,
        "summary": outcome.summary,
        "portal": outcome.portal,
        "paid": status.paid if status else None,
        "free_minutes": status.free_minutes if status else None,
        "paid_until": status.paid_until.isoformat() if status and status.paid_until else None,
        "days_left": outcome.days_left,
        "thresholds": thresholds_document(limits) if limits else None,
        "request_duration_seconds": outcome.elapsed,
        "checked_at": outcome.checked_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "error": {"kind": failure.kind, "code": failure.code, "message": failure.message}
        if failure else None,
        "plugin_version": __version__,
        "check": outcome.check,
        "lines": None if outcome.lines is None else [line_document(line) for line in outcome.lines],
        "calls": None if outcome.calls is None else calls_document(outcome.calls),
    }
    return json.dumps(document)


def calls_document(calls: CallsVerdict) -> dict:
    """The calls aspect's figures and verdict, with one object per line."""
    failed, judged_calls = calls.failed, calls.judged
    return {
        "window_minutes": calls.limits.window, "since": calls.since, "outgoing": judged_calls,
        "total": calls.total, "failed": failed,
        "failed_pct": rounded_percent(failed, judged_calls) if judged_calls else None,
        "truncated": calls.truncated, "state": str(calls.state).upper(),
        "state_code": calls.state.code,
        "lines": [call_line_document(line, calls.limits) for line in calls.lines],
    }


def call_line_document(line: CallLine, limits: CallsLimits) -> dict:
    """One line's calls; `summary` names the line, for a Zabbix problem per line."""
    return {
        "portal_number": line.id, "outgoing": line.outgoing, "failed": line.failed,
        "failed_pct": rounded_percent(line.failed, line.outgoing), "streak": line.streak,
        "codes": dict(line.codes), "state": str(line.state).upper(),
        "state_code": line.state.code, "summary": call_line_fragment(line, limits),
    }


def line_document(line: SipLine) -> dict:
    """One line's fields and verdict; `summary` is how the first line names it (for a Zabbix
    problem per line)."""
    return {
        "id": line.id, "name": line.name, "reg_id": line.reg_id,
        "default_outgoing": line.default_outgoing, "status": line.status,
        "sip_status_code": line.sip_status_code, "error_message": line.error_message or None,
        "last_updated": line.last_updated, "state": str(line.state).upper(),
        "state_code": line.state.code, "summary": describe_line(line),
    }


def thresholds_document(limits: Limits) -> dict:
    thresholds = limits.thresholds
    return {
        "warning_days": thresholds.warning_days,
        "critical_days": thresholds.critical_days,
        "warning_minutes": thresholds.warning_minutes,
        "critical_minutes": thresholds.critical_minutes,
        "unpaid": str(thresholds.unpaid).upper(),
        "unreachable": str(limits.unreachable).upper(),
        "timeout_seconds": limits.timeout,
    }


def render_prometheus(outcome: Outcome, verbose: int = 0) -> str:
    """Text exposition format; a metric whose value is not known is left out, never faked.

    Base units only (promtool's rule): free time in seconds, the end date as a timestamp.
    A failed check says why in a comment line, so a cron mail or the textfile shows the reason.
    """
    # the check label keeps two services' files apart: the same series twice in a textfile
    # folder makes node_exporter serve only one of them
    portal = {"portal": outcome.portal or "", "check": outcome.check or outcome.check_asked}
    lines = []
    if outcome.failure is not None:
        lines.append(f"# {status_line(outcome.state, outcome.summary, ())}")
    for name, help_text, samples in prometheus_families(outcome):
        if samples:
            lines += [f"# HELP bx24_sip_{name} {help_text}", f"# TYPE bx24_sip_{name} gauge"]
            lines += [f"bx24_sip_{name}{{{prometheus_labels({**portal, **labels})}}} {value}"
                      for labels, value in samples]
    return "\n".join(lines)


def prometheus_families(outcome: Outcome):
    """(name, help, [(extra labels, value)]) for every gauge; unknown values have no sample."""
    status, lines = outcome.status, outcome.lines or ()
    paid_until = status.paid_until if status else None
    minutes = status.free_minutes if status else None

    def one(value):
        return [] if value is None else [({}, value)]

    def per_line(value_of_line):
        return [({"line": line.id, "name": line.name or ""}, value_of_line(line)) for line in lines]

    calls = outcome.calls
    calls_lines = calls.lines if calls else ()

    def per_call_line(value_of_line):
        return [({"line": line.id}, value_of_line(line)) for line in calls_lines]

    return [
        ("up", "1 when Bitrix24 answered everything the check asked, else 0",
         one(int(outcome.failure is None))),
        ("paid", "1 when the SIP connector is paid, else 0",
         one(int(status.paid) if status else None)),
        ("free_call_seconds", "Free SIP connector call time left, in seconds",
         one(None if minutes is None else minutes * 60)),
        ("paid_until_timestamp_seconds", "00:00 UTC of the paid-until date, as a Unix time",
         one(utc_midnight(paid_until) if paid_until else None)),
        ("lines", "Cloud PBX SIP lines checked",
         one(None if outcome.lines is None else len(lines))),
        ("line_registered", "1 when the cloud PBX SIP line is registered, else 0",
         per_line(lambda line: int(line.state == Ok))),
        ("line_check_state", "State of the SIP line: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN",
         per_line(lambda line: line.state.code)),
        ("calls", "Outgoing calls judged", one(calls.judged if calls else None)),
        ("calls_window_seconds", "The window of outgoing calls judged, in seconds",
         one(calls.limits.window * 60 if calls else None)),
        ("calls_truncated", "1 when only the newest 2500 outgoing calls were judged, else 0",
         one(int(calls.truncated) if calls else None)),
        ("calls_outgoing", "Outgoing calls on the line", per_call_line(lambda line: line.outgoing)),
        ("calls_failed", "Outgoing calls on the line that failed on its side, per failure code",
         [({"line": line.id, "code": code}, count)
          for line in calls_lines for code, count in line.codes]),
        ("calls_failed_ratio", "Share of the line's outgoing calls that failed, 0 to 1",
         per_call_line(lambda line: float(line.share))),
        ("calls_streak", "The line's newest outgoing calls that failed one after the other",
         per_call_line(lambda line: line.streak)),
        ("calls_line_state", "State of the line's outgoing calls: 0 OK, 1 WARNING, 2 CRITICAL",
         per_call_line(lambda line: line.state.code)),
        ("check_state", "Check state: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN",
         one(outcome.state.code)),
        ("request_duration_seconds", "Duration of the HTTP requests to Bitrix24",
         one(outcome.elapsed)),
    ]


def prometheus_labels(labels: Dict[str, str]) -> str:
    """name="value" pairs, escaped as the exposition format wants."""
    def escape(value: str) -> str:
        return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")

    return ",".join(f'{key}="{escape(value)}"' for key, value in labels.items())


def utc_midnight(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=timezone.utc).timestamp())


RENDERERS = {"nagios": render_nagios, "json": render_json, "prometheus": render_prometheus}


def write_atomically(path: str, text: str) -> None:
    """Temporary file in the same folder, then rename: a reader sees the old file or the new."""
    import tempfile

    folder = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(prefix=".check_bx24_sip.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.chmod(temporary, 0o644)  # node_exporter usually runs as another user
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass  # the original error is the one to report
        raise


def emit(outcome: Outcome, output: str, prometheus_file: Optional[str], verbose: int,
         check_ran: bool = True) -> int:
    """Print (and with --prometheus-file write) the outcome; returns the exit code.

    A check that could not start always prints its reason, so that cron mails it.
    """
    if prometheus_file:
        try:
            write_atomically(prometheus_file, redact(render_prometheus(outcome)) + "\n")
        except OSError as err:
            failure = OutputError(f"cannot write --prometheus-file {prometheus_file}: "
                                  f"{err.strerror or err}")
            if outcome.failure is not None:  # the first reason is the one to fix first
                failure = OutputError(f"{outcome.summary}; also {failure.message}")
            outcome = outcome._replace(state=Unknown, summary=failure.message, failure=failure)
            output = "nagios" if output == "prometheus" else output
        else:
            if output == "prometheus":
                if not check_ran:  # the reason alone, for cron's mail: the file holds the metrics
                    print(redact(status_line(outcome.state, outcome.summary, ())))
                return outcome.state.code  # the file is the output; cron stays quiet
    print(redact(RENDERERS[output](outcome, verbose)))
    return outcome.state.code


def redact(text: str) -> str:
    """Remove anything shaped like a webhook and every webhook code this run has seen: the last
    step before anything is printed or written, whichever option or answer the text came from."""
    text = WEBHOOK_SHAPE.join(WEBHOOK_TEXT.sub("<URL>", part) for part in text.split(WEBHOOK_SHAPE))
    for secret in SECRETS:
        text = text.replace(secret, "***")
    return text


# --------------------------------------------------------------------------- main


def run(argv: List[Arg], environ) -> int:
    """Parse, check, print; returns the exit code."""
    started = time.monotonic()
    checked_at = datetime.now(timezone.utc)
    try:
        options = parse_options(argv, environ, started)
    except UsageError as err:
        asked = requested(argv)
        outcome = Outcome(Unknown, err.message, checked_at, failure=err, check_asked=asked.check)
        return emit(outcome, asked.output, asked.textfile, 0, check_ran=False)
    try:
        api = Bitrix24(options.webhook, options.deadline, options.verify)
        check = build_check(options, checked_at, api)
        check()
        outcome = outcome_of(check, options, checked_at, api)
    except Exception as err:  # noqa: BLE001 - a bug still ends as UNKNOWN in the chosen format
        outcome = with_options(internal_error(err, checked_at), options)
    return emit(outcome, options.output, options.prometheus_file, options.verbose)


def internal_error(err: Exception, checked_at: datetime) -> Outcome:
    """A bug: UNKNOWN with the exception's name; the traceback only at -vvv."""
    failure = CheckFailure(f"internal error {type(err).__name__}: {clean(str(err), 100)} "
                           "(run with -vvv for details)")
    return Outcome(Unknown, failure.message, checked_at, failure=failure,
                   details=((3, traceback.format_exc().rstrip()),))


def main(argv: Optional[List[str]] = None, environ=None) -> int:
    """Entry point: every way out is stdout in the plugin's format and exit 0..3."""
    args = read_argv(sys.argv[1:] if argv is None else argv)
    environ = os.environ if environ is None else environ
    reconfigure = getattr(sys.stdout, "reconfigure", None)  # absent on a replaced stdout
    if reconfigure is not None:
        reconfigure(errors="backslashreplace")
    try:
        return run(args, environ)
    except Exception as err:  # noqa: BLE001 - the last resort: a bug in parsing or printing
        outcome = internal_error(err, datetime.now(timezone.utc))
        print(redact(render_nagios(outcome, requested(args).verbosity)))
    return 3


def requested(args: List[Arg]) -> Requested:
    """--output, --check, --prometheus-file and -v as argv gives them, for a run whose options
    failed (as in argparse, the last one given counts; a value not allowed is the default)."""
    output = last_value(args, "--output")
    return Requested(output=output if output in RENDERERS else DEFAULTS.output,
                     check=requested_check(last_value(args, "--check")),
                     textfile=requested_textfile(last_value(args, "--prometheus-file")),
                     verbosity=sum(verbosity_of(arg.text) for arg in args))


def requested_check(value: Optional[str]) -> str:
    """--check's canonical name, or the default when it is not a valid list."""
    try:
        return check_name(aspects_of(value or DEFAULTS.check))
    except UsageError:
        return DEFAULTS.check


def verbosity_of(text: str) -> int:
    """How much -v an argument asks for: --verbose 1, -vv 2, anything else 0."""
    if text == "--verbose":
        return 1
    return len(text) - 1 if re.fullmatch(r"-v+", text) else 0


def requested_textfile(value: Optional[str]) -> Optional[str]:
    """--prometheus-file's value, if it is a file path at all."""
    try:
        return _textfile(value or "") or None
    except ValueError:
        return None


def last_value(args: List[Arg], option: str) -> Optional[str]:
    """The last value given to a long option: "--output=json" or "--output json"."""
    value = None
    for arg in args:
        if arg.inline and arg.option == option:
            value = arg.value
        elif arg.follows == option:
            value = arg.text
    return value


def console_entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    console_entry()
