"""Property-based: whatever bytes or JSON a portal sends, the plugin answers in its own format."""

from __future__ import annotations

import json
import re

import fake_portal
from fake_portal import Reply, serve_reply
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from plugin import run_plugin

import check_bx24_sip

FIRST_LINE = re.compile(r"BX24_SIP (OK|WARNING|CRITICAL|UNKNOWN) - [^|\n]+( \| [^\n]+)?")
STATE_CODES = {"OK": 0, "WARNING": 1, "CRITICAL": 2, "UNKNOWN": 3}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)
# Bodies near the real shape find more than fully random ones: the keys Bitrix24 uses, any values.
result_like = st.fixed_dictionaries(
    {}, optional={"PAID": json_values, "FREE_MINUTES": json_values, "PAID_DATE_END": json_values},
)
bodies = st.one_of(
    st.binary(max_size=300),
    json_values.map(lambda value: json.dumps(value).encode()),
    result_like.map(lambda result: json.dumps({"result": result}).encode()),
    st.dictionaries(st.sampled_from(["error", "error_description", "result"]), json_values)
    .map(lambda value: json.dumps(value).encode()),
)
statuses = st.sampled_from([200, 200, 200, 301, 400, 401, 403, 404, 429, 500, 503])


@settings(max_examples=400, deadline=None)
@given(body=bodies, status=statuses)
def test_interpret_gives_a_status_or_a_named_failure(body, status):
    answer = check_bx24_sip.Answer("https://p/rest/1/abcd1234efgh5678/m.json", status,
                                    "application/json", None, body, 0.01)
    try:
        result = check_bx24_sip.interpret_connector(answer)
    except check_bx24_sip.CheckFailure as failure:
        assert failure.message and "\n" not in failure.message and "|" not in failure.message
    else:
        assert isinstance(result.paid, bool)
        # minutes may be missing only while paid, where the date decides
        assert result.free_minutes >= 0 if result.free_minutes is not None else result.paid


def assert_plugin_contract(run, output: str) -> None:
    """Exit 0..3 matching the printed state, nothing on stderr, no traceback, one document."""
    assert run.stderr == ""
    assert "Traceback" not in run.stdout
    if output == "nagios":
        assert run.stdout.count("\n") == 1
        match = FIRST_LINE.fullmatch(run.first_line)
        assert match, run.first_line
        assert run.code == STATE_CODES[match.group(1)]
    elif output == "json":
        document = json.loads(run.stdout)
        assert run.code == document["state_code"] == STATE_CODES[document["state"]]
    else:
        from prometheus_client.parser import text_string_to_metric_families

        samples = {family.name: family.samples[0].value
                   for family in text_string_to_metric_families(run.stdout)}
        assert run.code == samples["bx24_sip_check_state"]


@settings(max_examples=45, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(body=bodies, status=statuses, output=st.sampled_from(["nagios", "json", "prometheus"]))
def test_plugin_never_crashes_on_any_answer(httpserver, body, status, output):
    httpserver.clear()
    serve_reply(httpserver, Reply(status, body, "application/json"))
    run = run_plugin("--webhook", fake_portal.webhook_for(httpserver), "-t", "1.5",
                     "--output", output)
    assert_plugin_contract(run, output)
