"""What the Slack listeners and job handlers share: settings, registry, database, clients."""

from dataclasses import dataclass

from sqlalchemy.engine import Engine

from bot.config import Settings
from bot.db import readonly
from bot.hubs import Registry
from bot.jobs.worker import Worker
from bot.runbooks import Runbooks
from bot.slack.client import SlackClient


@dataclass
class Runtime:
    settings: Settings
    registry: Registry
    runbooks: Runbooks
    engine: Engine
    worker: Worker
    slack: SlackClient | None

    @property
    def reader(self) -> Engine:
        """The engine for transactions that only read (no write lock on SQLite)."""
        return readonly(self.engine)
