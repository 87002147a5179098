"""The fake Slack enforces Slack's per-method rate limits when asked to, and only then.

Most tests drive the fake's clock by hand (`tiers(..., clock=...)`) so the window arithmetic is
checked exactly, without sleeping; one runs on the real clock, through slack_sdk's own retry
handler, to show that a client honouring Retry-After gets through.
"""

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from tests.fakes.slack import RATE_LIMITS, FakeSlack, RateLimiter, retry_after

SLACK_TOKEN = "xoxb-test"


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack(token=SLACK_TOKEN) as fake:
        yield fake


@pytest.fixture
def client(slack: FakeSlack) -> WebClient:
    # No retry handlers: every 429 reaches the test.
    return WebClient(token=SLACK_TOKEN, base_url=slack.url, timeout=10, retry_handlers=[])


def limited(call: Any) -> SlackApiError:
    """The error a call raised, which must be Slack's rate-limit answer."""
    assert isinstance(call, SlackApiError), call
    assert call.response.status_code == 429
    assert call.response.data == {"ok": False, "error": "ratelimited"}
    return call


def attempt(fn: Callable[..., Any], **kwargs: Any) -> Any:
    """What a call returned, or the SlackApiError it raised."""
    try:
        return fn(**kwargs)
    except SlackApiError as exc:
        return exc


def test_no_limits_by_default(slack: FakeSlack, client: WebClient) -> None:
    for i in range(60):
        client.conversations_create(name=f"inc-{i}")
    channel = slack.channel_by_name("inc-0")
    assert channel is not None
    for _ in range(20):
        client.chat_postMessage(channel=channel["id"], text="hello")
    assert slack.limiter is None
    assert slack.stats()["conversations.create"] == {"calls": 60, "ok": 60, "ratelimited": 0}
    assert slack.stats()["chat.postMessage"] == {"calls": 20, "ok": 20, "ratelimited": 0}


def test_tier_2_allows_20_calls_per_scaled_minute_and_refuses_the_21st_with_no_effect(
    slack: FakeSlack, client: WebClient, clock: Clock
) -> None:
    slack.tiers(10, clock=clock)  # a window of 6 s
    for i in range(20):
        client.conversations_create(name=f"inc-{i}")
        clock.advance(0.1)
    # 2.0 s after the first call: the first leaves the window at 6.0 s, in 4.0 s.
    error = limited(attempt(client.conversations_create, name="inc-20"))
    assert error.response.headers["Retry-After"] == "4"
    assert slack.channel_by_name("inc-20") is None
    assert len(slack.channels) == 20

    clock.advance(4.0 - 1e-6)  # not quite
    limited(attempt(client.conversations_create, name="inc-20"))
    clock.advance(1e-6)  # exactly one window after the first call
    client.conversations_create(name="inc-20")
    # ... and the second call leaves the window 0.1 s later, not before.
    error = limited(attempt(client.conversations_create, name="inc-21"))
    assert error.response.headers["Retry-After"] == "1"  # 0.1 s, rounded up to Slack's 1
    clock.advance(0.1)
    client.conversations_create(name="inc-21")

    assert slack.stats()["conversations.create"] == {"calls": 25, "ok": 22, "ratelimited": 3}
    assert len(slack.channels) == 22


def test_the_window_slides_rather_than_resets(
    slack: FakeSlack, client: WebClient, clock: Clock
) -> None:
    slack.tiers(10, clock=clock)
    channel = client.conversations_create(name="inc-topics")["channel"]["id"]
    for _ in range(10):
        client.conversations_setTopic(channel=channel, topic="a")
    clock.advance(3)
    for _ in range(10):
        client.conversations_setTopic(channel=channel, topic="b")
    clock.advance(3)  # the first ten have left the window, the next ten have not
    for _ in range(10):
        client.conversations_setTopic(channel=channel, topic="c")
    error = limited(attempt(client.conversations_setTopic, channel=channel, topic="d"))
    assert error.response.headers["Retry-After"] == "3"
    assert slack.channels[channel]["topic"] == "c"


def test_each_method_has_its_own_allowance_at_its_tier(
    slack: FakeSlack, client: WebClient, clock: Clock
) -> None:
    slack.tiers(1, clock=clock)  # Slack's own minute
    slack.add_user("UADA", "ada@example.org", "Ada")
    channel = client.conversations_create(name="inc-1")["channel"]["id"]
    ts = client.chat_postMessage(channel=channel, text="summary")["ts"]

    for _ in range(50):  # Tier 3
        client.chat_update(channel=channel, ts=ts, text="edited")
    error = limited(attempt(client.chat_update, channel=channel, ts=ts, text="too many"))
    assert error.response.headers["Retry-After"] == "60"
    assert slack.messages(channel)[0]["text"] == "edited"

    for _ in range(50):  # Tier 3, counted apart from chat.update
        client.users_lookupByEmail(email="ada@example.org")
    limited(attempt(client.users_lookupByEmail, email="ada@example.org"))

    for i in range(100):  # Tier 4
        client.files_getUploadURLExternal(filename=f"f{i}.md", length=1)
    limited(attempt(client.files_getUploadURLExternal, filename="last.md", length=1))

    for i in range(2, 21):  # Tier 2: inc-1 was the first of 20
        client.conversations_create(name=f"inc-{i}")
    limited(attempt(client.conversations_create, name="inc-21"))
    for _ in range(20):  # Tier 2 too, counted apart
        client.conversations_list()
    limited(attempt(client.conversations_list))

    # Methods outside the table are not limited.
    for _ in range(200):
        client.conversations_info(channel=channel)

    stats = slack.stats()
    assert stats["chat.update"]["ratelimited"] == 1
    assert stats["users.lookupByEmail"] == {"calls": 51, "ok": 50, "ratelimited": 1}
    assert stats["files.getUploadURLExternal"]["ok"] == 100
    assert stats["conversations.info"] == {"calls": 200, "ok": 200, "ratelimited": 0}


def test_the_tiers_of_the_table() -> None:
    tier_2 = {"conversations.create", "conversations.setTopic", "bookmarks.add"}
    tier_2 |= {"conversations.list"}
    tier_3 = {"chat.update", "conversations.invite", "users.lookupByEmail"}
    tier_3 |= {"conversations.history"}
    tier_4 = {"files.getUploadURLExternal", "files.completeUploadExternal", "users.info"}
    assert {m for m, n in RATE_LIMITS.items() if n == 20} == tier_2
    assert {m for m, n in RATE_LIMITS.items() if n == 50} == tier_3
    assert {m for m, n in RATE_LIMITS.items() if n == 100} == tier_4


def test_post_message_is_limited_per_channel_with_a_small_burst(
    slack: FakeSlack, client: WebClient, clock: Clock
) -> None:
    slack.tiers(10, clock=clock)  # one message per 0.1 s per channel, bursts of 3
    one = client.conversations_create(name="inc-one")["channel"]["id"]
    two = client.conversations_create(name="inc-two")["channel"]["id"]
    for _ in range(3):
        client.chat_postMessage(channel=one, text="burst")
    error = limited(attempt(client.chat_postMessage, channel=one, text="one too many"))
    assert error.response.headers["Retry-After"] == "1"
    # By name, the same channel and the same allowance.
    limited(attempt(client.chat_postMessage, channel="#inc-one", text="by name"))
    # Another channel has its own.
    client.chat_postMessage(channel=two, text="elsewhere")
    assert [m["text"] for m in slack.messages(one)] == ["burst"] * 3

    clock.advance(0.1 - 1e-6)
    limited(attempt(client.chat_postMessage, channel=one, text="early"))
    clock.advance(1e-6)
    client.chat_postMessage(channel=one, text="refilled")
    limited(attempt(client.chat_postMessage, channel=one, text="again"))
    clock.advance(10)  # a long pause refills the burst, no more
    for _ in range(3):
        client.chat_postMessage(channel=one, text="burst again")
    limited(attempt(client.chat_postMessage, channel=one, text="over"))
    assert slack.stats()["chat.postMessage"] == {"calls": 13, "ok": 8, "ratelimited": 5}


def test_the_429_is_slacks_over_raw_http(slack: FakeSlack, clock: Clock) -> None:
    slack.tiers(60, clock=clock)  # a window of 1 s
    headers = {"Authorization": f"Bearer {SLACK_TOKEN}"}
    with httpx.Client(base_url=slack.url, headers=headers) as http:
        for i in range(20):
            r = http.post("conversations.create", data={"name": f"inc-{i}"})
            assert r.status_code == 200 and r.json()["ok"], r.text
        clock.advance(0.25)
        r = http.post("conversations.create", data={"name": "inc-20"})
        assert r.status_code == 429
        assert r.headers["Retry-After"] == "1"  # 0.75 s: whole seconds, at least 1
        assert r.headers["Content-Type"].startswith("application/json")
        assert r.json() == {"ok": False, "error": "ratelimited"}
        # A bad token spends nothing and is not rate limited.
        r = http.post("conversations.create", data={"name": "x"}, headers={"Authorization": "x"})
        assert r.json() == {"ok": False, "error": "invalid_auth"}


def test_constructor_argument_and_switching_off() -> None:
    with FakeSlack(token=SLACK_TOKEN, rate_scale=10) as slack:
        client = WebClient(token=SLACK_TOKEN, base_url=slack.url, retry_handlers=[])
        assert slack.limiter is not None and slack.limiter.window == 6.0
        channel = client.conversations_create(name="inc-1")["channel"]["id"]
        for _ in range(19):
            client.conversations_setTopic(channel=channel, topic="t")
        client.conversations_setTopic(channel=channel, topic="t")
        limited(attempt(client.conversations_setTopic, channel=channel, topic="t"))
        slack.no_limits()
        client.conversations_setTopic(channel=channel, topic="free")
        assert slack.channels[channel]["topic"] == "free"


def test_injected_failures_still_come_first(
    slack: FakeSlack, client: WebClient, clock: Clock
) -> None:
    slack.tiers(1, clock=clock)
    slack.fail_next("conversations.create", 503)
    with pytest.raises(SlackApiError):
        client.conversations_create(name="inc-1")
    for i in range(20):  # the injected failure spent none of the allowance
        client.conversations_create(name=f"inc-{i}")
    limited(attempt(client.conversations_create, name="inc-20"))


def test_a_client_that_honours_retry_after_gets_through(slack: FakeSlack) -> None:
    slack.tiers(60)  # the real clock; a window of 1 s
    polite = WebClient(
        token=SLACK_TOKEN,
        base_url=slack.url,
        retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=1)],
    )
    for i in range(20):
        polite.conversations_create(name=f"inc-{i}")
    started = time.monotonic()
    polite.conversations_create(name="inc-20")  # 429, Retry-After 1, then through
    assert time.monotonic() - started >= 1
    assert slack.stats()["conversations.create"] == {"calls": 22, "ok": 21, "ratelimited": 1}


def test_the_limiter_on_its_own() -> None:
    limiter = RateLimiter(10, limits={"x": 2}, clock=lambda: 0.0)
    assert limiter.window == 6.0
    assert limiter.admit("x", at=0.0) is None
    assert limiter.admit("x", at=1.0) is None
    assert limiter.admit("x", at=2.0) == pytest.approx(4.0)
    assert limiter.admit("x", at=6.0) is None
    assert limiter.admit("y", at=6.0) is None  # not in the table
    with pytest.raises(ValueError):
        RateLimiter(0)
    assert [retry_after(w) for w in (0.001, 1.0, 1.0 + 1e-12, 1.2, 5.99)] == [
        "1",
        "1",
        "1",
        "2",
        "6",
    ]
