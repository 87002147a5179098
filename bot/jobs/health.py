"""Which integrations answer: learned from the jobs' outcomes, logged once per change."""

import logging
import threading
import time

log = logging.getLogger(__name__)


class IntegrationHealth:
    """Up or down per integration; while one is down, only a probe now and then may call it."""

    def __init__(self, probe_interval: float = 2.0) -> None:
        self.probe_interval = probe_interval
        self._lock = threading.Lock()
        self._down: dict[str, str] = {}
        self._next_probe: dict[str, float] = {}

    def failed(self, integration: str, reason: str) -> bool:
        """It did not answer; True if it was up until now."""
        with self._lock:
            was_up = integration not in self._down
            self._down[integration] = reason
            self._next_probe[integration] = time.monotonic() + self.probe_interval
        if was_up:
            log.warning(
                "%s is unreachable (%s): its jobs wait and are retried", integration, reason
            )
        return was_up

    def succeeded(self, integration: str) -> bool:
        """It answered; True if it was down until now."""
        with self._lock:
            was_down = self._down.pop(integration, None) is not None
            self._next_probe.pop(integration, None)
        if was_down:
            log.warning("%s answers again: running its waiting jobs now", integration)
        return was_down

    def may_call(self, integration: str | None) -> bool:
        """Whether a job of this integration may run now (a down one: one probe per interval)."""
        if integration is None:
            return True
        with self._lock:
            if integration not in self._down:
                return True
            now = time.monotonic()
            if now < self._next_probe.get(integration, 0.0):
                return False
            self._next_probe[integration] = now + self.probe_interval
            return True

    def unreachable(self) -> dict[str, str]:
        """The integrations that are down, with the last reason."""
        with self._lock:
            return dict(self._down)
