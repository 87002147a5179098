"""Alertmanager intake: payload schemas, dedup and grouping into incidents."""
