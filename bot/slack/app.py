"""The slack-bolt app behind `/slack/events`: thin listeners that parse, call a flow, answer."""

import logging
import re
from typing import Any

from slack_bolt import Ack, App, BoltResponse
from slack_bolt.authorization import AuthorizeResult
from slack_sdk import WebClient

from bot.runtime import Runtime
from bot.slack import blocks, commands, events, interactions
from bot.slack.modals import DECLARE_CALLBACK

log = logging.getLogger(__name__)


def build_bolt_app(rt: Runtime, web: WebClient) -> App:
    """The bolt app, given requests already verified and parsed by bot.slack.inbound."""
    bolt_log = logging.getLogger("bot.slack.bolt")
    if _token_unused not in bolt_log.filters:
        bolt_log.addFilter(_token_unused)
    token = web.token

    def authorize(
        enterprise_id: str | None, team_id: str | None, user_id: str | None
    ) -> AuthorizeResult:
        return AuthorizeResult(
            enterprise_id=enterprise_id, team_id=team_id, user_id=user_id, bot_token=token
        )

    app = App(
        signing_secret=rt.settings.slack_signing_secret.get_secret_value(),
        # Bolt given a token calls auth.test on the first request it sees and refuses the
        # request if Slack's API is away; with no token and `authorize` it asks nothing of
        # Slack, so commands work (and are stored) while the Web API is down. (Bolt then
        # does not know the bot's user id and passes on the bot's own events too: harmless,
        # as the bot never reacts or pins.)
        client=WebClient(
            base_url=web.base_url, timeout=web.timeout, logger=web.logger, retry_handlers=[]
        ),
        authorize=authorize,
        # The view checks Slack's signature before bolt sees the request (bolt would log
        # every unsigned body), and hands bolt the parsed body, which it cannot re-check.
        request_verification_enabled=False,
        # Listeners only touch the database; answer with what they did, in one response.
        process_before_response=True,
        logger=logging.getLogger("bot.slack.bolt"),
    )

    @app.command(re.compile(r"^/incident"))
    def incident_command(ack: Ack, body: dict[str, Any]) -> None:
        reply = commands.handle(rt, body)
        if reply:
            ack(text=reply, response_type="ephemeral")
        else:
            ack()

    @app.action(re.compile(r"^incident_"))
    def summary_button(ack: Ack, body: dict[str, Any]) -> None:
        problem = interactions.button(rt, body)
        ack()
        if problem:
            _tell(web, body, problem)

    @app.action(blocks.QUIET_DECLARE)
    def quiet_declare(ack: Ack, body: dict[str, Any]) -> None:
        problem = interactions.declare_quiet(rt, body)
        ack()
        if problem:
            _tell(web, body, problem)

    @app.view(DECLARE_CALLBACK)
    def declare_form(ack: Ack, body: dict[str, Any]) -> None:
        errors = interactions.declare_submission(rt, body)
        if errors:
            ack(response_action="errors", errors=errors)
        else:
            ack()

    @app.event("reaction_added")
    def reaction(event: dict[str, Any]) -> None:
        events.reaction_added(rt, event)

    @app.event("pin_added")
    def pinned(event: dict[str, Any]) -> None:
        events.pin_added(rt, event)

    # Every other event is acknowledged, so Slack does not retry it or disable the app.
    @app.event(re.compile(".*"))
    def other_event() -> None:
        return None

    @app.error
    def on_error(error: Exception, body: dict[str, Any]) -> BoltResponse:
        log.exception("Slack request failed", exc_info=error)
        return BoltResponse(
            status=200,
            body={
                "response_type": "ephemeral",
                "text": ":warning: incident-bot hit an error doing that; it has been logged.",
            },
        )

    return app


def _token_unused(record: logging.LogRecord) -> bool:
    # slack-bolt warns that SLACK_BOT_TOKEN in the environment goes unused beside `client`:
    # true and harmless, and said at every start.
    return "will be unused" not in record.getMessage()


def _tell(web: WebClient, body: dict[str, Any], text: str) -> None:
    channel = body.get("channel", {}).get("id") or body.get("container", {}).get("channel_id")
    user = body.get("user", {}).get("id")
    if channel and user:
        try:
            web.chat_postEphemeral(channel=channel, user=user, text=f":warning: {text}")
        except Exception:
            log.warning("could not tell %s: %s", user, text)
