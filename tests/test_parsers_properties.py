"""Property tests over the three parsers of inbound requests: the Alertmanager payload, the
PagerDuty webhook and Slack's bodies. Whatever arrives, each answers with its result or with
the documented HTTPException (400 or 422), never anything else; what is valid round-trips."""

import json
import string
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlencode

import pytest
from fastapi import HTTPException
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bot.alerts.schemas import EARLIEST, LATEST, AlertmanagerPayload
from bot.pagerduty.schemas import MAX_INCIDENT_ID, PagerDutyWebhook
from bot.slack.inbound import ID_PATHS, MAX_ID
from bot.slack.inbound import parse_body as parse_slack
from bot.validation import parse_body

# Enough to find the edges, quick enough for every run of the suite; no example database
# written into the working tree.
fast = settings(max_examples=150, deadline=None, database=None)

FORM = "application/x-www-form-urlencoded"
# Strings as JSON carries them; NUL is tested on its own, and JSON has no lone surrogates.
characters = st.characters(exclude_categories=("Cs",), exclude_characters="\x00")
texts = st.text(characters)
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | texts
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4),
    max_leaves=20,
)
# Top-level keys other than those holding Slack ids, whose length is bounded (tested apart).
slack_objects = st.dictionaries(
    texts.filter(lambda k: k not in {p[0] for p in ID_PATHS}), json_values, max_size=6
)


def parses_or_refuses(model: type[Any], body: bytes) -> Any:
    """The parsed model, or None after checking the refusal is a documented one."""
    try:
        return parse_body(model, body)
    except HTTPException as exc:
        assert exc.status_code in (400, 422), exc
        return None


# -- any bytes, any JSON, any JSON in the right envelope


@fast
@given(st.binary(max_size=2000))
def test_any_bytes_are_parsed_or_refused(body: bytes):
    parses_or_refuses(AlertmanagerPayload, body)
    parses_or_refuses(PagerDutyWebhook, body)


@fast
@given(json_values)
def test_any_json_is_parsed_or_refused(value: Any):
    body = json.dumps(value).encode()
    parses_or_refuses(AlertmanagerPayload, body)
    parses_or_refuses(PagerDutyWebhook, body)


# Any time, written with any offset: datetime's own range is where conversions overflow.
offsets = st.integers(min_value=-(24 * 60 - 1), max_value=24 * 60 - 1).map(
    lambda m: timezone(timedelta(minutes=m))
)
# Near either end of datetime's range, written in a zone that pushes it past the end in UTC.
edge_times = st.builds(
    lambda day, tz: day.replace(tzinfo=tz).isoformat(),
    st.sampled_from([datetime.min, datetime.max])
    | st.datetimes(max_value=datetime(2, 1, 1))
    | st.datetimes(min_value=datetime(9998, 12, 31)),
    st.none() | offsets,
)
any_times = st.one_of(
    edge_times,
    st.datetimes(timezones=st.none() | offsets).map(datetime.isoformat),
    texts,
    st.integers(),
    st.floats(),
)


@fast
@given(any_times, any_times)
@example("9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00Z")
@example("2026-11-25T10:00:00Z", "0001-01-01T00:00:00+05:00")
def test_any_alert_times_are_parsed_or_refused(starts_at: Any, ends_at: Any):
    alert = {"status": "firing", "labels": {}, "startsAt": starts_at, "endsAt": ends_at}
    body = {"version": "4", "groupKey": "g", "status": "firing", "alerts": [alert]}
    parsed = parses_or_refuses(AlertmanagerPayload, json.dumps(body).encode())
    if parsed is not None:
        (got,) = parsed.alerts
        assert got.startsAt.utcoffset() == timedelta(0) and EARLIEST <= got.startsAt < LATEST
        assert got.endsAt is None or EARLIEST <= got.endsAt < LATEST


@fast
@given(st.data())
def test_alertmanager_payloads_with_any_field_replaced_are_parsed_or_refused(data: st.DataObject):
    payload = data.draw(alertmanager_payloads())
    alert = payload["alerts"][0] if payload["alerts"] else {}
    field = data.draw(st.sampled_from(["startsAt", "endsAt", "labels", "status", "fingerprint"]))
    alert[field] = data.draw(any_times if field.endswith("At") else json_values)
    parsed = parses_or_refuses(AlertmanagerPayload, json.dumps(payload).encode())
    if parsed is not None and parsed.alerts:
        starts = parsed.alerts[0].startsAt
        assert starts.tzinfo is not None and EARLIEST <= starts < LATEST


@fast
@given(st.data())
def test_pagerduty_webhooks_with_any_data_are_parsed_or_refused(data: st.DataObject):
    body = data.draw(pagerduty_webhooks())
    where = data.draw(st.sampled_from(["data", "agent", "id", "occurred_at", "incident"]))
    value = data.draw(json_values | any_times)
    if where == "incident":
        body["event"]["data"]["incident"] = value
    else:
        body["event"][where] = value
    parses_or_refuses(PagerDutyWebhook, json.dumps(body).encode())


# -- valid payloads round-trip

label_names = st.text(string.ascii_letters + "_", min_size=1, max_size=20)
label_sets = st.dictionaries(label_names, texts, max_size=5)
valid_times = st.datetimes(
    min_value=EARLIEST.replace(tzinfo=None) + timedelta(days=1),
    max_value=LATEST.replace(tzinfo=None) - timedelta(days=1),
    timezones=st.just(UTC) | offsets,
)


@st.composite
def alertmanager_alerts(draw: st.DrawFn) -> dict[str, Any]:
    status = draw(st.sampled_from(["firing", "resolved"]))
    return {
        "status": status,
        "labels": draw(label_sets),
        "annotations": draw(label_sets),
        "startsAt": draw(valid_times).isoformat(),
        "endsAt": draw(valid_times).isoformat() if status == "resolved" else "0001-01-01T00:00:00Z",
        "generatorURL": draw(texts),
        "fingerprint": draw(st.text("0123456789abcdef", max_size=16)),
    }


@st.composite
def alertmanager_payloads(draw: st.DrawFn) -> dict[str, Any]:
    alerts = draw(st.lists(alertmanager_alerts(), max_size=3))
    return {
        "version": "4",
        "groupKey": draw(texts),
        "truncatedAlerts": draw(st.integers(min_value=0, max_value=1000)),
        "status": "firing" if any(a["status"] == "firing" for a in alerts) else "resolved",
        "receiver": draw(texts),
        "groupLabels": draw(label_sets),
        "commonLabels": draw(label_sets),
        "commonAnnotations": draw(label_sets),
        "externalURL": draw(texts),
        "alerts": alerts,
    }


@fast
@given(alertmanager_payloads())
def test_valid_alertmanager_payloads_round_trip(payload: dict[str, Any]):
    parsed = parse_body(AlertmanagerPayload, json.dumps(payload).encode())
    assert parse_body(AlertmanagerPayload, parsed.model_dump_json().encode()) == parsed
    assert [a.labels for a in parsed.alerts] == [a["labels"] for a in payload["alerts"]]
    for sent, got in zip(payload["alerts"], parsed.alerts, strict=True):
        assert got.startsAt == datetime.fromisoformat(sent["startsAt"])
        assert got.startsAt.utcoffset() == timedelta(0)
        assert got.endsAt is None if sent["status"] == "firing" else got.endsAt is not None


pd_ids = st.text(string.ascii_uppercase + string.digits, min_size=1, max_size=MAX_INCIDENT_ID)


@st.composite
def pagerduty_webhooks(draw: st.DrawFn) -> dict[str, Any]:
    reference = st.fixed_dictionaries(
        {"id": pd_ids, "type": st.just("user_reference"), "summary": texts}
    )
    incident = {
        "id": draw(pd_ids),
        "type": "incident",
        "title": draw(texts),
        "incident_key": draw(st.none() | st.text(characters, max_size=255)),
        "urgency": draw(st.sampled_from(["high", "low"])),
        "assignees": draw(st.lists(reference, max_size=3)),
        "extra": draw(json_values),
    }
    return {
        "event": {
            "id": draw(st.text(string.ascii_uppercase + string.digits, min_size=1, max_size=90)),
            "event_type": draw(st.sampled_from(["incident.triggered", "incident.resolved"])),
            "resource_type": "incident",
            "occurred_at": draw(valid_times).isoformat(),
            "agent": draw(st.none() | reference),
            "data": incident,
        }
    }


@fast
@given(pagerduty_webhooks())
def test_valid_pagerduty_webhooks_round_trip(body: dict[str, Any]):
    parsed = parse_body(PagerDutyWebhook, json.dumps(body).encode())
    # The data is passed on whole, as PagerDuty sent it.
    assert parsed.event.data == body["event"]["data"]
    again = parse_body(PagerDutyWebhook, parsed.model_dump_json().encode())
    assert again == parsed


# -- Slack


def slack_parses_or_refuses(body: bytes, content_type: str | None) -> dict[str, Any] | None:
    try:
        return parse_slack(body, content_type)
    except HTTPException as exc:
        assert exc.status_code == 400, exc
        return None


content_types = st.sampled_from(
    [None, "application/json", FORM, "text/plain", "application/json; charset=utf-8"]
)


@fast
@given(st.binary(max_size=2000), content_types)
def test_any_bytes_to_slack_are_parsed_or_refused(body: bytes, content_type: str | None):
    parsed = slack_parses_or_refuses(body, content_type)
    assert parsed is None or isinstance(parsed, dict)


@fast
@given(json_values, content_types)
def test_any_json_to_slack_is_parsed_or_refused(value: Any, content_type: str | None):
    for body in (json.dumps(value), urlencode({"payload": json.dumps(value)})):
        slack_parses_or_refuses(body.encode(), content_type)


@fast
@given(st.lists(st.tuples(texts, texts), max_size=8))
def test_any_form_to_slack_is_parsed_or_refused(fields: list[tuple[str, str]]):
    slack_parses_or_refuses(urlencode(fields).encode(), FORM)


@fast
@given(texts, st.sampled_from([FORM, f"{FORM}; charset=utf-8", None]))
def test_slash_command_text_is_taken_as_typed(text: str, content_type: str | None):
    form = {"command": "/incident", "text": text, "user_id": "U1", "channel_id": "C1"}
    parsed = parse_slack(urlencode(form).encode(), content_type)
    assert parsed == form


@fast
@given(slack_objects)
def test_interactive_payloads_round_trip(payload: dict[str, Any]):
    parsed = parse_slack(urlencode({"payload": json.dumps(payload)}).encode(), FORM)
    assert parsed == payload


@fast
@given(slack_objects)
def test_event_bodies_round_trip(event: dict[str, Any]):
    assert parse_slack(json.dumps(event).encode(), "application/json") == event


@pytest.mark.parametrize("depth", [199, 200, 201, 1000, 100_000])
def test_nesting_is_refused_past_what_the_parser_allows(depth: int):
    nested = "[" * depth + "1" + "]" * depth
    body = urlencode({"payload": '{"x": ' + nested + "}"}).encode()
    if depth < 200:
        assert parse_slack(body, FORM)["x"]
    else:
        with pytest.raises(HTTPException) as refused:
            parse_slack(body, FORM)
        assert refused.value.status_code == 400


@fast
@given(texts, texts)
def test_a_nul_anywhere_in_a_slack_body_is_refused(before: str, after: str):
    text = f"{before}\x00{after}"
    for body, content_type in (
        (urlencode({"command": "/incident", "text": text}), FORM),
        (urlencode({"payload": json.dumps({"type": "block_actions", "v": text})}), FORM),
        (json.dumps({"type": "event_callback", text: 1}), "application/json"),
    ):
        with pytest.raises(HTTPException) as refused:
            parse_slack(body.encode(), content_type)
        assert refused.value.status_code == 400


@fast
@given(st.sampled_from(ID_PATHS), st.text(characters, min_size=MAX_ID + 1))
def test_slack_ids_longer_than_their_columns_are_refused(path: tuple[str, ...], value: str):
    body: Any = value
    for key in reversed(path):
        body = {key: body}
    with pytest.raises(HTTPException) as refused:
        parse_slack(json.dumps(body).encode(), "application/json")
    assert refused.value.status_code == 400
