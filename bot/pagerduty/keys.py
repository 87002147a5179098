"""The `incident_key` of PagerDuty incidents that incident-bot opens itself."""

import re

OWN_KEY = re.compile(r"^incident-bot/(\d{1,18})$")


def own_key(number: int) -> str:
    """The `incident_key` of a PagerDuty incident incident-bot opens for incident `number`."""
    return f"incident-bot/{number}"
