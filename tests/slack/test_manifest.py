"""The shipped Slack app manifest asks for what the bot uses, at the bot's endpoint."""

import yaml

from bot.slack.commands import COMMANDS
from tests.conftest import ROOT


def test_the_manifest_matches_the_bot():
    manifest = yaml.safe_load((ROOT / "slack-manifest.yaml").read_text())
    [cmd] = manifest["features"]["slash_commands"]
    assert cmd["command"] == "/incident" and cmd["should_escape"] is True
    settings = manifest["settings"]
    urls = {
        cmd["url"],
        settings["event_subscriptions"]["request_url"],
        settings["interactivity"]["request_url"],
    }
    assert {u.rsplit("/", 2)[-2:] == ["slack", "events"] for u in urls} == {True}
    assert set(settings["event_subscriptions"]["bot_events"]) == {"reaction_added", "pin_added"}
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    assert {
        "commands",
        "channels:manage",
        "chat:write",
        "users:read.email",
        "bookmarks:write",
        "files:write",
        "channels:history",
        "reactions:read",
        "pins:read",
    } <= scopes
    assert set(COMMANDS) >= {
        "declare",
        "list",
        "commander",
        "role",
        "status",
        "severity",
        "note",
        "update",
        "page",
        "resolve",
        "timeline",
        "postmortem",
    }
