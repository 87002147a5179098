"""Pace calls to Slack ourselves, at its published per-method tiers.

Slack limits each Web API method per workspace (Tier 2: 20 calls a minute, Tier 3: 50,
Tier 4: 100; `chat.postMessage` about one a second per channel) and answers 429 past that.
Meeting the limit by 429s wastes calls and makes every thread wait; instead every worker
thread asks this pacer first. A call that may go now goes; one that may not is postponed
(the job is put back until its turn and the thread moves on), with no sleeping anywhere.

A job keeps its place in line: its first refusal books the next free slot of the sliding
window for it (keyed by the job, see `bot.jobs.attempt.current_job`), and when it comes
back it goes, so N channels waiting on `conversations.create` open at exactly the rate Slack
allows instead of all retrying at every free slot.
"""

import threading
import time
from collections import deque
from dataclasses import dataclass, field

TIER_2, TIER_3, TIER_4 = 20, 50, 100
# Calls per minute, per workspace, of the methods incident-bot uses.
PER_MINUTE: dict[str, int] = {
    "conversations.create": TIER_2,
    "conversations.setTopic": TIER_2,
    "conversations.list": TIER_2,
    "bookmarks.add": TIER_2,
    "bookmarks.list": TIER_3,
    "chat.update": TIER_3,
    "conversations.invite": TIER_3,
    "conversations.history": TIER_3,
    "conversations.replies": TIER_3,
    "users.lookupByEmail": TIER_3,
    "users.info": TIER_4,
    "files.getUploadURLExternal": TIER_4,
    "files.completeUploadExternal": TIER_4,
    "auth.test": TIER_4,
}
# Methods limited per channel instead: calls per second.
PER_CHANNEL_PER_SECOND: dict[str, int] = {"chat.postMessage": 1}

# A call is counted from when its answer came (Slack saw it no later), and a little more.
MARGIN_FRACTION = 0.005
MARGIN_SECONDS = 0.01


@dataclass
class _Window:
    limit: int
    period: float
    calls: deque[float] = field(default_factory=deque)  # made, oldest first
    booked: dict[str, float] = field(default_factory=dict)  # ticket -> slot
    held_until: float = 0.0

    def forget(self, now: float) -> None:
        while self.calls and self.calls[0] <= now - self.period:
            self.calls.popleft()
        for ticket, slot in list(self.booked.items()):
            if slot <= now - 3 * self.period:
                # Its job went elsewhere or died (one merely late in a busy queue keeps its
                # place): the slot is free.
                del self.booked[ticket]

    def free_at(self, now: float) -> float:
        """When a call may go, by the calls made alone."""
        if len(self.calls) < self.limit:
            return max(now, self.held_until)
        return max(now, self.held_until, self.calls[-self.limit] + self.period)

    def book(self, now: float) -> float:
        """The next slot after every call made and booked."""
        line = sorted([*self.calls, *self.booked.values()])
        slot = line[-self.limit] + self.period if len(line) >= self.limit else now
        return max(now, self.held_until, slot)


class SlackPacer:
    """Per-method sliding windows shared by every thread of the process."""

    def __init__(self, scale: float = 1.0) -> None:
        # `scale` > 1 shortens every window, for fakes that run Slack's clock faster.
        self.scale = scale
        self._lock = threading.Lock()
        self._windows: dict[tuple[str, str], _Window] = {}

    def _window(self, method: str, channel: str | None) -> _Window | None:
        if method in PER_CHANNEL_PER_SECOND:
            if not channel:
                return None
            key, limit, period = (method, channel), PER_CHANNEL_PER_SECOND[method], 1.0
        elif method in PER_MINUTE:
            key, limit, period = (method, ""), PER_MINUTE[method], 60.0
        else:
            return None
        window = self._windows.get(key)
        if window is None:
            period = period / self.scale
            period += period * MARGIN_FRACTION + MARGIN_SECONDS
            window = self._windows[key] = _Window(limit, period)
        return window

    def reserve(
        self, method: str, *, channel: str | None = None, ticket: str | None
    ) -> tuple[float, float]:
        """(0, when it was counted) if the call may go now; else (seconds until its turn, 0).

        Without a ticket (a call made for a person, not a job) the call goes now: it is
        counted, and the jobs make room for it."""
        with self._lock:
            window = self._window(method, channel)
            if window is None:
                return 0.0, 0.0
            now = time.monotonic()
            window.forget(now)
            free = window.free_at(now)
            slot = window.booked.get(ticket) if ticket else None
            if ticket is None or (free <= now and (slot is not None or not window.booked)):
                window.booked.pop(ticket or "", None)
                window.calls.append(now)
                return 0.0, now
            if slot is None:
                slot = window.booked[ticket] = window.book(now)
            elif slot <= now:
                # Its turn came, but the calls before it went late: wait for the window.
                return max(free - now, 0.001), 0.0
            return max(slot - now, free - now, 0.001), 0.0

    def answered(self, method: str, started: float, *, channel: str | None = None) -> None:
        """The call counted at `started` (as `reserve` said) got its answer: count
        it from now, the latest moment Slack can have seen it, so that a call that sat long
        in a busy thread before it went out cannot make the next one early in Slack's eyes."""
        with self._lock:
            window = self._window(method, channel)
            if window is None:
                return
            try:
                window.calls.remove(started)
            except ValueError:
                return  # forgotten already: older than the window
            window.calls.append(time.monotonic())
            if len(window.calls) > 1 and window.calls[-2] > window.calls[-1]:
                window.calls = deque(sorted(window.calls))

    def hold(self, method: str, seconds: float, *, channel: str | None = None) -> None:
        """Slack said 429 anyway (another replica, another app): nothing until then."""
        with self._lock:
            window = self._window(method, channel)
            if window is not None:
                window.held_until = max(window.held_until, time.monotonic() + seconds)
