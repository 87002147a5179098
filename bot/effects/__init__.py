"""Performers of side effects: each takes a job's payload, calls adapters, records the result.

Adapters (`bot.slack.client`, `bot.pagerduty.client`, `bot.prometheus`) are used here and
never use this package; nothing here holds a database transaction while calling one.
"""
