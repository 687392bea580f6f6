"""The documents that travel with the plugin never drift from it: the man page and the Russian
guide list the options --help lists, and every place that names the version names the same."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import List, Tuple

import pytest
from plugin import REPO, run_plugin

from check_bx24_sip import __version__
from docs import fenced_blocks

OPTION = re.compile(r"(?<![\w-])(--[a-z][a-z-]+)")


def help_options() -> set:
    run = run_plugin("--help")
    assert run.code == 3
    return set(OPTION.findall(run.stdout))


def man_options() -> set:
    """The options the man page's OPTIONS section documents (roff writes - as \\-)."""
    page = (REPO / "check_bx24_sip.1").read_text().replace("\\-", "-")
    section = page.split(".SH OPTIONS", 1)[1].split(".SH ", 1)[0]
    return set(OPTION.findall(section))


def test_man_page_documents_exactly_the_options_of_help():
    assert man_options() == help_options()


def test_russian_guide_lists_the_options_of_the_english_readme():
    def table(name: str, heading: str) -> set:
        text = (REPO / name).read_text()
        return set(OPTION.findall(text.split(heading, 1)[1].lstrip("\n").split("\n\n", 1)[0]))

    english = table("README.md", "## Options\n")
    assert english == help_options()
    assert table("README.ru.md", "## Параметры\n") == english


COMMAND_LANGUAGES = ("sh", "cron", "yaml", "nagios")


def command_blocks(name: str) -> list:
    """The blocks a user copies (shell, cron, alert rules, Nagios and Icinga objects), in order,
    without comments: the words around them may differ, the commands may not."""
    found = []
    for block in fenced_blocks((REPO / name).read_text()):
        if block.language in COMMAND_LANGUAGES or (
                block.language == "" and block.text.startswith(("object ", "/* "))):
            lines = [re.sub(r"\s{2,}#.*$", "", line).rstrip() for line in block.lines]
            found.append((block.language,
                          [line for line in lines if line and not line.startswith("#")]))
    return found


# each English document and its Russian twin
TWINS = [("README.md", "README.ru.md")] + [
    (f"docs/{path.stem}.md", f"docs/{path.stem}.ru.md")
    for path in sorted((REPO / "docs").glob("*.md")) if not path.name.endswith(".ru.md")]


@pytest.mark.parametrize("english,russian", TWINS, ids=[pair[0] for pair in TWINS])
def test_russian_guide_has_every_command_of_the_english_one_in_order(english, russian):
    """A Russian-only admin follows the same steps: no command missing, none out of order."""
    assert command_blocks(russian) == command_blocks(english)


def headings(text: str) -> List[str]:
    """The level of every heading ('##', '###' ...), code blocks left out."""
    return re.findall(r"(?m)^(#{1,6}) ", re.sub(r"(?ms)^```.*?^```", "", text))


def table_rows(text: str) -> List[List[Tuple[str, ...]]]:
    """Every table, as its rows (header and rule left out), each row as its code spans: the
    options, messages, paths and values that read the same in every language."""
    tables: List[List[Tuple[str, ...]]] = []
    inside = False
    for line in re.sub(r"(?ms)^```.*?^```", "", text).splitlines():
        if not line.startswith("|"):
            inside = False
            continue
        if not inside:
            tables.append([])
            inside = True
            continue  # the header
        if not re.fullmatch(r"\|[-| ]+\|", line):
            tables[-1].append(tuple(re.findall(r"`([^`]*)`", line)))
    return tables


@pytest.mark.parametrize("english,russian", TWINS, ids=[pair[0] for pair in TWINS])
def test_russian_guide_mirrors_the_english_one_row_for_row(english, russian):
    """The same sections in the same order and every table with the same rows: a row that one
    guide has and the other lacks (a state, a message, a macro) fails here."""
    english_text, russian_text = (REPO / english).read_text(), (REPO / russian).read_text()
    assert headings(russian_text) == headings(english_text)
    assert table_rows(russian_text) == table_rows(english_text)


GUIDES = ["README.md", "README.ru.md"] + sorted(
    str(path.relative_to(REPO)) for path in (REPO / "docs").glob("*.md"))


def anchors(path: Path) -> List[str]:
    """GitHub's anchors for the headings of a Markdown file."""
    return [re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
            for heading in re.findall(r"(?m)^#{1,6} (.*)$",
                                      re.sub(r"(?ms)^```.*?^```", "", path.read_text()))]


@pytest.mark.parametrize("name", GUIDES)
def test_every_link_resolves_and_no_anchor_repeats(name):
    """No heading anchor twice in a file, and every link to another guide or a section lands."""
    path = REPO / name
    own = anchors(path)
    assert sorted({anchor for anchor in own if own.count(anchor) > 1}) == []
    broken = []
    for target, anchor in re.findall(r"\]\(([^)#\s:]*)(?:#([^)\s]+))?\)", path.read_text()):
        linked = (path.parent / target).resolve() if target else path
        if not linked.exists() or (anchor and anchor not in anchors(linked)):
            broken.append(f"{target}#{anchor}")
    assert broken == []


def test_every_copy_of_the_version_agrees():
    top_entry = re.search(r"^## (\d[\w.]*) - ", (REPO / "CHANGELOG.md").read_text(), re.M)
    debian = re.match(r"\S+ \(([^)-]+)", (REPO / "debian" / "changelog").read_text())
    man = re.search(r'^\.TH \S+ 1 "[^"]*" "check_bx24_sip ([^"]+)"',
                    (REPO / "check_bx24_sip.1").read_text(), re.M)
    assert top_entry and debian and man
    assert {top_entry.group(1), debian.group(1), man.group(1)} == {__version__}


def test_man_page_renders_without_warnings(tmp_path):
    if shutil.which("man") is None:
        pytest.skip("man is not installed (apt install man-db)")
    done = subprocess.run(["man", "--warnings", "-E", "UTF-8", "-l", str(REPO / "check_bx24_sip.1")],
                          capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "MANWIDTH": "80", "LC_ALL": "C.UTF-8",
                               "HOME": str(tmp_path)})
    assert (done.returncode, done.stderr) == (0, "")
    assert "check_bx24_sip - can this Bitrix24 portal call out over SIP?" in done.stdout


# What --help says, word for word (rewrapped by argparse to the terminal's width): the help is
# the first documentation a user reads, so a change to it is deliberate, and shows up here.
HELP_SENTENCES = [
    f"check_bx24_sip {__version__}: check that the Bitrix24 SIP connector of a portal is paid, "
    "not about to expire and, while unpaid, not out of free minutes; (--check lines) that its "
    "cloud PBX SIP lines are registered; and (--check calls) that its outgoing calls do not "
    "fail on the line's side.",
    "webhook (exactly one source):",
    # each option with its metavar (Python 3.13 writes "-w, --warning-days N", older ones
    # "-w N, --warning-days N": the long form reads the same in both)
    "--webhook URL", "--webhook-file PATH", "--portal NAME", "--webhook-dir DIR", "--line ID",
    "--warning-days N", "--critical-days N", "--warning-minutes N", "--critical-minutes N",
    "--timeout SECONDS", "--ca-file PATH", "--prometheus-file PATH", "--check LIST",
    "--calls-window MINUTES", "--calls-min N", "--calls-warning PCT", "--calls-critical PCT",
    "--calls-streak N",
    "--webhook, --webhook-file, --portal, or the environment variable BX24_WEBHOOK (best: a "
    "file or the environment keep it out of ps)",
    "inbound webhook, https://PORTAL/rest/USER_ID/CODE/",
    "read the webhook URL from the first non-empty line",
    "read the webhook URL from --webhook-dir/NAME.url; NAME is a plain name (letters, digits, "
    "'.', '_', '-'), as a Zabbix macro gives it",
    "the folder of --portal's NAME.url files",
    "what to check:",
    "connector: is the SIP connector paid (one request); lines: are the cloud PBX SIP lines "
    "registered; calls: do the outgoing calls fail (needs the right Call statistics - View - "
    "Any); all: connector and lines; or a comma list (connector,lines,calls); the worst state "
    "wins (default connector)",
    "outgoing calls (--check calls):",
    "judge the calls that started in the last MINUTES minutes, 1-10080 (default 60)",
    "judge a line's failed share only from N calls on (default 5)",
    "WARNING when a line's failed share is PCT percent or more (default 20)",
    "CRITICAL when a line's failed share is PCT percent or more (default 50)",
    "CRITICAL when a line's N newest calls all failed, whatever the share; 0 turns this off "
    "(default 3)",
    "state when no outgoing call was made in the window (default ok)",
    "with --check lines/all: check only this cloud PBX line (reg150907 or 150907; repeatable, "
    "or several separated by commas; an empty value adds none); default: every cloud PBX line. "
    "Bitrix24 takes 0.5-1 s per line: give -t at least 5 + 1 per "
    "line",
    "thresholds:",
    "WARNING when fewer than N days of paid time remain (default 7)",
    "CRITICAL when fewer than N days remain (default 3)",
    "while unpaid: WARNING when fewer than N free minutes remain (default 10)",
    "while unpaid: CRITICAL when fewer than N free minutes remain (default 1); 0 free minutes is "
    "always CRITICAL",
    "state of an unpaid connector that still has free minutes (default warning)",
    "connection:",
    "state when the portal cannot be reached in time (default unknown)",
    "deadline for the whole run, DNS and slow answers included (default 10); for --check lines "
    "give 5 + 1 per cloud PBX line",
    "trust the CA certificates in PATH",
    "do not verify the portal's TLS certificate",
    "output:",
    "stdout format; the exit code is the same in all (default nagios)",
    "also write the Prometheus text to PATH atomically, for node_exporter's textfile collector "
    "(with --output prometheus, instead of stdout)",
    "more detail on the following lines (up to -vvv)",
    "Thresholds are lower bounds: WARNING when FEWER than N days (minutes) remain; exactly N is "
    "OK. Exit codes: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN. Perfdata: days_left, free_minutes, "
    "paid, time; with lines: lines, lines_registered, lines_pending, lines_failed; with calls: "
    "calls, calls_failed, calls_failed_pct and the same per line (calls_reg150907, ...).",
]


@pytest.mark.parametrize("columns", ["60", "100"])
def test_help_says_what_it_should(columns):
    run = run_plugin("--help", env={"COLUMNS": columns})
    assert (run.code, run.stderr) == (3, "")
    text = " ".join(run.stdout.split())
    missing = [sentence for sentence in HELP_SENTENCES
               if not re.search(rf"(?<!\S){re.escape(sentence)}(?!\S)", text)]
    assert missing == []


# ------------------------------------------------------------------ troubleshooting

PLACEHOLDERS = ("HOST", "PATH", "N", "CODE", "TEXT", "TYPE", "OPTION", "NAME")


def troubleshooting_patterns(name: str, heading: str) -> list:
    """The messages of the troubleshooting tables, as patterns: `...` and the upper-case
    placeholders stand for any text."""
    text = (REPO / name).read_text().split(heading, 1)[1].split("\n## ", 1)[0]
    patterns = []
    for row in re.findall(r"^\| (.+?) \|", text, re.M):
        for message in re.findall(r"`([^`]+)`", row):
            pattern = re.escape(message).replace(r"\.\.\.", ".+")
            for word in PLACEHOLDERS:
                pattern = re.sub(rf"\b{word}\b", ".+", pattern)
            patterns.append(re.compile(pattern))
    return patterns


def failure_messages() -> dict:
    """What the plugin says when it fails: every failing scenario of the fake portal, the
    transport failures and the usage errors, each run as a monitoring system runs it."""
    import fake_portal
    from net import free_port
    from pytest_httpserver import HTTPServer

    found = {}
    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    try:
        for scenario in fake_portal.SCENARIOS:
            server.clear()
            fake_portal.serve(server, scenario)
            run = run_plugin("--webhook", fake_portal.webhook_for(server), "-t", "3")
            if run.code == 3:
                found[scenario] = run.first_line
        for scenario in ("lines-all-fail", "lines-batch-error", "lines-malformed-list"):
            server.clear()
            fake_portal.serve(server, scenario)
            run = run_plugin("--webhook", fake_portal.webhook_for(server), "--check", "lines")
            found[scenario] = run.first_line
        for scenario in ("calls-access-denied", "calls-insufficient-scope", "calls-malformed"):
            server.clear()
            fake_portal.serve(server, scenario)
            run = run_plugin("--webhook", fake_portal.webhook_for(server), "--check", "calls")
            found[scenario] = run.first_line
    finally:
        server.stop()
    hook = "https://portal.example/rest/1/abcd1234efgh5678/"
    calls = {
        "refused": ["--webhook", f"http://127.0.0.1:{free_port()}/rest/1/abcd1234efgh5678/"],
        "no source": [], "two sources": ["--webhook", hook, "--webhook-file", "/x"],
        "twice": ["--webhook", hook, "--webhook", hook],
        "no file": ["--webhook-file", "/nonexistent"], "empty file": ["--webhook-file", "/dev/null"],
        "portal": ["--webhook-dir", "/nonexistent", "--portal", "x"],
        "bad portal": ["--webhook-dir", "/tmp", "--portal", "../x"],
        "no dir": ["--portal", "x"], "misplaced": ["--ca-file", hook], "stray": [hook],
        "scheme": ["--webhook", "ftp://portal.example/rest/1/abcd1234efgh5678/"],
        "path": ["--webhook", "https://portal.example/rest/x/"],
        "query": ["--webhook", hook + "?a=1"], "port": ["--webhook", "https://p.example:x/rest/1/a/"],
        "host": ["--webhook", "https://a..example/rest/1/abcd1234efgh5678/"],
        "quotes": ["--webhook", f"'{hook}'"], "short": ["--webhook", "https://p.example/rest/1/abc/"],
        "thresholds": ["--webhook", hook, "-w", "1", "-c", "2"],
        "minutes": ["--webhook", hook, "--warning-minutes", "1", "--critical-minutes", "2"],
        "line": ["--webhook", hook, "--line", "1"],
        "aspect": ["--webhook", hook, "--check", "connector,cals"],
        "calls thresholds": ["--webhook", hook, "--check", "calls", "--calls-warning", "60"],
        "office": ["--webhook", hook, "--check", "lines", "--line", "sip1"],
        "not a line": ["--webhook", hook, "--check", "lines", "--line", "x"],
        "ca": ["--webhook", hook, "--ca-file", "/nonexistent"],
        "pem": ["--webhook", hook, "--ca-file", "/etc/hostname"],
        "textfile": ["--webhook", hook, "-w", "1", "-c", "2", "--prometheus-file", "/nonexistent/x"],
        "argparse": ["--webhook", hook, "-t", "0"], "unknown option": ["--bogus"],
    }
    for name, args in calls.items():
        run = run_plugin(*args)
        assert run.code == 3, (name, run.stdout)
        found[name] = run.first_line
    return found


@pytest.mark.parametrize("name,heading", [("README.md", "## Troubleshooting\n"),
                                          ("README.ru.md", "## Если что-то не так\n")])
def test_troubleshooting_explains_every_message_the_plugin_prints(name, heading):
    from check_bx24_sip import ERROR_HINTS

    patterns = troubleshooting_patterns(name, heading)
    messages = {key: re.sub(r"^BX24_SIP \w+ - ", "", line) for key, line in failure_messages().items()}
    missing = {key: message for key, message in messages.items()
               if not any(pattern.fullmatch(message) for pattern in patterns)}
    assert missing == {}
    # each hint in its own row, word for word (the code as Bitrix24 writes it, in any case)
    section = (REPO / name).read_text().split(heading, 1)[1].split("\n## ", 1)[0].lower()
    assert [code for code, hint in ERROR_HINTS.items()
            if f"`bitrix24 error {code}: {hint.lower()}`" not in section] == []


def test_the_json_table_names_every_key_of_the_calls_object(portal):
    import fake_portal

    fake_portal.serve_calls(portal.server, "calls-critical")
    run = run_plugin("--webhook", portal.webhook, "--check", "all,calls", "--output", "json")
    assert run.code == 2, run.stdout
    calls = json.loads(run.stdout)["calls"]
    guide = (REPO / "docs" / "outputs.md").read_text()
    table = guide.split("### `--output json`", 1)[1].split("```json", 1)[0]
    row = next(row for row in table.splitlines() if row.startswith("| `calls` |"))
    documented = set(re.findall(r"`(\w+)`", row))
    assert set(calls) <= documented and set(calls["lines"][0]) <= documented


def calls_state_rows(name: str) -> List[Tuple[str, str]]:
    """(scenario, output) of each row of the README's table of calls states."""
    text = (REPO / name).read_text()
    heading = "### The outgoing calls\n" if name == "README.md" else "### Исходящие звонки\n"
    table = text.split(heading, 1)[1].split("\n\n| ", 1)[1].split("\n\n", 1)[0]
    rows = []
    for row in table.splitlines()[2:]:
        spans = re.findall(r"`((?:[^`\\]|\\.)+)`", row)
        scenario = next(span for span in spans if re.fullmatch(r"calls-[a-z-]+", span))
        rows.append((scenario, spans[-1].replace("\\|", "|")))
    return rows


@pytest.mark.parametrize("name", ["README.md", "README.ru.md"])
def test_the_readme_shows_the_real_output_of_each_calls_state(portal, name):
    """What the README prints for each calls scenario is what the plugin prints for it (the
    request time aside); `...` ends an output that the README shortens."""
    import fake_portal
    from plugin import TIME

    rows = calls_state_rows(name)
    assert len(rows) == 11
    for scenario, shown in rows:
        portal.server.clear()
        fake_portal.serve_calls(portal.server, scenario)
        run = run_plugin("--webhook", portal.webhook, "--check", "calls")
        printed, shown = TIME.sub("time=T", run.first_line), TIME.sub("time=T", shown)
        pattern = ".+".join(re.escape(part) for part in shown.split("..."))
        assert re.fullmatch(pattern, printed), (scenario, printed)


def test_the_json_table_names_every_key_of_the_output(portal):
    """Every key of the JSON object and of its line objects is in the guide's schema table."""
    import fake_portal

    fake_portal.serve_lines(portal.server, "lines-default-failed")
    run = run_plugin("--webhook", portal.webhook, "--check", "all", "--output", "json")
    assert run.code == 2, run.stdout
    document = json.loads(run.stdout)
    guide = (REPO / "docs" / "outputs.md").read_text()
    table = guide.split("### `--output json`", 1)[1].split("```json", 1)[0]
    rows = {row.split("`")[1]: row for row in table.splitlines() if row.startswith("| `")}
    assert set(document) == set(rows)
    documented = set(re.findall(r"`(\w+)`", rows["lines"]))
    assert len(document["lines"]) == 3 and set(document["lines"][0]) <= documented


def test_the_readmes_test_packages_are_what_ci_installs():
    """The Testing section's apt lines name what the suite needs (iproute2 for the network
    namespaces, Director, Zabbix, ...), and CI installs each of them."""
    readme = (REPO / "docs" / "testing.md").read_text().split("\n## Testing", 1)[1]
    named = {word for line in readme.splitlines() if line.startswith("apt install ")
             for word in line.split()[2:]}
    ci = (REPO / ".ci" / "release").read_text()
    installed = set(ci.split("apt-get install -y -qq --no-install-recommends", 1)[1]
                    .split(">/dev/null", 1)[0].replace("\\", " ").split())
    assert {"iproute2", "icingacli", "zabbix-agent2", "php-cli"} <= named
    assert named <= installed


def test_no_file_cites_a_document_outside_the_repository():
    """A document under a shared folder named in a tracked file must be in the repository."""
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True,
                             check=True).stdout.split()
    cited = {(name, path) for name in tracked if name.endswith((".py", ".md", ".1", ".cfg"))
             for path in re.findall(r"(?<![\w/])shared/[\w./-]+\.md", (REPO / name).read_text())}
    assert {(name, path) for name, path in cited if not (REPO / path).exists()} == set()


def test_git_ignores_what_a_package_build_leaves(tmp_path):
    """dpkg-buildpackage leaves these in debian/: none may show up as a change to commit."""
    if shutil.which("git") is None:
        pytest.skip("git is needed")
    left = ["debian/.debhelper/x", "debian/monitoring-plugins-bx24-sip/usr/x", "debian/files",
            "debian/monitoring-plugins-bx24-sip.substvars", "debian/debhelper-build-stamp",
            "debian/monitoring-plugins-bx24-sip.debhelper.log",
            "debian/monitoring-plugins-bx24-sip.postinst.debhelper",
            "debian/monitoring-plugins-bx24-sip.prerm.debhelper"]
    done = subprocess.run(["git", "check-ignore", "--no-index", *left], cwd=REPO,
                          capture_output=True, text=True)
    assert done.stdout.split() == left
