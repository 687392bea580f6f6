"""Runs last (conftest orders it): the suite left /etc and /var/lib as it found them."""

from __future__ import annotations

from system_state import SYSTEM_BEFORE, WATCHED, differences, fingerprint


def test_the_suite_leaves_etc_and_var_lib_as_they_were():
    before, excluded = SYSTEM_BEFORE
    assert before, "conftest took no fingerprint at the start of the session"
    after = fingerprint(WATCHED, excluded)
    assert differences(before, after) == []
