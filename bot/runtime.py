"""What the Slack listeners and job handlers share: settings, registry, database, clients."""

from dataclasses import dataclass

from sqlalchemy.engine import Engine

from bot.config import Settings
from bot.hubs import Registry
from bot.runbooks import Runbooks
from bot.slack.client import SlackClient
from bot.worker import Worker


@dataclass
class Runtime:
    settings: Settings
    registry: Registry
    runbooks: Runbooks
    engine: Engine
    worker: Worker
    slack: SlackClient | None
