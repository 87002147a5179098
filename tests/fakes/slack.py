"""A fake Slack Web API, as slack_sdk's `WebClient(base_url=fake.url)` calls it.

slack_sdk POSTs every method to `<base_url><method>`, whatever the method's documented verb:
chat.* and views.* send a JSON body, the rest a form-encoded one. Slack answers API errors
with HTTP 200 and {"ok": false, "error": ...}; rate limits are a 429 with Retry-After, which
tests inject with `fail_next`, or which the fake enforces itself at Slack's published
per-method limits once told to with `tiers(scale)` (or `FakeSlack(rate_scale=...)`); by
default there are no limits.

Slack reads JSON bodies only on write methods; read methods (conversations.history, users.info,
...) silently drop JSON arguments and answer as if none were sent, a bug that then looks like
missing data. The fake refuses such calls loudly instead (see `FORM_ONLY`).
"""

from __future__ import annotations

import json
import math
import mimetypes
import random
import re
import string
import time
from collections import deque
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, Self

from tests.fakes.server import FakeServer, Recorded, Reply

BOT_USER = "UBOT"
BOT_ID = "BBOT"
TEAM_ID = "T1"
_CHANNEL_NAME = re.compile(r"[a-z0-9_-]+")
_CONVERSATION_ID = re.compile(r"[CGD][A-Z0-9]{2,}")

# Methods whose arguments Slack reads from the query string or a form body, never from JSON.
FORM_ONLY = frozenset(
    {
        "chat.getPermalink",
        "conversations.history",
        "conversations.info",
        "conversations.list",
        "conversations.members",
        "conversations.replies",
        "files.getUploadURLExternal",
        "users.info",
        "users.list",
        "users.lookupByEmail",
    }
)


# Slack's published rate limits (https://docs.slack.dev/apis/web-api/rate-limits), in calls per
# minute per workspace and method, for the methods an incident bot meets. Methods not listed
# are not limited by the fake.
TIER_2, TIER_3, TIER_4 = 20, 50, 100
RATE_LIMITS: dict[str, int] = {
    "conversations.create": TIER_2,
    "conversations.setTopic": TIER_2,
    "bookmarks.add": TIER_2,
    "conversations.list": TIER_2,
    "chat.update": TIER_3,
    "conversations.invite": TIER_3,
    "users.lookupByEmail": TIER_3,
    "conversations.history": TIER_3,
    "users.info": TIER_4,
    "files.getUploadURLExternal": TIER_4,
    "files.completeUploadExternal": TIER_4,
}
# chat.postMessage: about one message per second per channel, "short bursts above that
# allowed": a token bucket of POST_BURST messages refilled at one a second.
POST_PER_SECOND = 1.0
POST_BURST = 3
# Float slack in the window arithmetic, so that waiting exactly the time a 429 named is enough.
_EPSILON = 1e-9


class RateLimiter:
    """Slack's per-method limits for one workspace, with time divided by `scale`.

    A method of `limits` allows `limits[method]` calls in any sliding window of `60 / scale`
    seconds; chat.postMessage allows, per channel, a burst of `post_burst` messages refilled
    at `POST_PER_SECOND * scale` a second. Only admitted calls count: a refused call spends
    nothing. `admit` answers None (admitted, and counted) or the exact seconds until the call
    would be admitted.
    """

    def __init__(
        self,
        scale: float = 1.0,
        *,
        limits: Mapping[str, int] = RATE_LIMITS,
        post_burst: int = POST_BURST,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if scale <= 0:
            raise ValueError(f"scale must be positive, not {scale}")
        if post_burst < 1:
            raise ValueError(f"post_burst must be at least 1, not {post_burst}")
        self.scale = scale
        self.window = 60.0 / scale
        self.limits = dict(limits)
        self.post_burst = post_burst
        self.post_rate = POST_PER_SECOND * scale
        self.clock = clock
        self._admitted: dict[str, deque[float]] = {}
        self._buckets: dict[str, tuple[float, float]] = {}  # channel -> (tokens, at)

    def admit(
        self, method: str, channel: str | None = None, at: float | None = None
    ) -> float | None:
        """Count a call to `method` (in `channel`, for chat.postMessage) at `at` (default:
        now) if the limits allow it; otherwise the seconds until they would."""
        now = self.clock() if at is None else at
        if method == "chat.postMessage":
            return self._post(channel or "", now)
        limit = self.limits.get(method)
        if limit is None:
            return None
        admitted = self._admitted.setdefault(method, deque())
        while admitted and admitted[0] <= now - self.window + _EPSILON:
            admitted.popleft()
        if len(admitted) < limit:
            admitted.append(now)
            return None
        return admitted[0] + self.window - now

    def _post(self, channel: str, now: float) -> float | None:
        tokens, then = self._buckets.get(channel, (float(self.post_burst), now))
        tokens = min(float(self.post_burst), tokens + max(0.0, now - then) * self.post_rate)
        if tokens >= 1 - _EPSILON:
            self._buckets[channel] = (max(0.0, tokens - 1), now)
            return None
        self._buckets[channel] = (tokens, now)
        return (1 - tokens) / self.post_rate


def retry_after(wait: float) -> str:
    """The Retry-After header for a wait: whole seconds, at least 1, as Slack sends it."""
    return str(max(1, math.ceil(wait - _EPSILON)))


class SlackError(Exception):
    """An API error, answered as {"ok": false, "error": code, **extra}."""

    def __init__(self, code: str, **extra: Any) -> None:
        super().__init__(code)
        self.code = code
        self.extra = extra


def _random_id(prefix: str, n: int = 10) -> str:
    return prefix + "".join(random.choices(string.ascii_uppercase + string.digits, k=n))


def _arg(args: dict[str, Any], key: str) -> str | None:
    value = args.get(key)
    return None if value is None else str(value)


def _flag(args: dict[str, Any], key: str) -> bool:
    # Form bodies carry booleans as "1"/"0" (slack_sdk converts them) or "true"/"false".
    return args.get(key) in (True, 1, "1", "true", "True")


def _json_arg(args: dict[str, Any], key: str) -> Any:
    # The same argument arrives as a list in a JSON body and as a JSON string in a form.
    value = args.get(key)
    return json.loads(value) if isinstance(value, str) else value


def _public(message: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in message.items() if v is not None}


class FakeSlack(FakeServer):
    """Slack's Web API with channels, messages, users, bookmarks, views and uploads in memory.

    With `token` set, requests must carry `Authorization: Bearer <token>` (or a `token`
    argument); otherwise they are answered {"ok": false, "error": "invalid_auth"}.

    With `rate_scale` set (or after `tiers(scale)`), Slack's per-method limits are enforced
    (see `RateLimiter`): a call over its limit is answered HTTP 429 with `Retry-After` and
    {"ok": false, "error": "ratelimited"}, and does nothing. `stats()` counts calls and 429s
    by method, limits or not.
    """

    raw_paths = ("/upload/",)
    form_only = FORM_ONLY
    # Socket Mode: apps.connections.open wants this app-level token (not `token`), and answers
    # a URL from `socket_mode_url` (e.g. a FakeSocketMode's `url`); None: no Socket Mode.
    app_token: str | None = None
    socket_mode_url: Callable[[], str] | None = None

    def __init__(self, token: str | None = None, *, rate_scale: float | None = None) -> None:
        super().__init__()
        self.token = token
        self.limiter: RateLimiter | None = None
        # Web API method -> {"calls", "ok", "ratelimited"}, as stats() shows them.
        self._stats: dict[str, dict[str, int]] = {}
        if rate_scale is not None:
            self.tiers(rate_scale)
        self.channels: dict[str, dict[str, Any]] = {}
        self.users: dict[str, dict[str, Any]] = {}
        self.ephemerals: list[dict[str, Any]] = []
        self.views: list[dict[str, Any]] = []
        self.uploads: list[dict[str, Any]] = []
        self._pending_uploads: dict[str, dict[str, Any]] = {}
        self._last_ts = Decimal(0)
        self._view_count = 0

    # -- test helpers

    def channel_by_name(self, name: str) -> dict[str, Any] | None:
        """The channel record called `name`, if any."""
        with self.lock:
            return next((c for c in self.channels.values() if c["name"] == name), None)

    def add_channel(
        self,
        name: str,
        creator: str = "UOTHER",
        *,
        is_private: bool = False,
        channel_id: str | None = None,
        members: tuple[str, ...] = (),
    ) -> dict[str, Any]:
        """Create a channel as someone else would have (e.g. to collide with, or one the bot
        was invited to)."""
        with self.lock:
            if self.channel_by_name(name) is not None:
                raise ValueError(f"channel {name!r} exists")
            channel = self._new_channel(channel_id or _random_id("C"), name, creator, is_private)
            channel["members"].extend(members)
            return channel

    def messages(self, channel_id: str) -> list[dict[str, Any]]:
        """Every message in a channel, thread replies included, oldest first."""
        with self.lock:
            channel = self.channels.get(channel_id)
            return list(channel["messages"]) if channel else []

    def add_message(
        self,
        channel_id: str,
        user: str,
        text: str,
        ts: str | None = None,
        thread_ts: str | None = None,
    ) -> str:
        """Seed a message as a human posted it; returns its ts."""
        with self.lock:
            channel = self._target(channel_id)
            message = self._message(user, text, None, thread_ts, ts)
            channel["messages"].append(message)
            channel["messages"].sort(key=lambda m: Decimal(m["ts"]))
            return str(message["ts"])

    def bookmarks(self, channel_id: str) -> list[dict[str, Any]]:
        """The bookmarks of a channel, in the order added."""
        with self.lock:
            channel = self.channels.get(channel_id)
            return list(channel["bookmarks"]) if channel else []

    def add_user(self, user_id: str, email: str, name: str) -> dict[str, Any]:
        """A workspace member that users.info and users.lookupByEmail find."""
        user = {
            "id": user_id,
            "team_id": TEAM_ID,
            "name": name,
            "real_name": name,
            "deleted": False,
            "is_bot": False,
            "profile": {"email": email, "real_name": name, "display_name": name},
        }
        with self.lock:
            self.users[user_id] = user
        return user

    # -- rate limits

    def tiers(
        self,
        scale: float = 1.0,
        *,
        post_burst: int = POST_BURST,
        limits: Mapping[str, int] = RATE_LIMITS,
        clock: Callable[[], float] = time.monotonic,
    ) -> Self:
        """Enforce Slack's per-method limits from now on, their windows `60 / scale` seconds
        long (10: a minute's allowance every 6 s); `clock` is the fake's time, for tests."""
        with self.lock:
            self.limiter = RateLimiter(scale, limits=limits, post_burst=post_burst, clock=clock)
        return self

    def no_limits(self) -> None:
        """Stop enforcing rate limits (the default)."""
        with self.lock:
            self.limiter = None

    def stats(self) -> dict[str, dict[str, int]]:
        """Per Web API method: `calls` received (authenticated ones), `ok` answered
        {"ok": true}, `ratelimited` answered 429 by the limits (injected failures aside)."""
        with self.lock:
            return {m: dict(counts) for m, counts in sorted(self._stats.items())}

    def _count(self, method: str, what: str) -> None:
        counts = self._stats.setdefault(method, {"calls": 0, "ok": 0, "ratelimited": 0})
        counts[what] += 1

    def _rate_limited(self, method: str, args: dict[str, Any]) -> Reply | None:
        if self.limiter is None:
            return None
        channel = None
        if method == "chat.postMessage":
            # Per channel: a name and an id of one channel share their allowance.
            channel = _arg(args, "channel") or ""
            found = self.channel_by_name(channel.lstrip("#"))
            channel = found["id"] if found is not None else channel
        wait = self.limiter.admit(method, channel)
        if wait is None:
            return None
        self._count(method, "ratelimited")
        return Reply(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": retry_after(wait)})

    # -- the server

    def error_body(self, status: int) -> Any:
        return {"ok": False, "error": "ratelimited" if status == 429 else "fatal_error"}

    def handle(self, req: Recorded) -> Reply:
        method = req.path.lstrip("/")
        if method.startswith("upload/"):
            return self._receive_upload(method.removeprefix("upload/"), req.body)
        args = {k: v for k, v in req.args.items() if v is not None}
        auth = req.headers.get("authorization", "")
        given = auth[len("Bearer ") :] if auth.startswith("Bearer ") else args.get("token")
        if method == "apps.connections.open":
            args["token"] = given  # an app-level method: it checks its own token
        elif self.token is not None and given != self.token:
            return Reply(200, {"ok": False, "error": "invalid_auth"})
        self._count(method, "calls")
        api = getattr(self, "_api_" + method.replace(".", "_"), None)
        if api is None:
            return Reply(200, {"ok": False, "error": "unknown_method"})
        limited = self._rate_limited(method, args)
        if limited is not None:
            return limited
        if method in self.form_only and req.json:
            hint = f"[ERROR] {method} reads form or query arguments; Slack ignores a JSON body"
            error = {"error": "invalid_arguments", "response_metadata": {"messages": [hint]}}
            return Reply(200, {"ok": False, **error})
        try:
            reply = Reply(200, {"ok": True, **api(args)})
        except SlackError as e:
            return Reply(200, {"ok": False, "error": e.code, **e.extra})
        self._count(method, "ok")
        return reply

    # -- state

    def _new_channel(
        self, channel_id: str, name: str, creator: str, is_private: bool
    ) -> dict[str, Any]:
        channel: dict[str, Any] = {
            "id": channel_id,
            "name": name,
            "is_private": is_private,
            "created": int(time.time()),
            "creator": creator,
            "topic": "",
            "purpose": "",
            "members": [],
            "messages": [],
            "bookmarks": [],
        }
        self.channels[channel_id] = channel
        return channel

    def _channel(self, channel_id: str | None) -> dict[str, Any]:
        if channel_id is None or channel_id not in self.channels:
            raise SlackError("channel_not_found")
        return self.channels[channel_id]

    def _target(self, channel: str | None) -> dict[str, Any]:
        """Where a message goes: a known channel by id or name, or any conversation id, for
        which a placeholder is made (a channel someone else created, e.g. a community's)."""
        if channel is None:
            raise SlackError("channel_not_found")
        if channel in self.channels:
            return self.channels[channel]
        found = self.channel_by_name(channel.lstrip("#"))
        if found is not None:
            return found
        if _CONVERSATION_ID.fullmatch(channel):
            return self._new_channel(channel, channel.lower(), "UOTHER", channel[0] == "G")
        raise SlackError("channel_not_found")

    def _next_ts(self) -> str:
        # Slack's ts is a unique per-channel id that sorts by time; one counter does that.
        ts = max(Decimal(f"{time.time():.6f}"), self._last_ts + Decimal("0.000001"))
        self._last_ts = ts
        return f"{ts:.6f}"

    def _message(
        self,
        user: str,
        text: str | None,
        blocks: Any,
        thread_ts: str | None,
        ts: str | None = None,
    ) -> dict[str, Any]:
        if ts is None:
            ts = self._next_ts()
        else:
            self._last_ts = max(self._last_ts, Decimal(ts))
        return {
            "type": "message",
            "ts": ts,
            "user": user,
            "text": text or "",
            "blocks": blocks,
            "thread_ts": thread_ts,
        }

    def _find_message(self, channel: dict[str, Any], ts: str | None) -> dict[str, Any]:
        messages: list[dict[str, Any]] = channel["messages"]
        for message in messages:
            if message["ts"] == ts:
                return message
        raise SlackError("message_not_found")

    def _view(self, channel: dict[str, Any]) -> dict[str, Any]:
        """A channel as the API shows it."""
        members = channel["members"]
        return {
            "id": channel["id"],
            "name": channel["name"],
            "is_channel": True,
            "is_group": False,
            "is_im": False,
            "is_private": channel["is_private"],
            "is_archived": False,
            "created": channel["created"],
            "creator": channel["creator"],
            "is_member": channel["creator"] == BOT_USER or BOT_USER in members,
            "topic": {"value": channel["topic"], "creator": "", "last_set": 0},
            "purpose": {"value": channel["purpose"], "creator": "", "last_set": 0},
            "num_members": len(members),
        }

    def _shown(self, channel: dict[str, Any], message: dict[str, Any]) -> dict[str, Any]:
        """A message as history shows it: a thread's parent counts its replies."""
        shown = _public(message)
        replies = [
            m
            for m in channel["messages"]
            if m["thread_ts"] == message["ts"] and m["ts"] != message["ts"]
        ]
        if replies:
            shown.update(
                thread_ts=message["ts"],
                reply_count=len(replies),
                latest_reply=replies[-1]["ts"],
            )
        return shown

    # -- auth, conversations

    def _api_apps_connections_open(self, args: dict[str, Any]) -> dict[str, Any]:
        # Slack refuses a bot or user token here: only the app-level (xapp-) one will do.
        given = _arg(args, "token")
        if not given:
            raise SlackError("not_authed")
        if not given.startswith("xapp-"):
            raise SlackError("not_allowed_token_type")
        if given != self.app_token or self.socket_mode_url is None:
            raise SlackError("invalid_auth")
        return {"url": self.socket_mode_url()}

    def _api_auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": "https://fake.slack.com/",
            "team": "Fake",
            "user": "incident-bot",
            "team_id": TEAM_ID,
            "user_id": BOT_USER,
            "bot_id": BOT_ID,
        }

    def _api_conversations_create(self, args: dict[str, Any]) -> dict[str, Any]:
        name = _arg(args, "name") or ""
        if not name:
            raise SlackError("invalid_name_required")
        if len(name) > 80:
            raise SlackError("invalid_name_maxlength")
        if not _CHANNEL_NAME.fullmatch(name):
            raise SlackError("invalid_name_specials")
        if self.channel_by_name(name) is not None:
            raise SlackError("name_taken")
        channel = self._new_channel(_random_id("C"), name, BOT_USER, _flag(args, "is_private"))
        return {"channel": self._view(channel)}

    def _api_conversations_setTopic(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(_arg(args, "channel"))
        topic = _arg(args, "topic") or ""
        if len(topic) > 250:
            raise SlackError("too_long")
        channel["topic"] = topic
        return {"channel": self._view(channel)}

    def _api_conversations_setPurpose(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(_arg(args, "channel"))
        channel["purpose"] = _arg(args, "purpose") or ""
        return {"channel": self._view(channel)}

    def _api_conversations_invite(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(_arg(args, "channel"))
        users = [u for u in (_arg(args, "users") or "").split(",") if u]
        if not users:
            raise SlackError("no_user")
        errors = []
        for user in users:
            if user == BOT_USER:
                errors.append({"user": user, "ok": False, "error": "cant_invite_self"})
            elif user in channel["members"]:
                errors.append({"user": user, "ok": False, "error": "already_in_channel"})
        # Like Slack: one bad user fails the whole call unless `force` is set.
        if errors and not _flag(args, "force"):
            raise SlackError(str(errors[0]["error"]), errors=errors)
        failed = {e["user"] for e in errors}
        channel["members"].extend(u for u in users if u not in failed)
        return {"channel": self._view(channel)} | ({"errors": errors} if errors else {})

    def _api_conversations_info(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"channel": self._view(self._channel(_arg(args, "channel")))}

    def _api_conversations_list(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "channels": [self._view(c) for c in self.channels.values()],
            "response_metadata": {"next_cursor": ""},
        }

    def _api_conversations_join(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(_arg(args, "channel"))
        if BOT_USER in channel["members"]:
            return {"channel": self._view(channel), "warning": "already_in_channel"}
        channel["members"].append(BOT_USER)
        return {"channel": self._view(channel)}

    def _api_conversations_history(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(_arg(args, "channel"))
        if channel["creator"] != BOT_USER and BOT_USER not in channel["members"]:
            raise SlackError("not_in_channel")  # a bot reads only where it was invited
        oldest = Decimal(_arg(args, "oldest") or 0)
        latest = Decimal(str(args["latest"])) if args.get("latest") else None
        inclusive = _flag(args, "inclusive")
        limit = int(args.get("limit") or 100)

        def in_range(ts: Decimal) -> bool:
            if inclusive:
                return ts >= oldest and (latest is None or ts <= latest)
            return ts > oldest and (latest is None or ts < latest)

        top = [
            m
            for m in channel["messages"]
            if m["thread_ts"] in (None, m["ts"]) and in_range(Decimal(m["ts"]))
        ]
        top.sort(key=lambda m: Decimal(m["ts"]), reverse=True)
        shown = [self._shown(channel, m) for m in top[:limit]]
        if not _flag(args, "include_all_metadata"):
            # Slack returns message metadata only to those who ask for it.
            shown = [{k: v for k, v in m.items() if k != "metadata"} for m in shown]
        return {
            "messages": shown,
            "has_more": len(top) > limit,
            "pin_count": 0,
            "response_metadata": {"next_cursor": ""},
        }

    def _api_conversations_replies(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(_arg(args, "channel"))
        ts = _arg(args, "ts")
        parent = next((m for m in channel["messages"] if m["ts"] == ts), None)
        if parent is None:
            raise SlackError("thread_not_found")
        replies = [m for m in channel["messages"] if m["thread_ts"] == ts and m["ts"] != ts]
        replies.sort(key=lambda m: Decimal(m["ts"]))
        return {
            "messages": [self._shown(channel, parent)] + [_public(m) for m in replies],
            "has_more": False,
            "response_metadata": {"next_cursor": ""},
        }

    # -- chat, reactions

    def _api_chat_postMessage(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._target(_arg(args, "channel"))
        text, blocks = _arg(args, "text"), _json_arg(args, "blocks")
        if not text and not blocks and not args.get("attachments"):
            raise SlackError("no_text")
        message = self._message(BOT_USER, text, blocks, _arg(args, "thread_ts"))
        message["bot_id"] = BOT_ID
        metadata = _json_arg(args, "metadata")
        if metadata is not None:
            if not isinstance(metadata, dict) or not metadata.get("event_type"):
                raise SlackError("invalid_metadata_format")
            message["metadata"] = metadata
        channel["messages"].append(message)
        return {"channel": channel["id"], "ts": message["ts"], "message": _public(message)}

    def _api_chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(_arg(args, "channel"))
        message = self._find_message(channel, _arg(args, "ts"))
        if "text" in args:
            message["text"] = _arg(args, "text") or ""
        if "blocks" in args:
            message["blocks"] = _json_arg(args, "blocks")
        message["edited"] = {"user": BOT_USER, "ts": self._next_ts()}
        return {
            "channel": channel["id"],
            "ts": message["ts"],
            "text": message["text"],
            "message": _public(message),
        }

    def _api_chat_postEphemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._target(_arg(args, "channel"))
        user = _arg(args, "user")
        if not user:
            raise SlackError("user_not_found")
        ephemeral = {
            "channel": channel["id"],
            "user": user,
            "text": _arg(args, "text") or "",
            "blocks": _json_arg(args, "blocks"),
            "thread_ts": _arg(args, "thread_ts"),
            "message_ts": self._next_ts(),
        }
        self.ephemerals.append(ephemeral)
        return {"message_ts": ephemeral["message_ts"]}

    def _api_chat_getPermalink(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(_arg(args, "channel"))
        ts = self._find_message(channel, _arg(args, "message_ts"))["ts"]
        link = f"https://fake.slack.com/archives/{channel['id']}/p{ts.replace('.', '')}"
        return {"channel": channel["id"], "permalink": link}

    def _api_reactions_add(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(_arg(args, "channel"))
        message = self._find_message(channel, _arg(args, "timestamp"))
        name = _arg(args, "name") or ""
        reactions = message.setdefault("reactions", [])
        reaction = next((r for r in reactions if r["name"] == name), None)
        if reaction is None:
            reactions.append({"name": name, "users": [BOT_USER], "count": 1})
        elif BOT_USER in reaction["users"]:
            raise SlackError("already_reacted")
        else:
            reaction["users"].append(BOT_USER)
            reaction["count"] += 1
        return {}

    # -- bookmarks, users, views

    def _api_bookmarks_add(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(_arg(args, "channel_id"))
        bookmark = {
            "id": _random_id("Bk"),
            "channel_id": channel["id"],
            "title": _arg(args, "title"),
            "type": _arg(args, "type"),
            "link": _arg(args, "link"),
            "emoji": _arg(args, "emoji"),
            "date_created": int(time.time()),
        }
        channel["bookmarks"].append(bookmark)
        return {"bookmark": bookmark}

    def _api_bookmarks_list(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"bookmarks": list(self._channel(_arg(args, "channel_id"))["bookmarks"])}

    def _api_users_lookupByEmail(self, args: dict[str, Any]) -> dict[str, Any]:
        email = (_arg(args, "email") or "").lower()
        for user in self.users.values():
            if user["profile"]["email"].lower() == email:
                return {"user": user}
        raise SlackError("users_not_found")

    def _api_users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user = self.users.get(_arg(args, "user") or "")
        if user is None:
            raise SlackError("user_not_found")
        return {"user": user}

    def _record_view(self, api: str, args: dict[str, Any], view_id: str | None) -> dict[str, Any]:
        view = _json_arg(args, "view")
        if not isinstance(view, dict):
            raise SlackError("invalid_arguments")
        if view_id is None:
            self._view_count += 1
            view_id = f"V{self._view_count}"
        self.views.append(
            {
                "method": api,
                "view_id": view_id,
                "trigger_id": _arg(args, "trigger_id"),
                "user_id": _arg(args, "user_id"),
                "view": view,
            }
        )
        return {"view": {"id": view_id, **view}}

    def _api_views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        if not args.get("trigger_id") and not args.get("interactivity_pointer"):
            raise SlackError("invalid_trigger_id")
        return self._record_view("views.open", args, None)

    def _api_views_update(self, args: dict[str, Any]) -> dict[str, Any]:
        return self._record_view("views.update", args, _arg(args, "view_id"))

    def _api_views_publish(self, args: dict[str, Any]) -> dict[str, Any]:
        return self._record_view("views.publish", args, None)

    # -- files: files_upload_v2 asks for an upload URL, POSTs the raw bytes there, then
    # completes the upload naming the channel.

    def _api_files_getUploadURLExternal(self, args: dict[str, Any]) -> dict[str, Any]:
        filename, length = _arg(args, "filename"), _arg(args, "length")
        if not filename or not length:
            raise SlackError("invalid_arguments")
        file_id = _random_id("F")
        self._pending_uploads[file_id] = {"filename": filename, "length": int(length)}
        return {"upload_url": f"{self.url}upload/{file_id}", "file_id": file_id}

    def _receive_upload(self, file_id: str, data: bytes) -> Reply:
        pending = self._pending_uploads.get(file_id)
        if pending is None:
            return Reply(404, "no such upload")
        pending["bytes"] = data
        return Reply(200, f"OK - {len(data)}")

    def _api_files_completeUploadExternal(self, args: dict[str, Any]) -> dict[str, Any]:
        files = _json_arg(args, "files")
        if not isinstance(files, list) or not files:
            raise SlackError("invalid_arguments")
        channel_id = _arg(args, "channel_id")
        channel = None if channel_id is None else self._target(channel_id)
        if channel is not None:
            channel_id = channel["id"]
        done = []
        for item in files:
            pending = self._pending_uploads.get(item.get("id", ""))
            if pending is None or "bytes" not in pending:
                raise SlackError("file_not_found")
            title = item.get("title") or pending["filename"]
            self.uploads.append(
                {
                    "file_id": item["id"],
                    "filename": pending["filename"],
                    "bytes": pending["bytes"],
                    "channel_id": channel_id,
                    "title": title,
                    "initial_comment": _arg(args, "initial_comment"),
                    "thread_ts": _arg(args, "thread_ts"),
                }
            )
            done.append(
                {
                    "id": item["id"],
                    "name": pending["filename"],
                    "title": title,
                    "mimetype": mimetypes.guess_type(pending["filename"])[0] or "",
                    "size": len(pending["bytes"]),
                    "permalink": f"https://fake.slack.com/files/{BOT_USER}/{item['id']}",
                }
            )
        if channel is not None:
            # Shared in a channel, the files are one message of the uploader's, its text the
            # initial comment, as conversations.history shows a file share.
            thread_ts = _arg(args, "thread_ts")
            message = self._message(BOT_USER, _arg(args, "initial_comment"), None, thread_ts)
            message["files"] = [
                {k: f[k] for k in ("id", "name", "title", "mimetype")} | {"user": BOT_USER}
                for f in done
            ]
            message["upload"] = True
            message["display_as_bot"] = False
            channel["messages"].append(message)
        return {"files": done}
