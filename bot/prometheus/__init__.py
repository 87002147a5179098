"""Prometheus: the alert's current value and a graph of its last hour, for the channel."""
