"""Incidents: models, reads and writes, and the flows that change them."""
