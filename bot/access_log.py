"""Access log lines without credentials: token-like query parameters are redacted."""

import logging
from urllib.parse import unquote_plus

ACCESS_LOGGER = "uvicorn.access"
REDACTED = "[redacted]"
# Status pages take `?token=`; signed links and OAuth-style callbacks carry the others.
SENSITIVE_NAMES = frozenset({"token", "access_token", "secret", "signature", "sig", "password"})
SENSITIVE_SUFFIXES = ("token", "secret", "signature", "password")


def sensitive(name: str) -> bool:
    """Whether a query parameter of this name carries a credential."""
    name = name.lower()
    return name in SENSITIVE_NAMES or name.endswith(SENSITIVE_SUFFIXES)


def redact_query(target: str) -> str:
    """`path?token=abc&x=1` -> `path?token=[redacted]&x=1`; anything else unchanged."""
    path, sep, query = target.partition("?")
    if not sep:
        return target
    parts = []
    for part in query.split("&"):
        name, eq, _ = part.partition("=")
        # Match the decoded name, so `%74oken=` is caught too; keep the rest as sent.
        parts.append(f"{name}={REDACTED}" if eq and sensitive(unquote_plus(name)) else part)
    return f"{path}?{'&'.join(parts)}"


class RedactQueries(logging.Filter):
    """Redacts credentials in the request targets of uvicorn's access log records."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record's arguments in place; never drops a record."""
        if isinstance(record.args, tuple):
            record.args = tuple(
                redact_query(a) if isinstance(a, str) and "?" in a else a for a in record.args
            )
        return True


def install() -> None:
    """Put the filter on uvicorn's access logger (once); uvicorn's own logging setup keeps it."""
    logger = logging.getLogger(ACCESS_LOGGER)
    if not any(isinstance(f, RedactQueries) for f in logger.filters):
        logger.addFilter(RedactQueries())
