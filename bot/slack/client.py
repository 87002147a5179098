"""`SlackClient`: the Slack Web API in the words of incidents, over slack_sdk."""

import logging
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

from bot.worker import GiveUp, RetryLater

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
        "is_archived",
        "restricted_action",
    }
)


class SlackClient:
    """The calls incident-bot makes to Slack; failures become worker retry decisions."""

    def __init__(self, token: str, base_url: str, *, timeout: float = 10) -> None:
        self.web = WebClient(
            token=token,
            base_url=base_url if base_url.endswith("/") else base_url + "/",
            timeout=int(timeout),
            # Short waits are waited out here; long ones go back to the job queue.
            retry_handlers=[
                ConnectionErrorRetryHandler(max_retry_count=1),
                RateLimitErrorRetryHandler(max_retry_count=2),
                ServerErrorRetryHandler(max_retry_count=1),
            ],
        )
        self._bot_user: str | None = None

    def call(self, method: str, **kwargs: Any) -> dict[str, Any]:
        """Call a Web API method; raise `RetryLater` or `GiveUp` as the answer warrants."""
        # slack_sdk's own method knows how each endpoint wants its arguments (JSON, form, GET).
        send = getattr(self.web, method.replace(".", "_"))
        try:
            response = send(**kwargs)
        except SlackApiError as exc:
            raise _decide(method, exc) from exc
        data: dict[str, Any] = response.data
        return data

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
    ) -> str:
        """Post a message; returns its ts."""
        args: dict[str, Any] = {"channel": channel, "text": text}
        if blocks:
            args["blocks"] = blocks
        if thread_ts:
            args["thread_ts"] = thread_ts
        return str(self.call("chat.postMessage", **args)["ts"])

    def update(self, channel: str, ts: str, text: str, blocks: list[dict[str, Any]]) -> None:
        """Edit a message in place."""
        self.call("chat.update", channel=channel, ts=ts, text=text, blocks=blocks)

    def bookmark(self, channel: str, title: str, link: str) -> None:
        """Add a link bookmark to a channel."""
        self.call("bookmarks.add", channel_id=channel, title=title, type="link", link=link)

    def user_by_email(self, email: str) -> str | None:
        """The Slack user with this email, if any."""
        try:
            return str(self.call("users.lookupByEmail", email=email)["user"]["id"])
        except SlackError as exc:
            if exc.error == "users_not_found":
                return None
            raise

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
        try:
            self.web.files_upload_v2(
                channel=channel,
                filename=filename,
                title=title,
                content=content,
                initial_comment=comment,
            )
        except SlackApiError as exc:
            raise _decide("files.upload", exc) from exc

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


def _decide(method: str, exc: SlackApiError) -> Exception:
    response = exc.response
    if response.status_code == 429:
        retry_after = float(
            response.headers.get("Retry-After", response.headers.get("retry-after", 30))
        )
        return RetryLater(retry_after, f"Slack {method} rate limited")
    if response.status_code >= 500:
        return SlackError(method, f"http_{response.status_code}")  # backoff and retry
    error = str(response.get("error", "unknown_error")) if response.data else "no_body"
    if error in PERMANENT:
        return SlackPermanentError(method, error)
    return SlackError(method, error)
