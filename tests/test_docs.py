"""The documents that travel with the plugin never drift from it: the man page and the Russian
guide list the options --help lists, and every place that names the version names the same."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from conftest import REPO, run_plugin

from check_bx24_sip import __version__

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
    assert table("README.ru.md", "## 4. Параметры\n") == english


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
