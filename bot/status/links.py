"""Where a community's status pages are, and links to them that carry a viewer's token."""

from urllib.parse import quote, urlencode

PREFIX = "/status"


def page_path(community: str) -> str:
    """`/status/<community>`."""
    return f"{PREFIX}/{quote(community, safe='')}"


def incident_path(community: str, number: int) -> str:
    """`/status/<community>/incidents/<number>`."""
    return f"{page_path(community)}/incidents/{number}"


def feed_path(community: str) -> str:
    """`/status/<community>/feed.xml`."""
    return f"{page_path(community)}/feed.xml"


def event_fragment(event_id: int) -> str:
    """The anchor of a timeline entry on its incident's page."""
    return f"event-{event_id}"


def absolute(public_url: str, path: str) -> str:
    """`path` under PUBLIC_URL (which may itself carry a path)."""
    return public_url.rstrip("/") + path


def with_token(url: str, token: str | None) -> str:
    """`url` with `?token=` when the viewer came with one in the query string, else as is."""
    if not token:
        return url
    base, sep, fragment = url.partition("#")
    joiner = "&" if "?" in base else "?"
    return f"{base}{joiner}{urlencode({'token': token})}{sep}{fragment}"
