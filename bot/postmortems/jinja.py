"""The report's templates: the bundled one, or the operator's POSTMORTEM_TEMPLATE.

An operator's template that is missing or broken never stops the report: the bundled
template is used instead, the error is logged, and the caller is told why."""

import functools
import logging
from datetime import datetime
from pathlib import Path
from typing import Any

from jinja2 import (
    BaseLoader,
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    PackageLoader,
    PrefixLoader,
    StrictUndefined,
)

log = logging.getLogger(__name__)

BUNDLED = "draft.md.j2"


def day(d: datetime) -> str:
    """`November 25, 2026`."""
    return f"{d:%B} {d.day}, {d.year}"


def clock(d: datetime) -> str:
    """`10:04 AM`."""
    return f"{d.hour % 12 or 12}:{d:%M} {'AM' if d.hour < 12 else 'PM'}"


def short(d: datetime) -> str:
    """`Nov 25 at 10:00`, as the reports' Impact Time writes a moment."""
    return f"{d:%b} {d.day} at {d:%H:%M}"


def _environment(loader: BaseLoader) -> Environment:
    env = Environment(
        loader=loader,
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # markdown, not HTML
    )
    env.filters.update(day=day, clock=clock, short=short)
    return env


_bundled = _environment(PackageLoader("bot.postmortems", "templates"))


@functools.cache
def _operators(folder: str) -> Environment:
    # The bundled template stays reachable as `bundled/draft.md.j2`, so an operator's
    # template can `{% extends %}` it and change one block. Jinja looks at the file's
    # modification time on each use: an edited template is picked up without a restart.
    bundled = PrefixLoader({"bundled": PackageLoader("bot.postmortems", "templates")})
    return _environment(ChoiceLoader([FileSystemLoader(folder), bundled]))


def render(context: dict[str, Any], template: str = "") -> tuple[str, str | None]:
    """The report from `template` (a file path; empty: the bundled one), and why the bundled
    template was used instead of `template`, if it was."""
    if template:
        try:
            path = Path(template).expanduser().resolve()
            if not path.is_file():
                raise FileNotFoundError(f"no such file: {path}")
            return _operators(str(path.parent)).get_template(path.name).render(context), None
        except Exception as exc:  # noqa: BLE001 - any fault of the operator's template
            problem = f"POSTMORTEM_TEMPLATE {template!r} could not be used ({_why(exc)})"
            log.error("%s; the bundled template was used instead", problem, exc_info=exc)
            return _bundled.get_template(BUNDLED).render(context), problem
    return _bundled.get_template(BUNDLED).render(context), None


def _why(exc: BaseException) -> str:
    where = getattr(exc, "lineno", None)
    text = " ".join(str(exc).split()) or type(exc).__name__
    return (
        f"{type(exc).__name__} at line {where}: {text}"
        if where
        else f"{type(exc).__name__}: {text}"
    )
