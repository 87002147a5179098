"""`SlackClient`: the Slack Web API in the words of incidents, over slack_sdk."""

import logging
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.jobs.attempt import GiveUp, RetryLater, Unreachable, current_job, heard_from, retry_after
from bot.slack.pacing import SlackPacer

log = logging.getLogger(__name__)

# Errors that retrying cannot mend: a person has to fix the app's setup.
PERMANENT = frozenset(
    {
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "missing_scope",
        "not_allowed_token_type",
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "restricted_action",
    }
)


# slack_sdk logs every failed request at ERROR; what fails is logged by the worker instead, once
# per change of an integration's state, not once per call.
logging.getLogger("slack_sdk.web.base_client").setLevel(logging.CRITICAL)

# How long a user found by email is remembered: a storm looks up the same few people.
USER_CACHE_SECONDS = 600.0


class SlackClient:
    """The calls incident-bot makes to Slack; failures become worker retry decisions."""

    def __init__(
        self,
        token: str,
        base_url: str,
        *,
        timeout: float = 10,
        pacer: SlackPacer | None = None,
    ) -> None:
        self.web = WebClient(
            token=token,
            base_url=base_url if base_url.endswith("/") else base_url + "/",
            timeout=int(timeout),
            # No retries (nor their sleeps) in here: a failed call goes back to the job queue,
            # which waits without holding a thread.
            retry_handlers=[],
        )
        self.pacer = pacer or SlackPacer()
        self._bot_user: str | None = None
        self._users: dict[str, tuple[float, str | None]] = {}
        self._users_lock = threading.Lock()

    def call(self, method: str, **kwargs: Any) -> dict[str, Any]:
        """Call a Web API method, paced; raise `RetryLater`, `Unreachable` or `GiveUp` as the
        answer warrants."""
        channel = kwargs.get("channel") or kwargs.get("channel_id")
        started = self._pace(method, channel)
        # slack_sdk's own method knows how each endpoint wants its arguments (JSON, form, GET).
        send = getattr(self.web, method.replace(".", "_"))
        try:
            with _decided(self.pacer, method, channel):
                response = send(**kwargs)
        finally:
            self.pacer.answered(method, started, channel=channel)
        data: dict[str, Any] = response.data
        return data

    def _pace(self, method: str, channel: str | None) -> float:
        wait, started = self.pacer.reserve(method, channel=channel, ticket=current_job.get())
        if wait > 0:
            raise RetryLater(wait, f"Slack {method} paced")
        return started

    def bot_user(self) -> str:
        """The bot's own user id."""
        if self._bot_user is None:
            self._bot_user = str(self.call("auth.test")["user_id"])
        return self._bot_user

    def open_channel(self, name: str) -> dict[str, Any] | None:
        """Create a public channel; None if the name is taken."""
        try:
            channel: dict[str, Any] = self.call("conversations.create", name=name)["channel"]
        except SlackError as exc:
            if exc.error == "name_taken":
                return None
            raise
        return channel

    def find_own_channel(self, name: str, *, created_after: float) -> dict[str, Any] | None:
        """A channel of this name that this bot created after `created_after` (unix time)."""
        cursor = ""
        me = self.bot_user()
        for _ in range(20):  # at most 20 pages of 1000 channels
            page = self.call(
                "conversations.list",
                limit=1000,
                cursor=cursor,
                exclude_archived=True,
                types="public_channel",
            )
            for channel in page.get("channels", []):
                if (
                    channel.get("name") == name
                    and channel.get("creator") == me
                    and channel.get("created", 0) >= int(created_after)
                ):
                    found: dict[str, Any] = channel
                    return found
            cursor = page.get("response_metadata", {}).get("next_cursor", "")
            if not cursor:
                break
        return None

    def set_topic(self, channel: str, topic: str) -> None:
        """Set a channel's topic (Slack caps it at 250 characters)."""
        self.call("conversations.setTopic", channel=channel, topic=topic[:250])

    def invite(self, channel: str, users: list[str]) -> None:
        """Invite people; those already in the channel are no error."""
        users = [u for u in users if u]
        if not users:
            return
        try:
            self.call("conversations.invite", channel=channel, users=",".join(users))
        except SlackError as exc:
            if exc.error not in ("already_in_channel", "cant_invite_self"):
                raise

    def post(
        self,
        channel: str,
        text: str,
        blocks: list[dict[str, Any]] | None = None,
        thread_ts: str | None = None,
        *,
        mark: tuple[str, str] | None = None,
    ) -> str:
        """Post a message; returns its ts. `mark` (event type, key) goes with it as message
        metadata, for `find_marked` to find it again."""
        args: dict[str, Any] = {"channel": channel, "text": text}
        if blocks:
            args["blocks"] = blocks
        if thread_ts:
            args["thread_ts"] = thread_ts
        if mark:
            args["metadata"] = {"event_type": mark[0], "event_payload": {"key": mark[1]}}
        return str(self.call("chat.postMessage", **args)["ts"])

    def find_marked(self, channel: str, mark: tuple[str, str], *, oldest: float) -> str | None:
        """The ts of a message this bot posted with `mark` since `oldest` (unix time): the
        post of an attempt whose answer was lost."""
        for m in self._own_messages(channel, oldest, include_all_metadata=True):
            meta = m.get("metadata") or {}
            if (
                meta.get("event_type") == mark[0]
                and (meta.get("event_payload") or {}).get("key") == mark[1]
            ):
                return str(m["ts"])
        return None

    def _own_messages(
        self, channel: str, oldest: float, **options: Any
    ) -> Iterator[dict[str, Any]]:
        """This bot's messages in `channel` since `oldest` (unix time), newest first, at most
        10 pages of 200."""
        me = self.bot_user()
        cursor = ""
        for _ in range(10):
            page = self.call(
                "conversations.history",
                channel=channel,
                oldest=f"{oldest:.6f}",
                limit=200,
                cursor=cursor,
                **options,
            )
            for m in page.get("messages", []):
                if m.get("user") == me:
                    yield m
            cursor = page.get("response_metadata", {}).get("next_cursor", "")
            if not cursor:
                return

    def update(self, channel: str, ts: str, text: str, blocks: list[dict[str, Any]]) -> None:
        """Edit a message in place."""
        self.call("chat.update", channel=channel, ts=ts, text=text, blocks=blocks)

    def bookmark(self, channel: str, title: str, link: str) -> None:
        """Add a link bookmark to a channel."""
        self.call("bookmarks.add", channel_id=channel, title=title, type="link", link=link)

    def has_bookmark(self, channel: str, link: str) -> bool:
        """Whether the channel has a bookmark to `link` already."""
        found = self.call("bookmarks.list", channel_id=channel).get("bookmarks", [])
        return any(b.get("link") == link for b in found)

    def user_by_email(self, email: str) -> str | None:
        """The Slack user with this email, if any (remembered for a while)."""
        now = time.monotonic()
        with self._users_lock:
            cached = self._users.get(email.lower())
        if cached and now - cached[0] < USER_CACHE_SECONDS:
            return cached[1]
        try:
            user: str | None = str(self.call("users.lookupByEmail", email=email)["user"]["id"])
        except SlackError as exc:
            if exc.error != "users_not_found":
                raise
            user = None
        with self._users_lock:
            if len(self._users) > 10_000:
                self._users.clear()
            self._users[email.lower()] = (now, user)
        return user

    def user_email(self, user: str) -> str | None:
        """A Slack user's email, if the app may see it."""
        profile = self.call("users.info", user=user).get("user", {}).get("profile", {})
        email = profile.get("email")
        return str(email) if email else None

    def message(self, channel: str, ts: str) -> dict[str, Any] | None:
        """One message by its ts, top-level or a threaded reply."""
        history = self.call(
            "conversations.history", channel=channel, latest=ts, oldest=ts, inclusive=True, limit=1
        )
        for m in history.get("messages", []):
            if m.get("ts") == ts:
                found: dict[str, Any] = m
                return found
        replies = self.call("conversations.replies", channel=channel, ts=ts)
        for m in replies.get("messages", []):
            if m.get("ts") == ts:
                found = m
                return found
        return None

    def upload_file(
        self, channel: str, *, filename: str, title: str, content: str | bytes, comment: str
    ) -> None:
        """Share a file (a postmortem draft, a graph) in a channel."""
        started = self._pace("files.getUploadURLExternal", None)
        try:
            with _decided(self.pacer, "files.getUploadURLExternal", None):
                self.web.files_upload_v2(
                    channel=channel,
                    filename=filename,
                    title=title,
                    content=content,
                    initial_comment=comment,
                )
        finally:
            self.pacer.answered("files.getUploadURLExternal", started)

    def find_own_file(self, channel: str, filename: str, *, oldest: float) -> str | None:
        """The id of a file called `filename` that this bot shared in `channel` since `oldest`
        (unix time): the upload of an attempt whose answer was lost. A shared file is a
        message of the uploader's with the file in its `files`."""
        for m in self._own_messages(channel, oldest):
            for f in m.get("files") or []:
                if f.get("name") == filename:
                    return str(f["id"])
        return None

    def display_names(self, users: Iterable[str]) -> dict[str, str]:
        """Slack users' display names, for those Slack tells."""
        return {u: name for u in sorted(set(users)) if (name := self.user_name(u))}

    def user_name(self, user: str) -> str | None:
        """A Slack user's display name."""
        try:
            info = self.call("users.info", user=user).get("user", {})
        except SlackError:
            return None
        profile = info.get("profile", {})
        name = profile.get("real_name") or profile.get("display_name") or info.get("name")
        return str(name) if name else None

    def open_view(self, trigger_id: str, view: dict[str, Any]) -> None:
        """Open a modal (the trigger id is valid for 3 seconds)."""
        self.call("views.open", trigger_id=trigger_id, view=view)


class SlackError(Exception):
    """Slack answered `ok: false`."""

    def __init__(self, method: str, error: str) -> None:
        super().__init__(f"Slack {method}: {error}")
        self.error = error


class SlackPermanentError(SlackError, GiveUp):
    """A Slack error that retrying cannot mend."""


class _decided:
    """Turn what slack_sdk raises into the worker's decisions (and tell the pacer of a 429)."""

    def __init__(self, pacer: SlackPacer, method: str, channel: str | None) -> None:
        self.pacer, self.method, self.channel = pacer, method, channel

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, exc: BaseException | None, tb: object) -> None:
        if exc is None or (isinstance(exc, SlackApiError) and exc.response.status_code < 500):
            heard_from("slack")  # an answer, even "no": Slack is up
        if isinstance(exc, SlackApiError):
            decided = _decide(self.method, exc)
            if isinstance(decided, RetryLater):
                self.pacer.hold(self.method, decided.seconds, channel=self.channel)
            raise decided from exc
        if isinstance(exc, OSError):  # refused, reset, timed out, DNS: urllib's errors
            raise Unreachable("slack", f"{self.method}: {exc}") from exc


def _decide(method: str, exc: SlackApiError) -> Exception:
    response = exc.response
    if response.status_code == 429:
        headers = {k.lower(): v for k, v in (response.headers or {}).items()}
        return RetryLater(retry_after(headers.get("retry-after")), f"Slack {method} rate limited")
    if response.status_code >= 500:
        return Unreachable("slack", f"{method}: HTTP {response.status_code}")
    error = str(response.get("error", "unknown_error")) if response.data else "no_body"
    if error in PERMANENT:
        return SlackPermanentError(method, error)
    return SlackError(method, error)
