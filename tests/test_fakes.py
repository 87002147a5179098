"""The fakes speak the real clients: slack_sdk's WebClient and pdpyras' APISession."""

import time
import warnings
from collections.abc import Iterator

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from tests.fakes.pagerduty import FakePagerDuty
from tests.fakes.slack import FakeSlack

# pdpyras warns on import that it is deprecated in favour of `pagerduty`; not ours to fix.
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from pdpyras import APISession, PDClientError

SLACK_TOKEN = "xoxb-test"
PD_TOKEN = "pd-test-token"


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack(token=SLACK_TOKEN) as fake:
        yield fake


@pytest.fixture
def client(slack: FakeSlack) -> WebClient:
    return WebClient(token=SLACK_TOKEN, base_url=slack.url, timeout=10)


@pytest.fixture
def pagerduty() -> Iterator[FakePagerDuty]:
    with FakePagerDuty(token=PD_TOKEN) as fake:
        yield fake


@pytest.fixture
def session(pagerduty: FakePagerDuty) -> APISession:
    s = APISession(PD_TOKEN, default_from="bot@example.org")
    s.url = pagerduty.url.rstrip("/")
    s.sleep_timer = 0.01  # pdpyras sleeps before retrying a 429
    return s


# -- Slack


def test_slack_creates_a_channel_and_refuses_a_taken_name(
    slack: FakeSlack, client: WebClient
) -> None:
    created = client.conversations_create(name="inc-42-hub-down")
    channel_id = created["channel"]["id"]
    assert channel_id.startswith("C") and len(channel_id) == 11
    assert slack.channel_by_name("inc-42-hub-down") == slack.channels[channel_id]
    # conversations.create goes form-encoded; chat.postMessage (below) as JSON.
    [call] = slack.calls("conversations.create")
    assert call.form["name"] == "inc-42-hub-down"
    assert call.headers["authorization"] == f"Bearer {SLACK_TOKEN}"

    slack.add_channel("inc-43")
    for name, error in [
        ("inc-42-hub-down", "name_taken"),
        ("inc-43", "name_taken"),
        ("Inc 44", "invalid_name_specials"),
        ("x" * 81, "invalid_name_maxlength"),
    ]:
        with pytest.raises(SlackApiError) as e:
            client.conversations_create(name=name)
        assert e.value.response["error"] == error


def test_slack_invites_and_sets_the_topic(slack: FakeSlack, client: WebClient) -> None:
    channel_id = client.conversations_create(name="inc-1")["channel"]["id"]
    client.conversations_invite(channel=channel_id, users=["U1", "U2"])
    client.conversations_setTopic(channel=channel_id, topic="hub down")
    info = client.conversations_info(channel=channel_id)["channel"]
    assert info["topic"]["value"] == "hub down" and info["num_members"] == 2
    assert slack.channels[channel_id]["members"] == ["U1", "U2"]
    with pytest.raises(SlackApiError) as e:
        client.conversations_invite(channel=channel_id, users="U2")
    assert e.value.response["error"] == "already_in_channel"
    with pytest.raises(SlackApiError) as e:
        client.conversations_invite(channel="CNOPE", users="U3")
    assert e.value.response["error"] == "channel_not_found"


def test_slack_posts_updates_and_reads_back_messages(slack: FakeSlack, client: WebClient) -> None:
    channel_id = client.conversations_create(name="inc-2")["channel"]["id"]
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*Declared*"}}]
    posted = client.chat_postMessage(channel=channel_id, text="Declared", blocks=blocks)
    ts = posted["ts"]
    [call] = slack.calls("chat.postMessage")
    assert call.headers["content-type"].startswith("application/json")
    assert call.json == {"channel": channel_id, "text": "Declared", "blocks": blocks}
    client.chat_postMessage(channel=channel_id, text="a reply", thread_ts=ts)
    client.chat_update(channel=channel_id, ts=ts, text="Resolved")
    with pytest.raises(SlackApiError) as e:
        client.chat_update(channel=channel_id, ts="1.000000", text="nope")
    assert e.value.response["error"] == "message_not_found"

    human = slack.add_message(channel_id, "U1", "the hub is back")
    assert [m["text"] for m in slack.messages(channel_id)] == [
        "Resolved",
        "a reply",
        "the hub is back",
    ]
    history = client.conversations_history(channel=channel_id)["messages"]
    assert [m["ts"] for m in history] == [human, ts]  # newest first, no replies
    assert history[1]["reply_count"] == 1
    thread = client.conversations_replies(channel=channel_id, ts=ts)["messages"]
    assert [m["text"] for m in thread] == ["Resolved", "a reply"]

    # A channel the bot did not create (a community's) still takes messages.
    client.chat_postMessage(channel="C07ABCDEF12", text="status: investigating")
    assert slack.messages("C07ABCDEF12")[0]["text"] == "status: investigating"


def test_slack_finds_users_by_email(slack: FakeSlack, client: WebClient) -> None:
    slack.add_user("U1", "ada@example.org", "Ada")
    assert client.users_lookupByEmail(email="ada@example.org")["user"]["id"] == "U1"
    with pytest.raises(SlackApiError) as e:
        client.users_lookupByEmail(email="nobody@example.org")
    assert e.value.response["error"] == "users_not_found"


def test_slack_read_methods_refuse_json_bodies(slack: FakeSlack, client: WebClient) -> None:
    slack.add_user("U1", "ada@example.org", "Ada")
    with pytest.raises(SlackApiError) as e:
        client.api_call("users.lookupByEmail", json={"email": "ada@example.org"})
    assert e.value.response["error"] == "invalid_arguments"
    assert client.api_call("users.info", params={"user": "U1"})["user"]["name"] == "Ada"


def test_slack_rejects_a_wrong_token(slack: FakeSlack) -> None:
    wrong = WebClient(token="xoxb-wrong", base_url=slack.url)
    with pytest.raises(SlackApiError) as e:
        wrong.auth_test()
    assert e.value.response["error"] == "invalid_auth"


def test_slack_rate_limit_is_retried_after_retry_after(slack: FakeSlack) -> None:
    client = WebClient(
        token=SLACK_TOKEN,
        base_url=slack.url,
        retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=1)],
    )
    slack.fail_next("chat.postMessage", 429, headers={"Retry-After": "0"})
    assert client.chat_postMessage(channel="C07ABCDEF12", text="hi")["ok"]
    assert len(slack.calls("/chat.postMessage")) == 2
    assert len(slack.messages("C07ABCDEF12")) == 1


def test_slack_rate_limit_without_a_retry_handler_raises(
    slack: FakeSlack, client: WebClient
) -> None:
    slack.fail_next("chat.postMessage", 429, headers={"Retry-After": "7"})
    with pytest.raises(SlackApiError) as e:
        client.chat_postMessage(channel="C07ABCDEF12", text="hi")
    assert e.value.response.status_code == 429
    assert e.value.response.headers["Retry-After"] == "7"


def test_slack_down_answers_503_until_it_is_back(slack: FakeSlack, client: WebClient) -> None:
    slack.down = True
    with pytest.raises(SlackApiError) as e:
        client.auth_test()
    assert e.value.response.status_code == 503
    slack.down = False
    assert client.auth_test()["user_id"] == "UBOT"


def test_slack_files_upload_v2(slack: FakeSlack, client: WebClient) -> None:
    channel_id = client.conversations_create(name="inc-3")["channel"]["id"]
    done = client.files_upload_v2(
        channel=channel_id, content=b"png bytes", filename="graph.png", title="t"
    )
    [upload] = slack.uploads
    assert done["file"]["id"] == upload["file_id"]
    assert upload["bytes"] == b"png bytes"
    assert (upload["filename"], upload["title"], upload["channel_id"]) == (
        "graph.png",
        "t",
        channel_id,
    )
    assert [r.path for r in slack.requests[1:]] == [
        "/files.getUploadURLExternal",
        f"/upload/{upload['file_id']}",
        "/files.completeUploadExternal",
    ]


def test_slack_bookmarks_views_and_wait_for(slack: FakeSlack, client: WebClient) -> None:
    channel_id = client.conversations_create(name="inc-4")["channel"]["id"]
    client.bookmarks_add(channel_id=channel_id, title="Runbook", type="link", link="https://x/")
    assert slack.bookmarks(channel_id)[0]["link"] == "https://x/"
    view = {"type": "modal", "title": {"type": "plain_text", "text": "Declare"}, "blocks": []}
    assert client.views_open(trigger_id="T.1", view=view)["view"]["id"] == "V1"
    assert slack.views[0]["view"] == view

    started = time.monotonic()
    slack.wait_for(lambda: len(slack.calls("views.open")) == 1)
    assert time.monotonic() - started < 1
    with pytest.raises(AssertionError):
        slack.wait_for(lambda: False, timeout=0.05)


# -- PagerDuty


def test_pagerduty_users_and_oncalls(pagerduty: FakePagerDuty, session: APISession) -> None:
    pagerduty.add_user("PU1", "ada@example.org", "Ada")
    pagerduty.add_user("PU2", "bob@example.org", "Bob")
    pagerduty.set_oncall("P1", "PU1")
    pagerduty.set_oncall("P1", "PU2", level=2)
    pagerduty.set_oncall("P2", "PU2")

    assert session.rget("/users/PU1")["email"] == "ada@example.org"
    oncalls = session.list_all("oncalls", params={"escalation_policy_ids[]": ["P1"]})
    assert [(o["escalation_level"], o["user"]["id"]) for o in oncalls] == [(1, "PU1"), (2, "PU2")]
    # requests encodes a list as the key repeated; pdpyras adds "[]" when the key lacks it.
    [call] = pagerduty.calls("GET /oncalls")
    assert call.query["escalation_policy_ids[]"] == ["P1"]
    assert call.query["limit"] == ["100"] and call.query["offset"] == ["0"]
    both = session.list_all("oncalls", params={"escalation_policy_ids": ["P1", "P2"]})
    assert len(both) == 3


def test_pagerduty_incident_lifecycle(pagerduty: FakePagerDuty, session: APISession) -> None:
    pagerduty.add_user("PU1", "ada@example.org", "Ada")
    pagerduty.add_user("PBOT", "bot@example.org", "incident-bot")
    pagerduty.set_oncall("P1", "PU1")
    incident = session.rpost(
        "/incidents",
        json={
            "type": "incident",
            "title": "hub down",
            "service": {"id": "PSVC", "type": "service_reference"},
            "escalation_policy": {"id": "P1", "type": "escalation_policy_reference"},
            "incident_key": "alert-group-1",
        },
    )
    assert incident["status"] == "triggered"
    assert incident["assignments"][0]["assignee"]["id"] == "PU1"
    assert pagerduty.calls("POST /incidents")[0].headers["from"] == "bot@example.org"

    session.rpost(f"/incidents/{incident['id']}/notes", json={"content": "Slack: #inc-1"})
    session.rput(f"/incidents/{incident['id']}", json={"type": "incident", "status": "resolved"})
    assert pagerduty.incidents[incident["id"]]["status"] == "resolved"
    [note] = session.rget(f"/incidents/{incident['id']}/notes")
    assert note["content"] == "Slack: #inc-1" and note["user"]["id"] == "PBOT"


def test_pagerduty_requires_from_and_a_valid_token(
    pagerduty: FakePagerDuty, session: APISession
) -> None:
    session.default_from = None
    with pytest.raises(PDClientError) as e:
        session.rpost("/incidents", json={"type": "incident", "title": "x"})
    assert e.value.response.status_code == 400
    assert '"From" header' in e.value.response.json()["error"]["message"]
    assert pagerduty.incidents == {}

    wrong = APISession("wrong")
    wrong.url = session.url
    with pytest.raises(PDClientError) as e:
        wrong.rget("/users/PU1")
    assert e.value.response.status_code == 401


def test_pagerduty_failures_on_demand(pagerduty: FakePagerDuty, session: APISession) -> None:
    pagerduty.add_user("PU1", "ada@example.org", "Ada")
    # pdpyras retries 429s by itself, without limit.
    pagerduty.fail_next("GET /users/*", 429, times=2)
    assert session.rget("/users/PU1")["id"] == "PU1"
    assert len(pagerduty.calls("/users/PU1")) == 3
    pagerduty.fail_next("/users/PU1", 503)
    with pytest.raises(PDClientError) as e:
        session.rget("/users/PU1")
    assert e.value.response.status_code == 503
