"""One service for the status page tests, on a registry of a public and three private
communities, with incidents made through the real flows.

The pages only read, so every test of this folder shares one seeded service (started once)."""

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from bot.config import Settings
from bot.db import utcnow
from bot.incidents import flows
from bot.incidents.models import Incident
from bot.timeline.models import TimelineEvent
from tests.conftest import AM_TOKEN, API_TOKEN, ROOT, Service, postgres_url, running

ALPHA_TOKEN = "alpha-token-1234"
BETA_TOKEN = "beta-token-5678"
PUBLIC_URL = "https://status.example.org/bot"

INTERNAL_NOTE = "INTERNAL: restarted the db, password is hunter2"
PARTNER_UPDATE = "We are looking into slow logins on your hub."
HOSTILE_UPDATE = "Watch <script>alert(1)</script> & \x0bthis"
BETA_TITLE = "Beta cluster secret outage"
SCHEMA = "status_pages"
OLD_TITLE = "An outage from long ago"


def sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


REGISTRY = f"""
communities:
  - id: pub
    name: Public Hubs
    visibility: public
  - id: alpha
    name: Alpha & Co <Research>
    visibility: private
    token_sha256: {sha256(ALPHA_TOKEN).upper()}
  - id: beta
    name: Beta Lab
    visibility: private
    token_sha256: {sha256(BETA_TOKEN)}
  - id: closed
    name: Closed Community
    visibility: private
clusters:
  - name: shared
    provider: gcp
    hubs:
      - {{name: pubhub, community: pub, domain: pub.example.org}}
      - {{name: alpha, community: alpha, domain: alpha.example.org}}
      - {{name: closed, community: closed}}
  - name: beta
    provider: aws
    hubs:
      - {{name: prod, community: beta, domain: beta.example.org}}
defaults:
  severity_names: {{sev1: P1-Outage, sev2: P2-Degraded, sev3: P3, sev4: P4}}
"""


@dataclass
class Seeded:
    """The service and the incidents made in it."""

    service: Service
    alpha_open: int
    alpha_resolved: int
    alpha_old: int
    beta_open: int
    closed_open: int


def _database_url(tmp: Path) -> str:
    # As tests/conftest.py's `database_url`, for a fixture that lives longer than one test:
    # on PostgreSQL in a schema of its own, which the tests of this folder that start a
    # service of their own (wiping `public`) leave alone.
    url = postgres_url()
    if not url:
        return f"sqlite:///{tmp / 'status.db'}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        conn.execute(sa.text(f"CREATE SCHEMA {SCHEMA}"))
    engine.dispose()
    return f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{SCHEMA}"


@pytest.fixture(scope="package")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    """The service with incidents of alpha (open, resolved, resolved 100 days ago), beta
    and closed, each with internal and partner timeline entries."""
    tmp = tmp_path_factory.mktemp("status")
    hubs = tmp / "hubs.yaml"
    hubs.write_text(REGISTRY, encoding="utf-8")
    settings = Settings(
        _env_file=None,
        database_url=_database_url(tmp),
        hubs_file=hubs,
        runbooks_dir=ROOT / "runbooks",
        alertmanager_token=AM_TOKEN,
        api_token=API_TOKEN,
        public_url=PUBLIC_URL,
    )
    with running(settings) as svc:
        registry = svc.app.state.registry
        with Session(svc.engine) as s:

            def declare(cluster: str, hub: str, title: str, severity: str = "sev1") -> Incident:
                incident, _ = flows.declare_incident(
                    s,
                    registry,
                    cluster=cluster,
                    hub=hub,
                    severity=severity,  # type: ignore[arg-type]
                    title=title,
                    actor="UALICE",
                )
                return incident

            old = declare("shared", "alpha", OLD_TITLE, "sev2")
            flows.post_update(s, registry, old, text="An old partner update", actor="UALICE")
            flows.resolve_incident(s, old, summary="long fixed", actor="UALICE")
            # 100 days ago: outside the pages' 90-day window.
            back = timedelta(days=100)
            old.started_at -= back
            old.resolved_at = (old.resolved_at or utcnow()) - back
            s.add(old)
            for event in s.exec(
                select(TimelineEvent).where(TimelineEvent.incident_number == old.number)
            ):
                event.at -= back
                s.add(event)
            s.commit()

            done = declare("shared", "alpha", "Alpha storage full", "sev2")
            flows.add_note(s, done, text=INTERNAL_NOTE, actor="UALICE")
            flows.post_update(s, registry, done, text="Disk expanded", actor="UALICE")
            flows.resolve_incident(s, done, summary="more disk", actor="UALICE")

            live = declare("shared", "alpha", "Alpha hub down")
            flows.add_note(s, live, text=INTERNAL_NOTE, actor="UALICE")
            flows.assign_role(
                s, registry, live, role="commander", user="UBOB", actor="UALICE", tell_slack=False
            )
            flows.post_update(s, registry, live, text=PARTNER_UPDATE, actor="UALICE")
            flows.change_status(s, live, status="identified", text="a bad node", actor="UBOB")
            flows.post_update(s, registry, live, text=HOSTILE_UPDATE, actor="UBOB")

            beta = declare("beta", "prod", BETA_TITLE)
            flows.post_update(s, registry, beta, text="Beta partner update", actor="UALICE")
            closed = declare("shared", "closed", "Closed hub down")

            numbers = [i.number for i in (live, done, old, beta, closed)]
        assert all(n is not None for n in numbers)
        yield Seeded(svc, *(n for n in numbers if n is not None))
