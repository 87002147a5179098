"""A community's partner-visible updates as an Atom 1.0 feed (RFC 4287)."""

import re
import xml.etree.ElementTree as ET
from datetime import datetime

from bot import __version__
from bot.hubs.schema import Community
from bot.status import links
from bot.status.pages import KIND_WORDS, STATUS_WORDS, iso
from bot.status.schemas import PartnerEventRead, StatusIncidentRead

ATOM = "http://www.w3.org/2005/Atom"
MEDIA_TYPE = "application/atom+xml"

# XML 1.0 cannot carry these characters, escaped or not: they are dropped.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _add(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attrs)
    if text is not None:
        element.text = _NOT_XML.sub("", text)
    return element


def entry_id(public_url: str, community: str, number: int, event_id: int) -> str:
    """An entry's id, stable and token-free: the event's anchor on its incident's page."""
    path = links.incident_path(community, number) + "#" + links.event_fragment(event_id)
    return links.absolute(public_url, path)


def atom_feed(
    community: Community,
    events: list[tuple[PartnerEventRead, StatusIncidentRead]],
    *,
    public_url: str,
    token: str | None,
    now: datetime,
) -> bytes:
    """The feed document, newest entry first; links carry `token` (one that came as
    `?token=`, so that a feed reader's clicks open the pages), ids never do."""
    # Written as a plain `xmlns`: ElementTree's own namespace handling would prefix every
    # element, or refuse the unprefixed attributes that Atom's elements have.
    feed = ET.Element("feed", xmlns=ATOM)
    feed_url = links.absolute(public_url, links.feed_path(community.id))
    page_url = links.absolute(public_url, links.page_path(community.id))
    _add(feed, "id", feed_url)
    _add(feed, "title", f"{community.name}: incident updates")
    _add(feed, "subtitle", "Partner updates on incidents affecting your hubs")
    # The newest entry's time is when the feed last changed; with none, now.
    _add(feed, "updated", iso(events[0][0].at if events else now))
    _add(feed, "link", rel="self", type=MEDIA_TYPE, href=links.with_token(feed_url, token))
    _add(feed, "link", rel="alternate", type="text/html", href=links.with_token(page_url, token))
    author = _add(feed, "author")
    _add(author, "name", "incident-bot")
    _add(feed, "generator", "incident-bot", version=__version__)
    for event, incident in events:
        entry = _add(feed, "entry")
        _add(entry, "id", entry_id(public_url, community.id, incident.number, event.id))
        word = KIND_WORDS.get(event.kind, event.kind)
        _add(entry, "title", f"{word}: #{incident.number} {incident.title}")
        _add(entry, "updated", iso(event.at))
        _add(entry, "published", iso(event.at))
        page = links.absolute(public_url, links.incident_path(community.id, incident.number))
        href = links.with_token(f"{page}#{links.event_fragment(event.id)}", token)
        _add(entry, "link", rel="alternate", type="text/html", href=href)
        where = incident.place + (f" ({incident.domain})" if incident.domain else "")
        status = STATUS_WORDS.get(incident.status, incident.status)
        _add(
            entry,
            "content",
            f"{event.text}\n\n{incident.severity_name} · now {status} · {where}",
            type="text",
        )
    ET.indent(feed)
    body: bytes = ET.tostring(feed, encoding="utf-8", xml_declaration=True)
    return body
