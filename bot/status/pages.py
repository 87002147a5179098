"""The status pages as HTML: server-rendered, no JavaScript, nothing loaded from elsewhere."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from jinja2 import Environment, PackageLoader, StrictUndefined

from bot.incidents.timing import duration_text
from bot.status import links
from bot.status.access import Viewer
from bot.status.reads import WINDOW_DAYS
from bot.status.schemas import StatusIncidentDetail, StatusPageRead

_env = Environment(
    loader=PackageLoader("bot.status", "templates"),
    undefined=StrictUndefined,
    autoescape=True,
    trim_blocks=True,
    lstrip_blocks=True,
)

STATUS_WORDS = {
    "investigating": "Investigating",
    "identified": "Identified",
    "monitoring": "Monitoring",
    "resolved": "Resolved",
}
KIND_WORDS = {
    "declared": "Incident opened",
    "status_changed": "Status changed",
    "severity_changed": "Severity changed",
    "update": "Update",
    "resolved": "Resolved",
}

# The pages forbid themselves scripts, frames, forms and anything fetched: their one style
# sheet is inline.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)


@dataclass(frozen=True, slots=True)
class PageLinks:
    """Links between one community's pages, as root-relative paths."""

    root: str
    community: str
    token: str | None

    def page(self) -> str:
        """The community's status page."""
        return links.with_token(self.root + links.page_path(self.community), self.token)

    def incident(self, number: int) -> str:
        """An incident's page."""
        path = links.incident_path(self.community, number)
        return links.with_token(self.root + path, self.token)

    def feed(self) -> str:
        """The Atom feed."""
        return links.with_token(self.root + links.feed_path(self.community), self.token)


def utc_text(at: datetime) -> str:
    """`2026-11-25 10:00 UTC`."""
    return f"{at.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def iso(at: datetime) -> str:
    """`2026-11-25T10:00:00Z`: RFC 3339 in UTC, for `<time datetime>` and Atom's dates."""
    return f"{at.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}"


def human(at: datetime, now: datetime) -> str:
    """`Tue 25 Nov 2026, 3h 4m ago` (or `just now`)."""
    at = at.astimezone(UTC)
    day = f"{at:%a} {at.day} {at:%b %Y}"
    if at > now:
        return day
    if now - at < timedelta(minutes=1):
        return f"{day}, just now"
    return f"{day}, {duration_text(now - at)} ago"


def _render(template: str, viewer: Viewer, root: str, now: datetime, **context: object) -> str:
    env = _env.overlay()
    env.filters.update(utc=utc_text, iso=iso, human=lambda at: human(at, now))
    return env.get_template(template).render(
        community=viewer.community,
        private=viewer.community.visibility == "private",
        links=PageLinks(root, viewer.community.id, viewer.link_token),
        status_words=STATUS_WORDS,
        kind_words=KIND_WORDS,
        window_days=WINDOW_DAYS,
        now=now,
        **context,
    )


def status_page_html(page: StatusPageRead, viewer: Viewer, *, root: str, now: datetime) -> str:
    """The community's page: open incidents, then the window's resolved ones."""
    return _render(
        "status.html.j2",
        viewer,
        root,
        now,
        open_incidents=[i for i in page.incidents if i.open],
        past_incidents=[i for i in page.incidents if not i.open],
    )


def incident_page_html(
    detail: StatusIncidentDetail, viewer: Viewer, *, root: str, now: datetime
) -> str:
    """One incident and its partner timeline."""
    return _render("incident.html.j2", viewer, root, now, incident=detail)
