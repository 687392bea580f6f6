"""The command line: every mistake is one UNKNOWN line (exit 3), never argparse's exit 2."""

from __future__ import annotations

import os
import sys

import pytest
from plugin import SCRIPT, assert_output, run_plugin

from check_bx24_sip import __version__

HOOK = "https://portal.example/rest/1/abc123def456ghi7/"


def assert_unknown(run, summary: str) -> None:
    assert_output(run, 3, f"BX24_SIP UNKNOWN - {summary}")


@pytest.mark.parametrize("args,env,summary", [
    ([], {}, "no webhook given: use --webhook-file PATH, BX24_WEBHOOK or --webhook URL"),
    (["--webhook", HOOK], {"BX24_WEBHOOK": HOOK},
     "give exactly one webhook source, not --webhook, BX24_WEBHOOK"),
    (["--webhook", HOOK, "--webhook-file", "/nonexistent"], {},
     "give exactly one webhook source, not --webhook, --webhook-file"),
    (["--webhook-file", "/nonexistent/hook"], {},
     "cannot read --webhook-file /nonexistent/hook: No such file or directory"),
    (["--webhook", "portal.example/rest/1/abcd1234efgh5678/"], {},
     "the webhook must be an http(s) URL like https://PORTAL/rest/USER_ID/CODE/"),
    (["--webhook", "https://portal.example/rest/abc/"], {},
     "the webhook URL must look like https://PORTAL/rest/USER_ID/CODE/"),
    (["--webhook", "https://portal.example/rest/one/abc/"], {},
     "the webhook URL must look like https://PORTAL/rest/USER_ID/CODE/"),
    (["--webhook", "https://u:p@portal.example/rest/1/abcd1234efgh5678/"], {},
     "the webhook URL must have no user:password@, ?query or #fragment; "
     "expected https://PORTAL/rest/USER_ID/CODE/"),
    (["--webhook", "https://portal.example:http/rest/1/abcd1234efgh5678/"], {},
     "the webhook is not a URL; expected https://PORTAL/rest/USER_ID/CODE/"),
    (["--webhook", HOOK, "-w", "2", "-c", "3"], {},
     "--warning-days (2) must not be below --critical-days (3)"),
    (["--webhook", HOOK, "--warning-minutes", "0", "--critical-minutes", "5"], {},
     "--warning-minutes (0) must not be below --critical-minutes (5)"),
    (["--webhook", HOOK, "-w", "-1"], {},
     "argument -w/--warning-days: invalid whole number value: '-1' (see --help)"),
    (["--webhook", HOOK, "-c", "1.5"], {},
     "argument -c/--critical-days: invalid whole number value: '1.5' (see --help)"),
    (["--webhook", HOOK, "-t", "0"], {},
     "argument -t/--timeout: invalid number of seconds (0 < t <= 3600) value: '0' (see --help)"),
    (["--webhook", HOOK, "-t", "nan"], {},
     "argument -t/--timeout: invalid number of seconds (0 < t <= 3600) value: 'nan' (see --help)"),
    (["--webhook", HOOK, "--ca-file", "/nonexistent.pem"], {},
     "cannot read --ca-file /nonexistent.pem"),
    (["--webhook", HOOK, "--ca-file", "/etc/hostname"], {},
     "--ca-file /etc/hostname holds no PEM certificate"),
    (["--webhook", HOOK, "--ca-file", "/etc/hostname", "--insecure"], {},
     "argument --insecure: not allowed with argument --ca-file (see --help)"),
    (["--webhook", HOOK, "--bogus"], {}, "unrecognized arguments: --bogus (see --help)"),
    (["--webhook", HOOK, "positional"], {}, "unrecognized arguments: positional (see --help)"),
    ([HOOK], {}, "a webhook URL was given without --webhook: pass it with --webhook-file PATH "
                 "(a file holding the URL), BX24_WEBHOOK or --webhook URL"),
    (["--webhook", HOOK, "--prometheus-file", HOOK], {},
     "--prometheus-file got a webhook URL: pass the webhook with --webhook-file PATH (a file "
     "holding the URL), BX24_WEBHOOK or --webhook URL"),
    (["--webhook", HOOK, "--webhook", HOOK], {},
     "--webhook is given twice: give exactly one webhook source"),
    (["--webhook-file", "/a", "--webhook-file=/b"], {},
     "--webhook-file is given twice: give exactly one webhook source"),
    (["--webhook", "https://my portal.example/rest/1/abc123def456ghi7/", "--unreachable",
      "critical"], {},
     "the webhook's host name is not valid; expected https://PORTAL/rest/USER_ID/CODE/"),
    (["--webhook", "'https://portal.example/rest/1/abc123def456ghi7/'"], {},
     "the webhook URL is in quotes: remove them; expected https://PORTAL/rest/USER_ID/CODE/"),
    ([], {"BX24_WEBHOOK": '"https://portal.example/rest/1/abc123def456ghi7/"'},
     "the webhook URL is in quotes: remove them; expected https://PORTAL/rest/USER_ID/CODE/"),
    (["--webhook", "https://portal.example/rest/1/abc/"], {},
     "the webhook code is 3 characters long; Bitrix24's are 16 (at least 8 are needed): "
     "copy the whole webhook URL"),
], ids=lambda value: None)
def test_bad_calls_are_one_unknown_line(args, env, summary):
    assert_unknown(run_plugin(*args, env=env), summary)


def test_invalid_choice_names_the_option():
    """argparse words the list of choices differently across Python versions."""
    run = run_plugin("--webhook", HOOK, "--unpaid", "maybe")
    assert run.code == 3
    assert run.stdout.startswith("BX24_SIP UNKNOWN - argument --unpaid: invalid choice: 'maybe'")
    assert run.stdout.endswith(" (see --help)\n")
    assert run.stdout.count("\n") == 1


def test_webhook_file_without_a_url(tmp_path):
    empty = tmp_path / "hook"
    empty.write_text("\n   \n")
    assert_unknown(run_plugin("--webhook-file", str(empty)),
                   f"--webhook-file {empty} holds no webhook URL")


@pytest.mark.parametrize("flag", ["-h", "--help"])
def test_help_exits_unknown_on_stdout(flag):
    run = run_plugin(flag)
    assert run.code == 3
    assert run.stderr == ""
    assert run.lines[0].startswith("usage: check_bx24_sip ")
    for option in ("--webhook-file", "--warning-days", "--critical-minutes", "--unpaid",
                   "--unreachable", "--timeout", "--ca-file", "--insecure", "--version"):
        assert option in run.stdout


@pytest.mark.parametrize("flag", ["-V", "--version"])
def test_version_exits_unknown(flag):
    run = run_plugin(flag)
    assert (run.code, run.stdout, run.stderr) == (3, f"check_bx24_sip {__version__}\n", "")


def test_missing_library_is_a_one_line_unknown():
    """python -S leaves out site-packages, where nagiosplugin and requests live."""
    run = run_plugin("--webhook", HOOK, command=[sys.executable, "-S", str(SCRIPT)])
    assert_unknown(run, f"Python module 'nagiosplugin' is missing for {sys.executable}: install "
                        "it with 'pip install nagiosplugin requests' (Debian: apt install "
                        "python3-nagiosplugin python3-requests, which serve /usr/bin/python3)")


def test_webhook_file_that_never_delivers_ends_at_the_deadline(tmp_path):
    """A FIFO without a writer blocks open() forever, like a file on a hung mount."""
    fifo = tmp_path / "webhook"
    os.mkfifo(fifo)
    run = run_plugin("--webhook-file", str(fifo), "-t", "1")
    assert_unknown(run, f"--webhook-file {fifo} could not be read within the 1s timeout")
    assert run.seconds < 3


@pytest.mark.parametrize("host", [
    "yourportal..bitrix24.ru", ".bitrix24.ru", "a" * 64 + ".bitrix24.ru", "-portal.bitrix24.ru",
    "portal-.bitrix24.ru", "my_portal.bitrix24.ru", "portal.bitrix24.ru..",
    ".".join(["abcdefgh"] * 29) + ".ru",  # 263 characters: over 253
])
def test_malformed_host_names_are_usage_errors_before_any_io(host):
    """RFC 1123 labels: a typo is the user's to fix, not an unreachable portal (nor a crash)."""
    assert_unknown(run_plugin("--webhook", f"https://{host}/rest/1/abc123def456ghi7/"),
                   "the webhook's host name is not valid; expected https://PORTAL/rest/USER_ID/CODE/")


@pytest.mark.parametrize("host,shown", [
    ("портал.рф", "портал.рф"), ("xn--80aswg.xn--p1ai", "xn--80aswg.xn--p1ai"),
    ("a" * 63 + ".bitrix24.ru", "a" * 63 + ".bitrix24.ru"), ("portal.bitrix24.ru.", "portal.bitrix24.ru."),
    ("127.0.0.1", "127.0.0.1"), ("[::1]", "[::1]"), ("[fe80::1%25eth0]", "[fe80::1%25eth0]"),
])
def test_valid_host_names_are_accepted(host, shown):
    from check_bx24_sip import parse_webhook

    assert parse_webhook(f"https://{host}/rest/1/abc123def456ghi7/").host == shown


@pytest.mark.parametrize("values,expected", [
    (["--line=reg1,151083", "--line", "2"], ("reg1", "reg151083", "reg2")),
    (["--line=", "--line", " , "], ()),
    (["--line=reg1,,reg1"], ("reg1",)),
])
def test_lines_may_come_as_one_comma_separated_value(values, expected):
    """What a Nagios custom variable passes as --line=$_SERVICEBX24_LINES$, empty or not."""
    from check_bx24_sip import parse_options, read_argv

    options = parse_options(read_argv(["--webhook", HOOK, "--check", "lines", *values]), {}, 0.0)
    assert options.lines == expected


def test_an_empty_line_list_is_fine_for_the_connector():
    """--line= (an unset Nagios variable) means no line, which the connector check allows."""
    from check_bx24_sip import parse_options, read_argv

    assert parse_options(read_argv(["--webhook", HOOK, "--line="]), {}, 0.0).lines == ()
    assert_unknown(run_plugin("--webhook", HOOK, "--line=reg1"),
                   "--line needs the lines aspect: --check lines, all or a list with lines")


def test_an_empty_prometheus_file_means_none():
    """--prometheus-file=$_SERVICEBX24_PROMETHEUS_FILE$ with the variable unset."""
    from check_bx24_sip import parse_options, read_argv

    parsed = parse_options(read_argv(["--webhook", HOOK, "--prometheus-file="]), {}, 0.0)
    assert parsed.prometheus_file is None


@pytest.mark.parametrize("option", ["--check", "--line", "-w", "--warning-days", "-c",
                                    "--critical-days", "--warning-minutes", "--critical-minutes",
                                    "--unpaid", "--unreachable", "-t", "--timeout", "--ca-file",
                                    "--output", "--prometheus-file"])
@pytest.mark.parametrize("form", ["attached", "separate"])
def test_an_empty_value_is_the_options_default(option, form):
    """What a monitoring system passes for a variable a host leaves unset."""
    from check_bx24_sip import parse_options, read_argv

    given = [f"{option}="] if form == "attached" else [option, ""]
    default = parse_options(read_argv(["--webhook", HOOK]), {}, 0.0)
    empty = parse_options(read_argv(["--webhook", HOOK, *given]), {}, 0.0)
    assert empty._replace(deadline=default.deadline) == default
    assert empty.deadline.seconds == 10.0


def test_portal_is_a_webhook_source_like_the_others():
    assert_unknown(run_plugin("--webhook", HOOK, "--webhook-dir", "/tmp", "--portal", "x"),
                   "give exactly one webhook source, not --webhook, --portal")


def test_options_after_an_empty_value_still_count():
    from check_bx24_sip import parse_options, read_argv

    argv = ["--webhook", HOOK, "-w", "", "-c", "5", "--check=", "-t", "", "-t", "3"]
    options = parse_options(read_argv(argv), {}, 0.0)
    assert (options.thresholds.warning_days, options.thresholds.critical_days) == (7, 5)
    assert (options.check, options.deadline.seconds) == ("connector", 3.0)


def test_an_empty_webhook_dir_reads_nothing_from_the_working_folder(tmp_path):
    """--webhook-dir= would make NAME.url relative to wherever the agent runs."""
    (tmp_path / "x.url").write_text(HOOK + "\n")
    run = run_plugin("--webhook-dir=", "--portal", "x", cwd=tmp_path)
    assert_unknown(run, "--portal needs --webhook-dir DIR, the folder of the NAME.url files")
