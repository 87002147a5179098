"""The incident timeline: events and who may see them."""
