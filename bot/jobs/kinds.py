"""A job kind: its name, typed payload, integration, priority, ordering and dedup keys.

The one list of kinds is `bot.incidents.effects`; the code that enqueues and the code that
performs both use those objects, so a payload's shape is written down exactly once."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict

P = TypeVar("P", bound="Payload")


class Payload(BaseModel):
    """Base of job payloads: plain JSON, frozen, unknown keys refused."""

    model_config = ConfigDict(frozen=True, extra="forbid")


def _none(_payload: object) -> None:
    return None


@dataclass(frozen=True, eq=False)
class JobKind(Generic[P]):
    """How jobs of one kind are queued.

    - `integration`: the outside system the job talks to; while it is unreachable its jobs
      wait and are released together when it answers again.
    - `priority`: lower runs first among ready jobs (opening channels before editing them).
    - `queue`: jobs with the same key run one at a time, in order (None: no ordering).
    - `dedup`: a second job with the same key, enqueued while the first still waits, is dropped.
    """

    name: str
    payload: type[P]
    integration: str | None
    priority: int
    queue: Callable[[P], str | None] = _none
    dedup: Callable[[P], str | None] = _none
    max_attempts: int = 25
