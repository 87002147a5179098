"""One log format for the bot's lines and uvicorn's (access log included): text or JSON lines."""

import json
import logging
import logging.config
from datetime import UTC, datetime
from typing import Any, Literal

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC, ISO 8601), level, logger, message, and exception
    (the traceback text) when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON; newlines inside values are escaped by JSON."""
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def log_config(level: str, fmt: Literal["text", "json"]) -> dict[str, Any]:
    """A `logging.config.dictConfig` dict, for the bot and for uvicorn's `log_config`: one
    handler on the root logger, to stderr, that uvicorn's loggers propagate to."""
    formatter: dict[str, Any] = (
        {"()": f"{__name__}.JsonFormatter"} if fmt == "json" else {"format": TEXT_FORMAT}
    )
    level = level.upper()
    # uvicorn's own handlers and formats are replaced: its records go up to the root's one.
    uvicorn_logger = {"handlers": [], "propagate": True, "level": level}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"bot": formatter},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "bot",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["stderr"], "level": level},
        "loggers": {
            name: dict(uvicorn_logger) for name in ("uvicorn", "uvicorn.error", "uvicorn.access")
        },
    }


def configure(config: dict[str, Any]) -> None:
    """Apply `config`; Python's warnings become log lines too, so that every line has the format."""
    logging.config.dictConfig(config)
    logging.captureWarnings(True)
