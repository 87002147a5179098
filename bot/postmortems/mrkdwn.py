"""Slack message text (mrkdwn) as each reader of it needs it: markdown for the report,
markdown for GitHub, plain partner-safe text for the status pages.

The one place that reads Slack's markup. Slack sends `&`, `<` and `>` typed by a person as
`&amp;`, `&lt;` and `&gt;`, so that every `<` left in the text opens one of its tokens:
`<@U123>`, `<@U123|name>`, `<#C123|name>`, `<!here>`, `<!subteam^S1|@team>`,
`<!date^1392734382^{date}|fallback>`, `<https://x|label>`, `<https://x>`. Each converter
reads the tokens of the text as it came, then undoes the escapes of what is left, so that a
`<b>` a person typed is never taken for a token."""

import re
from collections.abc import Callable

# What Slack escapes, and only that (https://docs.slack.dev/messaging/formatting-message-text).
ESCAPED = re.compile(r"&(amp|lt|gt);")
_UNESCAPED = {"amp": "&", "lt": "<", "gt": ">"}
# A token: its target (`@U123`, `#C123`, `!here`, a URL) and its label, if it has one.
TOKEN = re.compile(r"<([^<>|\s]+)(?:\|([^<>]*))?>")
MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")
BARE_URL = re.compile(r"\bhttps?://[^\s<>]+")
SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*:")
# What ends a sentence rather than a URL.
URL_TAIL = ".,;:!?)]}'\""
# Control characters but tab and newlines: HTML and XML have no use for them.
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# `<!here>`, `<!channel>`, `<!everyone>`, `<!subteam^...>`: calls to the team, nothing to a
# partner; dropped with one blank after them. `<!date^...|fallback>` is a date: kept.
BROADCAST = re.compile(r"<!(?!date\^)[^<>|\s]*(?:\|[^<>]*)?>[ \t]?")
# A line that markdown would read as a heading: ATX (`# x`), or a setext underline (`---`,
# `===`) that makes the line above it one.
ATX = re.compile(r"^( {0,3})(#{1,6})(?=\s|$)")
SETEXT = re.compile(r"^( {0,3})([=-])(?=[=-]*\s*$)")


def unescape(text: str) -> str:
    """Slack's escapes undone: `&amp;`, `&lt;`, `&gt;` (and nothing else)."""
    return ESCAPED.sub(lambda m: _UNESCAPED[m.group(1)], text)


def escape(text: str) -> str:
    """Plain text as Slack (and markdown) shows it literally: `<!here>` in an alert's summary
    pings nobody, `<b>` in a title is no tag."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def convert(text: str, token: Callable[[str, str], str], plain: Callable[[str], str]) -> str:
    """`text` with each Slack token replaced by `token(target, label)` (label "" if none)
    and the text between tokens by `plain(between)`."""
    out: list[str] = []
    last = 0
    for m in TOKEN.finditer(text):
        out.append(plain(text[last : m.start()]))
        out.append(token(m.group(1), m.group(2) or ""))
        last = m.end()
    out.append(plain(text[last:]))
    return "".join(out)


class Mrkdwn:
    """Converts mrkdwn to markdown (for the report), writing Slack users by the names it is
    given. Slack's escapes are kept: they are markdown's too, and keep a typed `<b>` text."""

    def __init__(self, names: dict[str, str] | None = None) -> None:
        self.names = names or {}

    def person(self, user: str) -> str:
        """A Slack user (or bot) by name, else `@<id>`."""
        return self.names.get(user) or f"@{user}"

    def __call__(self, text: str) -> str:
        """Mentions by name, Slack links as markdown links, bare URLs as autolinks."""
        return convert(text, self._token, _autolink)

    def _token(self, target: str, label: str) -> str:
        if target.startswith("@"):
            user = target[1:]
            return self.names.get(user) or label or f"@{user}"
        if target.startswith("#"):
            return f"#{label or target[1:]}"
        if target.startswith("!"):
            # <!here>, <!channel>, <!subteam^S1|@team>, <!date^...|fallback>
            return label or f"@{target[1:].split('^')[0]}"
        if SCHEME.match(target):
            return f"[{_label(label)}]({target})" if label else f"<{target}>"
        # Not a Slack token: leave it as it was written.
        return f"<{target}|{label}>" if label else f"<{target}>"


def to_github(text: str, *, links: bool = True) -> str:
    """A command's text as GitHub shows it: Slack's escapes undone, links in markdown
    (`[label](url)`, `<url>`) or, with `links=False`, just their labels; people by the name
    Slack sent, never as an @-mention on GitHub; channels as `#name`."""

    def one(target: str, label: str) -> str:
        if target[0] in "@#!":
            name = label or target[1:]
            return f"#{name}" if target[0] == "#" else name.lstrip("@")
        if not links:
            return label or target
        return f"[{label}]({target})" if label else f"<{target}>"

    return unescape(convert(text, one, _same))


def to_partner(text: str) -> str:
    """Text as partners may read it, plain: people become "an engineer" and channels "a
    Slack channel" (neither means anything outside the team's workspace, and names are
    not for partners), calls to the team are dropped, links are their labels (or their
    address), control characters are dropped and Slack's escapes undone."""

    def one(target: str, label: str) -> str:
        if target.startswith("@"):
            return "an engineer"
        if target.startswith("#"):
            return "a Slack channel"
        if target.startswith("!"):
            return label  # a date's fallback words
        if SCHEME.match(target):
            return label or target
        return f"<{target}|{label}>" if label else f"<{target}>"  # not a Slack token

    return unescape(convert(BROADCAST.sub("", CONTROL.sub("", text)), one, _same))


def quoted(text: str) -> str:
    """`text` as a markdown block quote, no line of it a heading (see `no_headings`)."""
    return "\n".join(f"> {line}".rstrip() for line in no_headings(text).splitlines())


def no_headings(text: str) -> str:
    """`text` with every line that markdown would read as a heading, or as the underline
    that makes the line above one, escaped (`\\## x`, `\\---`), so that text given by people
    and alerts never adds a section to a report."""
    return "\n".join(SETEXT.sub(r"\1\\\2", ATX.sub(r"\1\\\2", line)) for line in text.splitlines())


def one_line(text: str) -> str:
    """Whitespace, newlines included, collapsed to single spaces."""
    return " ".join(text.split())


def quoted_yaml(text: str) -> str:
    """`text` as a YAML double-quoted scalar that PyYAML and MyST read back as it was."""
    out = ['"']
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif not ch.isprintable():
            out.append(f"\\u{ord(ch):04x}" if ord(ch) <= 0xFFFF else f"\\U{ord(ch):08x}")
        else:
            out.append(ch)
    out.append('"')
    # Reports sites split front matter on the first two `---` (2i2c's convert_reports.py
    # does `content.split("---", 2)`): a title holding one would cut it short.
    return "".join(out).replace("---", "-\\x2d-")


def cell(text: str) -> str:
    """`text` fit for a markdown table cell: one line, pipes escaped."""
    return one_line(text).replace("|", "\\|")


def _same(text: str) -> str:
    return text


def _label(label: str) -> str:
    return label.replace("[", "\\[").replace("]", "\\]")


def _autolink(text: str) -> str:
    def link(m: re.Match[str]) -> str:
        url = m.group(0)
        kept = url.rstrip(URL_TAIL)
        return f"<{kept}>{url[len(kept) :]}"

    return BARE_URL.sub(link, text)
