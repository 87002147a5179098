"""Runbooks: `runbooks/<slug>.md` with YAML front matter (`title`, `alerts` regexes)."""

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

log = logging.getLogger(__name__)

FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*\n", re.S)
ORDERED_ITEM = re.compile(r"^\s{0,3}\d+[.)]\s+(.*)$")


class RunbookError(Exception):
    """A runbook that cannot be read; the message names the file and the problem."""


@dataclass(frozen=True)
class Runbook:
    slug: str
    title: str
    patterns: tuple[re.Pattern[str], ...]
    first_steps: tuple[str, ...]
    path: Path
    body: str = field(repr=False)

    def matches(self, alertname: str) -> bool:
        """Whether one of its `alerts` regexes matches the whole alert name."""
        return any(p.fullmatch(alertname) for p in self.patterns)


def parse(path: Path) -> Runbook:
    """Read one runbook file."""
    text = path.read_text(encoding="utf-8")
    found = FRONT_MATTER.match(text)
    if not found:
        raise RunbookError(f"{path}: no YAML front matter (--- title/alerts --- at the top)")
    try:
        meta = yaml.safe_load(found.group(1)) or {}
    except yaml.YAMLError as exc:
        raise RunbookError(f"{path}: front matter is not valid YAML: {exc}") from exc
    if not isinstance(meta, dict) or not isinstance(meta.get("title"), str):
        raise RunbookError(f"{path}: front matter needs a `title`")
    alerts = meta.get("alerts")
    if not isinstance(alerts, list) or not alerts or not all(isinstance(a, str) for a in alerts):
        raise RunbookError(f"{path}: front matter needs `alerts`, a list of regular expressions")
    try:
        patterns = tuple(re.compile(a) for a in alerts)
    except re.error as exc:
        raise RunbookError(f"{path}: `alerts` has an invalid regular expression: {exc}") from exc
    body = text[found.end() :]
    return Runbook(path.stem, meta["title"], patterns, _first_steps(body), path, body)


def _first_steps(body: str) -> tuple[str, ...]:
    steps: list[str] = []
    for line in body.splitlines():
        item = ORDERED_ITEM.match(line)
        if item:
            steps.append(item.group(1).strip())
        elif steps and line.strip() and not line.startswith((" ", "\t")):
            break  # the first ordered list has ended
    return tuple(steps)


class Runbooks:
    """Every runbook of a folder, in file-name order (the first match wins)."""

    def __init__(
        self, books: list[Runbook], base_url: str, public_url: str, folder: Path = Path()
    ) -> None:
        self.books = books
        self.folder = folder
        self.base_url = base_url.rstrip("/")
        self.public_url = public_url.rstrip("/")

    @classmethod
    def load(
        cls, folder: Path, *, base_url: str = "", public_url: str = "", strict: bool = True
    ) -> "Runbooks":
        """Load a folder (a missing one has no runbooks); not `strict`, bad files are skipped."""
        paths = sorted(folder.glob("*.md")) if folder.is_dir() else []
        books = []
        for path in paths:
            if path.name.lower() == "readme.md":
                continue
            try:
                books.append(parse(path))
            except RunbookError as exc:
                if strict:
                    raise
                # The service keeps running on the others; `incident-bot check` fails on it.
                log.error("runbook skipped: %s", exc)
        return cls(books, base_url, public_url, folder)

    def get(self, slug: str) -> Runbook | None:
        """A runbook by its file name without `.md`."""
        return next((b for b in self.books if b.slug == slug), None)

    def match(self, alertname: str) -> Runbook | None:
        """The first runbook whose `alerts` match this alert name."""
        return next((b for b in self.books if b.matches(alertname)), None)

    def url(self, book: Runbook) -> str:
        """Where a person reads it."""
        if self.base_url:
            return f"{self.base_url}/{book.path.name}"
        return f"{self.public_url}/runbooks/{book.slug}"
