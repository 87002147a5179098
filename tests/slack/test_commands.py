"""`/incident`, buttons, the declare form and 📌 capture, signed as Slack signs them."""

import time
from typing import Any

import pytest

from tests.conftest import count
from tests.payloads import alert, delivery
from tests.rig import SlackRig


def open_incident(rig: SlackRig) -> tuple[int, str]:
    """An incident from an alert, with its channel open."""
    with rig.service.am as c:
        c.post("/webhooks/alertmanager", json=delivery(alert(summary="Hub down")))
    rig.wait_idle()
    inc = get(rig, 1)
    return inc["number"], inc["slack_channel_id"]


def get(rig: SlackRig, number: int) -> dict[str, Any]:
    with rig.service.api as c:
        found: dict[str, Any] = c.get(f"/api/incidents/{number}").json()
    return found


def kinds(rig: SlackRig, number: int) -> list[str]:
    return [e["kind"] for e in get(rig, number)["timeline"]]


def summaries(rig: SlackRig, channel: str) -> list[dict[str, Any]]:
    return [m for m in rig.slack.messages(channel) if m.get("blocks")]


@pytest.mark.parametrize("text", ["", "help", "HELP"])
def test_help(rig: SlackRig, text: str):
    reply = rig.reply(text)
    assert "/incident declare" in reply and "/incident resolve" in reply
    assert "/incident followup <text>" in reply and "/incident postmortem [publish]" in reply


def test_an_unknown_subcommand_says_so_with_usage(rig: SlackRig):
    reply = rig.reply("explode now")
    assert "Unknown subcommand `explode`" in reply and "/incident status" in reply


@pytest.mark.parametrize(
    "text",
    [
        "status identified",
        "note hi",
        "resolve",
        "timeline",
        "commander <@UBOB>",
        "update x",
        "severity sev1",
        "page",
        "postmortem",
        "postmortem publish",
        "followup add an alert",
        "role scribe <@UBOB>",
    ],
)
def test_channel_bound_subcommands_elsewhere_say_where(rig: SlackRig, text: str):
    reply = rig.reply(text, channel="CGENERAL")
    assert "must be run in an incident channel" in reply


def test_commands_work_while_slacks_web_api_is_down(rig: SlackRig):
    # Bolt would call auth.test on the first request; a command must not need Slack's API.
    number, channel = open_incident(rig)
    rig.slack.fail_next("auth.test", 503, times=100)
    rig.slack.fail_next("chat.postMessage", 503, times=100)
    assert "Noted" in rig.reply("note the proxy restarted", channel=channel)
    assert "note" in kinds(rig, number)
    assert not rig.slack.calls("auth.test")


def test_requests_not_signed_by_slack_are_refused(rig: SlackRig):
    assert rig.command("declare leap/prod sev1 x", secret="wrong").status_code == 401
    old = int(time.time()) - 6 * 60
    assert rig.command("declare leap/prod sev1 x", at=old).status_code == 401
    assert count(rig.service.engine, "incident") == 0


def test_inline_declare_opens_an_incident_and_its_channel(rig: SlackRig):
    reply = rig.reply("declare leap/prod sev2 Dask clusters will not start", user="UBOB")
    assert "Declared incident #1 (P2)" in reply  # as the registry's severity_names read it
    rig.wait_idle()
    inc = get(rig, 1)
    assert (inc["cluster"], inc["hub"], inc["community"], inc["severity"]) == (
        "leap",
        "prod",
        "leap",
        "sev2",
    )
    assert inc["title"] == "Dask clusters will not start"
    assert inc["slack_channel_name"].endswith("-leap-prod-dask-clusters-will-not-start")
    assert inc["timeline"][0]["actor"] == "UBOB"
    with rig.service.client() as c:
        assert 'incident_bot_incidents_opened_total{source="slack"} 1.0' in c.get("/metrics").text


def test_a_declared_title_is_stored_as_typed_and_shown_literally(rig: SlackRig):
    # Slack sends `&`, `<` and `>` typed by a person as `&amp;`, `&lt;` and `&gt;`.
    reply = rig.reply("declare leap/prod sev2 Proxy &amp; hub &lt;b&gt;down&lt;/b&gt;")
    assert "Proxy &amp; hub &lt;b&gt;down&lt;/b&gt;" in reply  # shown as typed, no markup
    rig.wait_idle()
    inc = get(rig, 1)
    assert inc["title"] == "Proxy & hub <b>down</b>"
    assert inc["slack_channel_name"].endswith("-leap-prod-proxy-hub-b-down-b")
    (summary,) = summaries(rig, inc["slack_channel_id"])
    assert summary["blocks"][0]["text"]["text"] == "#1 Proxy & hub <b>down</b>"  # plain_text
    assert summary["text"].endswith(": Proxy &amp; hub &lt;b&gt;down&lt;/b&gt;")  # mrkdwn
    assert "Proxy &amp; hub &lt;b&gt;down&lt;/b&gt;" in rig.reply("list")
    # The timeline is Slack text too: the title in it is escaped.
    assert inc["timeline"][0]["text"].endswith(": Proxy &amp; hub &lt;b&gt;down&lt;/b&gt;")
    # Links typed in a title are kept as their words; partners read titles, not names.
    rig.reply("declare leap/staging sev3 Ask <@U1|alice> about <https://x.org/a|the quota>")
    assert get(rig, 2)["title"] == "Ask an engineer about the quota"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("declare nowhere/prod sev1 x", "unknown hub `nowhere/prod`"),
        ("declare staging sev1 x", "unknown hub `staging`"),  # in every cluster
        ("declare leap/prod sev9 x", "`sev9` is not a severity"),
        ("declare leap/prod sev1", "needs a hub, a severity and a title"),
    ],
)
def test_bad_declares_say_what_is_wrong(rig: SlackRig, text: str, problem: str):
    reply = rig.reply(text)
    assert problem in reply and "Usage: `/incident declare" in reply
    assert count(rig.service.engine, "incident") == 0


def test_declare_with_no_arguments_opens_the_form_and_its_submission_declares(rig: SlackRig):
    assert rig.reply("declare") == ""
    [opened] = rig.slack.calls("views.open")
    view = opened.args["view"]
    view = view if isinstance(view, dict) else __import__("json").loads(view)
    assert opened.args["trigger_id"] == "1337.42.abcd"
    assert "leap/prod" in str(view["blocks"])
    submission = {
        "type": "view_submission",
        "user": {"id": "UCAROL"},
        "team": {"id": "T1"},
        "view": {
            "type": "modal",
            "callback_id": "declare_incident",
            "state": {
                "values": {
                    "hub": {
                        "value": {
                            "type": "static_select",
                            "selected_option": {"value": "utoronto/r-prod"},
                        }
                    },
                    "severity": {
                        "value": {"type": "static_select", "selected_option": {"value": "sev3"}}
                    },
                    "title": {"value": {"type": "plain_text_input", "value": "RStudio slow"}},
                }
            },
        },
    }
    r = rig.interact(submission)
    assert r.status_code == 200 and not r.content
    rig.wait_idle()
    inc = get(rig, 1)
    assert (inc["cluster"], inc["hub"], inc["severity"], inc["title"]) == (
        "utoronto",
        "r-prod",
        "sev3",
        "RStudio slow",
    )


def test_a_form_without_a_title_shows_the_error_in_the_form(rig: SlackRig):
    r = rig.interact(
        {
            "type": "view_submission",
            "user": {"id": "U1"},
            "view": {
                "type": "modal",
                "callback_id": "declare_incident",
                "state": {
                    "values": {
                        "hub": {"value": {"selected_option": {"value": "leap/prod"}}},
                        "severity": {"value": {"selected_option": {"value": "sev1"}}},
                        "title": {"value": {"value": "   "}},
                    }
                },
            },
        }
    )
    assert r.json() == {
        "response_action": "errors",
        "errors": {"title": "an incident needs a title"},
    }
    assert count(rig.service.engine, "incident") == 0


def test_list_shows_open_incidents(rig: SlackRig):
    number, channel = open_incident(rig)
    reply = rig.reply("list")
    assert f"#{number}" in reply and "openscapes/prod" in reply and f"<#{channel}>" in reply


def test_roles_are_assigned_invite_and_refresh_the_summary(rig: SlackRig):
    number, channel = open_incident(rig)
    assert "is Incident Commander" in rig.reply("commander <@UBOB|bob>", channel=channel)
    assert "is Scribe" in rig.reply("role scribe <@UCAROL>", channel=channel)
    assert "already is Scribe" in rig.reply("role scribe <@UCAROL>", channel=channel)
    rig.wait_idle()
    assert get(rig, number)["roles"] == {"commander": "UBOB", "scribe": "UCAROL"}
    members = rig.slack.channels[channel]["members"]
    assert {"UBOB", "UCAROL"} <= set(members)
    [summary] = summaries(rig, channel)
    assert "<@UBOB>" in str(summary["blocks"]) and "Scribe" in str(summary["blocks"])
    assert rig.slack.calls("chat.update")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("role boss <@UBOB>", "`boss` is not a role"),
        ("commander bob", "is not a person"),
        ("commander", "name exactly one person"),
        ("role scribe", "needs a role and a person"),
    ],
)
def test_bad_roles_say_what_is_wrong(rig: SlackRig, text: str, problem: str):
    _, channel = open_incident(rig)
    assert problem in rig.reply(text, channel=channel)


def test_status_and_severity_changes_update_topic_and_summary_in_place(rig: SlackRig):
    number, channel = open_incident(rig)
    assert (
        rig.reply("status identified the NFS server is full", channel=channel)
        == "Status is now identified."
    )
    assert rig.reply("severity sev2", channel=channel) == "Severity is now P2."
    rig.wait_idle()
    inc = get(rig, number)
    assert (inc["status"], inc["severity"]) == ("identified", "sev2")
    changed = [e for e in inc["timeline"] if e["kind"] == "status_changed"]
    assert changed[0]["visibility"] == "partner"
    assert "the NFS server is full" in changed[0]["text"]
    topic = rig.slack.channels[channel]["topic"]
    assert "P2 | identified" in str(topic)
    [summary] = summaries(rig, channel)  # edited, not posted again
    assert "identified" in str(summary["blocks"])
    assert "bad" in rig.reply("status bad", channel=channel)
    assert "to close, use `/incident resolve`" in rig.reply("status resolved", channel=channel)
    assert "already P2" in rig.reply("severity sev2", channel=channel)


def test_notes_are_internal_and_updates_reach_partners(rig: SlackRig):
    number, channel = open_incident(rig)
    assert (
        rig.reply("note tried restarting the hub pod", channel=channel) == "Noted on the timeline."
    )
    reply = rig.reply("update Hub is back, we are watching it", channel=channel)
    assert "<#C07ABCDEF12>" in reply  # openscapes' shared channel
    rig.wait_idle()
    events = {e["kind"]: e for e in get(rig, number)["timeline"]}
    assert events["note"]["visibility"] == "internal"
    assert events["update"]["visibility"] == "partner"
    partner = rig.slack.messages("C07ABCDEF12")
    assert "Hub is back, we are watching it" in partner[-1]["text"]
    assert "note needs some text" in rig.reply("note", channel=channel)


def test_any_text_is_taken_as_typed(rig: SlackRig):
    number, channel = open_incident(rig)
    text = "resolve <@UX> `rm -rf` 'quotes' \"and\" {braces} & ünïcode :tada:"
    rig.reply(f"note {text}", channel=channel)
    # The subcommand ends at a newline too; the text keeps its lines.
    rig.reply("note\nfirst line\nsecond line", channel=channel)
    rig.reply("status identified\nthe quota, see above", channel=channel)
    inc = get(rig, number)
    notes = [e["text"] for e in inc["timeline"] if e["kind"] == "note"]
    assert notes == [text, "first line\nsecond line"]
    assert inc["status"] == "identified"
    assert "the quota, see above" in inc["timeline"][-1]["text"]


def test_page_pages_the_hubs_escalation_policy(rig: SlackRig):
    number, channel = open_incident(rig)
    assert "P7QK2LM" in rig.reply("page", channel=channel)
    rig.wait_idle()
    [created] = rig.pagerduty.calls("POST /incidents")
    body = created.json["incident"]
    assert body["escalation_policy"]["id"] == "P7QK2LM"
    assert body["service"]["id"] == "PQ4OSC8"  # openscapes' PagerDuty service
    assert created.headers["from"] == "bot@example.org"
    assert get(rig, number)["pagerduty_incident_id"] in rig.pagerduty.incidents
    # Paging again, to another policy, reassigns the same PagerDuty incident.
    assert "PXYZ123" in rig.reply("page PXYZ123", channel=channel)
    rig.wait_idle()
    [reassigned] = rig.pagerduty.calls("PUT /incidents/*")
    assert reassigned.json["incident"]["escalation_policy"]["id"] == "PXYZ123"
    assert len(rig.pagerduty.calls("POST /incidents")) == 1
    assert "does not look like" in rig.reply("page nope", channel=channel)


def test_resolve_closes_the_incident_and_frees_the_hub(rig: SlackRig):
    number, channel = open_incident(rig)
    assert rig.reply("resolve disk grown to 2 TB", channel=channel) == "Resolved."
    rig.wait_idle()
    inc = get(rig, number)
    assert inc["status"] == "resolved" and inc["resolved_at"]
    assert "is resolved" in rig.reply("resolve", channel=channel)
    [summary] = summaries(rig, channel)
    assert "incident_resolve" not in str(summary["blocks"])  # no buttons once resolved
    # The hub's next alert opens a new incident.
    with rig.service.am as c:
        c.post("/webhooks/alertmanager", json=delivery(alert("Other")))
    assert get(rig, 2)["hub"] == "prod"


def test_timeline_and_postmortem(rig: SlackRig):
    number, channel = open_incident(rig)
    rig.reply("note first finding", channel=channel)
    timeline = rig.reply("timeline", channel=channel)
    assert "`declared`" in timeline and "first finding" in timeline
    assert "postmortem draft" in rig.reply("postmortem", channel=channel)
    rig.wait_idle()
    [upload] = rig.slack.uploads
    draft = upload["bytes"].decode()
    assert upload["filename"] == "2026-11-25-hub-down.md"
    assert draft.startswith('---\ntitle: "Hub down"\ndate: 2026-11-25\n---\n\n# Hub down\n')
    assert "first finding" in draft and "| **Incident Commander** | Ada Lovelace |" in draft
    assert "postmortem" in kinds(rig, number)


def test_buttons_do_what_they_say(rig: SlackRig):
    rig.pagerduty.oncall.clear()
    number, channel = open_incident(rig)
    assert rig.press("incident_acknowledge", number, user="UBOB").status_code == 200
    inc = get(rig, number)
    assert inc["roles"] == {"commander": "UBOB"}  # no commander yet: the acknowledger
    rig.press("incident_take_command", number, user="UCAROL")
    assert get(rig, number)["roles"]["commander"] == "UCAROL"
    rig.press("incident_resolve", number, user="UCAROL")
    assert get(rig, number)["status"] == "resolved"
    rig.press("incident_resolve", number, user="UCAROL", channel=channel)
    rig.wait_idle()
    assert any("is resolved" in e["text"] for e in rig.slack.ephemerals)
    assert {"acknowledged", "role_assigned", "resolved"} <= set(kinds(rig, number))


def test_a_pushpin_makes_a_message_a_note_with_its_time_and_author(rig: SlackRig):
    number, channel = open_incident(rig)
    ts = rig.slack.add_message(channel, "UDAN", "Found it: the quota is exhausted")
    reply_ts = rig.slack.add_message(channel, "UEVE", "and the NFS disk too", thread_ts=ts)
    for n, item_ts in enumerate((ts, reply_ts, ts)):  # the last one: a repeat
        r = rig.event(
            {
                "type": "reaction_added",
                "user": "UALICE",
                "reaction": "pushpin",
                "item": {"type": "message", "channel": channel, "ts": item_ts},
                "event_ts": item_ts,
            },
            event_id=f"Ev{n}",
        )
        assert r.status_code == 200
        rig.wait_idle()
    notes = [e for e in get(rig, number)["timeline"] if e["kind"] == "note"]
    assert [(n["text"], n["actor"]) for n in notes] == [
        ("Found it: the quota is exhausted", "UDAN"),
        ("and the NFS disk too", "UEVE"),
    ]
    assert notes[0]["at"].startswith(time.strftime("%Y-%m-%dT", time.gmtime(float(ts))))


def test_a_pin_and_other_events_are_accepted(rig: SlackRig):
    number, channel = open_incident(rig)
    r = rig.event(
        {
            "type": "pin_added",
            "user": "UALICE",
            "channel_id": channel,
            "item": {
                "type": "message",
                "channel": channel,
                "message": {
                    "ts": "1764064800.000100",
                    "user": "UFRED",
                    "text": "rolled back the image",
                },
            },
        }
    )
    assert r.status_code == 200
    assert (
        rig.event(
            {
                "type": "reaction_added",
                "reaction": "tada",
                "item": {"type": "message", "channel": channel, "ts": "1.2"},
            },
            event_id="Ev9",
        ).status_code
        == 200
    )
    assert (
        rig.event(
            {"type": "app_mention", "text": "hi", "channel": channel}, event_id="Ev10"
        ).status_code
        == 200
    )
    notes = [e for e in get(rig, number)["timeline"] if e["kind"] == "note"]
    assert [(n["text"], n["actor"], n["at"][:10]) for n in notes] == [
        ("rolled back the image", "UFRED", "2025-11-25")
    ]


def test_url_verification_is_answered(rig: SlackRig):
    import json

    body = json.dumps(
        {"type": "url_verification", "challenge": "abc123", "token": "legacy"}
    ).encode()
    r = rig.post(body, "application/json")
    assert r.status_code == 200 and "abc123" in r.text


@pytest.mark.parametrize(
    "body",
    [
        b"\xff\xfe",
        b"payload=not-json",
        b"{}",
        b"",
        b'payload={"type":"view_submission"}',
        b'payload={"type":"view_submission","view":{}}',
        b'payload={"type":"block_actions"}',
    ],
)
def test_garbage_is_a_4xx_or_harmless(rig: SlackRig, body: bytes):
    r = rig.post(body, "application/x-www-form-urlencoded")
    assert r.status_code < 500


def test_paging_a_cluster_without_a_pagerduty_service_uses_the_default(rig: SlackRig):
    registry = rig.service.app.state.registry
    assert registry.clusters["2i2c"].pagerduty_service is None
    rig.reply("declare 2i2c/staging sev1 Everything is slow", user="UBOB")
    rig.wait_idle()
    with rig.service.api as c:
        channel = c.get("/api/incidents/1").json()["slack_channel_id"]
    rig.reply("page", channel=channel)
    rig.wait_idle()
    [created] = rig.pagerduty.calls("POST /incidents")
    body = created.json["incident"]
    assert body["service"]["id"] == registry.defaults.pagerduty_service
    assert body["title"].startswith("[P1] ")
