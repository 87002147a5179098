"""`/slack/events` checks Slack's signature before anything is logged, and reads the body as
Slack means it: a slash command's text is taken as typed, whatever words it holds."""

import json
import logging
import time
from urllib.parse import urlencode

import pytest

from tests.conftest import count
from tests.logcapture import recording
from tests.rig import SlackRig, sign
from tests.slack.test_commands import get, open_incident

FORM = "application/x-www-form-urlencoded"
MARKER = "hostile-marker-6d0f"


def unsigned(rig: SlackRig, body: bytes, headers: dict[str, str]) -> int:
    with rig.service.client() as c:
        return c.post(
            "/slack/events", content=body, headers={"Content-Type": FORM, **headers}
        ).status_code


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Slack-Signature": "v0=00", "X-Slack-Request-Timestamp": "now"},
        {"X-Slack-Signature": "v0=00", "X-Slack-Request-Timestamp": "12e3"},
        {"X-Slack-Signature": "v0=00", "X-Slack-Request-Timestamp": "1_700_000_000"},
        {"X-Slack-Signature": "v0=00", "X-Slack-Request-Timestamp": "9" * 40},
        {"X-Slack-Signature": "v0=00", "X-Slack-Request-Timestamp": "-1"},
        {"X-Slack-Signature": "v0=00", "X-Slack-Request-Timestamp": str(int(time.time()))},
        {"X-Slack-Signature": "", "X-Slack-Request-Timestamp": str(int(time.time()))},
    ],
)
def test_unsigned_requests_are_refused_before_anything_is_logged(
    rig: SlackRig, headers: dict[str, str]
):
    body = urlencode({"command": "/incident", "text": f"declare leap/prod sev1 {MARKER}"}).encode()
    with recording() as recorder:
        assert unsigned(rig, body, headers) == 401
    assert MARKER not in recorder.text()
    assert not any(r.exc_info for r in recorder.records), recorder.text()
    assert count(rig.service.engine, "incident") == 0


def test_non_ascii_signature_headers_are_refused_not_an_error(rig: SlackRig):
    body = urlencode({"command": "/incident", "text": "list"}).encode()
    stamp = str(int(time.time()))
    for headers in (
        {"X-Slack-Signature": "v0=é".encode(), "X-Slack-Request-Timestamp": stamp.encode()},
        {"X-Slack-Signature": b"v0=00", "X-Slack-Request-Timestamp": "١٧٠٠٠٠٠٠٠٠".encode()},
    ):
        with rig.service.client() as c:
            r = c.post("/slack/events", content=body, headers={"Content-Type": FORM, **headers})
        assert r.status_code == 401


def test_a_signature_from_the_future_is_refused(rig: SlackRig):
    ahead = int(time.time()) + 6 * 60
    assert rig.command("list", at=ahead).status_code == 401


@pytest.mark.parametrize(
    "text",
    [
        "the webhook payload looked fine",
        "payload",
        'payload={"type":"block_actions"}',
        "a & b = c; d&e=f",
        "100% sure, %20 is a space and %00 is not here",
        "it's \"quoted\" and 'quoted' and `code`",
        "plus+signs + spaces",
        "émoji ✅ ümlaut 漢字",
        "<@UBOB> said <#C123|general> <https://example.org/?a=1&b=2|link>",
        "command=/incident&text=note",
    ],
)
def test_note_text_lands_on_the_timeline_as_typed(rig: SlackRig, text: str):
    number, channel = open_incident(rig)
    reply = rig.reply(f"note {text}", channel=channel)
    assert reply == "Noted on the timeline."
    notes = [e["text"] for e in get(rig, number)["timeline"] if e["kind"] == "note"]
    assert notes == [text]


def test_interactive_payloads_still_reach_their_listeners(rig: SlackRig):
    number, channel = open_incident(rig)
    assert rig.press("incident_resolve", number, channel=channel).status_code == 200
    assert get(rig, number)["status"] == "resolved"


def test_url_verification_is_answered(rig: SlackRig):
    body = json.dumps({"token": "legacy", "challenge": "c-123", "type": "url_verification"})
    r = rig.post(body.encode(), "application/json")
    assert r.status_code == 200 and "c-123" in r.text


def nested(depth: int) -> str:
    """JSON text nested `depth` deep (json.dumps itself cannot write it)."""
    return "[" * depth + '"deep"' + "]" * depth


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        # Nested 1000 deep: json.loads would hit Python's recursion limit.
        pytest.param(
            urlencode({"payload": '{"type": "block_actions", "x": ' + nested(1000) + "}"}),
            FORM,
            id="payload-nested-1000-deep",
        ),
        pytest.param(
            '{"type": "event_callback", "event": ' + nested(1000) + "}",
            "application/json",
            id="event-nested-1000-deep",
        ),
        pytest.param(urlencode({"payload": "not json"}), FORM, id="payload-not-json"),
        pytest.param(urlencode({"payload": "[1, 2]"}), FORM, id="payload-not-an-object"),
        pytest.param("[1, 2]", "application/json", id="event-not-an-object"),
        pytest.param("{", "application/json", id="event-not-json"),
        pytest.param(
            urlencode({"command": "/incident", "text": "note a\x00b"}), FORM, id="command-nul"
        ),
        pytest.param(
            urlencode({"payload": json.dumps({"type": "block_actions", "x": "a\x00b"})}),
            FORM,
            id="payload-nul",
        ),
        pytest.param(
            json.dumps({"type": "event_callback", "event": {"text": "a\x00b"}}),
            "application/json",
            id="event-nul",
        ),
        pytest.param("text=%ff%fe", FORM, id="form-not-utf8-escapes"),
        pytest.param("&".join(f"f{i}=1" for i in range(500)), FORM, id="form-500-fields"),
    ],
)
def test_malformed_signed_bodies_are_400(rig: SlackRig, body: str, content_type: str):
    with recording() as recorder:
        r = rig.post(body.encode(), content_type)
    assert r.status_code == 400, r.text
    assert not any(r.exc_info for r in recorder.records), recorder.text()


def test_bodies_that_are_not_utf8_are_400(rig: SlackRig):
    assert rig.post(b"command=/incident&text=\xff\xfe", FORM).status_code == 400


@pytest.mark.parametrize("text", ["note a%00b", "note a\x00b"])
def test_a_nul_in_a_command_changes_nothing(rig: SlackRig, text: str):
    number, channel = open_incident(rig)
    form = urlencode({"command": "/incident", "text": text, "channel_id": channel, "user_id": "U1"})
    r = rig.post(form.encode(), FORM)
    # "%00" typed is text; only a real NUL is refused.
    if "\x00" in text:
        assert r.status_code == 400
        assert [e for e in get(rig, number)["timeline"] if e["kind"] == "note"] == []
    else:
        assert r.status_code == 200
        notes = [e["text"] for e in get(rig, number)["timeline"] if e["kind"] == "note"]
        assert notes == ["a%00b"]


def test_forms_that_are_not_slack_requests_are_not_handled(rig: SlackRig):
    # `payload` beside other fields is neither interactivity nor a command.
    body = urlencode({"payload": json.dumps({"type": "block_actions"}), "other": "1"}).encode()
    with recording() as recorder:
        r = rig.post(body, FORM)
    assert r.status_code == 404
    assert not any(rec.levelno >= logging.ERROR for rec in recorder.records)


def test_signed_headers_are_checked_against_the_exact_body(rig: SlackRig):
    body = urlencode({"command": "/incident", "text": "list"}).encode()
    headers = {"Content-Type": FORM, **sign(body)}
    with rig.service.client() as c:
        assert c.post("/slack/events", content=body + b"&x=1", headers=headers).status_code == 401
        assert c.post("/slack/events", content=body, headers=headers).status_code == 200


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        pytest.param(
            urlencode({"command": "/incident", "text": "note hi", "user_id": "U" * 41}),
            FORM,
            id="command-user",
        ),
        pytest.param(
            urlencode({"command": "/incident", "text": "list", "channel_id": "C" * 41}),
            FORM,
            id="command-channel",
        ),
        pytest.param(
            urlencode({"payload": json.dumps({"type": "block_actions", "user": {"id": "U" * 41}})}),
            FORM,
            id="payload-user",
        ),
        pytest.param(
            json.dumps({"type": "event_callback", "event": {"item": {"channel": "C" * 41}}}),
            "application/json",
            id="event-item-channel",
        ),
    ],
)
def test_slack_ids_longer_than_their_columns_are_400(rig: SlackRig, body: str, content_type: str):
    r = rig.post(body.encode(), content_type)
    assert r.status_code == 400 and "ids" in r.json()["detail"]


def test_slack_ids_as_long_as_their_columns_are_fine(rig: SlackRig):
    assert rig.command("list", user="U" * 40, channel="C" * 40).status_code == 200
