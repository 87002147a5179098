"""The shipped Slack app manifests ask for what the bot uses: at the bot's endpoint, or over
Socket Mode."""

import json
from typing import Any

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


def _without_urls(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _without_urls(v) for k, v in node.items() if k not in ("url", "request_url")}
    if isinstance(node, list):
        return [_without_urls(v) for v in node]
    return node


def test_the_socket_mode_manifest_is_the_same_app_without_urls():
    http = yaml.safe_load((ROOT / "slack-manifest.yaml").read_text())
    socket = yaml.safe_load((ROOT / "slack-manifest.socket-mode.yaml").read_text())
    assert http["settings"]["socket_mode_enabled"] is False
    assert socket["settings"]["socket_mode_enabled"] is True
    # Nothing for Slack to call: everything arrives over the WebSocket the bot opens.
    assert "url" not in json.dumps(socket)
    assert socket["settings"]["interactivity"]["is_enabled"] is True
    http["settings"]["socket_mode_enabled"] = True
    # The same commands, scopes and events, so the HTTP test above covers both files.
    assert socket == _without_urls(http)
