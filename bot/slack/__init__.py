"""Slack: the bolt app behind /slack/events, the Web API adapter, Block Kit and job handlers."""
