"""Every log record the service emits, whatever logger and level, for tests about logging."""

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import FastAPI

from bot.app import create_app
from bot.config import Settings
from tests.conftest import Service, serve, stop

# uvicorn's loggers do not propagate to the root logger, where pytest's caplog listens.
LOGGERS = ("", "uvicorn", "uvicorn.error", "uvicorn.access")
_FORMAT = logging.Formatter("%(name)s %(levelname)s %(message)s")


class Recorder(logging.Handler):
    """Keeps the records emitted by threads other than the test's own (its HTTP client logs)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.test_thread = threading.get_ident()

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread != self.test_thread:
            self.records.append(record)

    def attach(self) -> None:
        """Listen at DEBUG on every logger of LOGGERS (again, after uvicorn reconfigured them)."""
        for name in LOGGERS:
            logger = logging.getLogger(name)
            logger.setLevel(logging.DEBUG)
            logger.addHandler(self)

    def lines(self) -> list[str]:
        """Each record as a log file would hold it, traceback included."""
        return [_FORMAT.format(r) for r in self.records]

    def text(self) -> str:
        return "\n".join(self.lines())


@contextmanager
def recording() -> Iterator[Recorder]:
    """Record at DEBUG on the root and uvicorn loggers, then restore them."""
    recorder = Recorder()
    saved = [(logging.getLogger(name), logging.getLogger(name).level) for name in LOGGERS]
    recorder.attach()
    try:
        yield recorder
    finally:
        for logger, level in saved:
            logger.removeHandler(recorder)
            logger.setLevel(level)


@contextmanager
def running_with_logs(
    settings: Settings, recorder: Recorder | None = None, **kwargs: Any
) -> Iterator[Service]:
    """The service as `incident-bot serve` runs it (uvicorn at INFO, access log on), its logs
    from the start going to `recorder` too."""
    app: FastAPI = create_app(settings, **kwargs)
    # Creating uvicorn's config runs its logging setup, which drops our handler: attach again.
    server, thread, url = serve(
        app, log_level="info", configured=recorder.attach if recorder is not None else None
    )
    try:
        yield Service(app, url, app.state.engine)
    finally:
        stop(server, thread)
